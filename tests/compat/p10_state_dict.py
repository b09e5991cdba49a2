"""Saving and loading: model and optimizer state_dicts through torch.save/torch.load on an io.BytesIO,
load_state_dict into a fresh model, and training resumed from the checkpoint."""
import io
import numpy as np
import torch
import torch.nn as nn
from _report import report

def make():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

rng = np.random.default_rng(0)
X = torch.tensor(rng.normal(size=(16, 4)).astype(np.float32))
y = torch.tensor(rng.integers(0, 2, size=16))
model = make()
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.tensor(rng.normal(0, 0.5, size=tuple(p.shape)).astype(np.float32)))
opt = torch.optim.Adam(model.parameters(), lr=0.01)
loss_fn = nn.CrossEntropyLoss()
def step(m, o):
    o.zero_grad()
    loss = loss_fn(m(X), y)
    loss.backward()
    o.step()
    return loss.item()
for _ in range(3): step(model, opt)

sd = model.state_dict()
report('keys', list(sd.keys()))
report('values_are_tensors', all(isinstance(v, torch.Tensor) for v in sd.values()))
buffer = io.BytesIO()
torch.save({'model': sd, 'optimizer': opt.state_dict(), 'epoch': 3}, buffer)
buffer.seek(0)
checkpoint = torch.load(buffer, weights_only=True)
report('epoch', checkpoint['epoch'])

model2 = make()
model2.load_state_dict(checkpoint['model'])
opt2 = torch.optim.Adam(model2.parameters(), lr=0.01)
opt2.load_state_dict(checkpoint['optimizer'])
model2.eval()
with torch.no_grad():
    report('same_outputs', bool(torch.equal(model(X), model2(X))))
a = [step(model, opt) for _ in range(3)]
b = [step(model2, opt2) for _ in range(3)]
report('resumed_losses', a)
report('resumed_match', a == b)
report('weight_after', model2[2].weight)
