"""A custom Dataset (__len__/__getitem__ with a transform), DataLoader with drop_last, and Adam."""
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset, DataLoader
from _report import report

class RingsDataset(Dataset):
    "Points on two noisy rings; label 1 for the outer ring."
    def __init__(self, n, seed, transform=None):
        rng = np.random.default_rng(seed)
        self.r = np.where(np.arange(n) % 2 == 0, 1.0, 2.0) + 0.1 * rng.normal(size=n)
        self.theta = rng.uniform(0, 2 * np.pi, size=n)
        self.transform = transform
    def __len__(self):
        return len(self.r)
    def __getitem__(self, idx):
        point = np.array([self.r[idx] * np.cos(self.theta[idx]), self.r[idx] * np.sin(self.theta[idx])], dtype=np.float32)
        label = int(idx % 2)
        if self.transform:
            point = self.transform(point)
        return point, label

train = RingsDataset(200, seed=0, transform=lambda p: p / 2)
report('len', len(train))
p0, l0 = train[3]
report('sample', p0)
report('label_type_is_int', isinstance(l0, int))

loader = DataLoader(train, batch_size=48, shuffle=False, drop_last=True)
report('num_batches', len(loader))
xb, yb = next(iter(loader))
report('batch_shapes', [list(xb.shape), list(yb.shape)])
report('batch_dtypes', [str(xb.dtype).replace('torch.', ''), str(yb.dtype).replace('torch.', '')])

model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
init = np.random.default_rng(5)
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.tensor(init.normal(0, 0.5, size=tuple(p.shape)), dtype=torch.float32))
opt = torch.optim.Adam(model.parameters(), lr=0.01)
loss_fn = nn.BCEWithLogitsLoss()
losses = []
for epoch in range(8):
    for xb, yb in loader:
        opt.zero_grad()
        logits = model(xb).squeeze(1)
        loss = loss_fn(logits, yb.float())
        loss.backward()
        opt.step()
    losses.append(loss.item())
report('losses', losses)
with torch.no_grad():
    allx = torch.stack([torch.as_tensor(train[i][0]) for i in range(len(train))])
    ally = torch.tensor([train[i][1] for i in range(len(train))])
    acc = ((model(allx).squeeze(1) > 0).long() == ally).float().mean()
report('accuracy', acc)
report('adam_state_steps', [float(s['step']) for s in opt.state_dict()['state'].values()])
