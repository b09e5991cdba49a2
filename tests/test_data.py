"""Tests of `backprop.data`: IDX (MNIST) round trips and every corruption error, DataLoader ordering and
batching properties (hypothesis), random_split, the bundled digits file's integrity, synthetic sets.
No PyTorch needed."""
import gzip, hashlib, re, tomllib
from pathlib import Path
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from hypothesis.extra import numpy as hnp

data = pytest.importorskip("backprop.data")
import backprop as bp  # noqa: E402
from backprop.data import (Dataset, TensorDataset, DataLoader, Subset, ConcatDataset, random_split,  # noqa: E402
                           default_collate, read_idx, write_idx, load_mnist, load_digits,
                           make_spirals, make_moons, make_blobs)

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- IDX files

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]

@SETTINGS
@given(dtype=st.sampled_from(IDX_DTYPES), shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
       gz=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_idx_round_trip(tmp_path_factory, dtype, shape, gz, seed):
    a = (np.random.default_rng(seed).standard_normal(shape) * 100).astype(dtype)
    p = tmp_path_factory.mktemp('idx') / ('a.idx.gz' if gz else 'a.idx')
    write_idx(p, a)
    b = read_idx(p)
    assert b.dtype == a.dtype and b.shape == a.shape and b.dtype.isnative
    np.testing.assert_array_equal(a, b)
    raw = p.read_bytes()
    assert (raw[:2] == b'\x1f\x8b') == gz
    if not gz:
        assert raw[:2] == b'\0\0' and raw[3] == a.ndim and len(raw) == 4 + 4 * a.ndim + a.nbytes

def test_idx_header_is_mnist(tmp_path):
    write_idx(tmp_path / 'i', np.zeros((3, 28, 28), np.uint8)); write_idx(tmp_path / 'l', np.zeros(3, np.uint8))
    assert int.from_bytes((tmp_path / 'i').read_bytes()[:4], 'big') == 2051
    assert int.from_bytes((tmp_path / 'l').read_bytes()[:4], 'big') == 2049
    assert (tmp_path / 'i').read_bytes()[4:16] == (3).to_bytes(4, 'big') + (28).to_bytes(4, 'big') * 2

def test_idx_big_endian_and_tensor_inputs(tmp_path):
    a = np.arange(12, dtype='>i4').reshape(3, 4)
    write_idx(tmp_path / 'a', a); np.testing.assert_array_equal(read_idx(tmp_path / 'a'), a)
    write_idx(tmp_path / 't', bp.tensor([[1., 2.], [3., 4.]]))
    np.testing.assert_array_equal(read_idx(tmp_path / 't'), np.array([[1, 2], [3, 4]], np.float32))

def test_gzip_detected_by_content_not_name(tmp_path):
    write_idx(tmp_path / 'a.gz', np.arange(5, dtype=np.uint8))
    (tmp_path / 'plain-name').write_bytes((tmp_path / 'a.gz').read_bytes())
    np.testing.assert_array_equal(read_idx(tmp_path / 'plain-name'), np.arange(5))

def test_gzip_is_reproducible(tmp_path):
    write_idx(tmp_path / 'a.gz', np.arange(5, dtype=np.uint8)); first = (tmp_path / 'a.gz').read_bytes()
    write_idx(tmp_path / 'a.gz', np.arange(5, dtype=np.uint8))
    assert (tmp_path / 'a.gz').read_bytes() == first

def test_write_idx_refuses_dtypes(tmp_path):
    for a in (np.zeros(3, np.int64), np.zeros(3, np.float16), np.zeros(3, bool)):
        with pytest.raises(TypeError, match='no element type for dtype'): write_idx(tmp_path / 'x', a)

def _raw(tmp_path, name, data: bytes):
    p = tmp_path / name; p.write_bytes(data); return p

@pytest.mark.parametrize('data,match', [
    (b'\x00\x00', 'too short for an IDX file'),
    (b'\x01\x00\x08\x01' + (1).to_bytes(4, 'big') + b'\x00', 'not an IDX file: bad magic number 0x01000801'),
    (b'\x00\x00\x07\x01' + (1).to_bytes(4, 'big') + b'\x00', 'not an IDX file: bad magic number 0x00000701'),
    (b'\x00\x00\x08\x03' + (2).to_bytes(4, 'big'), 'truncated header: 3 dimensions need 16 header bytes'),
    (b'\x00\x00\x08\x01' + (5).to_bytes(4, 'big') + b'\x00' * 4, 'truncated: the header declares uint8 data of shape (5,)'),
    (b'\x00\x00\x08\x01' + (5).to_bytes(4, 'big') + b'\x00' * 6, 'trailing bytes'),
    (b'\x00\x00\x0D\x01' + (2).to_bytes(4, 'big') + b'\x00' * 7, 'truncated: the header declares float32 data of shape (2,), 16 bytes'),
])
def test_read_idx_corruption(tmp_path, data, match):
    p = _raw(tmp_path, 'bad.idx', data)
    with pytest.raises(ValueError, match=re.escape(match)) as e: read_idx(p)
    assert str(p) in str(e.value) and str(e.value).startswith('read_idx: ')

def test_corrupt_gzip(tmp_path):
    good = gzip.compress(b'\x00\x00\x08\x01' + (100).to_bytes(4, 'big') + bytes(range(100)))
    trunc = _raw(tmp_path, 'trunc.gz', good[:len(good) // 2])
    with pytest.raises(ValueError, match='corrupt or truncated gzip') as e: read_idx(trunc)
    assert str(trunc) in str(e.value)
    badcrc = bytearray(good); badcrc[-8] ^= 0xFF
    with pytest.raises(ValueError, match='corrupt or truncated gzip'): read_idx(_raw(tmp_path, 'crc.gz', bytes(badcrc)))

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope'): read_idx(tmp_path / 'nope')

# ---------------------------------------------------------------- load_mnist

def _mnist_dir(d, n=6, rows=28, cols=28, kind='train', gz=True, sep='-', seed=0):
    rng = np.random.default_rng(seed)
    imgs, labs = rng.integers(0, 256, (n, rows, cols), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)
    ext = '.gz' if gz else ''
    write_idx(d / f'{kind}-images{sep}idx3-ubyte{ext}', imgs); write_idx(d / f'{kind}-labels{sep}idx1-ubyte{ext}', labs)
    return imgs, labs

@pytest.mark.parametrize('gz', [True, False])
@pytest.mark.parametrize('sep', ['-', '.'])
def test_load_mnist_round_trip(tmp_path, gz, sep):
    imgs, labs = _mnist_dir(tmp_path, gz=gz, sep=sep)
    X, y = load_mnist(tmp_path).tensors
    assert X.shape == (6, 1, 28, 28) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(X.array[:, 0], imgs / 255, rtol=1e-6)
    np.testing.assert_array_equal(y.array, labs)
    assert 0 <= X.array.min() and X.array.max() <= 1
    Xf, _ = load_mnist(tmp_path, flatten=True, normalize=False).tensors
    assert Xf.shape == (6, 784); np.testing.assert_array_equal(Xf.array, imgs.reshape(6, -1).astype(np.float32))

def test_load_mnist_kinds_and_explicit_names(tmp_path):
    _mnist_dir(tmp_path, n=4, kind='t10k', rows=5, cols=7)      # other image sizes are fine (EMNIST-like)
    for kind in ('t10k', 'test'):
        assert load_mnist(tmp_path, kind).tensors[0].shape == (4, 1, 5, 7)
    with pytest.raises(FileNotFoundError, match=r"no images file for kind='train' .*tried train-images-idx3-ubyte, train-images-idx3-ubyte.gz"):
        load_mnist(tmp_path)
    (tmp_path / 'sub').mkdir()
    write_idx(tmp_path / 'sub' / 'x.gz', np.zeros((2, 3, 3), np.uint8)); write_idx(tmp_path / 'y', np.ones(2, np.uint8))
    X, y = load_mnist(tmp_path, images='sub/x.gz', labels=tmp_path / 'y').tensors
    assert X.shape == (2, 1, 3, 3) and y.tolist() == [1, 1]
    with pytest.raises(FileNotFoundError, match='labels file .*missing not found'): load_mnist(tmp_path, images='sub/x.gz', labels='missing')

def test_load_mnist_bad_magic(tmp_path):
    imgs, labs = _mnist_dir(tmp_path, gz=False)
    li, ll = tmp_path / 'train-images-idx3-ubyte', tmp_path / 'train-labels-idx1-ubyte'
    with pytest.raises(ValueError, match=r'bad magic number 2049 \(0x00000801\) \(that of a label file\); expected 2051') as e:
        load_mnist(tmp_path, images=ll.name)
    assert str(ll) in str(e.value)
    with pytest.raises(ValueError, match=r'bad magic number 2051 .*that of an image file.*expected 2049'):
        load_mnist(tmp_path, labels=li.name)
    write_idx(li, imgs.astype(np.int32))                              # right shape, wrong element type
    with pytest.raises(ValueError, match=r'bad magic number 3075 \(0x00000C03\); expected 2051'): load_mnist(tmp_path)
    li.write_bytes(b'\x1f\x8b' + b'not really gzip')
    with pytest.raises(ValueError, match='corrupt or truncated gzip'): load_mnist(tmp_path)

def test_load_mnist_truncated_and_trailing(tmp_path):
    _mnist_dir(tmp_path, gz=False)
    li = tmp_path / 'train-images-idx3-ubyte'
    good = li.read_bytes()
    li.write_bytes(good[:-1])
    with pytest.raises(ValueError, match=r'truncated: the header declares uint8 data of shape \(6, 28, 28\), 4720 bytes in all, but .* has 4719') as e:
        load_mnist(tmp_path)
    assert str(li) in str(e.value) and str(e.value).startswith('load_mnist: ')
    li.write_bytes(good + b'\0')
    with pytest.raises(ValueError, match='trailing bytes'): load_mnist(tmp_path)
    li.write_bytes(gzip.compress(good)[:-4])                          # truncated download of a .gz
    with pytest.raises(ValueError, match='corrupt or truncated gzip'): load_mnist(tmp_path)

def test_load_mnist_count_mismatch(tmp_path):
    imgs, labs = _mnist_dir(tmp_path)
    write_idx(tmp_path / 'train-labels-idx1-ubyte.gz', labs[:5])
    with pytest.raises(ValueError, match=r'train-images-idx3-ubyte.gz holds 6 images but .*train-labels-idx1-ubyte.gz holds 5 labels'):
        load_mnist(tmp_path)

# ---------------------------------------------------------------- datasets

def test_tensor_dataset_validation():
    with pytest.raises(ValueError, match=r'size mismatch between tensors: first dimensions \[4, 5\]'):
        TensorDataset(bp.zeros(4, 2), bp.zeros(5))
    with pytest.raises(ValueError, match='at least one tensor'): TensorDataset()
    with pytest.raises(ValueError, match='first \\(sample\\) dimension'): TensorDataset(bp.zeros(3), bp.tensor(1.))
    with pytest.raises(TypeError, match='numeric'): TensorDataset(np.array(['a', 'b']))

def test_subset_and_concat():
    ds = TensorDataset(bp.arange(10))
    s = Subset(ds, bp.tensor([3, 1]))
    assert [x.item() for (x,) in (s[0], s[1])] == [3, 1] and s.indices.dtype == np.int64
    with pytest.raises(IndexError, match='length 10'): Subset(ds, [10])
    c = ConcatDataset([ds, s, ds])
    assert len(c) == 22 and c[10][0].item() == 3 and c[11][0].item() == 1 and c[12][0].item() == 0 and c[-1][0].item() == 9
    with pytest.raises(IndexError): c[22]

# ---------------------------------------------------------------- DataLoader properties

def _ids(dl):
    "The sample ids of each batch of one epoch (the dataset's second tensor holds each sample's id)."
    return [yb.array.tolist() for _, yb in dl]

def _ds(n):
    return TensorDataset(bp.tensor(np.arange(n * 3, dtype=np.float32).reshape(n, 3)), bp.arange(n))

@SETTINGS
@given(n=st.integers(0, 150), bs=st.integers(1, 40), shuffle=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_every_sample_once_per_epoch(n, bs, shuffle, seed):
    dl = DataLoader(_ds(n), batch_size=bs, shuffle=shuffle, seed=seed)
    for _ in range(2):
        batches = _ids(dl)
        assert len(batches) == len(dl) == -(-n // bs)
        assert sorted(i for b in batches for i in b) == list(range(n))
        assert all(len(b) == bs for b in batches[:-1])
        if batches: assert len(batches[-1]) == (n % bs or bs)
        if not shuffle: assert [i for b in batches for i in b] == list(range(n))

@SETTINGS
@given(n=st.integers(0, 150), bs=st.integers(1, 40), shuffle=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_drop_last(n, bs, shuffle, seed):
    dl = DataLoader(_ds(n), batch_size=bs, shuffle=shuffle, drop_last=True, seed=seed)
    batches = _ids(dl)
    assert len(batches) == len(dl) == n // bs
    assert all(len(b) == bs for b in batches)
    seen = [i for b in batches for i in b]
    assert len(set(seen)) == len(seen) == (n // bs) * bs and set(seen) <= set(range(n))

@SETTINGS
@given(n=st.integers(20, 120), bs=st.integers(1, 30), seed=st.integers(0, 2**32 - 1))
def test_seeded_shuffle_is_reproducible_and_changes_each_epoch(n, bs, seed):
    a, b = DataLoader(_ds(n), bs, shuffle=True, seed=seed), DataLoader(_ds(n), bs, shuffle=True, seed=seed)
    ea = [_ids(a) for _ in range(3)]
    assert [_ids(b) for _ in range(3)] == ea
    flat = [[i for bt in e for i in bt] for e in ea]
    assert flat[0] != flat[1] and flat[1] != flat[2]                 # 1/20! chance of a false failure

@SETTINGS
@given(n=st.integers(1, 80), bs=st.integers(1, 20), seed=st.integers(0, 2**32 - 1), drop_last=st.booleans())
def test_fast_path_equals_collating(n, bs, seed, drop_last):
    ds = _ds(n)
    for sub in (ds, random_split(ds, [n // 2, n - n // 2], seed=seed)[1]):
        fast = list(DataLoader(sub, bs, shuffle=True, seed=seed, drop_last=drop_last))
        slow = list(DataLoader(sub, bs, shuffle=True, seed=seed, drop_last=drop_last, collate_fn=default_collate))
        assert len(fast) == len(slow)
        for f, s in zip(fast, slow):
            assert type(f) is tuple and type(s) is tuple
            for tf, ts in zip(f, s):
                assert tf.dtype == ts.dtype and tf.shape == ts.shape
                np.testing.assert_array_equal(tf.array, ts.array)

def test_fast_path_is_used(monkeypatch):
    calls, orig = [], TensorDataset.__getitem__
    monkeypatch.setattr(TensorDataset, '__getitem__', lambda self, i: calls.append(i) or orig(self, i))
    ds = _ds(50)
    for _ in DataLoader(ds, 8, shuffle=True, seed=0): pass
    for _ in DataLoader(Subset(random_split(ds, [20, 30], seed=0)[1], range(10)), 4, shuffle=True, seed=0): pass
    assert calls == []                                                # whole-tensor gathers, no ds[i]
    for _ in DataLoader(ds, 8, collate_fn=default_collate): pass
    assert len(calls) == 50                                           # an explicit collate_fn: item by item

def test_default_generator_controls_unseeded_shuffle():
    ds = _ds(30)
    bp.manual_seed(11); a = _ids(DataLoader(ds, 7, shuffle=True))
    bp.manual_seed(11); assert _ids(DataLoader(ds, 7, shuffle=True)) == a
    bp.manual_seed(11); assert [i for b in a for i in b] == bp.core.default_generator().permutation(30).tolist()

def test_generic_dataset_and_collate_errors():
    class Pairs(Dataset):
        def __len__(self): return 5
        def __getitem__(self, i): return np.full(2, i, np.int32), float(i)
    xb, yb = next(iter(DataLoader(Pairs(), batch_size=5)))
    assert xb.dtype == np.int32 and xb.shape == (5, 2) and yb.dtype == np.float32 and yb.tolist() == [0, 1, 2, 3, 4]
    class Ragged(Dataset):
        def __len__(self): return 4
        def __getitem__(self, i): return bp.zeros(i + 1), i
    with pytest.raises(ValueError, match='field 0 have tensors of different shapes'): list(DataLoader(Ragged(), batch_size=2))
    assert len(list(DataLoader(Ragged(), batch_size=2, collate_fn=list))) == 2
    with pytest.raises(ValueError, match='positive integer'): DataLoader(Pairs(), batch_size=-1)
    with pytest.raises(ValueError, match='positive integer'): DataLoader(Pairs(), batch_size=True)
    with pytest.raises(TypeError, match='seed must be an integer'): DataLoader(Pairs(), shuffle=True, seed=1.5)

# ---------------------------------------------------------------- random_split

@SETTINGS
@given(n=st.integers(0, 200), k=st.integers(1, 5), seed=st.integers(0, 2**32 - 1), data_=st.data())
def test_random_split_partitions(n, k, seed, data_):
    cuts = sorted(data_.draw(st.lists(st.integers(0, n), min_size=k - 1, max_size=k - 1)))
    lengths = np.diff([0, *cuts, n]).tolist()
    parts = random_split(_ds(n), lengths, seed=seed)
    assert [len(p) for p in parts] == lengths
    allidx = np.concatenate([p.indices for p in parts])
    assert sorted(allidx.tolist()) == list(range(n))
    assert [p.indices.tolist() for p in random_split(_ds(n), lengths, seed=seed)] == [p.indices.tolist() for p in parts]

def test_random_split_fractions_and_errors():
    assert [len(p) for p in random_split(_ds(10), [0.8, 0.2], seed=0)] == [8, 2]
    assert [len(p) for p in random_split(_ds(7), [0.5, 0.25, 0.25], seed=0)] == [4, 2, 1]
    assert [len(p) for p in random_split(_ds(10), [7.0, 3.0], seed=0)] == [7, 3]
    with pytest.raises(ValueError, match=r'sum of input lengths \(11\) does not equal the length of the input dataset \(10\)'):
        random_split(_ds(10), [5, 6])
    with pytest.raises(ValueError, match='integer counts or fractions'): random_split(_ds(10), [5.5, 4.5])

# ---------------------------------------------------------------- the bundled digits

DIGITS = ROOT / 'backprop' / '_data' / 'digits.npz'

def test_digits_file_integrity():
    assert DIGITS.is_file() and DIGITS.stat().st_size < 100_000
    with np.load(DIGITS, allow_pickle=False) as f:
        assert sorted(f.files) == ['images', 'targets', 'train_idx', 'valid_idx']
        X, y, tr, va = f['images'], f['targets'], f['train_idx'], f['valid_idx']
    assert X.shape == (1797, 8, 8) and X.dtype == np.uint8 and X.min() == 0 and X.max() == 16
    assert y.shape == (1797,) and np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # the exact content tools/make_digits.py extracted from scikit-learn's copy
    assert hashlib.sha256(X.tobytes()).hexdigest() == '8f26b2bd9d135c256808f68f14fdabddde6d9c7f869ae419704b051f0f14b3b3'
    assert hashlib.sha256(y.tobytes()).hexdigest() == '8ba4f891220f5e4c9c819638d1602d74b83618f167043c6da52a2a247841ddf0'
    assert (len(tr), len(va)) == (1438, 359)
    assert np.all(np.diff(tr) > 0) and np.all(np.diff(va) > 0)                         # sorted, no repeats
    assert np.intersect1d(tr, va).size == 0                                           # disjoint
    assert np.array_equal(np.union1d(tr, va), np.arange(1797))                        # covering
    per_class_valid = np.bincount(y[va], minlength=10) / np.bincount(y)
    assert np.all(np.abs(per_class_valid - 0.2) < 0.01)                               # stratified 80/20

def test_digits_is_package_data():
    cfg = tomllib.loads((ROOT / 'pyproject.toml').read_text())
    assert '_data/*.npz' in cfg['tool']['setuptools']['package-data']['backprop']

def test_load_digits():
    for split, n in [('train', 1438), ('valid', 359), ('all', 1797)]:
        X, y = load_digits(split).tensors
        assert X.shape == (n, 64) and X.dtype == np.float32 and y.dtype == np.int64 and y.shape == (n,)
        assert X.array.min() == 0 and X.array.max() == 1 and set(np.unique(y.array)) == set(range(10))
    Xi, _ = load_digits('valid', flatten=False, normalize=False).tensors
    assert Xi.shape == (359, 1, 8, 8) and Xi.array.max() == 16 and np.all(Xi.array == np.round(Xi.array))
    X1, X2 = load_digits().tensors[0], load_digits().tensors[0]
    X1.array[0, 0] = 99.                                               # each call returns fresh arrays
    assert X2.array[0, 0] != 99. and load_digits().tensors[0].array[0, 0] != 99.
    with pytest.raises(ValueError, match="split must be 'train', 'valid' or 'all'"): load_digits('test')

# ---------------------------------------------------------------- synthetic sets

@pytest.mark.parametrize('make,kw', [(make_spirals, dict(n_classes=3, noise=0.2)), (make_moons, dict(noise=0.1)),
                                     (make_blobs, dict(centers=4))])
def test_synthetic_shapes_and_determinism(make, kw):
    X, y = make(101, seed=3, **kw).tensors
    assert X.shape == (101, 2) and X.dtype == np.float32 and y.dtype == np.int64 and y.shape == (101,)
    counts = np.bincount(y.array)
    assert counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(make(101, seed=3, **kw).tensors[0].array, X.array)
    assert not np.array_equal(make(101, seed=4, **kw).tensors[0].array, X.array)
    rng = np.random.default_rng(3)
    np.testing.assert_array_equal(make(101, generator=rng, **kw).tensors[0].array, X.array)
    with pytest.raises(ValueError, match='not both'): make(10, seed=1, generator=np.random.default_rng(), **kw)
    with pytest.raises(ValueError, match='n_samples must be an integer'): make(1.5, **kw)

def test_spirals_geometry():
    X, y = make_spirals(40, 2, noise=0.0, seed=0).tensors
    np.testing.assert_allclose(np.linalg.norm(X.array, axis=1), np.tile(np.linspace(0, 1, 20), 2), atol=1e-6)
    np.testing.assert_allclose(X.array[y.array == 1], -X.array[y.array == 0], atol=1e-6)   # 2 arms: point symmetric
