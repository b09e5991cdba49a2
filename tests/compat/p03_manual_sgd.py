"""Manual gradient descent: parameters updated in place under torch.no_grad(), the classic
`for p in model.parameters(): p -= lr * p.grad` loop, and a tensor-only polynomial fit."""
import math
import numpy as np
import torch
import torch.nn as nn
from _report import report

# fit sin(x) with a cubic, tensors only
dtype = torch.float
x = torch.linspace(-math.pi, math.pi, 200, dtype=dtype)
y = torch.sin(x)
a = torch.tensor(0.1, requires_grad=True)
b = torch.tensor(-0.2, requires_grad=True)
c = torch.tensor(0.05, requires_grad=True)
d = torch.tensor(0.0, requires_grad=True)
learning_rate = 1e-6
losses = []
for t in range(300):
    y_pred = a + b * x + c * x ** 2 + d * x ** 3
    loss = (y_pred - y).pow(2).sum()
    if t % 50 == 49: losses.append(loss.item())
    loss.backward()
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None
report('poly_losses', losses)
report('poly_coefs', [a.item(), b.item(), c.item(), d.item()])

# the same idea with a Module: the parameters keep their identity
rng = np.random.default_rng(0)
X = torch.tensor(rng.normal(size=(64, 3)).astype(np.float32))
Y = torch.tensor((rng.normal(size=(64, 1)) + 1).astype(np.float32))
model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
init = np.random.default_rng(1)
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.tensor(init.normal(0, 0.5, size=tuple(p.shape)).astype(np.float32)))
ids = [id(p) for p in model.parameters()]
loss_fn = nn.MSELoss(reduction='sum')
lr = 1e-3
mlosses = []
for t in range(40):
    loss = loss_fn(model(X), Y)
    mlosses.append(loss.item())
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for param in model.parameters():
            param -= lr * param.grad
report('module_losses', mlosses)
report('module_trained', mlosses[-1] < 0.5 * mlosses[0])
report('same_parameter_objects', ids == [id(p) for p in model.parameters()])
report('final_weight', model[0].weight)
