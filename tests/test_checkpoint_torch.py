"""PyTorch's `torch.utils.checkpoint` as the oracle for `backprop.utils.checkpoint`: the same networks (weights copied
via state_dict) give the same outputs and gradients under `checkpoint` / `checkpoint_sequential` in both modes; the
segment split of `checkpoint_sequential` runs every layer the same number of times as PyTorch's; and the
semantics of the corner cases match: the reentrant mode's warning and missing parameter gradients when no input
requires grad, keyword arguments, tuple outputs with non-tensor members, the no_grad path."""
import warnings
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.utils.checkpoint as tck  # noqa: E402
import backprop as bp  # noqa: E402
from backprop.core import manual_seed, tensor  # noqa: E402
from backprop.nn import Linear, Tanh, ReLU, Sequential  # noqa: E402
from backprop.utils.checkpoint import checkpoint, checkpoint_sequential  # noqa: E402

pytestmark = [pytest.mark.torch]
torch.set_num_threads(1)


def pair(depth, width, seed):
    "A torch Sequential and a backprop Sequential (float64) holding the same weights."
    torch.manual_seed(seed); manual_seed(seed)
    acts_t = [torch.nn.Tanh, torch.nn.ReLU]
    acts_b = [Tanh, ReLU]
    tm, bm = [], []
    for i in range(depth):
        tm += [torch.nn.Linear(width, width), acts_t[i % 2]()]
        bm += [Linear(width, width), acts_b[i % 2]()]
    tnet, bnet = torch.nn.Sequential(*tm).double(), Sequential(*bm).double()
    bnet.load_state_dict({k: v.detach().numpy() for k, v in tnet.state_dict().items()})
    return tnet, bnet


def grads_torch(tnet, x, run):
    tnet.zero_grad()
    xt = torch.tensor(x, requires_grad=True)
    y = run(tnet, xt)
    (y ** 2).sum().backward()
    return [y.detach().numpy(), xt.grad.numpy()] + [p.grad.numpy() for p in tnet.parameters()]


def grads_bp(bnet, x, run):
    bnet.zero_grad()
    xb = tensor(x, requires_grad=True)
    y = run(bnet, xb)
    (y ** 2).sum().backward()
    return [y.array, xb.grad.array] + [p.grad.array for p in bnet.parameters()]


@pytest.mark.parametrize("seed", range(8))
def test_same_gradients_as_torch(seed):
    rng = np.random.default_rng(seed)
    depth, width = int(rng.integers(1, 7)), int(rng.integers(1, 8))
    tnet, bnet = pair(depth, width, seed)
    x = rng.standard_normal((int(rng.integers(1, 5)), width))
    segs = int(rng.integers(1, 2 * depth + 1))
    for reentrant in (False, True):
        gt = grads_torch(tnet, x, lambda m, z: tck.checkpoint_sequential(m, segs, z, use_reentrant=reentrant))
        gb = grads_bp(bnet, x, lambda m, z: checkpoint_sequential(m, segs, z, use_reentrant=reentrant))
        for a, b in zip(gt, gb): np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
        gt = grads_torch(tnet, x, lambda m, z: tck.checkpoint(m, z, use_reentrant=reentrant))
        gb = grads_bp(bnet, x, lambda m, z: checkpoint(m, z, use_reentrant=reentrant))
        for a, b in zip(gt, gb): np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n,segments", [(1, 1), (4, 2), (7, 3), (10, 4), (12, 12), (9, 2), (16, 5)])
def test_segment_split_forward_counts(n, segments):
    "Each function runs as many times (forward + recomputation) as under PyTorch's checkpoint_sequential."
    counts = {'t': [0] * n, 'b': [0] * n}
    def counter(key, i):
        def f(x):
            counts[key][i] += 1
            return x.tanh()  # saves its output: PyTorch recomputes only when backward reads a saved tensor
        return f
    xt = torch.ones(2, dtype=torch.float64, requires_grad=True)
    tck.checkpoint_sequential([counter('t', i) for i in range(n)], segments, xt, use_reentrant=False).sum().backward()
    xb = tensor(np.ones(2), requires_grad=True)
    checkpoint_sequential([counter('b', i) for i in range(n)], segments, xb).sum().backward()
    assert counts['b'] == counts['t']
    np.testing.assert_allclose(xb.grad.array, xt.grad.numpy())


def test_reentrant_without_grad_inputs_like_torch():
    tnet, bnet = pair(2, 3, 0)
    x = np.random.default_rng(0).standard_normal((2, 3))
    with pytest.warns(UserWarning):
        yt = tck.checkpoint_sequential(tnet, 2, torch.tensor(x), use_reentrant=True)
    with pytest.warns(UserWarning, match='none of the inputs have requires_grad=True'):
        yb = checkpoint_sequential(bnet, 2, tensor(x), use_reentrant=True)
    tnet.zero_grad(); bnet.zero_grad()
    (yt ** 2).sum().backward(); (yb ** 2).sum().backward()
    assert [p.grad is None for p in tnet.parameters()] == [p.grad is None for p in bnet.parameters()]
    assert [p.grad is None for p in bnet.parameters()] == [True, True, False, False]
    # the default mode gives every parameter its gradient, as PyTorch's non-reentrant mode
    tnet.zero_grad(); bnet.zero_grad()
    (tck.checkpoint_sequential(tnet, 2, torch.tensor(x), use_reentrant=False) ** 2).sum().backward()
    (checkpoint_sequential(bnet, 2, tensor(x)) ** 2).sum().backward()
    for pt, pb in zip(tnet.parameters(), bnet.parameters()):
        np.testing.assert_allclose(pb.grad.array, pt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_kwargs_tuple_outputs_and_no_grad_like_torch():
    x = np.random.default_rng(1).standard_normal((3, 4))
    def f(mod, a, k, scale=1.0):
        h = mod.tanh(a) * scale
        return h, (h ** k).sum(1), 'tag'
    with pytest.raises(ValueError):
        tck.checkpoint(f, torch, torch.tensor(x), 2, use_reentrant=True, scale=2.0)
    with pytest.raises(ValueError):
        checkpoint(f, bp, tensor(x), 2, use_reentrant=True, scale=2.0)
    xt, xb = torch.tensor(x, requires_grad=True), tensor(x, requires_grad=True)
    ht, st, tag_t = tck.checkpoint(f, torch, xt, 3, use_reentrant=False, scale=0.7)
    hb, sb, tag_b = checkpoint(f, bp, xb, 3, scale=0.7)
    assert tag_t == tag_b == 'tag'
    ((ht ** 2).sum() + st.sum()).backward(); ((hb ** 2).sum() + sb.sum()).backward()
    np.testing.assert_allclose(xb.grad.array, xt.grad.numpy(), rtol=1e-12)
    with torch.no_grad(): yt = tck.checkpoint(lambda z: z * 2, xt, use_reentrant=False)
    with bp.no_grad(): yb = checkpoint(lambda z: z * 2, xb)
    assert yt.requires_grad == yb.requires_grad == False  # noqa: E712
