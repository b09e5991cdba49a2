"""Autograd basics: a one-layer logistic model, its gradients, no_grad, detach, accumulation and torch.autograd.grad."""
import numpy as np
import torch
from _report import report

rng = np.random.default_rng(1)
x = torch.tensor(rng.normal(size=5).astype(np.float32))
y = torch.zeros(3)
w = torch.tensor(rng.normal(size=(5, 3)).astype(np.float32), requires_grad=True)
b = torch.tensor(rng.normal(size=3).astype(np.float32), requires_grad=True)
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
report('loss', loss)
report('z_has_grad_fn', z.grad_fn is not None)
report('leaf', [w.is_leaf, z.is_leaf])

loss.backward()
report('w_grad', w.grad)
report('b_grad', b.grad)

with torch.no_grad():
    z = torch.matmul(x, w) + b
report('no_grad_requires_grad', z.requires_grad)
z_det = (torch.matmul(x, w) + b).detach()
report('detach_requires_grad', z_det.requires_grad)

# gradients accumulate until zeroed
inp = torch.eye(4, 5, requires_grad=True)
out = (inp + 1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
report('first_call', inp.grad)
out.backward(torch.ones_like(out), retain_graph=True)
report('second_call', inp.grad)
inp.grad.zero_()
out.backward(torch.ones_like(out))
report('after_zero', inp.grad)

# torch.autograd.grad, and a second derivative
u = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
f = (u ** 3).sum()
(g,) = torch.autograd.grad(f, u, create_graph=True)
report('grad', g)
(h,) = torch.autograd.grad(g.sum(), u)
report('second_derivative', h)
