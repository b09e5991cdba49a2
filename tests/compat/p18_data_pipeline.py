"""A data pipeline beyond TensorDataset: a Dataset of dicts collated by default_collate, variable-length
sequences padded by a custom collate_fn, ConcatDataset and Subset, an IterableDataset stream, a
WeightedRandomSampler for class balance, and a loop that trains on the padded batches."""
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset, IterableDataset, DataLoader, ConcatDataset, Subset, WeightedRandomSampler
from torch.utils.data import default_collate
from _report import report

rng = np.random.default_rng(0)
lengths = rng.integers(2, 7, size=24)
seqs = [rng.normal(size=(int(l), 3)).astype(np.float32) for l in lengths]
labels = (np.array([s[:, 0].sum() for s in seqs]) > 0).astype(np.int64)

class Sequences(Dataset):
    def __init__(self, seqs, labels):
        self.seqs, self.labels = seqs, labels
    def __len__(self):
        return len(self.seqs)
    def __getitem__(self, i):
        return {'x': torch.from_numpy(self.seqs[i]), 'length': len(self.seqs[i]), 'y': int(self.labels[i])}

ds = Sequences(seqs, labels)
report('dict_collate_lengths', default_collate([{'a': 1, 'b': 2.5}, {'a': 3, 'b': 4.5}])['a'])

def pad_collate(batch):
    longest = max(item['length'] for item in batch)
    x = torch.zeros(len(batch), longest, 3)
    for i, item in enumerate(batch):
        x[i, :item['length']] = item['x']
    lengths = torch.tensor([item['length'] for item in batch])
    y = torch.tensor([item['y'] for item in batch])
    return x, lengths, y

both = ConcatDataset([Subset(ds, range(0, 12)), Subset(ds, range(12, 24))])
report('concat_len', len(both))
loader = DataLoader(both, batch_size=5, collate_fn=pad_collate)
report('num_batches', len(loader))
x0, l0, y0 = next(iter(loader))
report('first_batch', x0)
report('first_lengths', l0)

class MeanPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 8)
        self.out = nn.Linear(8, 2)
    def forward(self, x, lengths):
        mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).float().unsqueeze(-1)
        h = torch.relu(self.proj(x)) * mask
        return self.out(h.sum(1) / lengths[:, None].float())

model = MeanPool()
init = np.random.default_rng(1)
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.tensor(init.normal(0, 0.5, size=tuple(p.shape)).astype(np.float32)))
opt = torch.optim.SGD(model.parameters(), lr=0.2)
losses = []
for epoch in range(4):
    for x, lengths_b, y in loader:
        loss = nn.functional.cross_entropy(model(x, lengths_b), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
report('losses', losses)

class Countdown(IterableDataset):
    def __init__(self, start):
        self.start = start
    def __iter__(self):
        for i in range(self.start, 0, -1):
            yield torch.tensor([float(i), float(i) ** 2])

report('stream_batches', [b for b in DataLoader(Countdown(7), batch_size=3)])

counts = np.bincount(labels, minlength=2)
weights = [1.0 / counts[l] for l in labels]
sampler = WeightedRandomSampler(weights, num_samples=2000, replacement=True, generator=torch.Generator().manual_seed(0))
drawn = np.array(list(sampler))
report('balanced', abs(float(labels[drawn].mean()) - 0.5) < 0.06)
report('sampler_len', len(sampler))
