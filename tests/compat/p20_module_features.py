"""nn.Module machinery a tutorial touches: BatchNorm running statistics and train()/eval(), Dropout in eval,
register_buffer, named_modules/children, parameter counting, requires_grad_(False) for freezing, and a
state_dict with buffers loaded into a fresh model."""
import numpy as np
import torch
import torch.nn as nn
from _report import report

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(8, 2)
        self.register_buffer('scale', torch.tensor(2.0))
    def forward(self, x):
        return self.head(self.body(x)) * self.scale

rng = np.random.default_rng(0)
net = Net()
with torch.no_grad():
    for name, p in net.named_parameters():
        p.copy_(torch.tensor(rng.normal(0, 0.5, size=tuple(p.shape)).astype(np.float32)))
report('state_keys', list(net.state_dict().keys()))
report('modules', [name for name, _ in net.named_modules()])
report('children', [type(m).__name__ for m in net.children()])
report('n_trainable', sum(p.numel() for p in net.parameters() if p.requires_grad))

X = torch.tensor(rng.normal(size=(16, 4)).astype(np.float32))
y = torch.tensor(rng.integers(0, 2, size=16))
for p in net.body[0].parameters():
    p.requires_grad_(False)
report('n_trainable_frozen', sum(p.numel() for p in net.parameters() if p.requires_grad))
opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
net.body[3].p = 0.0            # no dropout while training here: its random mask differs between libraries
for _ in range(3):
    loss = nn.functional.cross_entropy(net(X), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
report('train_loss', loss)
report('running_mean', net.body[1].running_mean)
report('running_var', net.body[1].running_var)
report('num_batches_tracked', net.body[1].num_batches_tracked)
report('frozen_grad_is_none', net.body[0].weight.grad is None)

net.body[3].p = 0.5
net.eval()
with torch.no_grad():
    e1, e2 = net(X), net(X)
report('eval_deterministic', bool(torch.equal(e1, e2)))
report('eval_out', e1)
fresh = Net()
fresh.load_state_dict(net.state_dict())
fresh.eval()
with torch.no_grad():
    report('reloaded_equal', bool(torch.allclose(fresh(X), e1)))
