"""A featureless reverse-mode tape: the cost of a per-node Python graph and nothing else.

This module is a measuring stick for the benchmarks, not an engine to use. It records one small `__slots__` node
object per op (its inputs and what its vector-Jacobian product needs) and one output object (`Var`) holding the
array; `backward` counts each node's consumers, then sweeps the graph once in topological order, accumulating
gradients. Whatever a Python engine with one node per op must pay, it pays; nothing more. So its time is the
floor for any engine built that way, and the difference between backprop and the tape is what backprop's features
cost. The tape has none of them:

- no version counters: an in-place change of a saved array silently gives wrong gradients;
- no hooks (tensor, node or module), no anomaly mode, no retain_grad;
- no dtype, shape or broadcasting checks, and no broadcasting in the VJPs (`b` of `h + b` has the shape of `h`,
  the bias of `linear` is summed over rows because that is the only case `linear` supports);
- no grad mode (global or thread-local): every op is recorded, even when no input needs a gradient;
- no `create_graph`: the VJPs compute on ndarrays, so there are no higher derivatives;
- no freeing of the graph after `backward` and no check against a second `backward` through it;
- no error messages: wrong use fails somewhere inside numpy, or not at all.

Ops: `*`, `+` (arrays of the same shape), `tanh`, `relu`, `sum` (to a scalar), `linear` (y = x W^T + b),
`cross_entropy` (softmax cross-entropy, mean over rows). Used by `bench_engine.py` and `bench_resmlp.py`, which
check its outputs and gradients against PyTorch's like every other contender's.
"""
import numpy as np

class Var:
    "An array, the node that made it (None for a leaf), and the gradient a leaf that `requires_grad` accumulates."
    __slots__ = ('array', 'requires_grad', 'node', 'grad')
    def __init__(self, array, requires_grad=False, node=None):
        self.array, self.requires_grad, self.node, self.grad = array, requires_grad, node, None

    def __mul__(self, other):
        node = Mul(); node.ins = (self, other)
        return Var(self.array * other.array, True, node)

    def __add__(self, other):
        node = Add(); node.ins = (self, other)
        return Var(self.array + other.array, True, node)

    def tanh(self):
        node = Tanh(); node.ins = (self,); node.y = y = np.tanh(self.array)
        return Var(y, True, node)

    def relu(self):
        node = Relu(); node.ins = (self,); node.mask = m = self.array > 0
        return Var(self.array * m, True, node)

    def sum(self):
        node = Sum(); node.ins = (self,)
        return Var(self.array.sum(), True, node)

    def backward(self): backward(self)

# Nodes. `vjp(g)` returns one gradient per input, None for a leaf that needs none (only where skipping saves work).
class Mul:
    __slots__ = ('ins',)
    def vjp(self, g):
        a, b = self.ins
        return (g * b.array if a.requires_grad else None, g * a.array if b.requires_grad else None)

class Add:
    __slots__ = ('ins',)
    def vjp(self, g): return g, g

class Tanh:
    __slots__ = ('ins', 'y')
    def vjp(self, g): y = self.y; return g * (1 - y * y),

class Relu:
    __slots__ = ('ins', 'mask')
    def vjp(self, g): return g * self.mask,

class Sum:
    __slots__ = ('ins',)
    def vjp(self, g): return np.full_like(self.ins[0].array, g),

class Linear:
    __slots__ = ('ins',)
    def vjp(self, g):
        x, W, b = self.ins
        return (g @ W.array if x.requires_grad else None, g.T @ x.array if W.requires_grad else None,
                g.sum(0) if b.requires_grad else None)

class CrossEntropy:
    "Saves the softmax and the labels; the gradient is (softmax - onehot) / n, times the incoming scalar g."
    __slots__ = ('ins', 'p', 'y')
    def vjp(self, g):
        p, y = self.p, self.y
        d = p * (g / len(y)); d[np.arange(len(y)), y] -= g / len(y)
        return d,

def linear(x, W, b):
    "y = x W^T + b, for x of shape (n, in), W (out, in), b (out,)."
    node = Linear(); node.ins = (x, W, b)
    y = x.array @ W.array.T; y += b.array
    return Var(y, True, node)

def cross_entropy(z, y):
    "Mean over rows of -log softmax(z)[row, y[row]]; `z` a Var of logits (n, classes), `y` an int ndarray of labels."
    a = z.array - z.array.max(1, keepdims=True)
    e = np.exp(a); s = e.sum(1, keepdims=True)
    node = CrossEntropy(); node.ins = (z,); node.p = e / s; node.y = y
    return Var(np.log(s).mean() - a[np.arange(len(y)), y].mean(), True, node)

def backward(root):
    "Gradients of `root` (a scalar Var) into the `.grad` of every leaf that requires one."
    users, stack = {root.node: 0}, [root.node]          # consumers of each node's output, among the nodes reached
    while stack:
        for x in stack.pop().ins:
            n = x.node
            if n is None: continue
            if n in users: users[n] += 1
            else: users[n] = 1; stack.append(n)
    grads, ready = {root.node: np.ones_like(root.array)}, [root.node]
    while ready:                                        # a node is ready once all its consumers have sent their gradient
        node = ready.pop()
        for x, gx in zip(node.ins, node.vjp(grads.pop(node))):
            n = x.node
            if n is None:
                if x.requires_grad: x.grad = gx if x.grad is None else x.grad + gx
                continue
            grads[n] = grads[n] + gx if n in grads else gx
            users[n] -= 1
            if not users[n]: ready.append(n)
