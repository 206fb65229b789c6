"""A training script in today's PyTorch style: the device from torch.accelerator, a
validation split with random_split and a seeded torch.Generator, a model of Conv2d,
GroupNorm, GELU, AdaptiveAvgPool2d, LayerNorm and Linear, AdamW with a OneCycleLR schedule
stepped every batch, CrossEntropyLoss with label smoothing, evaluation under
torch.inference_mode, a best-model checkpoint dict with torch.save / torch.load. The data
are small RGB images of blobs, rings and bars drawn here with NumPy (six classes).
"""
import os
import sys

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split

out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
torch.manual_seed(0)
torch.backends.cudnn.benchmark = True
device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
print(f"Using {device} device")


def make_shapes(n, seed):
    """n RGB images 16x16 of six shapes (disc, ring, square, frame, bar, cross) at random
    places, sizes and colours, on noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, n)
    yy, xx = np.mgrid[0:16, 0:16].astype(np.float32)
    out = np.empty((n, 3, 16, 16), np.float32)
    for k in range(n):
        cy, cx = rng.uniform(5, 11, 2)
        r = rng.uniform(2.5, 4.5)
        d = np.hypot(yy - cy, xx - cx) / r
        box = np.maximum(np.abs(yy - cy), np.abs(xx - cx)) / r
        masks = [d < 1, np.abs(d - 1) < 0.3, box < 1, np.abs(box - 1) < 0.3,
                 (np.abs(xx - cx) < 1) & (np.abs(yy - cy) < r),
                 ((np.abs(xx - cx) < 1) | (np.abs(yy - cy) < 1)) & (box < 1)]
        colour = rng.uniform(0.4, 1.0, (3, 1, 1))
        out[k] = colour * masks[labels[k]] + rng.normal(0, 0.25, (3, 16, 16))
    return out, labels


x, y = make_shapes(1500, seed=3)
full = TensorDataset(torch.tensor(x), torch.tensor(y))
train_set, val_set = random_split(full, [0.8, 0.2], generator=torch.Generator().manual_seed(42))
train_loader = DataLoader(train_set, batch_size=64, shuffle=True, drop_last=True)
val_loader = DataLoader(val_set, batch_size=128)
print(f"train {len(train_set)}, validation {len(val_loader.dataset)} images")


def block(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                         nn.GroupNorm(4, c_out), nn.GELU(), nn.MaxPool2d(2))


model = nn.Sequential(
    block(3, 16), block(16, 32),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    nn.LayerNorm(32), nn.Linear(32, 64), nn.GELU(approximate="tanh"), nn.Dropout(0.1),
    nn.Linear(64, 6),
).to(device)
print(f"{sum(p.numel() for p in model.parameters() if p.requires_grad)} trainable parameters")

epochs = 8
loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, epochs=epochs,
                                                steps_per_epoch=len(train_loader))


def evaluate(model, loader):
    model.eval()
    correct, loss_sum = 0, 0.0
    with torch.inference_mode():
        for xb, yb in loader:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            logits = model(xb)
            loss_sum += loss_fn(logits, yb).item() * len(yb)
            correct += (logits.argmax(1) == yb).type(torch.float).sum().item()
    return correct / len(loader.dataset), loss_sum / len(loader.dataset)


best = 0.0
ckpt = os.path.join(out_dir, "best.pt")
for epoch in range(epochs):
    model.train()
    for xb, yb in train_loader:
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=2.0)
        optimizer.step()
        scheduler.step()
    acc, val_loss = evaluate(model, val_loader)
    print(f"epoch {epoch + 1}: lr {scheduler.get_last_lr()[0]:.5f} "
          f"val loss {val_loss:.3f} val acc {100 * acc:.1f}%")
    if acc >= best:
        best = acc
        torch.save({"epoch": epoch + 1, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "val_acc": acc}, ckpt)

checkpoint = torch.load(ckpt, map_location=device)
model.load_state_dict(checkpoint["model"])
acc, _ = evaluate(model, val_loader)
assert abs(acc - checkpoint["val_acc"]) < 1e-9, (acc, checkpoint["val_acc"])
print(f"best epoch {checkpoint['epoch']}")
print(f"ACCURACY {acc:.4f}")
