"""A training script in the style of pytorch/examples' mnist/main.py: a small CNN with
dropout and log_softmax, F.nll_loss, Adadelta with a StepLR schedule, a device chosen
with torch.cuda.is_available(), train() and test() functions, and a checkpoint dict
(epoch, model, optimizer and scheduler state) saved after the first epochs and resumed
from by fresh objects. The "digits" are strokes drawn here with NumPy (a ring, a bar, a
dash, a plus, a cross), so nothing is downloaded.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset


def make_glyphs(n, seed):
    """n greyscale 1x20x20 images of five glyphs, jittered, scaled and noisy."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, n)
    yy, xx = np.mgrid[0:20, 0:20].astype(np.float32)
    images = np.empty((n, 1, 20, 20), np.float32)
    for k in range(n):
        cy, cx = rng.uniform(7, 13, 2)
        r = rng.uniform(3.5, 6.0)
        dy, dx = (yy - cy) / r, (xx - cx) / r
        near = 0.35
        strokes = [np.abs(np.hypot(dy, dx) - 1) < near,                   # ring
                   (np.abs(dx) < near) & (np.abs(dy) < 1.2),               # bar
                   (np.abs(dy) < near) & (np.abs(dx) < 1.2),               # dash
                   ((np.abs(dx) < near) | (np.abs(dy) < near)) & (np.maximum(np.abs(dx), np.abs(dy)) < 1.2),
                   ((np.abs(dx - dy) < near) | (np.abs(dx + dy) < near)) & (np.maximum(np.abs(dx), np.abs(dy)) < 1.0)]
        images[k, 0] = strokes[labels[k]] + rng.normal(0, 0.3, (20, 20))
    return (images - 0.2) / 0.5, labels


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(16 * 8 * 8, 64)
        self.fc2 = nn.Linear(64, 5)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def train(model, device, train_loader, optimizer, epoch, log_interval=10):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % log_interval == 0:
            print("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    print("\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n".format(
        test_loss, correct, len(test_loader.dataset),
        100. * correct / len(test_loader.dataset)))
    return correct / len(test_loader.dataset)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
    use_cuda = torch.cuda.is_available()
    torch.manual_seed(1)
    device = torch.device("cuda" if use_cuda else "cpu")
    train_kwargs = {"batch_size": 32, "shuffle": True}
    test_kwargs = {"batch_size": 200}
    if use_cuda:
        cuda_kwargs = {"num_workers": 1, "pin_memory": True}
        train_kwargs.update(cuda_kwargs)
        test_kwargs.update(cuda_kwargs)

    x, y = make_glyphs(1000, seed=1)
    xt, yt = make_glyphs(400, seed=2)
    dataset1 = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    dataset2 = TensorDataset(torch.from_numpy(xt), torch.from_numpy(yt))
    train_loader = DataLoader(dataset1, **train_kwargs)
    test_loader = DataLoader(dataset2, **test_kwargs)

    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    for epoch in range(1, 3):
        train(model, device, train_loader, optimizer, epoch)
        test(model, device, test_loader)
        scheduler.step()

    path = os.path.join(out_dir, "checkpoint.pt")
    torch.save({"epoch": 2, "model_state_dict": model.state_dict(),
                "optimizer_state_dict": optimizer.state_dict(),
                "scheduler_state_dict": scheduler.state_dict()}, path)

    # resume, as a new run would: fresh objects, the checkpoint loaded into them
    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(checkpoint["model_state_dict"])
    optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
    scheduler.load_state_dict(checkpoint["scheduler_state_dict"])
    print("resumed at epoch", checkpoint["epoch"], "lr", scheduler.get_last_lr())
    for epoch in range(checkpoint["epoch"] + 1, 6):
        train(model, device, train_loader, optimizer, epoch)
        accuracy = test(model, device, test_loader)
        scheduler.step()
    print(f"ACCURACY {accuracy:.4f}")


if __name__ == "__main__":
    main()
