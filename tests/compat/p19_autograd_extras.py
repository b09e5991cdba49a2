"""Autograd beyond backward(): tensor hooks, retain_grad, torch.autograd.functional (jacobian, hessian, vjp,
hvp), set_grad_enabled as a context manager, torch.no_grad as a decorator, and detach_/requires_grad_."""
import numpy as np
import torch
from torch.autograd.functional import jacobian, hessian, vjp, hvp
from _report import report

rng = np.random.default_rng(0)
x = torch.tensor(rng.normal(size=4).astype(np.float64), requires_grad=True)
A = torch.tensor(rng.normal(size=(3, 4)).astype(np.float64))

def f(v):
    return torch.tanh(A @ v)

def energy(v):
    return (v ** 4).sum() / 4 + (A @ v).pow(2).sum()

report('jacobian', jacobian(f, x))
report('hessian', hessian(energy, x))
out, g = vjp(f, x, torch.ones(3, dtype=torch.float64))
report('vjp', g)
_, hv = hvp(energy, x, torch.arange(4, dtype=torch.float64))
report('hvp', hv)

seen = []
h = x.register_hook(lambda grad: seen.append(grad.clone()) or grad * 2)
y = f(x)
y.retain_grad()
y.sum().backward()
report('hooked_grad', x.grad)
report('hook_saw', seen[0])
report('retained', y.grad)
h.remove()

with torch.set_grad_enabled(False):
    z = x * 2
report('set_grad_enabled_ctx', z.requires_grad)

@torch.no_grad()
def evaluate(v):
    return (v * 3).requires_grad
report('no_grad_decorator', evaluate(x))

w = torch.ones(3, requires_grad=True)
u = (w * 2).detach_()
report('detach_', [u.requires_grad, u.is_leaf])
report('requires_grad_', torch.zeros(2).requires_grad_().requires_grad)
