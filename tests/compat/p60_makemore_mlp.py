"""A character-level MLP language model in the style of the makemore lectures: a bigram count table,
one-hot inputs, an embedding table indexed as C[X], a manual softmax-and-log-likelihood next to
F.cross_entropy, minibatches by index, `p.data += -lr * p.grad`, and sampling with torch.multinomial."""
import numpy as np
import torch
import torch.nn.functional as F
from _report import report

rng = np.random.default_rng(5)
letters = 'abcdefghijklmnopqrstuvwxyz'
words = [''.join(rng.choice(list('aeioumnrslt'), size=rng.integers(3, 7))) for _ in range(60)]
chars = sorted(set(''.join(words)))
stoi = {s: i + 1 for i, s in enumerate(chars)}
stoi['.'] = 0
itos = {i: s for s, i in stoi.items()}
V = len(stoi)

# bigram counts, as a table of int32 counts
N = torch.zeros((V, V), dtype=torch.int32)
for w in words:
    cs = ['.'] + list(w) + ['.']
    for c1, c2 in zip(cs, cs[1:]):
        N[stoi[c1], stoi[c2]] += 1
report('bigram_dtype_int32', N.dtype == torch.int32)
report('bigram_total', N.sum().item())
P = (N + 1).float()
P /= P.sum(1, keepdim=True)
report('rows_sum_to_one', torch.allclose(P.sum(1), torch.ones(V)))
log_likelihood, n = 0.0, 0
for w in words[:10]:
    cs = ['.'] + list(w) + ['.']
    for c1, c2 in zip(cs, cs[1:]):
        log_likelihood += torch.log(P[stoi[c1], stoi[c2]])
        n += 1
report('bigram_nll', (-log_likelihood / n).item())

# the same bigram as a one-layer net on one-hot inputs
xs, ys = [], []
for w in words:
    cs = ['.'] + list(w) + ['.']
    for c1, c2 in zip(cs, cs[1:]):
        xs.append(stoi[c1]); ys.append(stoi[c2])
xs, ys = torch.tensor(xs), torch.tensor(ys)
g = torch.Generator().manual_seed(2147483647)
W = torch.randn((V, V), generator=g, requires_grad=True)
report('randn_generator_shape', list(W.shape))
W = torch.tensor(rng.normal(size=(V, V)).astype(np.float32), requires_grad=True)
num = xs.nelement()
for k in range(20):
    xenc = F.one_hot(xs, num_classes=V).float()
    logits = xenc @ W
    counts = logits.exp()
    probs = counts / counts.sum(1, keepdims=True)
    loss = -probs[torch.arange(num), ys].log().mean() + 0.01 * (W**2).mean()
    W.grad = None
    loss.backward()
    W.data += -10 * W.grad
report('onehot_loss', loss.item())

# an MLP on three-character contexts, with an embedding table C
block_size = 3
def build_dataset(ws):
    X, Y = [], []
    for w in ws:
        context = [0] * block_size
        for ch in w + '.':
            ix = stoi[ch]
            X.append(context); Y.append(ix)
            context = context[1:] + [ix]
    return torch.tensor(X), torch.tensor(Y)
Xtr, Ytr = build_dataset(words[:50])
Xdev, Ydev = build_dataset(words[50:])
report('dataset_shapes', [list(Xtr.shape), list(Ytr.shape), Xtr.dtype == torch.int64])

init = np.random.default_rng(1)
C = torch.tensor(init.normal(size=(V, 4)).astype(np.float32))
W1 = torch.tensor(init.normal(size=(12, 32)).astype(np.float32)) * (5 / 3) / (12 ** 0.5)
b1 = torch.tensor(init.normal(size=32).astype(np.float32)) * 0.01
W2 = torch.tensor(init.normal(size=(32, V)).astype(np.float32)) * 0.01
b2 = torch.zeros(V)
parameters = [C, W1, b1, W2, b2]
report('n_parameters', sum(p.nelement() for p in parameters))
for p in parameters:
    p.requires_grad = True

batches = np.random.default_rng(2).integers(0, Xtr.shape[0], size=(60, 16))
ix_g = torch.randint(0, Xtr.shape[0], (16,), generator=g)
report('randint_batch', [list(ix_g.shape), int(ix_g.min()) >= 0, int(ix_g.max()) < Xtr.shape[0]])
lossi = []
for i in range(60):
    ix = torch.tensor(batches[i])
    emb = C[Xtr[ix]]
    h = torch.tanh(emb.view(-1, 12) @ W1 + b1)
    logits = h @ W2 + b2
    loss = F.cross_entropy(logits, Ytr[ix])
    for p in parameters:
        p.grad = None
    loss.backward()
    lr = 0.1 if i < 40 else 0.01
    for p in parameters:
        p.data += -lr * p.grad
    lossi.append(loss.log10().item())
report('mlp_log10_losses', lossi[::10])

@torch.no_grad()
def split_loss(X, Y):
    emb = C[X]
    embcat = emb.view(emb.shape[0], -1)
    h = torch.tanh(embcat @ W1 + b1)
    logits = h @ W2 + b2
    return F.cross_entropy(logits, Y).item()
report('train_dev_loss', [split_loss(Xtr, Ytr), split_loss(Xdev, Ydev)])

# manual softmax + log-likelihood equals cross_entropy
emb = C[Xdev]
logits = torch.tanh(emb.view(emb.shape[0], -1) @ W1 + b1) @ W2 + b2
counts = (logits - logits.max(1, keepdim=True).values).exp()
prob = counts / counts.sum(1, keepdims=True)
manual = -prob[torch.arange(Ydev.shape[0]), Ydev].log().mean()
report('manual_equals_cross_entropy', torch.allclose(manual, F.cross_entropy(logits, Ydev), atol=1e-6))

# sampling
g = torch.Generator().manual_seed(2147483647 + 10)
out = []
for _ in range(5):
    context, name = [0] * block_size, []
    while True:
        emb = C[torch.tensor([context])]
        h = torch.tanh(emb.view(1, -1) @ W1 + b1)
        probs = F.softmax(h @ W2 + b2, dim=1)
        ix = torch.multinomial(probs, num_samples=1, generator=g).item()
        context = context[1:] + [ix]
        if ix == 0 or len(name) > 20: break
        name.append(itos[ix])
    out.append(''.join(name))
report('samples_are_strings_of_vocab', all(set(s) <= set(chars) for s in out) and len(out) == 5)
