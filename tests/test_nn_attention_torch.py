"""PyTorch as the oracle for `backprop.nn.attention` and `backprop.nn.transformer`: `scaled_dot_product_attention`,
`MultiheadAttention`, `TransformerEncoderLayer` / `TransformerEncoder`, over hypothesis-chosen shapes and options.
Weights are drawn once and shared through `load_state_dict` (torch -> backprop; the names are the same); then the
outputs, the attention weights, every parameter gradient and every input gradient are compared, in float64 tightly
and in float32 (against torch in float32) loosely. Dropout is 0 wherever outputs are compared exactly."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

torch = pytest.importorskip("torch")
import backprop as bp  # noqa: E402
from backprop.core import ShapeError  # noqa: E402
from backprop.nn.attention import scaled_dot_product_attention, MultiheadAttention  # noqa: E402
from backprop.nn.transformer import (TransformerEncoderLayer, TransformerEncoder, TransformerLM,  # noqa: E402
                                     generate_square_subsequent_mask)
from backprop.nn.layers import gelu  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)
SETTINGS = dict(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TOL = {np.float64: dict(rtol=1e-7, atol=1e-9), np.float32: dict(rtol=2e-3, atol=2e-4)}
TDT = {np.float64: torch.float64, np.float32: torch.float32}


def close(a, t, what, dtype, finite=None):
    a = a.array if isinstance(a, bp.Tensor) else np.asarray(a)
    t = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    assert a.shape == t.shape, f"{what}: shape {a.shape} vs torch {t.shape}"
    tol = dict(TOL[dtype])
    if dtype == np.float32 and t.size: tol['atol'] += 1e-4 * float(np.abs(t[np.isfinite(t)]).max(initial=0))
    if finite is not None: a, t = a[finite], t[finite]
    np.testing.assert_allclose(a, t, err_msg=what, **tol)


def pair(x, dtype, grad=True):
    "The same array as a torch tensor and a backprop tensor (float inputs require grad)."
    x = np.asarray(x)
    if x.dtype.kind == 'f': x = x.astype(dtype)
    rg = grad and x.dtype.kind == 'f'
    return torch.tensor(x, requires_grad=rg), bp.tensor(x, requires_grad=rg)


# ------------------------------------------------------------------ scaled_dot_product_attention

@st.composite
def sdpa_cases(draw):
    batch = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    L, S, E, Ev = (draw(st.integers(1, 6)) for _ in range(4))
    gqa = len(batch) >= 1 and draw(st.booleans())
    mask = draw(st.sampled_from(['none', 'bool', 'float', 'causal', 'bool-row', 'float-batch']))
    return dict(batch=batch, L=L, S=S, E=E, Ev=Ev, gqa=gqa, mask=mask, scale=draw(st.sampled_from([None, 0.3, 2.0])),
                dtype=draw(st.sampled_from([np.float64, np.float64, np.float32])), seed=draw(st.integers(0, 2**31)))


@settings(**SETTINGS)
@given(sdpa_cases())
def test_sdpa_matches_torch(c):
    rng, dt = np.random.default_rng(c['seed']), c['dtype']
    b, L, S = c['batch'], c['L'], c['S']
    bk = b
    if c['gqa']:                                  # the last batch dim is the head dim: key/value have fewer heads
        hk = max(1, b[-1]); b = b[:-1] + (hk * 2,); bk = b[:-1] + (hk,)
    tq, q = pair(rng.standard_normal(b + (L, c['E'])), dt)
    tk, k = pair(rng.standard_normal(bk + (S, c['E'])), dt)
    tv, v = pair(rng.standard_normal(bk + (S, c['Ev'])), dt)
    tm = m = None
    if c['mask'] in ('bool', 'bool-row'):
        mm = rng.random((L, S) if c['mask'] == 'bool' else (1, S)) < 0.6
        tm, m = pair(mm, dt)
    elif c['mask'] in ('float', 'float-batch'):
        mm = rng.standard_normal((b + (L, S)) if c['mask'] == 'float-batch' else (L, S))
        mm[rng.random(mm.shape) < 0.2] = -np.inf
        tm, m = pair(mm, dt)
    causal = c['mask'] == 'causal'
    to = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, is_causal=causal, scale=c['scale'], enable_gqa=c['gqa'])
    o = scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=causal, scale=c['scale'], enable_gqa=c['gqa'])
    close(o, to, 'output', dt)
    g = rng.standard_normal(to.shape).astype(dt)
    to.backward(torch.tensor(g)); o.backward(bp.tensor(g))
    for name, a, t in [('query', q, tq), ('key', k, tk), ('value', v, tv)] + ([('mask', m, tm)] if tm is not None and tm.requires_grad else []):
        close(a.grad, t.grad, f'grad {name}', dt)


def test_sdpa_fully_masked_row_and_errors():
    tq, q = pair(np.random.default_rng(0).standard_normal((3, 4)), np.float64)
    mm = np.ones((3, 3), bool); mm[1] = False
    tm, m = pair(mm, np.float64)
    to = torch.nn.functional.scaled_dot_product_attention(tq, tq, tq, attn_mask=tm)
    o = scaled_dot_product_attention(q, q, q, attn_mask=m)
    close(o, to, 'fully masked row', np.float64)
    to.sum().backward(); o.sum().backward()
    close(q.grad, tq.grad, 'grad', np.float64)
    with pytest.raises(RuntimeError, match='is_causal'): scaled_dot_product_attention(q, q, q, attn_mask=m, is_causal=True)
    with pytest.raises(ShapeError, match='expected query'): scaled_dot_product_attention(q, bp.randn(3, 5), bp.randn(3, 2))
    with pytest.raises(ValueError, match='dropout_p'): scaled_dot_product_attention(q, q, q, dropout_p=1.5)


def test_sdpa_dropout_statistics():
    "Inverted dropout on the weights: unbiased on average, exactly zero output at p = 1."
    rng = np.random.default_rng(0)
    q, k, v = (bp.tensor(rng.standard_normal((2, 4, 3))) for _ in range(3))
    exact = scaled_dot_product_attention(q, k, v).array
    bp.manual_seed(0)
    mean = np.mean([scaled_dot_product_attention(q, k, v, dropout_p=0.3).array for _ in range(4000)], 0)
    np.testing.assert_allclose(mean, exact, atol=0.05)
    assert (scaled_dot_product_attention(q, k, v, dropout_p=1.0).array == 0).all()


# ------------------------------------------------------------------ MultiheadAttention

@st.composite
def mha_cases(draw):
    H = draw(st.integers(1, 3))
    c = dict(H=H, E=H * draw(st.integers(1, 3)), N=draw(st.integers(1, 3)), L=draw(st.integers(1, 5)), S=draw(st.integers(1, 5)),
             batch_first=draw(st.booleans()), bias=draw(st.booleans()), add_bias_kv=draw(st.booleans()),
             add_zero_attn=draw(st.booleans()), need_weights=draw(st.booleans()), avg=draw(st.booleans()),
             batched=draw(st.booleans()), seed=draw(st.integers(0, 2**31)),
             dtype=draw(st.sampled_from([np.float64, np.float64, np.float32])))
    c['kind'] = draw(st.sampled_from(['self', 'self', 'cross', 'kv-same', 'kdim']))
    c['kpm'] = draw(st.sampled_from([None, 'bool', 'float']))
    c['am'] = draw(st.sampled_from([None, '2bool', '3bool', '2float', '3float', 'causal']))
    if c['am'] == 'causal' or c['kind'].startswith('self'): c['S'] = c['L']
    return c


def _mha_pair(c, rng):
    kw = dict(bias=c['bias'], add_bias_kv=c['add_bias_kv'], add_zero_attn=c['add_zero_attn'], batch_first=c['batch_first'])
    if c['kind'] == 'kdim': kw |= dict(kdim=c['E'] + 1, vdim=2)
    tm = torch.nn.MultiheadAttention(c['E'], c['H'], **kw).to(TDT[c['dtype']])
    bm = MultiheadAttention(c['E'], c['H'], **kw).to(c['dtype'])
    with torch.no_grad():
        for p in tm.parameters(): p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.5))
    bm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    assert list(bm.state_dict()) == list(tm.state_dict())
    assert repr(bm) == repr(tm)
    return tm, bm, kw


@settings(**SETTINGS)
@given(mha_cases())
def test_mha_matches_torch(c):
    rng, dt = np.random.default_rng(c['seed']), c['dtype']
    tm, bm, kw = _mha_pair(c, rng)
    N, L, S, E = c['N'], c['L'], c['S'], c['E']
    def shp(T, D): return ((N, T, D) if c['batch_first'] else (T, N, D)) if c['batched'] else (T, D)
    tq, q = pair(rng.standard_normal(shp(L, E)), dt)
    if c['kind'] == 'self': (tk, k), (tv, v) = (tq, q), (tq, q)
    else:
        tk, k = pair(rng.standard_normal(shp(S, kw.get('kdim', E))), dt)
        (tv, v) = (tk, k) if c['kind'] == 'kv-same' else pair(rng.standard_normal(shp(S, kw.get('vdim', E))), dt)
    tkpm = kpm = tam = am = None
    if c['kpm']:
        m = rng.random((N, S) if c['batched'] else (S,)) < 0.3
        if c['kpm'] == 'float': m = np.where(m, -np.inf, rng.standard_normal(m.shape) * 0.5)
        tkpm, kpm = pair(m, dt, grad=False)
    causal = c['am'] == 'causal'
    if c['am']:
        shape = (L, S) if c['am'][0] in '2c' else ((N * c['H']) if c['batched'] else c['H'], L, S)
        m = np.triu(np.ones((L, S), bool), 1) if causal else rng.random(shape) < 0.3
        if 'float' in c['am']: m = np.where(m, -np.inf, rng.standard_normal(shape) * 0.5)
        tam, am = pair(m, dt, grad=False)
    args = dict(key_padding_mask=None, need_weights=c['need_weights'], average_attn_weights=c['avg'], is_causal=causal)
    to, tw = tm(tq, tk, tv, **(args | dict(key_padding_mask=tkpm, attn_mask=tam)))
    o, w = bm(q, k, v, **(args | dict(key_padding_mask=kpm, attn_mask=am)))
    ok = np.isfinite(to.detach().numpy())            # fully masked rows: nan in PyTorch's unfused path, in both
    assert (np.isfinite(o.array) == ok).all()
    close(o, to, 'output', dt, finite=ok)
    if c['need_weights']: close(w, tw, 'weights', dt, finite=np.isfinite(tw.detach().numpy()))
    else: assert w is None and tw is None
    g = np.where(ok, rng.standard_normal(to.shape), 0).astype(dt)
    to.backward(torch.tensor(g)); o.backward(bp.tensor(g))
    if not ok.all(): return                          # nan gradients: nothing more to compare
    for (name, tp), p in zip(tm.named_parameters(), bm.parameters()): close(p.grad, tp.grad, f'grad {name}', dt)
    for name, a, t in (('query', q, tq), ('key', k, tk), ('value', v, tv)):
        if t.grad is not None: close(a.grad, t.grad, f'grad {name}', dt)


def test_mha_state_dict_both_ways_and_init():
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2, kdim=3, vdim=5, add_bias_kv=True)
    bm = MultiheadAttention(8, 2, kdim=3, vdim=5, add_bias_kv=True)
    tm.load_state_dict({k: torch.tensor(v.array) for k, v in bm.state_dict().items()})      # backprop -> torch
    for (k, a), b in zip(bm.state_dict().items(), tm.state_dict().values()): np.testing.assert_array_equal(a.array, b.numpy(), k)
    assert (bm.in_proj_bias.array == 0).all() and (bm.out_proj.bias.array == 0).all()
    w = MultiheadAttention(64, 4).in_proj_weight.array                                         # Xavier-uniform: bound sqrt(6/(64+192))
    assert np.abs(w).max() <= np.sqrt(6 / 256) and abs(w.std() - np.sqrt(2 / 256)) < 0.01


def test_mha_errors():
    m = MultiheadAttention(8, 2)
    x = bp.randn(5, 3, 8)
    with pytest.raises(ShapeError, match='attn_mask'): m(x, x, x, attn_mask=bp.zeros(4, 5, dtype=bool))
    with pytest.raises(ShapeError, match='key_padding_mask'): m(x, x, x, key_padding_mask=bp.zeros(3, 4, dtype=bool))
    with pytest.raises(ShapeError, match='features'): m(x, bp.randn(5, 3, 7), bp.randn(5, 3, 7))
    with pytest.raises(RuntimeError, match='Need attn_mask'): m(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match='divisible'): MultiheadAttention(8, 3)


# ------------------------------------------------------------------ TransformerEncoderLayer / TransformerEncoder

@st.composite
def enc_cases(draw):
    h = draw(st.integers(1, 3))
    return dict(h=h, d=h * draw(st.integers(1, 3)) * 2, ff=draw(st.integers(1, 12)), N=draw(st.integers(1, 3)), L=draw(st.integers(1, 6)),
                batch_first=draw(st.booleans()), norm_first=draw(st.booleans()), act=draw(st.sampled_from(['relu', 'gelu', 'callable'])),
                bias=draw(st.booleans()), nl=draw(st.integers(1, 3)), final_norm=draw(st.booleans()), kpm=draw(st.booleans()),
                mask=draw(st.sampled_from([None, 'causal', 'causal-bool', 'float'])), hint=draw(st.sampled_from([None, False, True])),
                eps=draw(st.sampled_from([1e-5, 1e-3])), batched=draw(st.booleans()), train=draw(st.booleans()),
                dtype=draw(st.sampled_from([np.float64, np.float64, np.float32])), seed=draw(st.integers(0, 2**31)))


@settings(**SETTINGS)
@given(enc_cases())
def test_encoder_matches_torch(c):
    rng, dt = np.random.default_rng(c['seed']), c['dtype']
    if c['hint'] and not c['mask']: c['hint'] = None                      # the hint needs a mask
    if c['hint'] and c['mask'] == 'float': c['hint'] = False
    if not c['batched']: c['kpm'] = False
    tact = {'relu': 'relu', 'gelu': 'gelu', 'callable': torch.nn.functional.gelu}[c['act']]
    bact = {'relu': 'relu', 'gelu': 'gelu', 'callable': gelu}[c['act']]
    kw = dict(dim_feedforward=c['ff'], dropout=0.0, batch_first=c['batch_first'], norm_first=c['norm_first'], bias=c['bias'], layer_norm_eps=c['eps'])
    tl = torch.nn.TransformerEncoderLayer(c['d'], c['h'], activation=tact, **kw).to(TDT[dt])
    te = torch.nn.TransformerEncoder(tl, c['nl'], norm=torch.nn.LayerNorm(c['d']).to(TDT[dt]) if c['final_norm'] else None, enable_nested_tensor=False)
    be = TransformerEncoder(TransformerEncoderLayer(c['d'], c['h'], activation=bact, **kw), c['nl'],
                            norm=bp.nn.LayerNorm(c['d']) if c['final_norm'] else None).to(dt)
    with torch.no_grad():
        for p in te.parameters(): p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.5))
    be.load_state_dict({k: v.detach().numpy() for k, v in te.state_dict().items()})
    assert list(be.state_dict()) == list(te.state_dict())
    te.train(c['train']); be.train(c['train'])
    N, L, d = c['N'], c['L'], c['d']
    tx, x = pair(rng.standard_normal(((N, L, d) if c['batch_first'] else (L, N, d)) if c['batched'] else (L, d)), dt)
    tk = k = tm = m = None
    if c['kpm']:
        mm = rng.random((N, L)) < 0.3; mm[:, 0] = False                  # the first position is never padding
        tk, k = pair(mm, dt, grad=False)
    if c['mask'] == 'causal':
        tm, m = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=TDT[dt]), generate_square_subsequent_mask(L, dt)
    elif c['mask'] == 'causal-bool': tm, m = pair(np.triu(np.ones((L, L), bool), 1), dt, grad=False)
    elif c['mask'] == 'float':
        mm = rng.standard_normal((L, L)) * 0.5; mm[:, 0] = 0
        tm, m = pair(mm, dt, grad=False)
    to = te(tx, mask=tm, src_key_padding_mask=tk, is_causal=c['hint'])
    o = be(x, mask=m, src_key_padding_mask=k, is_causal=c['hint'])
    close(o, to, 'output', dt)
    g = rng.standard_normal(to.shape).astype(dt)
    to.backward(torch.tensor(g)); o.backward(bp.tensor(g))
    for (name, tp), p in zip(te.named_parameters(), be.parameters()): close(p.grad, tp.grad, f'grad {name}', dt)
    close(x.grad, tx.grad, 'grad input', dt)


def test_layer_repr_names_and_gelu_module():
    tl = torch.nn.TransformerEncoderLayer(8, 2, 16, activation=torch.nn.GELU())
    bl = TransformerEncoderLayer(8, 2, 16, activation=bp.nn.GELU())
    assert list(bl.state_dict()) == list(tl.state_dict())
    assert [n for n, _ in bl.named_modules()] == [n for n, _ in tl.named_modules()]
    with pytest.raises(RuntimeError, match='relu/gelu'): TransformerEncoderLayer(8, 2, activation='swish')


def test_transformer_lm_trains_and_is_causal():
    bp.manual_seed(0)
    lm = TransformerLM(5, 16, 2, 1, max_len=8, positions='sinusoidal')
    x = bp.randint(0, 5, (4, 8))
    g = bp.autograd.grad(bp.nn.functional.cross_entropy(lm(x)[:, 3], x[:, 4]), lm.tok_emb.weight)[0]
    used_later = np.setdiff1d(np.unique(x.array[:, 4:]), np.unique(x.array[:, :4]))
    assert (g.array[used_later] == 0).all()                 # tokens only at positions > 3 get no gradient from position 3


@pytest.mark.parametrize("mask", [None, 'bool', 'float', 'causal'])
def test_sdpa_double_backward_matches_torch(mask):
    "create_graph=True through the fused node: the gradient of ‖∇q‖² (a second derivative) matches PyTorch's."
    rng = np.random.default_rng(1)
    tq, q = pair(rng.standard_normal((2, 4, 3)), np.float64)
    tk, k = pair(rng.standard_normal((2, 5 if mask != 'causal' else 4, 3)), np.float64)
    tv, v = pair(rng.standard_normal((2, tk.shape[1], 2)), np.float64)
    tm = m = None
    if mask == 'bool': mm = rng.random((4, 5)) < 0.6; mm[:, 0] = True; tm, m = pair(mm, np.float64)
    if mask == 'float': tm, m = pair(rng.standard_normal((4, 5)), np.float64)
    causal = mask == 'causal'
    tg = torch.autograd.grad(torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, is_causal=causal).pow(2).sum(), tq, create_graph=True)[0]
    g = bp.autograd.grad((scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=causal) ** 2).sum(), q, create_graph=True)[0]
    close(g, tg, 'first derivative', np.float64)
    ins = [(q, tq), (k, tk), (v, tv)] + ([(m, tm)] if mask == 'float' else [])
    t2 = torch.autograd.grad(tg.pow(2).sum(), [t for _, t in ins])
    b2 = bp.autograd.grad((g ** 2).sum(), [b for b, _ in ins])
    for (a, t), name in zip(zip(b2, t2), ['q', 'k', 'v', 'mask']): close(a, t, f'second derivative wrt {name}', np.float64)
