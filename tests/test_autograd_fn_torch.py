"""`bp.autograd` against `torch.autograd`: custom `Function`s written once for both libraries (`L.autograd.Function`)
give the same values, gradients and second derivatives over hypothesis-chosen shapes; `backward()` with several
roots and `inputs=`; `grad` with `materialize_grads` and `is_grads_batched`; the graph seen through
`next_functions`; and PyTorch's error for a saved tensor modified in place."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from hypothesis import given, settings, strategies as st, HealthCheck  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import backprop as bp  # noqa: E402

pytestmark = [pytest.mark.torch]
SET = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

def close(a, t, what, tol=1e-10):
    if t is None: assert a is None, f"{what}: got a value, torch None"; return
    assert a is not None, f"{what}: None, torch has a value"
    assert tuple(a.shape) == tuple(t.shape), f"{what}: shape {tuple(a.shape)} vs {tuple(t.shape)}"
    np.testing.assert_allclose(np.asarray(a.detach().array), t.detach().numpy(), rtol=tol, atol=tol, err_msg=what)

def functions(L):
    "The same custom Functions for `L` = backprop or torch."
    class ScaledExp(L.autograd.Function):
        @staticmethod
        def forward(ctx, x, a):
            y = (x * a).exp()
            ctx.save_for_backward(y); ctx.a = a
            return y
        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y * ctx.a, None

    class MulAdd(L.autograd.Function):                 # two tensor inputs, a flag, several outputs
        @staticmethod
        def forward(ctx, x, w, flag):
            ctx.save_for_backward(x, w); ctx.flag = flag
            return x * w, x + w if flag else x - w
        @staticmethod
        def backward(ctx, g1, g2):
            x, w = ctx.saved_tensors
            s = 1 if ctx.flag else -1
            return (g1 * w + g2 if ctx.needs_input_grad[0] else None), (g1 * x + s * g2 if ctx.needs_input_grad[1] else None), None

    class TopIdx(L.autograd.Function):                 # a differentiable and a non-differentiable output
        @staticmethod
        def forward(ctx, x):
            idx = x.argmax(-1)
            ctx.mark_non_differentiable(idx); ctx.save_for_backward(x)
            return x.tanh(), idx
        @staticmethod
        def backward(ctx, g, gi):
            (x,) = ctx.saved_tensors
            return g * (1 - x.tanh() ** 2)

    class Cube(L.autograd.Function):                   # the setup_context style
        @staticmethod
        def forward(x): return x ** 3
        @staticmethod
        def setup_context(ctx, inputs, output): ctx.save_for_backward(inputs[0])
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2
    return dict(ScaledExp=ScaledExp, MulAdd=MulAdd, TopIdx=TopIdx, Cube=Cube)

BP, TO = functions(bp), functions(torch)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)

@st.composite
def arrays2(draw):
    s = draw(shapes); rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    return rng.standard_normal(s), rng.standard_normal(s), rng.standard_normal(s)

def run(L, F, x0, w0, g0, flag):
    x, w = L.tensor(x0, requires_grad=True), L.tensor(w0, requires_grad=True)
    g = L.tensor(g0)
    y1 = F['ScaledExp'].apply(x, 0.5)
    a, b = F['MulAdd'].apply(x, w, flag)
    t, i = F['TopIdx'].apply(w)
    c = F['Cube'].apply(x)
    loss = ((y1 + a * b + t + c) * g).sum()
    grads = L.autograd.grad(loss, [x, w], create_graph=True)
    second = L.autograd.grad(sum((gg ** 2).sum() for gg in grads), [x, w])
    return [y1, a, b, t, c], i, grads, second

@SET
@given(data=arrays2(), flag=st.booleans())
def test_custom_functions_match_torch(data, flag):
    bo, bi, bg, bs = run(bp, BP, *data, flag)
    to, ti, tg, ts = run(torch, TO, *data, flag)
    for k, (a, t) in enumerate(zip(bo, to)): close(a, t, f"output {k}")
    assert not bi.requires_grad and not ti.requires_grad
    np.testing.assert_array_equal(bi.array, ti.numpy())
    for k, (a, t) in enumerate(zip(bg, tg)): close(a, t, f"gradient {k}")
    for k, (a, t) in enumerate(zip(bs, ts)): close(a, t, f"second derivative {k}", 1e-9)

@settings(max_examples=10, deadline=None)
@given(data=arrays2())
def test_unused_output_and_needs_input_grad(data):
    x0, w0, _ = data
    for L, F in ((bp, BP), (torch, TO)):
        x, w = L.tensor(x0, requires_grad=True), L.tensor(w0)           # w needs no gradient
        a, b = F['MulAdd'].apply(x, w, True)
        assert a.grad_fn is not None and b.grad_fn is not None
        (gx,) = L.autograd.grad(a.sum(), x)                            # b unused: its gradient is materialised as zeros
        if L is bp: bgx = gx
        else: close(bgx, gx, 'gradient with one output unused')

def test_materialize_grads_false():
    seen = {}
    for L in (bp, torch):
        class Two(L.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(False)
                return x * 2, x * 3
            @staticmethod
            def backward(ctx, g1, g2):
                seen[L.__name__] = (g1 is None, g2 is None)
                return (0 if g1 is None else g1 * 2) + (0 if g2 is None else g2 * 3)
        x = L.tensor([1.0, 2.0], requires_grad=True)
        a, b = Two.apply(x)
        (g,) = L.autograd.grad(b.sum(), x)
        np.testing.assert_allclose(np.asarray(g.detach()), [3.0, 3.0])
    assert seen['backprop'] == seen['torch'] == (True, False)

def test_backward_function_matches_torch():
    rng = np.random.default_rng(0)
    a0, b0, g0 = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(3)
    res = {}
    for L in (bp, torch):
        a, b = L.tensor(a0, requires_grad=True), L.tensor(b0, requires_grad=True)
        y1, y2 = a * b, (a ** 2).sum() + b.sum()
        L.autograd.backward([y1, y2], [L.tensor(g0), None])
        first = (a.grad.clone(), b.grad.clone())
        a.grad = b.grad = None
        L.autograd.backward((a * b.exp()).sum(), inputs=[b])           # only b accumulates
        res[L.__name__] = first + (a.grad, b.grad)
    for k, (x, t) in enumerate(zip(res['backprop'], res['torch'])): close(x, t, f"backward result {k}")

def test_grad_options_match_torch():
    rng = np.random.default_rng(1)
    x0, v0 = rng.standard_normal(4), rng.standard_normal((3, 4))
    out = {}
    for L in (bp, torch):
        x, y = L.tensor(x0, requires_grad=True), L.tensor(x0[:2], requires_grad=True)
        gx, gy = L.autograd.grad((x.sin() * 2).sum(), [x, y], materialize_grads=True)
        (J,) = L.autograd.grad(x.sin() * x, x, grad_outputs=L.tensor(v0), is_grads_batched=True)
        gu = L.autograd.grad((x * 2).sum(), [x, y], allow_unused=True)[1]
        out[L.__name__] = (gx, gy, J, gu)
    for k, (a, t) in enumerate(zip(out['backprop'], out['torch'])): close(a, t, f"grad option {k}")
    with pytest.raises(ValueError, match='allow_unused'):
        x = bp.tensor(x0, requires_grad=True); bp.autograd.grad(x.sum(), x, allow_unused=False, materialize_grads=True)

def _chain(node):
    "(name without PyTorch's trailing digit, [child kinds]) for each node down the first-input chain."
    out = []
    while node is not None and node.next_functions:
        kinds = ['leaf' if n is not None and 'AccumulateGrad' in n.name() else None if n is None else 'op' for n, _ in node.next_functions]
        out.append((node.name().rstrip('0123456789'), kinds))
        node = node.next_functions[0][0]
    return out, node

def test_next_functions_structure_matches_torch():
    x0 = np.array([0.5, -1.0, 2.0])
    chains = {}
    for L in (bp, torch):
        a, c = L.tensor(x0, requires_grad=True), L.tensor(x0)
        loss = ((a * c).exp() + a).sum()
        chain, leaf = _chain(loss.grad_fn)
        assert leaf.variable is a
        chains[L.__name__] = chain
    assert chains['backprop'] == chains['torch'], chains

def test_custom_function_name_and_ctx_matches_torch():
    for L, F in ((bp, BP), (torch, TO)):
        x = L.tensor([1.0, 2.0], requires_grad=True)
        y = F['ScaledExp'].apply(x, 2.0)
        assert y.grad_fn.name() == 'ScaledExpBackward'
        assert tuple(y.grad_fn.needs_input_grad) == (True, False)
        assert [n.name() for n, _ in y.grad_fn.next_functions][0].endswith('AccumulateGrad')

def test_saved_tensor_modified_in_place_raises_like_torch():
    msgs = {}
    for L, F in ((bp, BP), (torch, TO)):
        x, w = L.tensor([1.0, 2.0], requires_grad=True), L.tensor([3.0, 4.0])
        a, b = F['MulAdd'].apply(x, w, True)
        with L.no_grad(): w.mul_(10)                                    # w was saved for backward
        with pytest.raises(RuntimeError, match='modified by an inplace operation') as e: (a.sum() + b.sum()).backward()
        msgs[L.__name__] = str(e.value)
    assert 'version 1; expected version 0' in msgs['backprop']

def test_wrong_number_of_gradients_and_forward_errors():
    class Bad(bp.autograd.Function):
        @staticmethod
        def forward(ctx, x): return x * 2
        @staticmethod
        def backward(ctx, g): return g, g
    x = bp.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match='incorrect number of gradients'): Bad.apply(x).sum().backward()
    class Boom(bp.autograd.Function):
        @staticmethod
        def forward(ctx, x): raise KeyError('from forward')
    with pytest.raises(KeyError, match='from forward'): Boom.apply(x)      # the user's own exception, unchanged

@pytest.mark.parametrize('use_reentrant', [False, True])
def test_custom_functions_inside_checkpoint_match_torch(use_reentrant):
    x0 = np.array([0.1, -0.4, 0.3, 0.8])
    res = {}
    for L, F, ck in ((bp, BP, bp.utils.checkpoint.checkpoint), (torch, TO, torch.utils.checkpoint.checkpoint)):
        x, w = L.tensor(x0, requires_grad=True), L.tensor(x0[::-1].copy(), requires_grad=True)
        def f(x, w):
            a, b = F['MulAdd'].apply(x, w, True)
            return (F['ScaledExp'].apply(a, 0.5) * b + F['Cube'].apply(x)).tanh()
        out = ck(f, x, w, use_reentrant=use_reentrant)
        out.sum().backward()
        res[L.__name__] = (out, x.grad, w.grad)
    for k, (a, t) in enumerate(zip(res['backprop'], res['torch'])): close(a, t, f"checkpointed result {k}")
