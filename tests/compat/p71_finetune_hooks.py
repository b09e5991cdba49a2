"""Fine-tuning and feature extraction: a "pretrained" backbone loaded from a state dict, frozen with
param.requires_grad = False, its head replaced by a new nn.Linear, an optimiser over the head only,
forward hooks that capture intermediate activations (register_forward_hook, handle.remove()),
a backward hook on a tensor (register_hook), model.named_modules() lookups, and nn.Identity to cut the head."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from _report import report

class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d((1, 1)))
        self.fc = nn.Linear(8, 10)
    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.fc(x)

pretrained = Backbone()
init = np.random.default_rng(91)
state = {}
for k, v in pretrained.state_dict().items():
    if 'num_batches' in k: state[k] = v
    else:
        a = init.normal(0, 0.4, size=tuple(v.shape)).astype(np.float32)
        state[k] = torch.from_numpy(np.abs(a) + 0.5 if 'running_var' in k else a)
pretrained.load_state_dict(state)
model = Backbone()
model.load_state_dict(pretrained.state_dict())
for param in model.parameters():
    param.requires_grad = False
num_ftrs = model.fc.in_features
model.fc = nn.Linear(num_ftrs, 3)
with torch.no_grad():
    model.fc.weight.copy_(torch.from_numpy(init.normal(0, 0.3, size=(3, num_ftrs)).astype(np.float32)))
    model.fc.bias.zero_()
report('trainable', [n for n, p in model.named_parameters() if p.requires_grad])
optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.1, momentum=0.9)

activations = {}
def get_activation(name):
    def hook(model, input, output):
        activations[name] = output.detach()
    return hook
modules = dict(model.named_modules())
h1 = modules['features.2'].register_forward_hook(get_activation('relu1'))
h2 = model.features[6].register_forward_hook(get_activation('pooled'))

rng = np.random.default_rng(92)
X = torch.from_numpy(rng.normal(size=(24, 1, 8, 8)).astype(np.float32))
y = torch.from_numpy(rng.integers(0, 3, 24))
model.train()
losses = []
for epoch in range(5):
    optimizer.zero_grad()
    out = model(X)
    loss = F.cross_entropy(out, y)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
report('losses', losses)
report('bn_running_mean_moved', model.features[1].running_mean)
report('frozen_grads_none', all(p.grad is None for n, p in model.named_parameters() if not n.startswith('fc')))
report('relu1_shape', list(activations['relu1'].shape))
report('pooled', activations['pooled'][:2].flatten(1))
h1.remove(); h2.remove()
activations.clear()
model.eval()
with torch.no_grad():
    model(X[:2])
report('hooks_removed', len(activations) == 0)

# a tensor hook sees (and may rescale) the gradient flowing into an activation
grads = []
x = X[:4].clone().requires_grad_(True)
feat = model.features(x)
feat.register_hook(lambda g: grads.append(g.clone()))
feat.register_hook(lambda g: g * 2)
model.fc(torch.flatten(feat, 1)).sum().backward()
report('tensor_hook_grad', grads[0].flatten(1))
report('input_grad_doubled', x.grad.abs().sum())

# feature extraction: replace the head by nn.Identity
model.fc = nn.Identity()
with torch.no_grad():
    emb = model(X[:3])
report('embedding', emb)
