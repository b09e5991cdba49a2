"""Learning-rate schedules: StepLR, ExponentialLR, CosineAnnealingLR and OneCycleLR driving an optimiser."""
import numpy as np
import torch
import torch.nn as nn
from torch.optim.lr_scheduler import StepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR
from _report import report

def make_model():
    model = nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.2, -0.1, 0.4]]))
        model.bias.fill_(0.1)
    return model

rng = np.random.default_rng(0)
X = torch.tensor(rng.normal(size=(20, 3)).astype(np.float32))
Y = torch.tensor(rng.normal(size=(20, 1)).astype(np.float32))

for name, make in [('step', lambda o: StepLR(o, step_size=3, gamma=0.5)),
                   ('exp', lambda o: ExponentialLR(o, gamma=0.9)),
                   ('cos', lambda o: CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
                   ('onecycle', lambda o: OneCycleLR(o, max_lr=0.1, total_steps=10))]:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = make(optimizer)
    lrs, losses = [], []
    for epoch in range(10):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(X), Y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
        losses.append(loss.item())
    report(f'{name}_lrs', lrs)
    report(f'{name}_losses', losses)
    report(f'{name}_param_group_lr', optimizer.param_groups[0]['lr'])
