"""Device-agnostic code: pick 'cuda' when available else 'cpu', move the model and every batch with
.to(device), build tensors with device=, and come back with .cpu().numpy()."""
import numpy as np
import torch
import torch.nn as nn
from _report import report

device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
report('device', device)
dev = torch.device(device)
report('device_str', str(dev))
report('device_type', dev.type)
acc = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
report('accelerator', acc)
report('cuda_count', torch.cuda.device_count())
torch.cuda.manual_seed_all(0)            # a no-op without CUDA
torch.backends.cudnn.benchmark = True
torch.backends.cudnn.deterministic = True

rng = np.random.default_rng(0)
model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 1)).to(device)
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.tensor(rng.normal(0, 0.5, size=tuple(p.shape)), dtype=torch.float32, device=device))
report('param_device', str(next(model.parameters()).device))
X = torch.tensor(rng.normal(size=(10, 3)), dtype=torch.float32)
Y = torch.zeros(10, 1, device=device)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
losses = []
for _ in range(5):
    xb, yb = X.to(device), Y.to(device, non_blocking=True)
    loss = ((model(xb) - yb) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
report('losses', losses)
out = model(X.to(device)).detach().cpu().numpy()
report('output', out)
report('is_ndarray', isinstance(out, np.ndarray))
report('x_is_cuda', X.is_cuda)
report('to_dtype', str(X.to(torch.float64).dtype).replace('torch.', ''))
report('to_other', str(X.to(torch.zeros(1, dtype=torch.float64)).dtype).replace('torch.', ''))
report('to_device_dtype', str(X.to(device, torch.float16).dtype).replace('torch.', ''))
report('to_same_is_self', X.to(device) is X)
report('half_then_float', X.half().float())
report('type_name', X.type())
report('new_zeros', X.new_zeros(2, 3))
report('new_full_dtype', str(X.new_full((2,), 3).dtype).replace('torch.', ''))
try:
    X.to('cuda')
    cuda_error = None
except AssertionError as e:
    cuda_error = 'AssertionError'
report('cuda_error', cuda_error)
model = model.to(torch.device(device)).to(dtype=torch.float64).to(torch.float32)
report('module_to_device_object', str(next(model.parameters()).dtype).replace('torch.', ''))
try:
    nn.Linear(1, 1).to('cuda')
    module_cuda_error = None
except AssertionError as e:            # what a CPU-only PyTorch raises
    module_cuda_error = 'AssertionError'
report('module_cuda_error', module_cuda_error)
