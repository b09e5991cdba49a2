"""backprop.utils.data against torch.utils.data: the same datasets, samplers and loader options give the same
batches (for deterministic orders), the same lengths and the same errors; random samplers are compared by
their invariants (permutations, ranges, counts), since the two libraries' random streams differ."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
import backprop as bp
import backprop.utils.data as bud
torch = pytest.importorskip('torch')
import torch.utils.data as tud

SETTINGS = settings(max_examples=25, deadline=None)

def _batches(dl): return [np.asarray(b[1] if isinstance(b, (tuple, list)) else b).tolist() for b in dl]

def _pair(n):
    x = np.arange(n, dtype=np.float32)[:, None] * np.array([1., -1.], np.float32)
    return (bud.TensorDataset(bp.tensor(x), bp.arange(n)), tud.TensorDataset(torch.tensor(x), torch.arange(n)))

@SETTINGS
@given(n=st.integers(1, 40), bs=st.integers(1, 12), drop_last=st.booleans())
def test_sequential_batches_match(n, bs, drop_last):
    ours, theirs = _pair(n)
    a, b = bud.DataLoader(ours, batch_size=bs, drop_last=drop_last), tud.DataLoader(theirs, batch_size=bs, drop_last=drop_last)
    assert len(a) == len(b)
    assert _batches(a) == _batches(b)

@SETTINGS
@given(n=st.integers(1, 40), bs=st.integers(1, 12), drop_last=st.booleans(), seed=st.integers(0, 2**31))
def test_shuffled_epochs_are_permutations_of_the_same_batch_sizes(n, bs, drop_last, seed):
    ours, theirs = _pair(n)
    a = bud.DataLoader(ours, batch_size=bs, shuffle=True, drop_last=drop_last, generator=bp.Generator().manual_seed(seed))
    b = tud.DataLoader(theirs, batch_size=bs, shuffle=True, drop_last=drop_last, generator=torch.Generator().manual_seed(seed))
    ea, eb = _batches(a), _batches(b)
    assert [len(x) for x in ea] == [len(x) for x in eb]
    if not drop_last: assert sorted(sum(ea, [])) == sorted(sum(eb, [])) == list(range(n))

@SETTINGS
@given(n=st.integers(1, 30), bs=st.integers(1, 8), drop_last=st.booleans())
def test_batch_sampler_and_sampler_options(n, bs, drop_last):
    order = list(range(n))[::-1]
    ours, theirs = _pair(n)
    a = bud.DataLoader(ours, batch_size=bs, sampler=order, drop_last=drop_last)
    b = tud.DataLoader(theirs, batch_size=bs, sampler=order, drop_last=drop_last)
    assert len(a) == len(b) and _batches(a) == _batches(b)
    sa = list(bud.BatchSampler(bud.SequentialSampler(range(n)), bs, drop_last))
    sb = list(tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop_last))
    assert sa == sb and len(bud.BatchSampler(range(n), bs, drop_last)) == len(tud.BatchSampler(range(n), bs, drop_last))
    a = bud.DataLoader(ours, batch_sampler=sa)
    b = tud.DataLoader(theirs, batch_sampler=sb)
    assert len(a) == len(b) and _batches(a) == _batches(b)

class _OursStream(bud.IterableDataset):
    def __init__(self, n): self.n = n
    def __iter__(self): return iter(range(self.n))
class _TheirStream(tud.IterableDataset):
    def __init__(self, n): self.n = n
    def __iter__(self): return iter(range(self.n))

@SETTINGS
@given(n=st.integers(0, 30), bs=st.one_of(st.none(), st.integers(1, 8)), drop_last=st.booleans())
def test_iterable_dataset(n, bs, drop_last):
    if bs is None: drop_last = False
    a = [np.asarray(b).tolist() for b in bud.DataLoader(_OursStream(n), batch_size=bs, drop_last=drop_last)]
    b = [np.asarray(b).tolist() for b in tud.DataLoader(_TheirStream(n), batch_size=bs, drop_last=drop_last)]
    assert a == b

@SETTINGS
@given(n=st.integers(1, 30), k=st.integers(1, 60), replacement=st.booleans(), seed=st.integers(0, 2**31))
def test_random_sampler_invariants(n, k, replacement, seed):
    a = list(bud.RandomSampler(range(n), replacement=replacement, num_samples=k, generator=bp.Generator().manual_seed(seed)))
    b = list(tud.RandomSampler(range(n), replacement=replacement, num_samples=k, generator=torch.Generator().manual_seed(seed)))
    assert len(a) == len(b) == k and all(isinstance(i, int) for i in a)
    assert all(0 <= i < n for i in a)
    if not replacement:      # whole permutations first, then part of one: every index appears k//n or k//n + 1 times
        for idx in (a, b): assert set(np.bincount(idx, minlength=n).tolist()) <= {k // n, k // n + 1}

@SETTINGS
@given(lengths=st.lists(st.integers(0, 10), min_size=1, max_size=4), seed=st.integers(0, 2**31))
def test_random_split_sizes(lengths, seed):
    n = sum(lengths)
    ours, theirs = _pair(max(n, 1))
    if n == 0: return
    a = bud.random_split(ours, lengths, generator=bp.Generator().manual_seed(seed))
    b = tud.random_split(theirs, lengths, generator=torch.Generator().manual_seed(seed))
    assert [len(s) for s in a] == [len(s) for s in b] == lengths
    assert sorted(i for s in a for i in np.asarray(s.indices).tolist()) == list(range(n))

@pytest.mark.parametrize('fracs,n', [([0.5, 0.5], 11), ([0.7, 0.2, 0.1], 10), ([1/3] * 3, 10), ([0.25, 0.75], 7)])
def test_random_split_fractions_match(fracs, n):
    ours, theirs = _pair(n)
    assert [len(s) for s in bud.random_split(ours, fracs)] == [len(s) for s in tud.random_split(theirs, fracs)]

@pytest.mark.parametrize('kwargs', [dict(sampler=[0], shuffle=True), dict(batch_sampler=[[0]], batch_size=2),
    dict(batch_sampler=[[0]], drop_last=True), dict(batch_size=None, drop_last=True), dict(persistent_workers=True),
    dict(prefetch_factor=2), dict(num_workers=-1), dict(timeout=-1)])
def test_loader_errors_match(kwargs):
    ours, theirs = _pair(4)
    with pytest.raises(ValueError): tud.DataLoader(theirs, **kwargs)
    with pytest.raises(ValueError): bud.DataLoader(ours, **kwargs)

def test_weighted_sampler_and_worker_options():
    w = [0., 1., 3.]
    a = list(bud.WeightedRandomSampler(w, 4000, generator=bp.Generator().manual_seed(0)))
    b = list(tud.WeightedRandomSampler(w, 4000, generator=torch.Generator().manual_seed(0)))
    assert len(a) == len(b) == 4000 and 0 not in a and 0 not in b
    np.testing.assert_allclose(np.bincount(a, minlength=3) / 4000, np.bincount(b, minlength=3) / 4000, atol=0.05)
    ours, theirs = _pair(10)
    a = bud.DataLoader(ours, batch_size=3, num_workers=2, pin_memory=True, persistent_workers=True, prefetch_factor=2)
    assert _batches(a) == _batches(tud.DataLoader(theirs, batch_size=3))
    assert bud.get_worker_info() is None and tud.get_worker_info() is None
