"""A character-level language model in the style of the sequence-model tutorials: nn.Embedding, nn.LSTM with
batch_first, nn.GRU, a Linear head over every time step, CrossEntropyLoss on flattened logits, Adam and
gradient-norm clipping."""
import numpy as np
import torch
import torch.nn as nn
from _report import report

text = "the quick brown fox jumps over the lazy dog " * 4
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
seq_len, batch = 12, 4
starts = np.arange(0, batch * 20, 20)
xb = torch.stack([data[s:s + seq_len] for s in starts])
yb = torch.stack([data[s + 1:s + seq_len + 1] for s in starts])
report('batch_shape', list(xb.shape))

class CharModel(nn.Module):
    def __init__(self, vocab, emb=8, hidden=16, cell='lstm'):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        rnn = nn.LSTM if cell == 'lstm' else nn.GRU
        self.rnn = rnn(emb, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, vocab)
    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)
        return self.head(out), state

for cell in ['lstm', 'gru']:
    model = CharModel(len(chars), cell=cell)
    init = np.random.default_rng(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.tensor(init.normal(0, 0.3, size=tuple(p.shape)).astype(np.float32)))
    report(f'{cell}_param_names', [n for n, _ in model.named_parameters()])
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for step in range(8):
        logits, state = model(xb)
        loss = loss_fn(logits.reshape(-1, len(chars)), yb.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    report(f'{cell}_losses', losses)
    report(f'{cell}_head_grad', model.head.weight.grad)
    h = state[0] if cell == 'lstm' else state
    report(f'{cell}_state_shape', list(h.shape))
