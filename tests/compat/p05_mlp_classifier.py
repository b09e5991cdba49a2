"""A classifier in the usual shape: an nn.Module MLP, CrossEntropyLoss, optim.SGD with momentum,
TensorDataset + DataLoader, random_split for a validation set, train/eval loops with accuracy."""
import numpy as np
import torch
import torch.utils.data
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split
from _report import report

rng = np.random.default_rng(0)
n, d, k = 240, 6, 3
centers = rng.normal(0, 2, size=(k, d))
labels = rng.integers(0, k, size=n)
features = (centers[labels] + rng.normal(size=(n, d))).astype(np.float32)
X, y = torch.tensor(features), torch.tensor(labels)
dataset = TensorDataset(X, y)

g = torch.Generator().manual_seed(42)
train_part, val_part = random_split(dataset, [0.75, 0.25], generator=g)
report('split_sizes', [len(train_part), len(val_part)])
report('split_disjoint', len(set(train_part.indices) | set(val_part.indices)) == n)

train_ds = torch.utils.data.Subset(dataset, list(range(180)))
val_ds = torch.utils.data.Subset(dataset, list(range(180, 240)))
train_loader = DataLoader(train_ds, batch_size=32, shuffle=False)
val_loader = DataLoader(val_ds, batch_size=64)

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.layers = nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, k))
    def forward(self, x):
        return self.layers(self.flatten(x))

model = MLP()
init = np.random.default_rng(7)
with torch.no_grad():
    for name, p in model.named_parameters():
        p.copy_(torch.from_numpy(init.uniform(-0.3, 0.3, size=tuple(p.shape)).astype(np.float32)))
report('param_names', [name for name, _ in model.named_parameters()])

loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

def train_loop(loader):
    model.train()
    total = 0.0
    for batch, (xb, yb) in enumerate(loader):
        pred = model(xb)
        loss = loss_fn(pred, yb)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        total += loss.item() * len(xb)
    return total / len(loader.dataset)

def test_loop(loader):
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for xb, yb in loader:
            pred = model(xb)
            test_loss += loss_fn(pred, yb).item()
            correct += (pred.argmax(1) == yb).type(torch.float).sum().item()
    return test_loss / len(loader), correct / len(loader.dataset)

history = []
for epoch in range(5):
    tr = train_loop(train_loader)
    va, acc = test_loop(val_loader)
    history.append([tr, va, acc])
    print(f"epoch {epoch}: train {tr:.4f} val {va:.4f} acc {acc:.3f}")
report('history', history)
report('last_layer_bias', model.layers[4].bias)
