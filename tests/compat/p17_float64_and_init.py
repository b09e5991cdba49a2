"""Double precision and initialisation: torch.set_default_dtype(torch.float64), nn.init functions with a
Generator-independent check, Module.double(), torch.autograd.gradcheck, torch.inference_mode, torch.where,
nn.utils.parameters_to_vector."""
import numpy as np
import torch
import torch.nn as nn
from _report import report

torch.set_default_dtype(torch.float64)
report('default_dtype_is_float64', torch.get_default_dtype() == torch.float64)
report('python_float_tensor_is_float64', torch.tensor([1.5]).dtype == torch.float64)
layer = nn.Linear(3, 2)
report('layer_dtype_is_float64', layer.weight.dtype == torch.float64)
torch.set_default_dtype(torch.float32)

net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 1)).double()
nn.init.zeros_(net[2].bias)
nn.init.constant_(net[0].bias, 0.1)
report('init_biases', [net[0].bias, net[2].bias])
nn.init.xavier_uniform_(net[0].weight)
bound = (6 / (4 + 6)) ** 0.5
report('xavier_in_bound', bool((net[0].weight.abs() <= bound).all()))
rng = np.random.default_rng(0)
with torch.no_grad():
    for p in net.parameters():
        p.copy_(torch.from_numpy(rng.normal(0, 0.5, size=tuple(p.shape))))
vec = nn.utils.parameters_to_vector(net.parameters())
report('param_vector', vec)
x = torch.tensor(rng.normal(size=(5, 4)), requires_grad=True)
report('gradcheck', torch.autograd.gradcheck(lambda inp: net(inp).tanh(), (x,), eps=1e-6, atol=1e-5))
out = net(x).sum()
out.backward()
report('x_grad', x.grad)
with torch.inference_mode():
    y = net(x)
report('inference_mode_no_grad', y.requires_grad)
report('where', torch.where(y > 0, y, torch.zeros_like(y)))
report('where_indices', torch.where(torch.tensor([0.0, 2.0, 0.0, 3.0]) > 0)[0])
