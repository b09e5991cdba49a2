"""Randomness: torch.manual_seed, Generator objects with generator=, reproducible DataLoader shuffling and
random_split, get_rng_state/set_rng_state, and the dtypes and ranges the random factories produce."""
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset, random_split
from _report import report

torch.manual_seed(0)
a = torch.randn(5)
torch.manual_seed(0)
b = torch.randn(5)
report('manual_seed_repeats', bool(torch.equal(a, b)))
report('initial_seed', torch.initial_seed())

g = torch.Generator().manual_seed(123)
r1 = torch.rand(3, generator=g)
g.manual_seed(123)
r2 = torch.rand(3, generator=g)
report('generator_repeats', bool(torch.equal(r1, r2)))
report('generator_initial_seed', g.initial_seed())
state = g.get_state()
s1 = torch.randn(4, generator=g)
g.set_state(state)
report('state_restores', bool(torch.equal(s1, torch.randn(4, generator=g))))

state = torch.get_rng_state()
u1 = torch.rand(2)
torch.set_rng_state(state)
report('global_state_restores', bool(torch.equal(u1, torch.rand(2))))

ri = torch.randint(10, (1000,))
report('randint_high_size', [ri.dtype == torch.int64, int(ri.min()) >= 0, int(ri.max()) <= 9, len(ri)])
ri = torch.randint(3, 5, (100,), generator=g)
report('randint_low_high', sorted(set(ri.tolist())))
report('randperm_is_permutation', sorted(torch.randperm(7, generator=g).tolist()))
report('full_infers_int64', torch.full((2,), 7).dtype == torch.int64)
n = torch.normal(2.0, 3.0, size=(2000,), generator=g)
report('normal_moments', [abs(float(n.mean()) - 2) < 0.3, abs(float(n.std()) - 3) < 0.3])
m = torch.multinomial(torch.tensor([0.0, 1.0, 0.0]), 2, replacement=True)
report('multinomial', m)
report('bernoulli', torch.bernoulli(torch.tensor([0.0, 1.0, 1.0])))
x = torch.empty(3, 4)
x.uniform_(-1, 1, generator=g)
report('uniform_range', bool(((x >= -1) & (x < 1)).all()))

ds = TensorDataset(torch.arange(20).float(), torch.arange(20))
def epoch_order(seed):
    loader = DataLoader(ds, batch_size=6, shuffle=True, generator=torch.Generator().manual_seed(seed))
    return [yb.tolist() for _, yb in loader]
e1, e2 = epoch_order(7), epoch_order(7)
report('shuffle_reproducible', e1 == e2)
report('shuffle_is_permutation', sorted(sum(e1, [])) == list(range(20)))
report('shuffle_batch_sizes', [len(b) for b in e1])
s1 = random_split(ds, [15, 5], generator=torch.Generator().manual_seed(1))
s2 = random_split(ds, [15, 5], generator=torch.Generator().manual_seed(1))
report('split_reproducible', list(s1[1].indices) == list(s2[1].indices))
