"""Gradient accumulation over micro-batches (loss / accumulation_steps, step every k batches), checked
against the full-batch gradient; clip_grad_norm_'s returned total norm; zero_grad(set_to_none=True);
and torch.autograd.grad for a per-sample gradient norm."""
import numpy as np
import torch
import torch.nn as nn
from _report import report

rng = np.random.default_rng(51)
X = torch.tensor(rng.normal(size=(48, 6)).astype(np.float32))
Y = torch.tensor(rng.normal(size=(48, 1)).astype(np.float32))
def make_model():
    m = nn.Sequential(nn.Linear(6, 10), nn.GELU(), nn.Linear(10, 1))
    init = np.random.default_rng(52)
    with torch.no_grad():
        for p in m.parameters(): p.copy_(torch.from_numpy(init.normal(0, 0.4, size=tuple(p.shape)).astype(np.float32)))
    return m

# the full-batch gradient
full = make_model()
nn.functional.mse_loss(full(X), Y).backward()
full_grads = [p.grad.clone() for p in full.parameters()]

# the same gradient in 4 micro-batches
model = make_model()
accumulation_steps = 4
model.zero_grad()
for i, (xb, yb) in enumerate(zip(X.chunk(accumulation_steps), Y.chunk(accumulation_steps))):
    loss = nn.functional.mse_loss(model(xb), yb) / accumulation_steps
    loss.backward()
report('accumulated_equals_full', all(torch.allclose(a.grad, b, atol=1e-6) for a, b in zip(model.parameters(), full_grads)))
report('accumulated_grad0', model[0].weight.grad)

# a training loop that steps every 3 micro-batches of 8
model = make_model()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
opt.zero_grad(set_to_none=True)
report('grad_none_after_set_to_none', [p.grad is None for p in model.parameters()])
norms, losses = [], []
for epoch in range(3):
    for i in range(6):
        xb, yb = X[8 * i: 8 * (i + 1)], Y[8 * i: 8 * (i + 1)]
        loss = nn.functional.mse_loss(model(xb), yb) / 3
        loss.backward()
        if (i + 1) % 3 == 0:
            total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
            norms.append(total_norm.item())
            opt.step()
            opt.zero_grad(set_to_none=True)
    with torch.no_grad():
        losses.append(nn.functional.mse_loss(model(X), Y).item())
report('clip_total_norms', norms)
report('losses', losses)

# per-sample gradient norms with torch.autograd.grad
params = list(model.parameters())
per_sample = []
for j in range(4):
    out = model(X[j:j + 1])
    grads = torch.autograd.grad(nn.functional.mse_loss(out, Y[j:j + 1]), params)
    per_sample.append(torch.sqrt(sum((g ** 2).sum() for g in grads)).item())
report('per_sample_grad_norms', per_sample)
model.zero_grad()
nn.functional.mse_loss(model(X), Y).backward()
report('clip_value_returns', torch.nn.utils.clip_grad_value_(params, 0.01) is None)
report('clipped_grad_max', max(float(p.grad.abs().max()) for p in params))
