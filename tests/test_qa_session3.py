"Fixes from QA findings, checked against PyTorch: class-index target dtypes, and sharing kept by save/load."
import io
import numpy as np, pytest
import backprop as bp, backprop.nn.functional as F
torch = pytest.importorskip('torch')
import torch.nn.functional as TF

@pytest.mark.parametrize('fn', ['cross_entropy', 'nll_loss'])
@pytest.mark.parametrize('dt', ['int32', 'int16', 'uint8', 'int64'])
def test_class_index_target_dtypes_as_torch(fn, dt):
    "PyTorch takes int64 (Long) or uint8 (Byte) class indices and refuses the other integer types with a RuntimeError."
    z = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    y = np.array([0, 2, 1, 2], dt)
    tz, bz = torch.tensor(z), bp.tensor(z)
    if fn == 'nll_loss': tz, bz = TF.log_softmax(tz, 1), F.log_softmax(bz, 1)
    try: want = getattr(TF, fn)(tz, torch.from_numpy(y)).item()
    except RuntimeError:
        with pytest.raises(RuntimeError, match='int64'): getattr(F, fn)(bz, bp.tensor(y))
        return
    assert getattr(F, fn)(bz, bp.tensor(y)).item() == pytest.approx(want, rel=1e-6)

def _roundtrip(save, load, obj):
    buf = io.BytesIO(); save(obj, buf); buf.seek(0)
    return load(buf)

def test_tied_tensors_load_tied_as_torch():
    "The same tensor saved under two names loads as one object; an alias over the same storage loads sharing it (as torch.save)."
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = torch.tensor(a); td = _roundtrip(torch.save, torch.load, {'x': t, 'y': t, 'z': t.detach(), 'w': t.clone()})
    b = bp.tensor(a); bd = _roundtrip(bp.save, bp.load, {'x': b, 'y': b, 'z': b.detach(), 'w': b.clone()})
    assert (td['x'] is td['y']) and (bd['x'] is bd['y'])
    assert td['z'].data_ptr() == td['x'].data_ptr() and np.shares_memory(bd['z'].array, bd['x'].array)
    assert td['w'].data_ptr() != td['x'].data_ptr() and not np.shares_memory(bd['w'].array, bd['x'].array)
    td['x'].add_(1); bd['x'].add_(1)                       # a write through one name is seen through the others
    np.testing.assert_array_equal(bd['z'].array, td['z'].numpy())
    assert bd['z']._version == bd['x']._version            # one version counter for the shared storage

def test_tied_module_weights_stay_tied():
    "A model whose head reuses the embedding matrix: after save/load of its state dict, one step moves both names alike."
    class M(bp.nn.Module):
        def __init__(self):
            super().__init__(); self.emb = bp.nn.Embedding(5, 3); self.head = bp.nn.Linear(3, 5, bias=False)
            self.head.weight = self.emb.weight
    m = M(); sd = _roundtrip(bp.save, bp.load, m.state_dict())
    assert np.shares_memory(sd['emb.weight'].array, sd['head.weight'].array)
    t = torch.nn.Embedding(5, 3); tsd = _roundtrip(torch.save, torch.load, {'emb.weight': t.weight, 'head.weight': t.weight})
    assert tsd['emb.weight'].data_ptr() == tsd['head.weight'].data_ptr()

@pytest.mark.parametrize('kw', [dict(precision=2), dict(precision=6), dict(profile='short'), dict(profile='default')])
def test_printoptions_as_torch(kw):
    "The digits PyTorch prints for a float vector under its print options."
    v = [1.123456789, -2.0, 0.5]
    try:
        torch.set_printoptions(**kw); bp.set_printoptions(**kw)
        assert repr(bp.tensor(v)) == repr(torch.tensor(v))
    finally: torch.set_printoptions(profile='default'); bp.set_printoptions(profile='default')

def test_compile_and_determinism_switches():
    m = bp.nn.Linear(2, 1)
    assert bp.compile(m) is m and bp.compile(mode='reduce-overhead')(m) is m
    bp.use_deterministic_algorithms(True, warn_only=True)
    try: assert bp.are_deterministic_algorithms_enabled() and bp.is_deterministic_algorithms_warn_only_enabled()
    finally: bp.use_deterministic_algorithms(False)
    assert not bp.are_deterministic_algorithms_enabled()
