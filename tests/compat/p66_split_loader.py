"""A training loop over torch.utils.data.random_split (by counts and by fractions) with a seeded
Generator, DataLoader(shuffle=True, generator=g), per-epoch validation and the best model's weights
kept with copy.deepcopy(model.state_dict())."""
import copy
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import TensorDataset, DataLoader, random_split, Subset
from _report import report

rng = np.random.default_rng(41)
X = rng.normal(size=(100, 4)).astype(np.float32)
y = (X @ np.array([1.0, -2.0, 0.5, 0.0], dtype=np.float32) > 0).astype(np.int64)
ds = TensorDataset(torch.from_numpy(X), torch.from_numpy(y))

g = torch.Generator().manual_seed(42)
train_ds, val_ds = random_split(ds, [80, 20], generator=g)
report('split_lengths', [len(train_ds), len(val_ds)])
report('split_disjoint_cover', sorted(list(train_ds.indices) + list(val_ds.indices)) == list(range(100)))
a, b, c = random_split(ds, [0.7, 0.2, 0.1], generator=torch.Generator().manual_seed(0))
report('fraction_lengths', [len(a), len(b), len(c)])
x0, y0 = train_ds[0]
report('subset_item', [list(x0.shape), y0.dtype == torch.int64, y0.dim()])

# the shuffled loader: the order depends on the generator, the epoch's content does not
loader = DataLoader(train_ds, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(3))
report('n_batches', len(loader))
seen = torch.cat([yb for _, yb in loader])
report('epoch_covers_subset', sorted(seen.tolist()) == sorted(ds.tensors[1][train_ds.indices].tolist()))

# the numbers: a fixed split and an unshuffled loader, so both frameworks see the same batches
train_fixed, val_fixed = Subset(ds, list(range(80))), Subset(ds, list(range(80, 100)))
train_loader = DataLoader(train_fixed, batch_size=16, shuffle=False)
val_loader = DataLoader(val_fixed, batch_size=8)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
init = np.random.default_rng(43)
model.load_state_dict({k: torch.from_numpy(init.normal(0, 0.5, size=tuple(v.shape)).astype(np.float32))
                       for k, v in model.state_dict().items()})
opt = torch.optim.SGD(model.parameters(), lr=0.1)
loss_fn = nn.CrossEntropyLoss()
best_acc, best_state, history = -1.0, None, []
for epoch in range(6):
    model.train()
    running = 0.0
    for xb, yb in train_loader:
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        running += loss.item() * xb.size(0)
    model.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for xb, yb in val_loader:
            _, predicted = torch.max(model(xb).data, 1)
            total += yb.size(0)
            correct += (predicted == yb).sum().item()
    acc = correct / total
    history.append([running / len(train_loader.dataset), acc])
    if acc > best_acc:
        best_acc, best_state = acc, copy.deepcopy(model.state_dict())
report('history', history)
model.load_state_dict(best_state)
report('best_acc', best_acc)
report('best_weight', model[0].weight)
report('state_is_copy', best_state['0.weight'] is not model[0].weight)
