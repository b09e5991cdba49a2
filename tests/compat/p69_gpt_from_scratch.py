"""A GPT built from scratch in the style of the "let's build GPT" lecture, tiny: get_batch with
torch.stack of slices, a bigram model's generate() with logits[:, -1, :] and torch.multinomial,
a causal self-attention head with a registered tril buffer and masked_fill(-inf), multi-head
concatenation, an @torch.no_grad() estimate_loss with model.eval()/train(), and AdamW."""
import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F
from _report import report

text = 'the quick brown fox jumps over the lazy dog and then it sleeps. ' * 8
chars = sorted(list(set(text)))
vocab_size = len(chars)
stoi = {ch: i for i, ch in enumerate(chars)}
itos = {i: ch for i, ch in enumerate(chars)}
encode = lambda s: [stoi[c] for c in s]
decode = lambda l: ''.join([itos[i] for i in l])
data = torch.tensor(encode(text), dtype=torch.long)
n = int(0.9 * len(data))
train_data, val_data = data[:n], data[n:]
report('decode_encode', decode(encode('lazy dog')))

block_size, batch_size, n_embd, n_head = 8, 4, 16, 2
offsets = np.random.default_rng(71)
def get_batch(split):
    d = train_data if split == 'train' else val_data
    ix = torch.tensor(offsets.integers(0, len(d) - block_size, (batch_size,)))
    x = torch.stack([d[i:i + block_size] for i in ix])
    y = torch.stack([d[i + 1:i + block_size + 1] for i in ix])
    return x, y
ix = torch.randint(len(data) - block_size, (batch_size,))
report('randint_offsets', [list(ix.shape), ix.dtype == torch.int64])

class Head(nn.Module):
    def __init__(self, head_size):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.register_buffer('tril', torch.tril(torch.ones(block_size, block_size)))
    def forward(self, x):
        B, T, C = x.shape
        k = self.key(x)
        q = self.query(x)
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float('-inf'))
        wei = F.softmax(wei, dim=-1)
        return wei @ self.value(x)

class MultiHeadAttention(nn.Module):
    def __init__(self, num_heads, head_size):
        super().__init__()
        self.heads = nn.ModuleList([Head(head_size) for _ in range(num_heads)])
        self.proj = nn.Linear(n_embd, n_embd)
    def forward(self, x):
        return self.proj(torch.cat([h(x) for h in self.heads], dim=-1))

class LanguageModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
        self.position_embedding_table = nn.Embedding(block_size, n_embd)
        self.sa = MultiHeadAttention(n_head, n_embd // n_head)
        self.ln = nn.LayerNorm(n_embd)
        self.ffwd = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.ReLU(), nn.Linear(4 * n_embd, n_embd))
        self.lm_head = nn.Linear(n_embd, vocab_size)
    def forward(self, idx, targets=None):
        B, T = idx.shape
        tok_emb = self.token_embedding_table(idx)
        pos_emb = self.position_embedding_table(torch.arange(T))
        x = tok_emb + pos_emb
        x = x + self.sa(self.ln(x))
        x = x + self.ffwd(x)
        logits = self.lm_head(x)
        if targets is None:
            loss = None
        else:
            B, T, C = logits.shape
            logits = logits.view(B * T, C)
            targets = targets.view(B * T)
            loss = F.cross_entropy(logits, targets)
        return logits, loss
    def generate(self, idx, max_new_tokens):
        for _ in range(max_new_tokens):
            idx_cond = idx[:, -block_size:]
            logits, loss = self(idx_cond)
            logits = logits[:, -1, :]
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx

model = LanguageModel()
report('buffer_not_param', ['sa.heads.0.tril' in dict(model.named_buffers()), 'sa.heads.0.tril' in dict(model.named_parameters())])
init = np.random.default_rng(72)
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.startswith('ln'): continue
        p.copy_(torch.tensor(init.normal(0, 0.2, size=tuple(p.shape)).astype(np.float32)))
report('n_params', sum(p.numel() for p in model.parameters()))

eval_batches = {s: [get_batch(s) for _ in range(3)] for s in ['train', 'val']}
@torch.no_grad()
def estimate_loss():
    out = {}
    model.eval()
    for split in ['train', 'val']:
        losses = torch.zeros(3)
        for k, (X, Y) in enumerate(eval_batches[split]):
            logits, loss = model(X, Y)
            losses[k] = loss.item()
        out[split] = losses.mean()
    model.train()
    return out

optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
hist = []
for it in range(40):
    if it % 10 == 0:
        losses = estimate_loss()
        hist.append(f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
    xb, yb = get_batch('train')
    logits, loss = model(xb, yb)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
report('history', hist)
report('final_loss', loss.item())
report('lm_head_grad', model.lm_head.bias.grad)

context = torch.zeros((1, 1), dtype=torch.long)
out = model.generate(context, max_new_tokens=20)
report('generated', [list(out.shape), out.dtype == torch.int64, len(decode(out[0].tolist())) == 21])
