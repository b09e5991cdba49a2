"""Progress printing as tutorials do it: f"{loss.item():.3f}", f"{loss:.3f}" on a 0-d tensor, item(), tolist()."""
import numpy as np
import torch
import torch.nn as nn
from _report import report

rng = np.random.default_rng(0)
X = torch.tensor(rng.normal(size=(8, 2)).astype(np.float32))
y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
model = nn.Linear(2, 2)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[0.3, -0.2], [0.1, 0.4]]))
    model.bias.zero_()
loss = nn.CrossEntropyLoss()(model(X), y)
report('item_format', f"{loss.item():.3f}")
report('tensor_format', f"{loss:.3f}")
report('tensor_format_e', f"{loss:.2e}")
report('item_type', type(loss.item()).__name__)
report('float_of_tensor', float(loss))
report('tolist', model.weight.detach().tolist())
report('argmax_int', int(model(X).argmax(dim=1)[0]))
size = 8
current = 4
line = f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]"
report('progress_line', line)
