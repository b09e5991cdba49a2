"""The compatibility layer (backprop.compat) against PyTorch, call by call: the same expression is evaluated with
`T = torch` and `T = backprop`, and the results must agree in dtype, shape and value (deterministic calls), in
value (plain Python results), or in the exception type raised."""
import numpy as np
import pytest
import backprop as bp
torch = pytest.importorskip('torch')

VALUES = [  # deterministic expressions: same dtype, shape and values
    "T.full((1,), -200, dtype=T.uint8)", "T.full((1,), 300, dtype=T.int16)", "T.full((2,), 2.9, dtype=T.int32)",
    "T.full((2,), 7)", "T.full((2,), 7.)", "T.full((2,), True)", "T.full((2, 3), 1.5, dtype=T.float64)", "T.full([2], -3)",
    "T.zeros(2, 3)", "T.zeros((2, 3))", "T.zeros([2, 3], dtype=T.long)", "T.ones(3, dtype=T.int)", "T.ones(2, dtype=T.bool)",
    "T.ones(2, dtype=T.double)", "T.ones(2, dtype=T.half)", "T.ones(2, dtype=T.short)", "T.ones(2, dtype=T.uint8)",
    "T.ones(2, dtype=float)", "T.ones(2, dtype=int)", "T.ones(2, dtype=bool)", "T.zeros(2, device='cpu')",
    "T.zeros(2, device=T.device('cpu'))", "T.zeros(2, device='cpu:0')", "T.zeros(0, 3)",
    "T.arange(5)", "T.arange(0, 1, 0.25)", "T.arange(1, 4, dtype=T.float64)", "T.arange(5, 0, -2)", "T.arange(3.)",
    "T.linspace(0, 1, 5)", "T.linspace(-1, 1, steps=3, dtype=T.float64)", "T.eye(3)", "T.eye(2, 3, dtype=T.bool)",
    "T.tensor([1, 2])", "T.tensor([1., 2.])", "T.tensor([True])", "T.tensor(3)", "T.tensor(2.5)",
    "T.tensor([[1, 2]], dtype=T.float16)", "T.tensor([1, 2], dtype=T.float32, device='cpu', requires_grad=True).detach()",
    "T.as_tensor([1, 2], dtype=T.float64)", "T.zeros_like(T.arange(3))", "T.ones_like(T.zeros(2, dtype=T.float64))",
    "T.full_like(T.arange(3), 2.7)", "T.full_like(T.zeros(2), 4, dtype=T.int64)", "T.empty(2, 3).fill_(1)",
    "T.empty_like(T.zeros(2, dtype=T.int32)).zero_()",
    "T.zeros(2).to(T.float64)", "T.zeros(2).to('cpu', T.int32)", "T.zeros(2).to(T.zeros(1, dtype=T.int64))",
    "T.zeros(2).to(dtype=T.float16)", "T.zeros(2).to(device='cpu', dtype=T.float64, non_blocking=True)",
    "T.zeros(2).to(T.float64, copy=True)", "T.zeros(2).half()", "T.ones(2).short()", "T.ones(2).byte()", "T.ones(2).char()",
    "T.zeros(2).type(T.float64)", "T.zeros(2).type('torch.LongTensor')", "T.arange(3).type_as(T.zeros(1))",
    "T.zeros(2, 3).new_zeros(4)", "T.zeros(2, 3).new_zeros((1, 2))", "T.zeros(2).new_full((2,), 3)",
    "T.zeros(2, dtype=T.int64).new_tensor([1.5])", "T.zeros(2).new_ones(1, 2)", "T.zeros(2).new_ones(2, dtype=T.int64)",
    "T.zeros(2).new_empty(3).zero_()", "T.zeros(2).cpu()",
    "T.LongTensor([1, 2])", "T.FloatTensor([[1, 2]])", "T.BoolTensor([1, 0])", "T.HalfTensor([1.5])", "T.FloatTensor(2, 3).zero_()",
    "T.FloatTensor()", "T.zeros(2).type(T.DoubleTensor)", "T.FloatTensor(T.zeros(2))",
    "T.randint(2, 3, (4,))", "T.randint(low=2, high=3, size=(2,))", "T.randint(1, (2, 2))", "T.randint(1, (2,), dtype=T.float32)",
    "T.normal(2., 0., size=(3,))", "T.normal(T.ones(2), 0.)", "T.normal(T.zeros(2), T.zeros(2))",
    "T.bernoulli(T.tensor([0., 1.]))", "T.bernoulli(T.zeros(2, dtype=T.float64))", "T.bernoulli(T.ones(3), 0.)",
    "T.multinomial(T.tensor([0., 1.]), 1)", "T.multinomial(T.tensor([0., 1.]), 2)", "T.multinomial(T.tensor([0., 3., 0.]), 3)[:1]", "T.multinomial(T.tensor([[0., 1.], [1., 0.]]), 3, replacement=True)",
    "T.zeros(3).random_(1)", "T.zeros(3).uniform_(2, 2)", "T.zeros(3).normal_(1, 0)", "T.zeros(2, dtype=T.int64).random_(1)",
    "T.zeros(3).bernoulli_(1.)", "T.zeros(3).bernoulli_(0.)",
    "T.randint_like(T.zeros(3), 1)", "T.randint_like(T.zeros(3, dtype=T.int32), 4, 5)",
    "T.zeros(3, out=T.ones(3))", "T.arange(4, out=T.ones(1))",
]
PLAIN = [  # expressions whose Python results must be equal
    "T.zeros(2).type()", "T.arange(2).type()", "T.zeros(2, dtype=T.bool).type()", "T.zeros(2, dtype=T.float16).type()",
    "str(T.zeros(2).device)", "T.zeros(2).device.type", "repr(T.device('cuda:1'))", "repr(T.device('cpu'))",
    "str(T.device('cpu', 0))", "T.device('cuda', 1).index", "T.device(T.device('cpu')) == T.device('cpu')",
    "T.device('cpu') == T.device('cpu')", "T.device('cpu') == 'cpu'", "T.device('cpu') == T.device('cpu:0')",
    "T.zeros(2).is_cuda", "T.zeros(2).is_cpu", "T.cuda.is_available()", "T.cuda.device_count()", "T.cuda.is_initialized()",
    "T.cuda.manual_seed(0)", "T.cuda.manual_seed_all(0)", "T.backends.mps.is_available()", "T.backends.cudnn.is_available()",
    "T.accelerator.is_available()", "T.accelerator.device_count()", "T.accelerator.current_accelerator()",
    "T.get_default_dtype() == T.float32", "T.zeros(2).get_device()", "T.zeros(2).element_size()",
    "T.zeros(2, dtype=T.float64).nbytes", "T.zeros(2, dtype=T.int16).itemsize", "T.zeros(2).is_pinned()",
    "T.Generator().initial_seed()", "T.Generator().manual_seed(5).initial_seed()", "T.Generator(device='cpu').device.type",
    "T.manual_seed(3).initial_seed()", "T.manual_seed(1.5).initial_seed()", "T.manual_seed(True).initial_seed()", "(T.manual_seed(-1), T.initial_seed())[1]", "T.manual_seed(4) is T.default_generator",
    "T.randint(10, (5,)).dtype == T.int64", "T.randint(10, (5,)).shape == (5,)", "T.randperm(4).dtype == T.int64",
    "T.randn(2, 3).shape == (2, 3)", "T.rand(2, dtype=T.float64).dtype == T.float64", "T.randn(2, dtype=T.half).dtype == T.half",
    "T.randn_like(T.zeros(2, dtype=T.float64)).dtype == T.float64", "T.rand_like(T.zeros(2, 2)).shape == (2, 2)",
    "sorted(T.randperm(5).tolist())", "T.Size([2, 3]) == (2, 3)", "T.Size([2, 3]).numel()", "repr(T.Size([2, 3]))",
    "T.zeros(2, 3).shape == T.Size([2, 3])", "T.zeros(2).to('cpu') is not None", "T.Generator().get_state().dtype == T.uint8",
    "T.float is T.float32", "T.double is T.float64", "T.long is T.int64", "T.half is T.float16", "T.int is T.int32",
    "T.short is T.int16", "T.zeros(1, dtype=T.bool).dtype == T.bool",
    "isinstance(T.zeros(2), T.FloatTensor)", "isinstance(T.zeros(2, dtype=T.float64), T.FloatTensor)",
    "isinstance(T.arange(2), T.LongTensor)",
    "bool(2**23 < T.zeros(1000).random_().max() <= 2**24)", "bool(2**52 < T.zeros(1000, dtype=T.float64).random_().max() <= 2**53)",
    "float(T.finfo(T.float32).eps)", "float(T.finfo(T.float64).max)", "float(T.finfo(T.float16).tiny)", "int(T.iinfo(T.int32).min)",
    "T.is_floating_point(T.zeros(2))", "T.arange(2).is_floating_point()", "T.zeros(2).is_complex()", "T.zeros(3, 4).stride()",
    "T.zeros(3, 4).T.stride()", "T.zeros(3, 4).stride(0)", "T.zeros(3, 4).ndimension()", "str(T.get_default_device())",
]
RAISES = [  # expressions that must raise the same exception type
    "T.zeros(2, device='cuda')", "T.ones(2, device='cuda:0')", "T.tensor([1.], device='cuda')", "T.arange(3, device='cuda')",
    "T.randn(2, device='cuda')", "T.zeros(2).cuda()", "T.zeros(2).to('cuda')", "T.zeros(2).to(T.device('cuda', 0))",
    "T.device('gpu')", "T.device('cpu:x')", "T.device(0)", "T.zeros(2, device=0)", "T.zeros(2).to('xla')",
    "T.full((1,), 128, dtype=T.int8)", "T.full((1,), 256, dtype=T.uint8)", "T.full((1,), -1., dtype=T.uint8)",
    "T.full(2, 7)", "T.randint(10)", "T.zeros()", "T.randn()", "T.zeros(2).new_zeros()", "T.randint(5, 2, (3,))", "T.set_default_dtype(T.int64)", "T.zeros(-1)",
    "T.multinomial(T.tensor([0., 1.]), 3)", "T.multinomial(T.tensor([-1., 1.]), 1)", "T.multinomial(T.tensor([0., 0.]), 1)",
    "T.zeros(2, requires_grad=True).normal_()", "T.zeros(2, requires_grad=True).uniform_()", "T.cuda.synchronize()",
    "T.cuda.current_device()", "T.accelerator.synchronize()", "T.accelerator.current_device_index()",
    "T.zeros(2, out=T.ones(2, requires_grad=True))", "T.normal(T.zeros(2), -T.ones(2))", "T.zeros(2).to(foo=1)",
    "T.manual_seed('a')", "T.manual_seed(2**64)", "T.Generator().manual_seed(True)", "T.Generator().manual_seed('a')", "T.Generator(device='cuda')", "T.randn(2, generator=3)", "T.FloatTensor(T.arange(2))",
]

def _norm_dtype(d): return str(d).replace('torch.', '')

def _eval(expr, T):
    return eval(expr, {'T': T, 'np': np})

def _same_exception(expr):
    errs = []
    for T in (torch, bp):
        try: _eval(expr, T); errs.append(None)
        except Exception as e: errs.append(type(e))
    return errs

@pytest.mark.parametrize('expr', VALUES)
def test_values(expr):
    want, got = _eval(expr, torch), _eval(expr, bp)
    assert isinstance(got, bp.Tensor), f"{expr}: got {type(got).__name__}"
    assert _norm_dtype(got.dtype) == _norm_dtype(want.dtype), f"{expr}: dtype {got.dtype} vs PyTorch {want.dtype}"
    assert tuple(got.shape) == tuple(want.shape), f"{expr}: shape {got.shape} vs PyTorch {tuple(want.shape)}"
    np.testing.assert_array_equal(np.asarray(got), want.detach().numpy(), err_msg=expr)

@pytest.mark.parametrize('expr', PLAIN)
def test_plain(expr):
    want, got = _eval(expr, torch), _eval(expr, bp)
    assert got == want, f"{expr}: backprop {got!r} vs PyTorch {want!r}"

@pytest.mark.parametrize('expr', RAISES)
def test_raises(expr):
    want, got = _same_exception(expr)
    assert want is not None, f"{expr}: PyTorch raised nothing"
    assert got is not None and issubclass(got, want), f"{expr}: backprop raised {got and got.__name__} vs PyTorch {want.__name__}"

def test_manual_seed_reproducible():
    for T in (torch, bp):
        T.manual_seed(0); a = T.randn(5).tolist(); T.manual_seed(0); assert T.randn(5).tolist() == a
        g = T.Generator().manual_seed(1); s = g.get_state(); b = T.rand(3, generator=g).tolist()
        g.set_state(s); assert T.rand(3, generator=g).tolist() == b

from hypothesis import given, settings, strategies as st
DTYPES = ['float32', 'float64', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool']
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
fills = st.one_of(st.booleans(), st.integers(-5, 5), st.integers(-300, 300), st.floats(-300, 300, allow_nan=False).map(lambda v: float(round(v))), st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 3)))

def _same(a, b, what):
    assert _norm_dtype(a.dtype) == _norm_dtype(b.dtype), f"{what}: dtype {a.dtype} vs PyTorch {b.dtype}"
    assert tuple(a.shape) == tuple(b.shape), f"{what}: shape {a.shape} vs PyTorch {tuple(b.shape)}"
    np.testing.assert_array_equal(np.asarray(a), b.numpy(), err_msg=what)

@settings(max_examples=30, deadline=None)
@given(shape=shapes, fill=fills, dt=st.one_of(st.none(), st.sampled_from(DTYPES)))
def test_factories_over_shapes_and_dtypes(shape, fill, dt):
    kw = {} if dt is None else {'dtype': getattr(bp, dt)}
    tkw = {} if dt is None else {'dtype': getattr(torch, dt)}
    _same(bp.zeros(shape, **kw), torch.zeros(shape, **tkw), f"zeros{shape} {dt}")
    if shape: _same(bp.zeros(*shape, **kw), torch.zeros(*shape, **tkw), f"zeros(*{shape}) {dt}")
    _same(bp.ones(shape, **kw), torch.ones(shape, **tkw), f'ones{shape} {dt}')
    src = torch.ones(shape, dtype=torch.float64) * 1.5
    for what, f in [(f'full({shape}, {fill!r}) {dt}', lambda T, k: T.full(shape, fill, **k)),
                    (f'full_like {fill!r} {dt}', lambda T, k: T.full_like(src if T is torch else bp.tensor(src.numpy()), fill, **k))]:
        try: want = f(torch, tkw)
        except Exception as e:                      # e.g. -1 into uint8: the same error type
            with pytest.raises(type(e)): f(bp, kw)
            continue
        _same(f(bp, kw), want, what)

@settings(max_examples=30, deadline=None)
@given(start=st.integers(-5, 5), n=st.integers(0, 6), step=st.sampled_from([1, 2, 3, 0.5, 0.25]),
       dt=st.one_of(st.none(), st.sampled_from(['float32', 'float64', 'int64'])))
def test_arange_linspace(start, n, step, dt):
    kw = {} if dt is None else {'dtype': getattr(bp, dt)}
    tkw = {} if dt is None else {'dtype': getattr(torch, dt)}
    end = start + n * step
    if dt == 'int64' and isinstance(step, float): return
    _same(bp.arange(start, end, step, **kw), torch.arange(start, end, step, **tkw), f'arange({start}, {end}, {step}) {dt}')
    if dt != 'int64':
        a, b = bp.linspace(start, end, n, **kw), torch.linspace(start, end, n, **tkw)
        assert _norm_dtype(a.dtype) == _norm_dtype(b.dtype) and tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(np.asarray(a), b.numpy(), rtol=1e-6, atol=1e-6)

@settings(max_examples=30, deadline=None)
@given(src=st.sampled_from(DTYPES), dst=st.sampled_from(DTYPES), form=st.sampled_from(['dtype', 'device_dtype', 'kw', 'tensor', 'type']))
def test_to_forms(src, dst, form):
    vals = np.array([0, 1, 2, 3], dtype=src)
    x, t = bp.tensor(vals), torch.tensor(vals)
    call = {'dtype': lambda T, y: y.to(getattr(T, dst)), 'device_dtype': lambda T, y: y.to('cpu', getattr(T, dst)),
            'kw': lambda T, y: y.to(device=T.device('cpu'), dtype=getattr(T, dst), non_blocking=True),
            'tensor': lambda T, y: y.to(T.zeros(1, dtype=getattr(T, dst))), 'type': lambda T, y: y.type(getattr(T, dst))}[form]
    a, b = call(bp, x), call(torch, t)
    _same(a, b, f'{src} -> {dst} via {form}')
    assert (a is x) == (b is t), f'{form}: identity when nothing changes'
