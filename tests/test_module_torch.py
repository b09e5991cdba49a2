"PyTorch oracle for backprop.nn.module: registry names, state-dict keys/shapes/dtypes/order, loading both ways, containers, repr and hooks."
import math
import numpy as np
import pytest

torch = pytest.importorskip("torch")
tnn = torch.nn
from backprop.core import tensor, zeros, ones, randn, manual_seed, Tensor
from backprop.nn.module import Module, Parameter, Sequential, ModuleList, Identity

try:
    from backprop.nn import layers as L
except ImportError:  # the layers chapter is optional for these tests
    L = None
needs_layers = pytest.mark.skipif(L is None, reason="backprop.nn.layers not available")

pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore:Full backward hook is firing")]


# --- toy modules with PyTorch's parameter/buffer names, independent of backprop.nn.layers ---
class ToyLinear(Module):
    def __init__(self, n_in, n_out, bias=True):
        super().__init__()
        self.weight = Parameter(randn(n_out, n_in))
        if bias: self.bias = Parameter(randn(n_out))
        else: self.register_parameter('bias', None)
    def forward(self, x):
        y = (x.reshape(x.shape[0], 1, x.shape[1]) * self.weight).sum(-1)
        return y if self.bias is None else y + self.bias


class ToyBatchNorm1d(Module):
    def __init__(self, n):
        super().__init__()
        self.weight, self.bias = Parameter(ones(n)), Parameter(zeros(n))
        self.register_buffer('running_mean', zeros(n))
        self.register_buffer('running_var', ones(n))
        self.register_buffer('num_batches_tracked', tensor(0))


class ToyReLU(Module):
    def forward(self, x): return x * (x.array > 0)


class BpNet(Module):
    def __init__(self):
        super().__init__()
        self.features = Sequential(ToyLinear(3, 4), ToyReLU(), ToyLinear(4, 4, bias=False))
        self.bn = ToyBatchNorm1d(4)
        self.heads = ModuleList([ToyLinear(4, 2) for _ in range(2)])
        self.register_buffer('scratch', zeros(3), persistent=False)
        self.scale = Parameter(ones(1))


class TorchNet(tnn.Module):
    def __init__(self):
        super().__init__()
        self.features = tnn.Sequential(tnn.Linear(3, 4), tnn.ReLU(), tnn.Linear(4, 4, bias=False))
        self.bn = tnn.BatchNorm1d(4)
        self.heads = tnn.ModuleList([tnn.Linear(4, 2) for _ in range(2)])
        self.register_buffer('scratch', torch.zeros(3), persistent=False)
        self.scale = tnn.Parameter(torch.ones(1))


def np_sd(m): return {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}


def test_state_dict_keys_shapes_dtypes_order():
    manual_seed(0)
    ours, theirs = BpNet().state_dict(), np_sd(TorchNet())
    assert list(ours) == list(theirs)
    for k in ours:
        assert ours[k].shape == theirs[k].shape, k
        assert ours[k].dtype == theirs[k].dtype, k
        assert isinstance(ours[k], Tensor) and not ours[k].requires_grad      # tensors, as PyTorch


def test_registry_names_match_torch():
    b, t = BpNet(), TorchNet()
    assert [n for n, _ in b.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in b.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in b.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in b.named_children()] == [n for n, _ in t.named_children()]
    assert [p.shape for p in b.parameters(recurse=False)] == [tuple(p.shape) for p in t.parameters(recurse=False)]
    b.eval(); t.eval()
    assert [m.training for m in b.modules()] == [m.training for m in t.modules()]


def test_load_torch_state_dict_and_back():
    manual_seed(1)
    b, t = BpNet(), TorchNet()
    with torch.no_grad():
        for p in t.parameters(): p.normal_()
        t.bn.running_mean.normal_(); t.bn.num_batches_tracked.fill_(7)
    # torch -> numpy -> bp
    assert repr(b.load_state_dict(np_sd(t))) == '<All keys matched successfully>'
    for k, v in b.state_dict().items(): np.testing.assert_array_equal(v, np_sd(t)[k])
    assert b.bn.num_batches_tracked.item() == 7 and b.bn.num_batches_tracked.dtype == np.int64
    # torch tensors directly (including ones that require grad)
    b2 = BpNet(); b2.load_state_dict(t.state_dict(keep_vars=True))
    for k, v in b2.state_dict().items(): np.testing.assert_array_equal(v, np_sd(t)[k])
    # bp -> torch (strict)
    manual_seed(2); b3 = BpNet(); t2 = TorchNet()
    t2.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in b3.state_dict().items()})
    for k, v in np_sd(t2).items(): np.testing.assert_array_equal(v, b3.state_dict()[k])


def test_load_errors_like_torch():
    b, t = BpNet(), TorchNet()
    bad = np_sd(t)
    del bad['bn.running_var']; bad['extra.weight'] = np.zeros(2, np.float32); bad['features.0.weight'] = np.zeros((4, 5), np.float32)
    before = {k: v.clone() for k, v in b.state_dict().items()}
    with pytest.raises(RuntimeError) as ours: b.load_state_dict(bad)
    with pytest.raises(RuntimeError) as theirs: t.load_state_dict({k: torch.from_numpy(v) for k, v in bad.items()})
    for s in ['Error(s) in loading state_dict for', 'Missing key(s) in state_dict: "bn.running_var"',
              'Unexpected key(s) in state_dict: "extra.weight"', 'size mismatch for features.0.weight']:
        assert s in str(ours.value) and s in str(theirs.value), s
    for k, v in b.state_dict().items(): np.testing.assert_array_equal(v, before[k])   # unchanged
    del bad['features.0.weight']
    r_ours = b.load_state_dict(bad, strict=False)
    r_theirs = t.load_state_dict({k: torch.from_numpy(v) for k, v in bad.items()}, strict=False)
    assert sorted(r_ours.missing_keys) == sorted(r_theirs.missing_keys)
    assert r_ours.unexpected_keys == r_theirs.unexpected_keys
    assert r_ours._fields == r_theirs._fields


def test_containers_like_torch():
    def keys(m): return list(m._modules)
    b = Sequential(*[Identity() for _ in range(5)]); t = tnn.Sequential(*[tnn.Identity() for _ in range(5)])
    assert keys(b[1:4]) == keys(t[1:4]) and keys(b[::2]) == keys(t[::2])
    del b[1]; del t[1]; assert keys(b) == keys(t)
    del b[1:3]; del t[1:3]; assert keys(b) == keys(t)
    b.insert(-1, ToyReLU()); t.insert(-1, tnn.ReLU())
    assert [type(m).__name__ for m in b] == [type(m).__name__.replace('ReLU', 'ToyReLU') for m in t]
    b.append(Identity()); t.append(tnn.Identity()); assert keys(b) == keys(t) and len(b) == len(t)
    bl, tl = ModuleList([Identity(), ToyReLU()]), tnn.ModuleList([tnn.Identity(), tnn.ReLU()])
    bl.insert(1, Identity()); tl.insert(1, tnn.Identity())
    assert [type(m).__name__ for m in bl] == [type(m).__name__.replace('ReLU', 'ToyReLU') for m in tl]
    assert keys(bl[1:]) == keys(tl[1:])


@needs_layers
def test_repr_matches_torch():
    b = Sequential(L.Linear(2, 3), L.ReLU(), ModuleList([L.Linear(3, 3) for _ in range(3)] + [L.ReLU()]),
                   Sequential(), Identity(), L.Linear(3, 1, bias=False))
    t = tnn.Sequential(tnn.Linear(2, 3), tnn.ReLU(), tnn.ModuleList([tnn.Linear(3, 3) for _ in range(3)] + [tnn.ReLU()]),
                       tnn.Sequential(), tnn.Identity(), tnn.Linear(3, 1, bias=False))
    assert repr(b) == repr(t)
    assert repr(ModuleList()) == repr(tnn.ModuleList())


@needs_layers
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_linear_models_round_trip_and_forward(dtype):
    manual_seed(3); torch.manual_seed(3)
    b = Sequential(L.Linear(5, 8), L.ReLU(), L.Linear(8, 3))
    t = tnn.Sequential(tnn.Linear(5, 8), tnn.ReLU(), tnn.Linear(8, 3))
    if dtype == np.float64: b.double(); t.double()
    assert list(b.state_dict()) == list(t.state_dict())
    b.load_state_dict(np_sd(t))
    x = np.random.default_rng(0).standard_normal((6, 5)).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b(tensor(x)).array, t(torch.from_numpy(x)).detach().numpy(), **tol)
    t2 = tnn.Sequential(tnn.Linear(5, 8), tnn.ReLU(), tnn.Linear(8, 3)).to(t[0].weight.dtype)
    t2.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in b.state_dict().items()})
    np.testing.assert_allclose(t2(torch.from_numpy(x)).detach().numpy(), b(tensor(x)).array, **tol)


def _hooked_grads(model, lib, x, c):
    "Run model(x)·c backward with a full backward hook on every child; return (grad_input, grad_output) per child."
    got = {}
    for name, m in model.named_children():
        m.register_full_backward_hook(lambda mod, gin, gout, name=name: got.__setitem__(name, (gin, gout)))
    (model(x) * c).sum().backward()
    conv = (lambda g: None if g is None else g.detach().numpy().copy()) if lib == 'torch' else \
           (lambda g: None if g is None else g.array.copy())
    return {k: ([conv(g) for g in gi], [conv(g) for g in go]) for k, (gi, go) in got.items()}


def test_backward_hooks_match_torch():
    manual_seed(4); torch.manual_seed(4)
    b = Sequential(ToyLinear(3, 4), ToyLinear(4, 2)).double()
    t = tnn.Sequential(tnn.Linear(3, 4), tnn.Linear(4, 2)).double()
    b.load_state_dict(np_sd(t))
    rng = np.random.default_rng(0)
    x, c = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    for requires_grad in (True, False):
        ours = _hooked_grads(b, 'bp', tensor(x, requires_grad=requires_grad), tensor(c))
        theirs = _hooked_grads(t, 'torch', torch.tensor(x, requires_grad=requires_grad), torch.tensor(c))
        for k in theirs:
            (gi_o, go_o), (gi_t, go_t) = ours[k], theirs[k]
            assert len(gi_o) == len(gi_t) and len(go_o) == len(go_t)
            for a, e in zip(gi_o + go_o, gi_t + go_t):
                assert (a is None) == (e is None)
                if a is not None: np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)
        for m in list(b.children()) + list(t.children()): m._backward_hooks.clear()


def test_forward_hooks_and_zero_grad_like_torch():
    b, t = ToyLinear(3, 2), tnn.Linear(3, 2)
    order_b, order_t = [], []
    for m, order in ((b, order_b), (t, order_t)):
        m.register_forward_pre_hook(lambda mod, args, o=order: o.append('pre'))
        m.register_forward_hook(lambda mod, args, out, o=order: o.append('post'))
        m.register_forward_hook(lambda mod, args, out, o=order: o.append('first'), prepend=True)
    b(randn(2, 3)); t(torch.randn(2, 3))
    assert order_b == order_t
    b(randn(2, 3)).sum().backward(); t(torch.randn(2, 3)).sum().backward()
    b.zero_grad(set_to_none=False); t.zero_grad(set_to_none=False)
    assert all((p.grad.array == 0).all() for p in b.parameters()) and all((p.grad == 0).all() for p in t.parameters())
    b.zero_grad(); t.zero_grad()
    assert all(p.grad is None for p in b.parameters()) and all(p.grad is None for p in t.parameters())


def test_dtype_conversion_like_torch():
    b, t = BpNet().double(), TorchNet().double()
    for (k, v), (_, w) in zip(b.state_dict().items(), np_sd(t).items()): assert v.dtype == w.dtype, k
    b.float(); t.float()
    for (k, v), (_, w) in zip(b.state_dict().items(), np_sd(t).items()): assert v.dtype == w.dtype, k


def test_torch_state_dict_through_bp_save_load(tmp_path):
    from backprop.serialization import save, load
    t = TorchNet()
    with torch.no_grad():
        for p in t.parameters(): p.normal_()
    save(np_sd(t), tmp_path / 'ckpt.npz')
    sd = load(tmp_path / 'ckpt.npz')
    b = BpNet(); b.load_state_dict(sd)
    t2 = TorchNet(); t2.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    for k, v in np_sd(t2).items():
        np.testing.assert_array_equal(v, np_sd(t)[k]); np.testing.assert_array_equal(b.state_dict()[k], v)
