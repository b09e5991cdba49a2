"""A tiny sequence classifier on a Transformer encoder: nn.TransformerEncoderLayer (batch_first, dropout=0),
nn.TransformerEncoder, a padding mask, mean pooling, AdamW."""
import numpy as np
import torch
import torch.nn as nn
from _report import report

rng = np.random.default_rng(0)
B, L, D, C = 6, 5, 8, 2
x = torch.tensor(rng.normal(size=(B, L, D)).astype(np.float32))
y = torch.tensor(rng.integers(0, C, size=B))
pad = torch.tensor(np.arange(L)[None, :] >= np.array([5, 4, 3, 5, 2, 4])[:, None])

class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=D, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(D, C)
    def forward(self, x, pad):
        h = self.encoder(x, src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).float()
        return self.head((h * keep).sum(1) / keep.sum(1))

model = Classifier()
init = np.random.default_rng(1)
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith('norm1.weight') or name.endswith('norm2.weight'):
            p.fill_(1.0)
        else:
            p.copy_(torch.tensor(init.normal(0, 0.2, size=tuple(p.shape)).astype(np.float32)))
report('n_params', sum(p.numel() for p in model.parameters()))
opt = torch.optim.AdamW(model.parameters(), lr=0.01)
losses = []
for step in range(6):
    loss = nn.functional.cross_entropy(model(x, pad), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
report('losses', losses)
report('head_grad', model.head.weight.grad)
model.eval()
with torch.no_grad():
    report('eval_logits', model(x, pad))
