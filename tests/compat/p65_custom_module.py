"""A custom nn.Module written from scratch: nn.Parameter(torch.randn(...)) weights, register_buffer
(persistent and not), named_parameters()/named_buffers()/named_modules()/children(), a parameter count,
extra_repr, freezing with requires_grad_(False), nn.ModuleList and nn.ParameterList, and state_dict keys."""
import numpy as np
import torch
import torch.nn as nn
from _report import report

class MyLinear(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / in_features ** 0.5)
        self.bias = nn.Parameter(torch.zeros(out_features))
    def forward(self, x):
        return x @ self.weight.t() + self.bias
    def extra_repr(self):
        return f'in_features={self.in_features}, out_features={self.out_features}'

class RunningNorm(nn.Module):
    "Normalises by running statistics it keeps in buffers."
    def __init__(self, n, momentum=0.1):
        super().__init__()
        self.momentum = momentum
        self.register_buffer('running_mean', torch.zeros(n))
        self.register_buffer('running_var', torch.ones(n))
        self.register_buffer('scratch', torch.zeros(n), persistent=False)
        self.scale = nn.Parameter(torch.ones(n))
    def forward(self, x):
        if self.training:
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * x.mean(0))
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * x.var(0))
        return (x - self.running_mean) / torch.sqrt(self.running_var + 1e-5) * self.scale

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = RunningNorm(5)
        self.layers = nn.ModuleList([MyLinear(5, 8), MyLinear(8, 8), MyLinear(8, 2)])
        self.gains = nn.ParameterList([nn.Parameter(torch.ones(1)) for _ in range(3)])
    def forward(self, x):
        x = self.norm(x)
        for i, (layer, g) in enumerate(zip(self.layers, self.gains)):
            x = layer(x) * g
            if i < len(self.layers) - 1: x = torch.relu(x)
        return x

model = Model()
names = []
for name, param in model.named_parameters():
    names.append(f"{name}: {tuple(param.shape)} requires_grad={param.requires_grad}")
report('named_parameters', names)
report('named_buffers', [f"{n}: {list(b.shape)}" for n, b in model.named_buffers()])
report('state_dict_keys', list(model.state_dict().keys()))
report('named_modules', [n for n, _ in model.named_modules()])
report('children', [type(c).__name__ for c in model.children()])
report('n_params', sum(p.numel() for p in model.parameters() if p.requires_grad))
report('layer_repr', repr(model.layers[0]))
report('param_is_parameter', [isinstance(model.layers[0].weight, nn.Parameter), isinstance(model.norm.running_mean, nn.Parameter)])

init = np.random.default_rng(31)
with torch.no_grad():
    for name, p in model.named_parameters():
        p.copy_(torch.tensor(init.normal(0, 0.5, size=tuple(p.shape)).astype(np.float32)))
rng = np.random.default_rng(32)
X = torch.tensor(rng.normal(2, 3, size=(64, 5)).astype(np.float32))
Y = torch.tensor(rng.normal(size=(64, 2)).astype(np.float32))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
losses = []
for step in range(15):
    loss = nn.functional.mse_loss(model(X), Y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
report('losses', losses)
report('running_mean', model.norm.running_mean)
report('running_var', model.norm.running_var)

# freeze the first two layers, fine-tune the rest
for layer in model.layers[:2]:
    layer.requires_grad_(False)
trainable = [n for n, p in model.named_parameters() if p.requires_grad]
report('trainable_after_freeze', trainable)
opt = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.05)
frozen_before = model.layers[0].weight.clone()
model.eval()
loss = nn.functional.mse_loss(model(X), Y)
loss.backward()
opt.step()
report('frozen_unchanged', bool(torch.equal(frozen_before, model.layers[0].weight)))
report('frozen_grad_is_none', model.layers[0].weight.grad is None)
report('eval_loss', loss.item())
report('training_flags', [m.training for m in model.modules()])
