"""The classic MNIST example's structure on generated 12x12 images: a Net with two convolutions,
max_pool2d, Dropout layers, torch.flatten, log_softmax + nll_loss, train()/test() functions with
model.train()/model.eval(), Adadelta with a StepLR schedule, argmax(dim=1, keepdim=True) and
pred.eq(target.view_as(pred)).sum().item(), and progress lines formatted as the example prints them."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import TensorDataset, DataLoader
from _report import report

class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, 1)
        self.conv2 = nn.Conv2d(4, 8, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(128, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output

log = []
def train(log_interval, model, device, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % log_interval == 0:
            log.append('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.4f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))

def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    return test_loss, correct

rng = np.random.default_rng(7)
def make(n):
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 0.3, (n, 1, 12, 12)).astype(np.float32)
    for i, c in enumerate(y): x[i, 0, 2 + 3 * c: 5 + 3 * c, 3:9] += 1.0
    return torch.from_numpy(x), torch.from_numpy(y)

torch.manual_seed(1)
use_cuda = torch.cuda.is_available()
device = torch.device("cuda" if use_cuda else "cpu")
train_kwargs, test_kwargs = {'batch_size': 16}, {'batch_size': 50}
if use_cuda:
    train_kwargs.update({'num_workers': 1, 'pin_memory': True, 'shuffle': True})
train_loader = DataLoader(TensorDataset(*make(96)), **train_kwargs)
test_loader = DataLoader(TensorDataset(*make(100)), **test_kwargs)

model = Net().to(device)
init = np.random.default_rng(0)
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy(init.normal(0, 0.3, size=tuple(p.shape)).astype(np.float32)))

# dropout: identity in eval mode; in training it zeroes about p of the entries and scales the rest
model.eval()
x0 = next(iter(test_loader))[0]
report('eval_is_deterministic', bool(torch.equal(model(x0), model(x0))))
d = F.dropout(torch.ones(10000), p=0.25, training=True)
report('dropout_stats', [abs(float((d == 0).float().mean()) - 0.25) < 0.03, sorted(set(d.unique().tolist())) == [0.0, 4 / 3]])
model.dropout1.p = 0.0                                   # off for a run comparable across frameworks
model.dropout2.p = 0.0

optimizer = optim.Adadelta(model.parameters(), lr=1.0)
scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
results = []
for epoch in range(1, 4):
    train(2, model, device, train_loader, optimizer, epoch)
    results.append(list(test(model, device, test_loader)))
    scheduler.step()
report('test_loss_correct', results)
report('log_lines', log)
report('lr_after', optimizer.param_groups[0]['lr'])
report('scheduler_last_lr', scheduler.get_last_lr())
report('fc2_weight', model.fc2.weight)
