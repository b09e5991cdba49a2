"""Regression with nn.MSELoss, AdamW with weight decay, zero_grad(set_to_none=True), model.train()/eval(),
gradient clipping, and evaluation under torch.no_grad()."""
import numpy as np
import torch
import torch.nn as nn
from _report import report

rng = np.random.default_rng(2)
X = torch.tensor(rng.uniform(-1, 1, size=(64, 2)).astype(np.float32))
y = (X[:, :1] * 2 - X[:, 1:] ** 2 + 0.5)

class Regressor(nn.Module):
    def __init__(self, hidden=12):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
    def forward(self, x):
        return self.net(x)

model = Regressor()
init = np.random.default_rng(9)
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.tensor(init.normal(0, 0.4, size=tuple(p.shape)).astype(np.float32)))
criterion = nn.MSELoss()
optimizer = torch.optim.AdamW(model.parameters(), lr=0.02, weight_decay=0.01)
losses, norms = [], []
for epoch in range(25):
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = criterion(model(X), y)
    loss.backward()
    norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)))
    optimizer.step()
    losses.append(loss.item())
model.eval()
with torch.no_grad():
    val = criterion(model(X), y).item()
report('losses', losses)
report('grad_norms', norms)
report('val', val)
report('grad_none_after_zero', [p.grad is None for p in (optimizer.zero_grad(set_to_none=True), model.parameters())[1]])
