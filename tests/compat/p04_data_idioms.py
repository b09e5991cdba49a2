"""The `.data` idioms of older PyTorch code: weight init through `w.data.normal_`, updates through
`p.data.add_(p.grad.data, alpha=-lr)` and `p.data -= ...`, and `p.data.copy_` to load weights."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from _report import report

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 16)
        self.fc2 = nn.Linear(16, 3)
    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))

def weights_init(m):
    if isinstance(m, nn.Linear):
        m.weight.data.normal_(0.0, 0.02)
        m.bias.data.fill_(0)

torch.manual_seed(0)
net = Net()
net.apply(weights_init)
w = net.fc1.weight.data
report('normal_init_std_close', abs(float(w.std()) - 0.02) < 0.006)
report('bias_zero', net.fc1.bias.data)
report('data_is_detached', [net.fc1.weight.data.requires_grad, net.fc1.weight.requires_grad])

# load shared weights through .data.copy_
rng = np.random.default_rng(3)
for p in net.parameters():
    p.data.copy_(torch.tensor(rng.normal(0, 0.4, size=tuple(p.shape)).astype(np.float32)))

X = torch.tensor(rng.normal(size=(32, 4)).astype(np.float32))
y = torch.tensor(rng.integers(0, 3, size=32))
lr = 0.1
losses = []
for step in range(30):
    out = net(X)
    loss = F.cross_entropy(out, y)
    losses.append(loss.item())
    net.zero_grad()
    loss.backward()
    for i, p in enumerate(net.parameters()):
        if i % 2 == 0:
            p.data.add_(p.grad.data, alpha=-lr)
        else:
            p.data -= lr * p.grad.data
report('losses', losses)
report('fc2_weight', net.fc2.weight)
report('fc2_bias_grad', net.fc2.bias.grad)
