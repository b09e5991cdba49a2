"""Custom autograd Functions in PyTorch's style: static forward/backward with ctx, save_for_backward,
needs_input_grad, and Function.apply inside a model."""
import numpy as np
import torch
from _report import report

class MyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)
    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input

class ScaledMul(torch.autograd.Function):
    "out = a * b * scale, with a Python number argument that gets no gradient."
    @staticmethod
    def forward(ctx, a, b, scale):
        ctx.save_for_backward(a, b)
        ctx.scale = scale
        return a * b * scale
    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved_tensors
        ga = grad_out * b * ctx.scale if ctx.needs_input_grad[0] else None
        gb = grad_out * a * ctx.scale if ctx.needs_input_grad[1] else None
        return ga, gb, None

rng = np.random.default_rng(0)
x = torch.tensor(rng.normal(size=(4, 3)).astype(np.float32), requires_grad=True)
w = torch.tensor(rng.normal(size=(3, 2)).astype(np.float32), requires_grad=True)
c = torch.tensor(rng.normal(size=(4, 2)).astype(np.float32))
relu = MyReLU.apply
y = relu(x.mm(w))
z = ScaledMul.apply(y, c, 0.5).sum()
z.backward()
report('z', z)
report('x_grad', x.grad)
report('w_grad', w.grad)
report('c_grad_is_none', c.grad is None)
report('grad_fn_name', y.grad_fn.name())
