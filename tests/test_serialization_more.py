"""Serialization beyond paths: `bp.save`/`bp.load` with file objects and PyTorch's keyword arguments, the
robustness cases (cycles, deep nesting, stale temporaries of killed saves, files from `torch.save`), and
safetensors both ways with PyTorch: a model trained here loads into the same PyTorch architecture and gives
the same outputs, and a PyTorch model's weights load here."""
import io, os, sys, json, subprocess, textwrap
import numpy as np
import pytest

import backprop as bp
from backprop.serialization import save, load, MAX_DEPTH, _write_npz
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

def test_bytesio_round_trip_from_the_current_position():
    sd = {'w': bp.randn(3, 2), 'n': np.arange(4, dtype=np.int32), 'opt': {'step': 3, 'betas': (0.9, 0.999)}}
    buf = io.BytesIO()
    buf.write(b'a header of our own'); start = buf.tell()
    save(sd, buf)
    buf.seek(start)                                       # the read starts at the current position, as torch.load's
    first = load(buf)
    np.testing.assert_array_equal(first['w'].array, sd['w'].array); assert first['n'].dtype == np.int32
    assert first['opt'] == {'step': 3, 'betas': (0.9, 0.999)}

@settings(max_examples=25, deadline=None)
@given(a=hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64, np.bool_]), hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)),
       weights_only=st.booleans())
def test_file_objects_equal_paths(tmp_path_factory, a, weights_only):
    p = tmp_path_factory.mktemp('s') / 'x.pt'
    save({'a': a, 't': bp.tensor(a) if a.dtype.kind == 'f' else a}, p)
    with open(p, 'rb') as f: from_file = load(f, weights_only=weights_only)
    from_path = load(p, map_location='cpu', weights_only=weights_only)
    for d in (from_file, from_path):
        np.testing.assert_array_equal(d['a'], a); assert d['a'].dtype == a.dtype

def test_map_location_like_cpu_only_torch(tmp_path):
    save({'a': 1}, tmp_path / 'a.pt')
    for ok in (None, 'cpu', bp.device('cpu'), {'cuda:0': 'cpu'}, lambda storage, loc: storage):
        assert load(tmp_path / 'a.pt', map_location=ok) == {'a': 1}
    for bad in ('cuda', 'cuda:1', bp.device('cuda') if hasattr(bp, 'device') else 'cuda'):
        with pytest.raises(RuntimeError, match='CPU only'): load(tmp_path / 'a.pt', map_location=bad)

def test_text_mode_files_are_refused(tmp_path):
    with pytest.raises(TypeError, match='binary mode'): save({'a': 1}, io.StringIO())
    with open(tmp_path / 't.txt', 'w') as f:
        with pytest.raises(TypeError, match='binary mode'): save({'a': 1}, f)

def test_cycles_name_the_path(tmp_path):
    d = {'model': {'layers': [1, 2]}}
    d['model']['layers'].append(d['model'])
    with pytest.raises(ValueError, match=r"model/layers/2 contains itself: it is the same object as model\b"):
        save(d, tmp_path / 'c.pt')
    assert not os.listdir(tmp_path)                       # nothing written
    l = []; l.append(l)
    with pytest.raises(ValueError, match='contains itself'): save(l, io.BytesIO())

def test_deep_nesting_is_a_documented_error(tmp_path):
    deep = {}
    cur = deep
    for _ in range(MAX_DEPTH + 1): cur['x'] = {}; cur = cur['x']
    with pytest.raises(ValueError, match='nested more than'): save(deep, tmp_path / 'd.pt')
    for depth in (MAX_DEPTH + 2, 10 ** 5):                # beyond our limit, and beyond Python's recursion limit
        tree = '{"t": "none"}'
        tree = '{"t": "list", "items": [' * depth + tree + ']}' * depth
        m = ('{"format": "backprop", "version": 1, "tree": ' + tree + '}').encode()
        buf = io.BytesIO(); _write_npz(buf, {'__manifest__': np.frombuffer(m, np.uint8)}); buf.seek(0)
        with pytest.raises(ValueError, match='corrupt manifest'): load(buf)

def test_killed_save_leaves_a_temp_that_the_next_save_removes(tmp_path):
    target = tmp_path / 'ckpt.pt'
    save({'w': np.ones(3)}, target)
    child = textwrap.dedent(f'''
        import os, numpy as np, backprop.serialization as S
        orig, n = np.lib.format.write_array, []
        def dying(*a, **k):
            n.append(1)
            orig(*a, **k)
            if len(n) == 3: os._exit(3)               # killed right after the big array's bytes, before the zip is finished
        np.lib.format.write_array = dying
        S.save({{'w': np.zeros(3), 'big': np.zeros(10 ** 6)}}, {str(target)!r})''')
    assert subprocess.run([sys.executable, '-c', child]).returncode == 3
    temps = [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]
    assert len(temps) == 1 and os.path.getsize(tmp_path / temps[0]) > 10 ** 5
    np.testing.assert_array_equal(load(target)['w'], np.ones(3))          # the old file survived
    # a temp of a *live* writer (this process) and of another file are left alone
    live = tmp_path / f'.ckpt.pt.{os.getpid()}.0123456789ab.tmp'; live.write_bytes(b'x')
    other = tmp_path / f'.other.pt.999999999.0123456789ab.tmp'; other.write_bytes(b'x')
    save({'w': np.zeros(3)}, target)
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith('.tmp')) == sorted([live.name, other.name])
    np.testing.assert_array_equal(load(target)['w'], np.zeros(3))

from backprop.safetensors import save_file, load_file  # noqa: E402

@pytest.fixture
def torch():
    "PyTorch (and safetensors' torch API) as the oracle; the tests above run without it."
    return pytest.importorskip("torch")

def t_save_file(*a, **k):
    from safetensors.torch import save_file as f
    return f(*a, **k)

def t_load_file(*a, **k):
    from safetensors.torch import load_file as f
    return f(*a, **k)

def test_torch_save_files_are_refused_clearly(tmp_path, torch):
    torch.save({'w': torch.ones(2)}, tmp_path / 't.pt')
    with pytest.raises(ValueError, match='written by torch.save'): load(tmp_path / 't.pt')

def _nets(L):
    nn = L.nn
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 10),
                         nn.Tanh(), nn.Linear(10, 4))

def _train_bp(model, x, y, steps=5):
    opt = bp.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad(); loss = bp.nn.functional.cross_entropy(model(x), y); loss.backward(); opt.step()

def test_trained_here_loads_into_torch(tmp_path, torch):
    bp.manual_seed(0)
    x0, y0 = np.random.default_rng(0).standard_normal((8, 1, 6, 6)).astype(np.float32), np.arange(8) % 4
    model = _nets(bp)
    _train_bp(model, bp.tensor(x0), bp.tensor(y0))
    save_file(model.state_dict(), tmp_path / 'm.safetensors', metadata={'source': 'backprop'})
    tm = _nets(torch)
    tm.load_state_dict(t_load_file(tmp_path / 'm.safetensors'))          # strict: same keys, shapes, dtypes
    model.eval(); tm.eval()
    with torch.no_grad(): t_out = tm(torch.tensor(x0)).numpy()
    np.testing.assert_allclose(model(bp.tensor(x0)).array, t_out, rtol=1e-5, atol=1e-5)
    assert t_load_file(tmp_path / 'm.safetensors')['1.num_batches_tracked'].dtype == torch.int64

def test_torch_model_loads_here(tmp_path, torch):
    torch.manual_seed(0)
    tm = _nets(torch)
    x0 = np.random.default_rng(1).standard_normal((5, 1, 6, 6)).astype(np.float32)
    opt = torch.optim.SGD(tm.parameters(), lr=0.1)
    for _ in range(3):                                                    # move the BatchNorm running stats too
        opt.zero_grad(); tm(torch.tensor(x0)).pow(2).mean().backward(); opt.step()
    t_save_file(tm.state_dict(), str(tmp_path / 't.safetensors'))
    model = _nets(bp)
    sd = load_file(tmp_path / 't.safetensors')
    assert all(isinstance(v, bp.Tensor) for v in sd.values())
    model.load_state_dict(sd)
    model.eval(); tm.eval()
    with torch.no_grad(): t_out = tm(torch.tensor(x0)).numpy()
    np.testing.assert_allclose(model(bp.tensor(x0)).array, t_out, rtol=1e-5, atol=1e-5)

def test_safetensors_bytes_and_metadata_match_torch_reader(tmp_path, torch):
    sd = {'a': np.arange(6, dtype=np.float64).reshape(2, 3), 'b': bp.tensor([1, 2, 3], dtype=bp.int32)}
    save_file(sd, tmp_path / 's.safetensors', metadata={'k': 'v'})
    t = t_load_file(tmp_path / 's.safetensors')
    assert t['a'].dtype == torch.float64 and t['b'].dtype == torch.int32
    np.testing.assert_array_equal(t['a'].numpy(), sd['a'])
    with open(tmp_path / 's.safetensors', 'rb') as f:
        n = int.from_bytes(f.read(8), 'little'); header = json.loads(f.read(n))
    assert header['__metadata__'] == {'k': 'v'}
    back = bp.safetensors.load(bp.safetensors.save(sd))
    assert back['b'].dtype == np.int32

def test_container_subclasses_load_as_their_base(tmp_path):
    from collections import OrderedDict, namedtuple
    P = namedtuple('P', 'a b')
    obj = OrderedDict(shape=bp.zeros(2, 3).shape, p=P(1, 2.5), size=bp.Size([2, 3]) if hasattr(bp, 'Size') else (2, 3))
    save(obj, tmp_path / 'o.pt')
    back = load(tmp_path / 'o.pt')
    assert back == {'shape': (2, 3), 'p': (1, 2.5), 'size': (2, 3)} and type(back['p']) is tuple

def test_loading_a_safetensors_file_with_bp_load_says_so(tmp_path):
    bp.safetensors.save_file({'w': np.ones(2)}, tmp_path / 'w.safetensors')
    with pytest.raises(ValueError, match='bp.safetensors.load_file'): load(tmp_path / 'w.safetensors')
