"PyTorch oracle for the Module API added for issue 9: containers (ModuleDict, ParameterList, ParameterDict), state_dict values as Tensors, to()/type()/half()/cuda() and device arguments, get_parameter/get_buffer, bp.save/bp.load of state dicts."
import copy, io
import numpy as np
import pytest

torch = pytest.importorskip("torch")
tnn = torch.nn
import backprop as bp
import backprop.nn as nn
from backprop.core import tensor, Tensor, manual_seed

pytestmark = pytest.mark.torch


def make(top):
    "The same model in both libraries (`bp` or `torch`): containers of every kind."
    lib = top.nn
    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.blocks = lib.ModuleDict({'enc': lib.Linear(3, 4), 'dec': lib.Linear(4, 2)})
            self.scales = lib.ParameterList([lib.Parameter(top.ones(4)), lib.Parameter(top.ones(2))])
            self.extra = lib.ParameterDict({'shift': lib.Parameter(top.zeros(2))})
            self.bn = lib.BatchNorm1d(4)
            self.register_buffer('scratch', top.zeros(1), persistent=False)
        def forward(self, x):
            h = self.bn(self.blocks['enc'](x)) * self.scales[0]
            return self.blocks['dec'](h) * self.scales[1] + self.extra['shift']
    return Net()


def test_containers_names_state_dict_and_gradients_match_torch():
    manual_seed(0)
    b, t = make(bp), make(torch)
    assert [n for n, _ in b.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in b.named_modules()] == [n for n, _ in t.named_modules()]
    assert list(b.state_dict()) == list(t.state_dict())
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in b.state_dict().items()})
    b.double(); t.double()
    x = np.random.default_rng(0).standard_normal((5, 3))
    yb, yt = b(tensor(x)), t(torch.tensor(x))
    np.testing.assert_allclose(yb.array, yt.detach().numpy(), rtol=1e-12)
    yb.sum().backward(); yt.sum().backward()
    for (n, p), (_, q) in zip(b.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(p.grad.array, q.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=n)
    for (n, v), (_, w) in zip(b.state_dict().items(), t.state_dict().items()):
        np.testing.assert_allclose(v.numpy(), w.numpy(), rtol=1e-12, err_msg=n)     # running stats too


def test_container_behaviour_matches_torch():
    for lib in (bp, torch):
        md = lib.nn.ModuleDict({'a': lib.nn.ReLU()})
        md['b'] = lib.nn.Tanh(); md.update({'c': lib.nn.Identity()})
        assert list(md.keys()) == ['a', 'b', 'c'] and 'b' in md and len(md) == 3
        assert type(md.pop('b')).__name__ == 'Tanh' and list(md) == ['a', 'c']
        pl = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(2)), lib.zeros(3)])
        assert isinstance(pl[1], lib.nn.Parameter) and len(pl) == 2
        pl.append(lib.nn.Parameter(lib.ones(1))); assert [n for n, _ in pl.named_parameters()] == ['0', '1', '2']
        pd = lib.nn.ParameterDict({'w': lib.ones(2, requires_grad=True)})
        assert isinstance(pd['w'], lib.nn.Parameter) and pd['w'].requires_grad and list(pd) == ['w']


def test_state_dict_values_are_detached_tensors_sharing_memory_like_torch():
    for lib in (bp, torch):
        m = lib.nn.Linear(3, 2)
        sd = m.state_dict()
        v = sd['bias']
        assert isinstance(v, bp.Tensor if lib is bp else torch.Tensor) and not v.requires_grad
        snap = copy.deepcopy(sd)
        with lib.no_grad(): v.fill_(3.)                                       # writes through to the model
        assert float(m.bias.detach()[0]) == 3. and float(snap['bias'][0]) != 3.       # a deep copy is a snapshot
        assert m.state_dict(keep_vars=True)['weight'] is m.weight


def test_state_dict_round_trips_through_bp_save_load_and_torch():
    manual_seed(0)
    b, t = make(bp), make(torch)
    buf = io.BytesIO()
    bp.save(b.state_dict(), buf); buf.seek(0); sd = bp.load(buf)
    assert all(isinstance(v, Tensor) for v in sd.values())
    b2 = make(bp); b2.load_state_dict(sd)
    for (k, v), (_, w) in zip(b.state_dict().items(), b2.state_dict().items()): np.testing.assert_array_equal(v.numpy(), w.numpy(), err_msg=k)
    t.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in sd.items()})      # Tensors or arrays, both accepted
    b3 = make(bp); b3.load_state_dict(t.state_dict())                           # torch tensors accepted directly
    b4 = make(bp); b4.load_state_dict({k: v.numpy() for k, v in b.state_dict().items()})   # numpy arrays too
    for m in (b3, b4):
        for (k, v), (_, w) in zip(b.state_dict().items(), m.state_dict().items()): np.testing.assert_array_equal(v.numpy(), w.numpy(), err_msg=k)


def test_to_and_casts_match_torch():
    for lib, f64, f16, i64 in ((bp, np.float64, np.float16, np.int64), (torch, torch.float64, torch.float16, torch.int64)):
        m = lib.nn.BatchNorm1d(3)
        assert m.to('cpu') is m and m.to(device='cpu') is m and m.cpu() is m
        m.to('cpu', f64); assert str(m.weight.dtype).endswith('float64') and str(m.num_batches_tracked.dtype).endswith('int64')
        m.to(lib.zeros(1, dtype=f16)); assert str(m.running_mean.dtype).endswith('float16')
        m.to(dtype=f64, non_blocking=True); assert str(m.weight.dtype).endswith('float64')
        m.half(); assert str(m.weight.dtype).endswith('float16')
        m.float(); assert str(m.weight.dtype).endswith('float32')
        m.type(f64); assert str(m.num_batches_tracked.dtype).endswith('float64')      # type() casts integers too
        with pytest.raises(TypeError, match='floating point'): lib.nn.Linear(2, 2).to(i64)


def test_cuda_refused_like_cpu_only_torch():
    assert not torch.cuda.is_available()
    for f in (lambda: nn.Linear(2, 2).to('cuda'), lambda: nn.Linear(2, 2).cuda(), lambda: nn.Linear(2, 2, device='cuda'),
              lambda: nn.Linear(2, 2).to('cuda:0', np.float64), lambda: nn.Conv2d(1, 1, 1, device='cuda')):
        with pytest.raises(RuntimeError, match='Torch not compiled with CUDA enabled'): f()
    for f in (lambda: tnn.Linear(2, 2).to('cuda'), lambda: tnn.Linear(2, 2).cuda(), lambda: tnn.Linear(2, 2, device='cuda')):
        with pytest.raises((AssertionError, RuntimeError), match='Torch not compiled with CUDA enabled'): f()
    with pytest.raises(RuntimeError, match='mps'): nn.Linear(2, 2).to('mps')
    with pytest.raises(RuntimeError, match='mps'): tnn.Linear(2, 2).to('mps')


def test_get_parameter_buffer_submodule_apply_zero_grad_like_torch():
    for lib in (bp, torch):
        m = make(lib)
        assert m.get_parameter('blocks.enc.weight') is m.blocks['enc'].weight
        assert m.get_buffer('bn.running_mean') is m.bn.running_mean
        assert m.get_submodule('blocks.dec') is m.blocks['dec']
        with pytest.raises(AttributeError): m.get_parameter('blocks.enc.nothing')
        seen = []; m.apply(lambda mod: seen.append(type(mod).__name__))
        assert seen[-1] == 'Net' and seen.count('Linear') == 2
        m.train(); m(lib.randn(4, 3)).sum().backward()
        m.zero_grad(set_to_none=False); assert all(float(p.grad.abs().sum()) == 0 for p in m.parameters())
        m.zero_grad(); assert all(p.grad is None for p in m.parameters())
        m.requires_grad_(False); assert not any(p.requires_grad for p in m.parameters())
    assert [n for n, _ in make(bp).named_children()] == [n for n, _ in make(torch).named_children()]
