"""A small image classifier in the style of PyTorch's "Training a Classifier" tutorial
(the CIFAR-10 one): a LeNet-like Net, CrossEntropyLoss and SGD with momentum, a training
loop printing the running loss, saving and reloading the weights, overall and per-class
accuracy. The images are made here with NumPy (stripes in four orientations), so nothing
is downloaded. tests/test_tutorials.py runs it once as written and once with the torch
imports turned into minitorch_cnn ones, and nothing else changed.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
torch.manual_seed(0)
classes = ("horizontal", "vertical", "diagonal", "anti-diagonal")


def make_images(n, seed):
    """n RGB images 16x16 of stripes: the orientation is the class; the frequency, phase,
    colours and noise are random."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    yy, xx = np.mgrid[0:16, 0:16].astype(np.float32)
    images = np.empty((n, 3, 16, 16), np.float32)
    for k in range(n):
        coord = [yy, xx, xx + yy, xx - yy][labels[k]]
        wave = np.sin(coord * rng.uniform(0.6, 1.4) + rng.uniform(0, 2 * np.pi))
        colour = rng.uniform(0.3, 1.0, (3, 1, 1))
        images[k] = colour * wave + rng.normal(0, 0.4, (3, 16, 16))
    return images, labels


x_train, y_train = make_images(1200, seed=1)
x_test, y_test = make_images(400, seed=2)
trainset = TensorDataset(torch.tensor(x_train), torch.tensor(y_train))
testset = TensorDataset(torch.tensor(x_test), torch.tensor(y_test))
trainloader = DataLoader(trainset, batch_size=32, shuffle=True, num_workers=2)
testloader = DataLoader(testset, batch_size=100, shuffle=False, num_workers=0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc1 = nn.Linear(16 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 32)
        self.fc3 = nn.Linear(32, 4)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)                   # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


net = Net()
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

for epoch in range(6):
    running_loss = 0.0
    for i, data in enumerate(trainloader, 0):
        inputs, labels = data
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    print(f"[{epoch + 1}] loss: {running_loss / len(trainloader):.3f}")
print("Finished Training")

PATH = os.path.join(out_dir, "stripes_net.pth")
torch.save(net.state_dict(), PATH)

net = Net()
net.load_state_dict(torch.load(PATH, weights_only=True))

correct = 0
total = 0
with torch.no_grad():
    for data in testloader:
        images, labels = data
        outputs = net(images)
        _, predicted = torch.max(outputs.data, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()
print(f"Accuracy of the network on the {total} test images: {100 * correct // total} %")

correct_pred = {classname: 0 for classname in classes}
total_pred = {classname: 0 for classname in classes}
with torch.no_grad():
    for data in testloader:
        images, labels = data
        outputs = net(images)
        _, predictions = torch.max(outputs, 1)
        for label, prediction in zip(labels, predictions):
            if label == prediction:
                correct_pred[classes[label]] += 1
            total_pred[classes[label]] += 1
for classname, correct_count in correct_pred.items():
    accuracy = 100 * float(correct_count) / total_pred[classname]
    print(f"Accuracy for class: {classname:13s} is {accuracy:.1f} %")

print(f"ACCURACY {correct / total:.4f}")
