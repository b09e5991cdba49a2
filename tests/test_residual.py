"""`backprop.nn.residual`: Residual, ResBlock, ConvResBlock — identity at initialisation (zero-init, SkipInit), gradient
flow to α and to the zero-initialised layer, shapes and errors, and (when torch is installed) forward values, input
and parameter gradients and running statistics equal to the same composition written with `torch.nn` modules."""
import numpy as np
import pytest

from backprop.core import tensor, manual_seed, ShapeError, float32, float64
from backprop.nn.module import Sequential
from backprop.nn.layers import Linear, ReLU
from backprop.nn.residual import Residual, ResBlock, ConvResBlock


def rand(*shape, seed=0, dtype=float32, scale=1.0, requires_grad=False):
    return tensor(np.random.default_rng(seed).standard_normal(shape) * scale, dtype=dtype, requires_grad=requires_grad)


MLP_CASES = [(norm, hidden) for norm in (None, 'batch', 'layer') for hidden in (None, 3, 9)]


@pytest.mark.parametrize("norm,hidden", MLP_CASES)
def test_zero_init_block_is_identity(norm, hidden):
    manual_seed(1)
    blk = ResBlock(5, hidden, norm=norm)
    x = rand(7, 5, scale=4)
    np.testing.assert_array_equal(blk(x).array, x.array)
    last = blk.branch[-1]
    assert not last.weight.array.any() and not last.bias.array.any()
    assert blk.branch[-4 if norm else -3].weight.array.any()          # the first linear layer is He-initialised


@pytest.mark.parametrize("norm", [None, 'batch'])
def test_zero_init_conv_block_is_identity(norm):
    manual_seed(2)
    x = rand(2, 4, 5, 6, scale=3)
    np.testing.assert_array_equal(ConvResBlock(4, norm=norm)(x).array, x.array)


@pytest.mark.parametrize("norm", [None, 'batch', 'layer'])
def test_skipinit_alpha_zero_is_identity(norm):
    manual_seed(3)
    blk = ResBlock(5, norm=norm, zero_init=False, skipinit=True)
    assert blk.branch[-1].weight.array.any()                            # branch is not zero ...
    assert blk.alpha.shape == () and blk.alpha.item() == 0             # ... α is
    x = rand(6, 5, scale=2)
    np.testing.assert_array_equal(blk(x).array, x.array)
    cb = ConvResBlock(3, norm=None if norm == 'layer' else norm, zero_init=False, skipinit=True)
    xc = rand(2, 3, 4, 4)
    np.testing.assert_array_equal(cb(xc).array, xc.array)
    wrapped = Residual(Linear(5, 5), skipinit=True)
    np.testing.assert_array_equal(wrapped(x).array, x.array)


def test_not_identity_without_zero_init():
    manual_seed(4)
    x = rand(6, 5)
    assert np.abs(ResBlock(5, zero_init=False)(x).array - x.array).max() > 0.1
    assert np.abs(ConvResBlock(2, zero_init=False)(rand(1, 2, 3, 3)).array - rand(1, 2, 3, 3).array).max() > 0.1


def test_gradient_flows_to_alpha():
    manual_seed(5)
    blk = ResBlock(4, 6, zero_init=False, skipinit=True)
    x = rand(8, 4, requires_grad=True)
    y = blk(x)
    g = np.random.default_rng(9).standard_normal(y.shape).astype(np.float32)
    y.backward(tensor(g))
    F = blk.branch(x).array
    np.testing.assert_allclose(blk.alpha.grad.item(), (g * F).sum(), rtol=1e-5)   # ∂L/∂α = ⟨ȳ, F(x)⟩
    assert blk.alpha.grad.item() != 0
    np.testing.assert_array_equal(x.grad.array, g)                                  # α = 0: ∂y/∂x = I
    for p in blk.branch.parameters():                                              # F is switched off
        assert p.grad is None or not p.grad.array.any()
    # one step of SGD switches the branch on, after which every parameter gets a gradient
    blk.alpha.array = blk.alpha.array - 0.1 * blk.alpha.grad.array
    blk.zero_grad()
    blk(x).backward(tensor(g))
    assert all(p.grad.array.any() for p in blk.parameters())


def test_zero_init_last_layer_learns_first():
    manual_seed(6)
    blk = ResBlock(4, 6)
    x = rand(8, 4, requires_grad=True)
    blk(x).backward(tensor(np.ones((8, 4), np.float32)))
    first, last = blk.branch[1], blk.branch[3]
    assert last.weight.grad.array.any() and last.bias.grad.array.any()       # ∂L/∂W₂ = F̄ hᵀ ≠ 0
    assert first.weight.grad is None or not first.weight.grad.array.any()   # W₂ = 0 blocks the rest of the branch
    np.testing.assert_array_equal(x.grad.array, np.ones((8, 4), np.float32))


@pytest.mark.parametrize("N,C,H,W", [(1, 1, 1, 1), (2, 3, 5, 7), (3, 8, 4, 4), (2, 2, 9, 3)])
@pytest.mark.parametrize("norm", [None, 'batch'])
def test_conv_block_shapes(N, C, H, W, norm):
    manual_seed(7)
    if norm == 'batch' and N * H * W == 1: N = 2
    blk = ConvResBlock(C, norm=norm, zero_init=False)
    x = rand(N, C, H, W, requires_grad=True)
    y = blk(x)
    assert y.shape == (N, C, H, W) and y.dtype == np.float32
    y.sum().backward()
    assert x.grad.shape == x.shape
    for name, p in blk.named_parameters(): assert p.grad.shape == p.shape, name
    conv = blk.branch[-1]
    assert conv.weight.shape == (C, C, 3, 3) and conv.padding == (1, 1)
    if norm is None: assert blk(rand(C, H, W)).shape == (C, H, W)      # unbatched, as Conv2d


def test_he_init_statistics():
    manual_seed(8)
    blk = ResBlock(256, 512, zero_init=False)
    np.testing.assert_allclose(blk.branch[1].weight.array.std(), np.sqrt(2 / 256), rtol=0.02)
    np.testing.assert_allclose(blk.branch[3].weight.array.std(), np.sqrt(2 / 512), rtol=0.02)
    assert not blk.branch[1].bias.array.any()
    cb = ConvResBlock(32, zero_init=False)
    np.testing.assert_allclose(cb.branch[1].weight.array.std(), np.sqrt(2 / (32 * 9)), rtol=0.03)


def test_projection_shortcut_and_shape_error():
    manual_seed(9)
    x = rand(3, 4)
    blk = Residual(Sequential(Linear(4, 6), ReLU()), shortcut=Linear(4, 6))
    y = blk(x)
    np.testing.assert_allclose(y.array, blk.shortcut(x).array + blk.branch(x).array, rtol=1e-6)
    with pytest.raises(ShapeError, match=r"Residual\(\): branch output shape \(3, 6\) does not match shortcut output shape \(3, 4\)"):
        Residual(Linear(4, 6))(x)
    with pytest.raises(TypeError, match="branch must be a Module"): Residual(lambda t: t)
    with pytest.raises(TypeError, match="shortcut must be a Module or None"): Residual(Linear(2, 2), shortcut=abs)


def test_block_shape_errors_name_the_block():
    with pytest.raises(ShapeError, match=r"ResBlock\(4, hidden=8, norm='layer', zero_init=True\): expected input of shape \(\*, 4\), got shape \(2, 5\)"):
        ResBlock(4, 8, norm='layer')(rand(2, 5))
    with pytest.raises(ShapeError, match=r"ResBlock\(4, hidden=4, norm='batch', zero_init=True\): expected input of shape \(N, 4\), got shape \(2, 3, 4\)"):
        ResBlock(4, norm='batch')(rand(2, 3, 4))
    with pytest.raises(ShapeError, match=r"ConvResBlock\(3, norm=None, zero_init=True, skipinit=True\): expected input of shape \(N, 3, H, W\) or \(3, H, W\), got shape \(2, 4, 5, 5\)"):
        ConvResBlock(3, skipinit=True)(rand(2, 4, 5, 5))
    with pytest.raises(ShapeError, match=r"ConvResBlock\(3, norm='batch'.*got shape \(3, 5, 5\)"):
        ConvResBlock(3, norm='batch')(rand(3, 5, 5))
    with pytest.raises(ValueError, match="ResBlock: norm must be None or one of 'batch', 'layer', got 'instance'"):
        ResBlock(4, norm='instance')


def test_repr_and_state_dict():
    blk = ResBlock(4, 8, norm='batch', skipinit=True)
    r = repr(blk)
    assert r.startswith("ResBlock(\n  4, hidden=8, norm='batch', zero_init=True, skipinit=True\n  (branch): Sequential(\n")
    assert "(2): Linear(in_features=4, out_features=8, bias=True)" in r
    assert repr(Residual(Linear(2, 2))) == 'Residual(\n  (branch): Linear(in_features=2, out_features=2, bias=True)\n)'
    keys = list(blk.state_dict())
    assert keys[0] == 'alpha' and 'branch.0.running_mean' in keys and 'branch.5.weight' in keys
    assert repr(ConvResBlock(2, bias=False)).startswith('ConvResBlock(\n  2, norm=None, zero_init=True\n')
    assert ConvResBlock(2, bias=False).branch[1].bias is None


def test_dtype_and_double():
    blk = ResBlock(3, skipinit=True, norm='layer', dtype=float64)
    assert all(p.dtype == np.float64 for p in blk.parameters())
    blk2 = ConvResBlock(2, skipinit=True).double()
    assert all(p.dtype == np.float64 for p in blk2.parameters())
    assert blk2(rand(1, 2, 3, 3, dtype=float64)).dtype == np.float64


# ---------------------------------------------------------------- PyTorch as the oracle

def _torch_block(torch, blk):
    "The same composition written with torch.nn modules, with `blk`'s state copied in."
    nn = torch.nn
    def conv_of(m): return nn.Conv2d(m.in_channels, m.out_channels, 3, padding=1, bias=m.bias is not None)
    make = {'ReLU': lambda m: nn.ReLU(), 'Linear': lambda m: nn.Linear(m.in_features, m.out_features, bias=m.bias is not None),
            'Conv2d': conv_of, 'BatchNorm1d': lambda m: nn.BatchNorm1d(m.num_features),
            'BatchNorm2d': lambda m: nn.BatchNorm2d(m.num_features), 'LayerNorm': lambda m: nn.LayerNorm(m.normalized_shape)}

    class TorchResidual(nn.Module):
        def __init__(self, branch, skipinit):
            super().__init__()
            if skipinit: self.alpha = nn.Parameter(torch.zeros(()))
            else: self.alpha = None
            self.branch = branch
        def forward(self, x):
            f = self.branch(x)
            return x + (f if self.alpha is None else self.alpha * f)

    tm = TorchResidual(nn.Sequential(*[make[type(m).__name__](m) for m in blk.branch]), blk.skipinit).double()
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in blk.state_dict().items()})
    return tm


def _compare_with_torch(torch, blk, shape, seed):
    rng = np.random.default_rng(seed)
    blk.double()
    for p in blk.parameters(): p.array = p.array + 0.5 * rng.standard_normal(p.shape)   # nonzero α, last layer, affine
    tm = _torch_block(torch, blk)
    assert [n for n, _ in tm.named_parameters()] == [n for n, _ in blk.named_parameters()]
    for mode in ('train', 'eval'):
        getattr(blk, mode)(); getattr(tm, mode)()
        xa = rng.standard_normal(shape)
        ga = rng.standard_normal(shape)
        x, xt = tensor(xa, dtype=float64, requires_grad=True), torch.tensor(xa, requires_grad=True)
        blk.zero_grad(); tm.zero_grad()
        y, yt = blk(x), tm(xt)
        np.testing.assert_allclose(y.array, yt.detach().numpy(), rtol=1e-10, atol=1e-10, err_msg=f'{mode} forward')
        y.backward(tensor(ga)); yt.backward(torch.tensor(ga))
        np.testing.assert_allclose(x.grad.array, xt.grad.numpy(), rtol=1e-9, atol=1e-10, err_msg=f'{mode} input grad')
        for (n, p), (_, q) in zip(blk.named_parameters(), tm.named_parameters()):
            np.testing.assert_allclose(p.grad.array, q.grad.numpy(), rtol=1e-9, atol=1e-10, err_msg=f'{mode} grad of {n}')
        for k, v in tm.state_dict().items():                                           # running statistics
            np.testing.assert_allclose(blk.state_dict()[k], v.numpy(), rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.torch
@pytest.mark.parametrize("norm,hidden,skipinit,bias", [(n, h, s, b) for n in (None, 'batch', 'layer') for h in (None, 7)
                                                       for s in (False, True) for b in (True, False)])
def test_resblock_matches_torch(norm, hidden, skipinit, bias):
    torch = pytest.importorskip("torch")
    manual_seed(10)
    blk = ResBlock(5, hidden, norm=norm, zero_init=False, skipinit=skipinit, bias=bias)
    _compare_with_torch(torch, blk, (6, 5), seed=len(str(norm)) * 11 + (hidden or 0) + 3 * skipinit + bias)


@pytest.mark.torch
@pytest.mark.parametrize("norm,skipinit,shape", [(None, False, (2, 3, 5, 4)), (None, True, (1, 3, 3, 6)),
                                                 ('batch', False, (3, 3, 4, 4)), ('batch', True, (2, 3, 2, 5))])
def test_convresblock_matches_torch(norm, skipinit, shape):
    torch = pytest.importorskip("torch")
    manual_seed(11)
    blk = ConvResBlock(3, norm=norm, zero_init=False, skipinit=skipinit)
    _compare_with_torch(torch, blk, shape, seed=shape[0] * 10 + shape[3])


@pytest.mark.torch
def test_he_zero_init_matches_torch_recipe():
    "ResBlock's init equals He-normal (torch.nn.init.kaiming_normal_, fan_in, relu) + zeroed last layer, in distribution."
    torch = pytest.importorskip("torch")
    manual_seed(12)
    blk = ResBlock(128, 256)
    w = torch.empty(256, 128); torch.nn.init.kaiming_normal_(w, mode='fan_in', nonlinearity='relu')
    np.testing.assert_allclose(blk.branch[1].weight.array.std(), w.std().item(), rtol=0.03)
    assert not blk.branch[3].weight.array.any()
