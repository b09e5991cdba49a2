"""A small CNN on 8x8 images: Conv2d, MaxPool2d, Flatten, Linear, F.relu, cross_entropy, optim.SGD."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from _report import report

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(8 * 2 * 2, 16)
        self.fc2 = nn.Linear(16, 4)
    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = F.relu(self.conv2(x))
        x = self.flatten(x)
        x = F.relu(self.fc1(x))
        return self.fc2(x)

rng = np.random.default_rng(0)
images = rng.normal(size=(40, 1, 8, 8)).astype(np.float32)
targets = rng.integers(0, 4, size=40)
images[np.arange(40), 0, targets, targets] += 3.0          # a learnable cue
inputs, labels = torch.from_numpy(images), torch.from_numpy(targets)

net = Net()
init = np.random.default_rng(1)
with torch.no_grad():
    for p in net.parameters():
        p.copy_(torch.from_numpy(init.normal(0, 0.3, size=tuple(p.shape)).astype(np.float32)))
report('n_params', sum(p.numel() for p in net.parameters()))
report('out_shape', list(net(inputs[:2]).shape))

criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
running = []
for epoch in range(3):
    for i in range(0, 40, 10):
        optimizer.zero_grad()
        outputs = net(inputs[i:i + 10])
        loss = criterion(outputs, labels[i:i + 10])
        loss.backward()
        optimizer.step()
        running.append(loss.item())
report('losses', running)
report('conv1_grad', net.conv1.weight.grad)
with torch.no_grad():
    _, predicted = torch.max(net(inputs), 1)
report('predicted', predicted)
