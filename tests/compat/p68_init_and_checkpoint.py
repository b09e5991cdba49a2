"""Weight initialisation with model.apply(init_fn) (xavier_uniform_, zeros_, kaiming_normal_, constant_)
checked by its statistics, then torch.save(model.state_dict(), buffer) and
load_state_dict(torch.load(buffer, weights_only=True)), strict=False key reports, and a checkpoint dict
with the optimizer state that resumes training exactly."""
import io, math, os, tempfile
import numpy as np
import torch
import torch.nn as nn
from _report import report

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(200, 300)
        self.fc2 = nn.Linear(300, 100)
        self.out = nn.Linear(100, 3)
    def forward(self, x):
        return self.out(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

def init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        nn.init.zeros_(m.bias)
torch.manual_seed(0)
model = Net()
ret = model.apply(init_weights)
report('apply_returns_model', ret is model)
bound = math.sqrt(6 / (200 + 300))
w = model.fc1.weight
report('xavier_bound', [float(w.abs().max()) <= bound, float(w.abs().max()) > 0.95 * bound, abs(float(w.std()) - bound / math.sqrt(3)) < 0.02 * bound])
report('bias_zero', [float(model.fc1.bias.abs().max()), float(model.out.bias.abs().max())])
nn.init.kaiming_normal_(model.fc2.weight, mode='fan_out', nonlinearity='relu')
report('kaiming_std', abs(float(model.fc2.weight.std()) - math.sqrt(2 / 100)) < 0.01)
nn.init.constant_(model.out.bias, 0.1)
report('constant_bias', model.out.bias)
report('calculate_gain', [nn.init.calculate_gain('relu'), nn.init.calculate_gain('tanh'), nn.init.calculate_gain('leaky_relu', 0.2)])

# from here on, weights from numpy so both frameworks compute the same numbers
init = np.random.default_rng(61)
model.load_state_dict({k: torch.from_numpy(init.normal(0, 0.05, size=tuple(v.shape)).astype(np.float32))
                       for k, v in model.state_dict().items()})
x = torch.from_numpy(np.random.default_rng(62).normal(size=(10, 200)).astype(np.float32))
buf = io.BytesIO()
torch.save(model.state_dict(), buf)
buf.seek(0)
model2 = Net()
result = model2.load_state_dict(torch.load(buf, weights_only=True))
report('load_result', [list(result.missing_keys), list(result.unexpected_keys)])
report('same_outputs', bool(torch.equal(model(x), model2(x))))

sd = model.state_dict()
sd['extra.weight'] = torch.zeros(1)
del sd['out.bias']
r = model2.load_state_dict(sd, strict=False)
report('strict_false', [list(r.missing_keys), list(r.unexpected_keys)])
try:
    model2.load_state_dict(sd)
    report('strict_error', 'no error')
except RuntimeError as e:
    report('strict_error', ['Missing key(s)' in str(e), 'Unexpected key(s)' in str(e)])

# a checkpoint dict on disk, then resume: the resumed run matches the uninterrupted one
y = torch.from_numpy(np.random.default_rng(63).integers(0, 3, 10))
def step(m, o):
    o.zero_grad()
    loss = nn.functional.cross_entropy(m(x), y)
    loss.backward()
    o.step()
    return loss.item()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for _ in range(3): step(model, opt)
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, 'ckpt.pt')
    torch.save({'epoch': 3, 'model_state_dict': model.state_dict(), 'optimizer_state_dict': opt.state_dict(),
                'loss': 0.5}, path)
    uninterrupted = [step(model, opt) for _ in range(3)]
    checkpoint = torch.load(path, weights_only=True)
model3 = Net()
opt3 = torch.optim.Adam(model3.parameters(), lr=1e-3)
model3.load_state_dict(checkpoint['model_state_dict'])
opt3.load_state_dict(checkpoint['optimizer_state_dict'])
report('checkpoint_epoch', [checkpoint['epoch'], checkpoint['loss']])
resumed = [step(model3, opt3) for _ in range(3)]
report('uninterrupted', uninterrupted)
report('resumed', resumed)
report('resume_exact', uninterrupted == resumed)
report('opt_state_keys', sorted(opt3.state_dict().keys()))
report('opt_state_step', float(opt3.state_dict()['state'][0]['step']))
