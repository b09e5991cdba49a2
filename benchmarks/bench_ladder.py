#!/usr/bin/env python
"""A feature-cost ladder: from the featureless tape to backprop, one feature at a time, timed in one run.

`tape.py` is the leanest reverse-mode engine with a Python node per op; backprop takes about twice its time on the
per-op chain of `bench_engine.py` (1,000 ops `h*w`, `h+b`, `tanh(h)` on shape (8,), forward + backward of `h.sum()`).
Chapter 50 lists the features that make the difference. This script measures what each one costs: it builds a ladder
of engines, each rung the one below plus one of backprop's features, written the way backprop's engine writes it
(`backprop/core.py`: `Function.apply`, `_binary`, `_toposort`, `run_backward`, `_accumulate_leaf`, `numpy_ns`).
The rungs are cumulative:

0. tape: `benchmarks/tape.py` itself, unchanged.
1. + grad modes: each op reads the mode (a module flag that is true while every thread is in the default mode, else
   the thread's own switches: `if _fast: ... else: grad, anomaly, hook = _tls.m`), records a node only when the mode
   is on and an input requires a gradient, and checks the anomaly flag; the backward turns recording off for its
   thread and back on afterwards (`_set_mode`, as backprop does) and checks the anomaly flag per node.
2. + version counters: every tensor has a version counter `_vc` (the shared `(0,)` until it is first written); each
   node records its inputs' versions; the topological sort compares them and refuses a node whose VJP reads an input
   changed in place since (else it takes the inputs' histories as recorded: the `routes` of the sweep).
3. + outputs by weak reference, hooks and `retain_grad`: a node holds its output through a `weakref.ref` instead of
   saving what its VJP needs (tanh reads its output back through it, checking that output's version), tensors get
   `_hooks`, `_retain` and `__weakref__` slots, and the sweep asks every node's output whether anyone watches its
   gradient (and every leaf whether it has hooks).
4. + checks: each op checks its operand's type and the dtypes (backprop would promote; here a mismatch is refused)
   and turns numpy's errors into ones naming the op; tanh checks for a float input; the sweep checks, for every input
   of every node, that it requires a gradient and that the gradient's shape is the input's (summing a broadcast one
   back), and accumulates leaf gradients in place with `_accumulate_leaf`'s aliasing checks.
5. + the `Function` layer and rules written against `xp`: nodes are `Function` instances (no `__slots__`: they have
   a `__dict__`, since user-written Functions set attributes freely), made by `object.__new__`; an operator goes
   through `_binary` (isinstance, dtype, requires-grad and grad-mode checks) to the classmethod `apply(*args)`, which
   reads the mode again and calls the method `forward` on arrays; the output Tensor has backprop's eight slots; the
   sweep calls `node.backward(g, xp)` with `xp = numpy_ns`, and the rules unpack `xp.inputs(node)`, ask
   `node.needs(i)` and read `xp.out(node)`. (The ladder has this indirection, which is what makes `create_graph`
   possible in backprop, but not `create_graph` itself: it has no Tensor-level ops for the rules to record.)
6. + the general entry: `Tensor.backward`'s argument checks, and `run_backward`'s generality: several roots with
   their own gradients, `inputs=`, nodes that receive no gradient, nodes made by hand without versions, the
   first-order/`create_graph` switch, dropping each node's gradients before the next node runs.
7. + freeing the graph: the sweep lists the nodes it ran and clears each one's `__dict__` afterwards (unless
   `retain_graph`), and the topological sort refuses a freed node (a second backward through the graph).

Then backprop itself (`Tensor` ops and `backward` from this checkout), PyTorch (CPU, one thread) if installed, and
the numpy floor (the same ufuncs and hand-written derivatives, no graph), for reference.

Every rung is a complete engine for the chain's four ops (`*`, `+`, `tanh`, `sum`): before timing, each must give
backprop's output and gradient on the chain, and each must show its own feature working (no graph under no-grad, an
error for a saved input changed in place, a retained gradient and a hook call, a broadcast gradient summed back and a
dtype refused, an error on a second backward). This is a measurement of features, not an engine: only what the chain
needs is there, and rungs 5-7 share their ops and `Function` classes (only the backward differs between them; the
chain sets which one `Tensor.backward` calls before it runs, once per chain).

Timing: `time.process_time`, one BLAS thread (and one PyTorch thread), objects of numpy and torch frozen out of the
garbage collector as in `bench_engine.py`, whose `interleaved` runner is reused: in each round every contender runs
a block of ~0.07 s of chains, in an order that rotates from round to round; reported are medians over rounds of the
per-op time of the forward, the backward and both (`total`, what `bench_engine.py` reports). The graph of a rung that
does not free it is dropped by reference counting when the chain's locals go, after the timed backward; that
`teardown` is timed too, and `all-in` = total + teardown is the fair basis for rung 7, which does the same freeing
inside its backward. The marginal cost of a rung is its median minus the median of the rung below (for total and for
all-in), so the marginals add up to the distance from the tape to the top rung. (Not the median of same-round
differences: on this shared machine the slow outliers hit single blocks, not whole rounds, so pairing adds their noise
instead of cancelling a drift.)

Usage: python benchmarks/bench_ladder.py [--reps N] [--quick] [--json PATH]
"""
import os
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')    # one BLAS thread (set again through ctypes below)
import argparse, gc, json, platform, statistics, sys, threading, time, weakref
from collections import namedtuple
from pathlib import Path
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine as be          # the chain, its constants, the contenders and the interleaved runner
import tape                        # rung 0, and the node classes of rung 1

CHAIN = be.CHAIN
_new, _ref = object.__new__, weakref.ref
_FRESH = (0,)                      # the version counter of every never-written tensor (immutable: writers replace it)

# ------------------------------------------------------------------ grad modes (backprop's `_Mode`, `_set_mode`)

class _Mode(threading.local):
    "This thread's switches `m = (grad, anomaly, hook)`."
    def __init__(self): self.m, self.counted = (True, False, None), None

_tls = _Mode()
_fast, _nondefault, _mode_lock = True, 0, threading.Lock()     # _fast: every thread is in the default mode

def _count(counted, off):
    global _fast, _nondefault
    with _mode_lock:
        if counted[0] != off: _nondefault += 1 if off else -1
        counted[0], _fast = off, _nondefault == 0

def _set_mode(grad=None, anomaly=None, hook=False):
    st = _tls
    g, a, h = st.m
    st.m = (g if grad is None else grad, a if anomaly is None else anomaly, h if hook is False else hook)
    off = st.m != (True, False, None)
    if st.counted is None:
        st.counted = [False]
        weakref.finalize(threading.current_thread(), _count, st.counted, False).atexit = False
    if off != st.counted[0]: _count(st.counted, off)

def is_grad_enabled(): return _fast or _tls.m[0]
def is_anomaly_enabled(): return not _fast and _tls.m[1]

def _nonfinite(a): return a.dtype.kind in 'fc' and not np.isfinite(a).all()
def _anomaly_forward(op, data):
    if _nonfinite(np.asarray(data)): raise FloatingPointError(f"{op}: forward produced nan or inf")
def _anomaly_backward(node, gs):
    for gi in gs:
        if gi is not None and _nonfinite(np.asarray(getattr(gi, 'array', gi))):
            raise FloatingPointError(f"{node!r} returned nan or inf")

# ------------------------------------------------------------------ rung 1: + grad modes

class Var1:
    __slots__ = ('array', 'requires_grad', 'node', 'grad')
    def __init__(self, array, requires_grad=False, node=None):
        self.array, self.requires_grad, self.node, self.grad = array, requires_grad, node, None
    def __mul__(self, other):
        if _fast: grad = True; anomaly = False
        else: grad, anomaly, hook = _tls.m
        data = self.array * other.array
        if anomaly: _anomaly_forward('mul', data)
        if grad and (self.requires_grad or other.requires_grad):
            node = tape.Mul(); node.ins = (self, other)
            return Var1(data, True, node)
        return Var1(data)
    def __add__(self, other):
        if _fast: grad = True; anomaly = False
        else: grad, anomaly, hook = _tls.m
        data = self.array + other.array
        if anomaly: _anomaly_forward('add', data)
        if grad and (self.requires_grad or other.requires_grad):
            node = tape.Add(); node.ins = (self, other)
            return Var1(data, True, node)
        return Var1(data)
    def tanh(self):
        if _fast: grad = True; anomaly = False
        else: grad, anomaly, hook = _tls.m
        y = np.tanh(self.array)
        if anomaly: _anomaly_forward('tanh', y)
        if grad and self.requires_grad:
            node = tape.Tanh(); node.ins = (self,); node.y = y
            return Var1(y, True, node)
        return Var1(y)
    def sum(self):
        if _fast: grad = True
        else: grad = _tls.m[0]
        data = self.array.sum()
        if grad and self.requires_grad:
            node = tape.Sum(); node.ins = (self,)
            return Var1(data, True, node)
        return Var1(data)
    def backward(self): backward1(self)

def backward1(root):
    users, stack = {root.node: 0}, [root.node]
    while stack:
        for x in stack.pop().ins:
            n = x.node
            if n is None: continue
            if n in users: users[n] += 1
            else: users[n] = 1; stack.append(n)
    prev, anomaly = is_grad_enabled(), is_anomaly_enabled()
    _set_mode(grad=False)
    try:
        grads, ready = {root.node: np.ones_like(root.array)}, [root.node]
        while ready:
            node = ready.pop()
            gs = node.vjp(grads.pop(node))
            if anomaly: _anomaly_backward(node, gs)
            for x, gx in zip(node.ins, gs):
                n = x.node
                if n is None:
                    if x.requires_grad: x.grad = gx if x.grad is None else x.grad + gx
                    continue
                grads[n] = grads[n] + gx if n in grads else gx
                users[n] -= 1
                if not users[n]: ready.append(n)
    finally: _set_mode(grad=prev)

# ------------------------------------------------------------------ rung 2: + version counters

class Mul2:
    __slots__ = ('ins', '_v')
    saves = (0, 1)
    def vjp(self, g):
        a, b = self.ins
        return (g * b.array if a.requires_grad else None, g * a.array if b.requires_grad else None)

class Add2:
    __slots__ = ('ins', '_v')
    saves = ()
    def vjp(self, g): return g, g

class Tanh2:
    __slots__ = ('ins', '_v', 'y')
    saves = ()
    def vjp(self, g): y = self.y; return g * (1 - y * y),

class Sum2:
    __slots__ = ('ins', '_v')
    saves = ()
    def vjp(self, g): return np.full_like(self.ins[0].array, g),

def _bump(t):
    "Record an in-place write of `t`: its version goes up (a tensor's first write gives it a counter of its own)."
    vc = t._vc
    if vc.__class__ is tuple: t._vc = [vc[0] + 1]
    else: vc[0] += 1

def _moved(node, ins):
    "An input changed version since `node` was recorded: refuse if the VJP reads it, else use the inputs as recorded."
    for i in node.saves:
        if ins[i]._vc[0] != node._v[i]:
            raise RuntimeError(f"one of the variables needed for gradient computation has been modified by an inplace "
                               f"operation: input {i} of {type(node).__name__}, at version {ins[i]._vc[0]}, expected {node._v[i]}")
    return list(ins)

class Var2:
    __slots__ = ('array', 'requires_grad', 'node', 'grad', '_vc')
    def __init__(self, array, requires_grad=False, node=None):
        self.array, self.requires_grad, self.node, self.grad, self._vc = array, requires_grad, node, None, _FRESH
    def __mul__(self, other):
        if _fast: grad = True; anomaly = False
        else: grad, anomaly, hook = _tls.m
        data = self.array * other.array
        if anomaly: _anomaly_forward('mul', data)
        if grad and (self.requires_grad or other.requires_grad):
            node = Mul2(); node.ins = (self, other); node._v = (self._vc[0], other._vc[0])
            return Var2(data, True, node)
        return Var2(data)
    def __add__(self, other):
        if _fast: grad = True; anomaly = False
        else: grad, anomaly, hook = _tls.m
        data = self.array + other.array
        if anomaly: _anomaly_forward('add', data)
        if grad and (self.requires_grad or other.requires_grad):
            node = Add2(); node.ins = (self, other); node._v = (self._vc[0], other._vc[0])
            return Var2(data, True, node)
        return Var2(data)
    def tanh(self):
        if _fast: grad = True; anomaly = False
        else: grad, anomaly, hook = _tls.m
        y = np.tanh(self.array)
        if anomaly: _anomaly_forward('tanh', y)
        if grad and self.requires_grad:
            node = Tanh2(); node.ins = (self,); node._v = (self._vc[0],); node.y = y
            return Var2(y, True, node)
        return Var2(y)
    def sum(self):
        if _fast: grad = True
        else: grad = _tls.m[0]
        data = self.array.sum()
        if grad and self.requires_grad:
            node = Sum2(); node.ins = (self,); node._v = (self._vc[0],)
            return Var2(data, True, node)
        return Var2(data)
    def backward(self): backward2(self)

def toposort2(root):
    "Consumers of each node among those reached from `root`, comparing each node's recorded input versions."
    users, stack, routes = {root.node: 0}, [root.node], {}
    while stack:
        node = stack.pop()
        ins, v = node.ins, node._v
        n = len(ins)
        if n == 2: moved = ins[0]._vc[0] != v[0] or ins[1]._vc[0] != v[1]
        elif n == 1: moved = ins[0]._vc[0] != v[0]
        else: moved = tuple([t._vc[0] for t in ins]) != v
        if moved: ins = routes[node] = _moved(node, ins)
        for x in ins:
            p = x.node
            if p is None: continue
            if p in users: users[p] += 1
            else: users[p] = 1; stack.append(p)
    return users, routes

def backward2(root):
    users, routes = toposort2(root)
    prev, anomaly = is_grad_enabled(), is_anomaly_enabled()
    _set_mode(grad=False)
    try:
        grads, ready = {root.node: np.ones_like(root.array)}, [root.node]
        while ready:
            node = ready.pop()
            gs = node.vjp(grads.pop(node))
            if anomaly: _anomaly_backward(node, gs)
            for x, gx in zip(routes.get(node, node.ins) if routes else node.ins, gs):
                n = x.node
                if n is None:
                    if x.requires_grad: x.grad = gx if x.grad is None else x.grad + gx
                    continue
                grads[n] = grads[n] + gx if n in grads else gx
                users[n] -= 1
                if not users[n]: ready.append(n)
    finally: _set_mode(grad=prev)

# ------------------------------------------------------------------ rung 3: + output by weakref, hooks, retain_grad

class Node3:
    __slots__ = ('ins', '_v', '_out')
    _ov, _stale = 0, None          # the output's version when recorded; set when a recorded in-place op moves it
    def out(self):
        "The output, for a VJP that reads it; refused if it was modified in place since."
        o = self._out()
        if o is None or (o._vc[0] == self._ov and self._stale is None): return o
        raise RuntimeError(f"the output of {type(self).__name__} was modified by an inplace operation")

class Mul3(Node3):
    __slots__ = ()
    saves = (0, 1)
    def vjp(self, g):
        a, b = self.ins
        return (g * b.array if a.requires_grad else None, g * a.array if b.requires_grad else None)

class Add3(Node3):
    __slots__ = ()
    saves = ()
    def vjp(self, g): return g, g

class Tanh3(Node3):
    __slots__ = ()
    saves = ()
    def vjp(self, g): y = self.out().array; return g * (1 - y * y),

class Sum3(Node3):
    __slots__ = ()
    saves = ()
    def vjp(self, g): return np.full_like(self.ins[0].array, g),

def _hooked(t, g):
    for h in list(t._hooks.values()):
        r = h(g)
        if r is not None: g = r
    return g

def _seen3(out, g):
    "Show the gradient of a node's output to its hooks, and keep it in `.grad` if `retain_grad` was asked."
    if out._hooks: g = _hooked(out, g)
    if out._retain: out.grad = g if out.grad is None else out.grad + g
    return g

class Var3:
    __slots__ = ('array', 'requires_grad', 'node', 'grad', '_vc', '_hooks', '_retain', '__weakref__')
    def __init__(self, array, requires_grad=False, node=None):
        self.array, self.requires_grad, self.node, self.grad, self._vc, self._hooks, self._retain = \
            array, requires_grad, node, None, _FRESH, None, False
    def retain_grad(self): self._retain = True
    def register_hook(self, hook):
        if self._hooks is None: self._hooks = {}
        self._hooks[len(self._hooks)] = hook
    def __mul__(self, other):
        if _fast: grad = True; anomaly = False
        else: grad, anomaly, hook = _tls.m
        data = self.array * other.array
        if anomaly: _anomaly_forward('mul', data)
        if grad and (self.requires_grad or other.requires_grad):
            node = Mul3(); node.ins = (self, other); node._v = (self._vc[0], other._vc[0])
            out = Var3(data, True, node); node._out = _ref(out)
            return out
        return Var3(data)
    def __add__(self, other):
        if _fast: grad = True; anomaly = False
        else: grad, anomaly, hook = _tls.m
        data = self.array + other.array
        if anomaly: _anomaly_forward('add', data)
        if grad and (self.requires_grad or other.requires_grad):
            node = Add3(); node.ins = (self, other); node._v = (self._vc[0], other._vc[0])
            out = Var3(data, True, node); node._out = _ref(out)
            return out
        return Var3(data)
    def tanh(self):
        if _fast: grad = True; anomaly = False
        else: grad, anomaly, hook = _tls.m
        y = np.tanh(self.array)
        if anomaly: _anomaly_forward('tanh', y)
        if grad and self.requires_grad:
            node = Tanh3(); node.ins = (self,); node._v = (self._vc[0],)
            out = Var3(y, True, node); node._out = _ref(out)
            return out
        return Var3(y)
    def sum(self):
        if _fast: grad = True
        else: grad = _tls.m[0]
        data = self.array.sum()
        if grad and self.requires_grad:
            node = Sum3(); node.ins = (self,); node._v = (self._vc[0],)
            out = Var3(data, True, node); node._out = _ref(out)
            return out
        return Var3(data)
    def backward(self): backward3(self)

def backward3(root):
    users, routes = toposort2(root)
    prev, anomaly = is_grad_enabled(), is_anomaly_enabled()
    _set_mode(grad=False)
    try:
        grads, ready = {root.node: np.ones_like(root.array)}, [root.node]
        while ready:
            node = ready.pop()
            g = grads.pop(node)
            out = node._out()
            if out is not None and (out._hooks or out._retain): g = _seen3(out, g)
            gs = node.vjp(g)
            if anomaly: _anomaly_backward(node, gs)
            for x, gx in zip(routes.get(node, node.ins) if routes else node.ins, gs):
                n = x.node
                if n is None:
                    if x.requires_grad:
                        if x._hooks: gx = _hooked(x, gx)
                        x.grad = gx if x.grad is None else x.grad + gx
                    continue
                grads[n] = grads[n] + gx if n in grads else gx
                users[n] -= 1
                if not users[n]: ready.append(n)
    finally: _set_mode(grad=prev)

# ------------------------------------------------------------------ rung 4: + checks

def _op_error(op, arrays, e):
    desc = ' and '.join(f'{tuple(a.shape)} {a.dtype}' for a in arrays)
    return ValueError(f"{op}: invalid for operands {desc}: {e}")

def _sum_to(g, shape, node=None):
    "Sum gradient `g` down to `shape` (undoing a broadcast); anything else is a bug in the rule of `node`."
    if g.shape == shape: return g
    try: ok = len(g.shape) >= len(shape) and np.broadcast_shapes(g.shape, shape) == g.shape
    except ValueError: ok = False
    if not ok: raise RuntimeError(f"backward: {node!r} returned a gradient of shape {g.shape} for an input of shape {shape}")
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    return np.sum(g, axis=axes, keepdims=True).reshape(shape)

def _accumulate_leaf4(t, g, gin, gs=()):
    "`_accumulate_leaf`, first order: adopt `g` only when no one else holds it, else copy; later gradients add in place."
    if t.grad is None and g.__class__ is np.ndarray and not t._hooks and g.dtype == t.array.dtype:
        t.grad = g if g.base is None and g is not gin and g.flags.writeable and (len(gs) < 2 or sum(x is g for x in gs) < 2) \
                 else g.copy(); return
    if t._hooks: g = _hooked(t, g)
    if g.dtype != t.array.dtype: g = g.astype(t.array.dtype)
    if t.grad is None: t.grad = g.copy()
    else: t.grad += g

class Var4:
    __slots__ = ('array', 'requires_grad', 'node', 'grad', '_vc', '_hooks', '_retain', '__weakref__')
    def __init__(self, array, requires_grad=False, node=None):
        self.array, self.requires_grad, self.node, self.grad, self._vc, self._hooks, self._retain = \
            array, requires_grad, node, None, _FRESH, None, False
    retain_grad, register_hook = Var3.retain_grad, Var3.register_hook
    def __mul__(self, other):
        if not isinstance(other, Var4): raise TypeError(f"mul: expected a tensor, got {type(other).__name__}")
        if self.array.dtype != other.array.dtype: raise TypeError(f"mul: dtypes {self.array.dtype} and {other.array.dtype} differ")
        if _fast: grad = True; anomaly = False
        else: grad, anomaly, hook = _tls.m
        try: data = self.array * other.array
        except (ValueError, IndexError, TypeError) as e: raise _op_error('mul', [self.array, other.array], e) from None
        if anomaly: _anomaly_forward('mul', data)
        if grad and (self.requires_grad or other.requires_grad):
            node = Mul3(); node.ins = (self, other); node._v = (self._vc[0], other._vc[0])
            out = Var4(data, True, node); node._out = _ref(out)
            return out
        return Var4(data)
    def __add__(self, other):
        if not isinstance(other, Var4): raise TypeError(f"add: expected a tensor, got {type(other).__name__}")
        if self.array.dtype != other.array.dtype: raise TypeError(f"add: dtypes {self.array.dtype} and {other.array.dtype} differ")
        if _fast: grad = True; anomaly = False
        else: grad, anomaly, hook = _tls.m
        try: data = self.array + other.array
        except (ValueError, IndexError, TypeError) as e: raise _op_error('add', [self.array, other.array], e) from None
        if anomaly: _anomaly_forward('add', data)
        if grad and (self.requires_grad or other.requires_grad):
            node = Add3(); node.ins = (self, other); node._v = (self._vc[0], other._vc[0])
            out = Var4(data, True, node); node._out = _ref(out)
            return out
        return Var4(data)
    def tanh(self):
        if self.array.dtype.kind != 'f': raise TypeError("tanh: expected a float tensor")
        if _fast: grad = True; anomaly = False
        else: grad, anomaly, hook = _tls.m
        try: y = np.tanh(self.array)
        except (ValueError, IndexError, TypeError) as e: raise _op_error('tanh', [self.array], e) from None
        if anomaly: _anomaly_forward('tanh', y)
        if grad and self.requires_grad:
            node = Tanh3(); node.ins = (self,); node._v = (self._vc[0],)
            out = Var4(y, True, node); node._out = _ref(out)
            return out
        return Var4(y)
    def sum(self):
        if _fast: grad = True
        else: grad = _tls.m[0]
        data = self.array.sum()
        if grad and self.requires_grad:
            node = Sum3(); node.ins = (self,); node._v = (self._vc[0],)
            out = Var4(data, True, node); node._out = _ref(out)
            return out
        return Var4(data)
    def backward(self): backward4(self)

def backward4(root):
    users, routes = toposort2(root)
    prev, anomaly = is_grad_enabled(), is_anomaly_enabled()
    _set_mode(grad=False)
    try:
        grads, ready = {root.node: np.ones_like(root.array)}, [root.node]
        while ready:
            node = ready.pop()
            g = grads.pop(node)
            out = node._out()
            if out is not None and (out._hooks or out._retain): g = _seen3(out, g)
            gs = node.vjp(g)
            if anomaly: _anomaly_backward(node, gs)
            for x, gx in zip(routes.get(node, node.ins) if routes else node.ins, gs):
                n = x.node
                if gx is not None and x.requires_grad:
                    if gx.shape != x.array.shape: gx = _sum_to(gx, x.array.shape, node)
                    if n is not None: grads[n] = grads[n] + gx if n in grads else gx
                    else: _accumulate_leaf4(x, gx, g, gs)
                if n is not None:
                    users[n] -= 1
                    if not users[n]: ready.append(n)
    finally: _set_mode(grad=prev)

# ------------------------------------------------------------------ rungs 5-7: the Function layer and xp rules

class Function:
    "backprop's `Function`: `forward` on arrays, `backward(g, xp)` a VJP written against the namespace `xp`."
    saves = None
    _v, _ov = None, 0
    _stale = None
    _xp = False
    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls.op = cls.__dict__.get('op', cls.__name__.lower())
        co = getattr(getattr(cls, 'backward', None), '__code__', None)
        cls._xp = co is not None and 'xp' in co.co_varnames[:co.co_argcount]

    @classmethod
    def apply(cls, *args, **kwargs):
        if _fast: grad = True; anomaly = False
        else:
            grad, anomaly, hook = _tls.m
            if hook is not None: return hook(cls, args, kwargs)
        ctx = _new(cls)
        try:
            if len(args) == 2: data = ctx.forward(args[0].array, args[1].array, **kwargs)
            elif len(args) == 1: data = ctx.forward(args[0].array, **kwargs)
            else: data = ctx.forward(*[a.array for a in args], **kwargs)
        except (ValueError, IndexError, TypeError) as e: raise _op_error(cls.op, [a.array for a in args], e) from None
        if anomaly: _anomaly_forward(cls.op, data)
        if grad:
            for a in args:
                if a.requires_grad:
                    out = _new(Tensor)
                    out.array, out.grad, out.requires_grad, out._ctx, out._hooks, out._retain, out._vc, out._base = data, None, True, ctx, None, False, _FRESH, None
                    ctx.inputs, ctx._out = args, _ref(out)
                    n = len(args)
                    ctx._v = (args[0]._vc[0], args[1]._vc[0]) if n == 2 else (args[0]._vc[0],) if n == 1 else tuple([a._vc[0] for a in args])
                    return out
        return _wrap(data)

    def needs(self, i): return self.inputs[i].requires_grad
    out = Node3.out
    def __repr__(self): return f'<{type(self).__name__}Backward>'

class numpy_ns:
    "Rules on ndarrays: the first-order backward (backprop's `numpy_ns`)."
    inputs = staticmethod(lambda node: ((ins[0].array, ins[1].array) if len(ins := node.inputs) == 2 else tuple([t.array for t in ins])))
    out = staticmethod(lambda node: node.out().array)
    call = staticmethod(lambda f, *args, **kwargs: f.forward(_new(f), *args, **kwargs))
    const = staticmethod(lambda a: a)

class Mul(Function):
    def forward(self, a, b): return a * b
    def saves(self): return tuple(i for i in (0, 1) if self.inputs[1 - i].requires_grad)
    def backward(self, g, xp=numpy_ns):
        a, b = xp.inputs(self)
        return (g * b if self.needs(0) else None), (g * a if self.needs(1) else None)

class Add(Function):
    saves = ()
    def forward(self, a, b): return a + b
    def backward(self, g, xp=numpy_ns): return g, g

class Tanh(Function):
    saves = ()
    def forward(self, x): return np.tanh(x)
    def backward(self, g, xp=numpy_ns):
        y = xp.out(self)
        return g * (1 - y * y),

class Expand(Function):
    saves = ()
    def forward(self, x, shape): return np.broadcast_to(x, shape)

class Sum(Function):
    saves = ()
    def forward(self, x, axis, keepdim):
        self.axis, self.keepdim = axis, keepdim
        return np.sum(x, axis=axis, keepdims=keepdim)
    def backward(self, g, xp=numpy_ns):
        shape = self.inputs[0].array.shape
        if not self.keepdim: g = g.reshape(tuple(1 if i in self.axis else s for i, s in enumerate(shape)))
        return xp.call(Expand, g, shape=shape),

def _wrap(data, rg=False):
    t = _new(Tensor)
    t.array, t.grad, t.requires_grad, t._ctx, t._hooks, t._retain, t._vc, t._base = data, None, rg, None, None, False, _FRESH, None
    return t

def _binary(f, npop, swap=False):
    "The operator for Function `f` (backprop's `_binary`, without its Python-number fast path and dtype promotion)."
    def op(self, other):
        if not isinstance(other, Tensor): raise TypeError(f"{f.op}: expected a tensor, got {type(other).__name__}")
        a, b = (other, self) if swap else (self, other)
        if a.array.dtype != b.array.dtype: raise TypeError(f"{f.op}: dtypes {a.array.dtype} and {b.array.dtype} differ")
        if (a.requires_grad or b.requires_grad) and (_fast or _tls.m[0]): return f.apply(a, b)
        try: return _wrap(npop(a.array, b.array))
        except (ValueError, TypeError) as e: raise _op_error(f.op, [a.array, b.array], e) from None
    return op

def _tanh(x):
    x = x if isinstance(x, Tensor) else _wrap(np.asarray(x))
    if x.array.dtype.kind != 'f': raise TypeError("tanh: expected a float tensor")
    return Tanh.apply(x)

def _sum(self, dim=None, keepdim=False):
    axes = tuple(range(self.array.ndim)) if dim is None else (dim,)
    return Sum.apply(self, axis=axes, keepdim=bool(keepdim))

class Tensor:
    "backprop's `Tensor` slots; `backward` calls the sweep of the rung being run (`_entry`)."
    __slots__ = ('array', 'grad', 'requires_grad', '_ctx', '_hooks', '_retain', '_vc', '_base', '__weakref__')
    __mul__, __add__ = _binary(Mul, np.multiply), _binary(Add, np.add)
    tanh, sum = _tanh, _sum
    retain_grad, register_hook = Var3.retain_grad, Var3.register_hook
    @property
    def shape(self): return self.array.shape
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        return _entry(self, gradient, retain_graph, create_graph, inputs)

def _as_t(g): return g if isinstance(g, Tensor) else _wrap(g if g.__class__ is np.ndarray else np.asarray(g))

def _accumulate_leaf(t, g, gin, create_graph, gs=()):
    "backprop's `_accumulate_leaf`: `.grad` is a Tensor; adopt `g` only when safe, else copy; later gradients add in place."
    if t.grad is None and g.__class__ is np.ndarray and not (t._hooks or create_graph) and g.dtype == t.array.dtype:
        t.grad = _wrap(g if g.base is None and g is not gin and g.flags.writeable and (len(gs) < 2 or sum(x is g for x in gs) < 2)
                       else g.copy()); return
    raw, g = g, _as_t(g)
    if t._hooks: g = _hooked(t, g)
    if g.array.dtype != t.array.dtype: g = _wrap(g.array.astype(t.array.dtype))
    if t.grad is None:
        a = g.array
        fresh = create_graph or (a.base is None and a is not gin and g._ctx is None and a.flags.writeable
                                 and not (len(gs) > 1 and sum(x is raw for x in gs) > 1))
        t.grad = g if fresh else _wrap(a.copy())
    else: t.grad.array += g.array

def _seen(out, g, want, take, fo):
    t = _as_t(g)
    if out._hooks: t = _hooked(out, t)
    if want is not None and id(out) in want: take(out, t)
    elif out._retain and want is None: out.grad = t if out.grad is None else out.grad + t
    return t.array if fo else t

def _moved5(node, ins):
    v = node._v
    s = node.saves
    for i in (range(len(ins)) if s is None else s() if callable(s) else s):
        if ins[i]._vc[0] != v[i]:
            raise RuntimeError(f"one of the variables needed for gradient computation has been modified by an inplace "
                               f"operation: input {i} of {node!r}, at version {ins[i]._vc[0]}, expected {v[i]}")
    return list(ins)

# rung 5: one root, the tape's sweep with the features of rungs 1-4, through `apply`'s nodes and the xp rules

def backward5(root, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    users, stack, routes = {root._ctx: 0}, [root._ctx], {}
    while stack:
        node = stack.pop()
        ins, v = node.inputs, node._v
        n = len(ins)
        if n == 2: moved = ins[0]._vc[0] != v[0] or ins[1]._vc[0] != v[1]
        elif n == 1: moved = ins[0]._vc[0] != v[0]
        else: moved = tuple([t._vc[0] for t in ins]) != v
        if moved: ins = routes[node] = _moved5(node, ins)
        for t in ins:
            p = t._ctx
            if p is None: continue
            if p in users: users[p] += 1
            else: users[p] = 1; stack.append(p)
    xp = numpy_ns
    prev, anomaly = is_grad_enabled(), is_anomaly_enabled()
    _set_mode(grad=False)
    try:
        acc, ready = {root._ctx: np.ones_like(root.array)}, [root._ctx]
        while ready:
            node = ready.pop()
            g = acc.pop(node)
            out = node._out()
            if out is not None and (out._hooks or out._retain): g = _seen(out, g, None, None, True)
            if node._xp: gs = node.backward(g, xp)
            else: gs = [None if gi is None else gi.array for gi in node.backward(_as_t(g))]
            if anomaly: _anomaly_backward(node, gs)
            for t, gi in zip(routes.get(node, node.inputs) if routes else node.inputs, gs):
                p = t._ctx
                if gi is not None and t.requires_grad:
                    if gi.shape != t.array.shape: gi = _sum_to(gi, t.array.shape, node)
                    if p is not None: acc[p] = acc[p] + gi if p in acc else gi
                    else: _accumulate_leaf(t, gi, g, False, gs)
                if p is not None:
                    users[p] -= 1
                    if not users[p]: ready.append(p)
    finally: _set_mode(grad=prev)

# rung 6: backprop's `Tensor.backward` checks and `run_backward`, without freeing the graph

def _entry_checks(self, gradient):
    "`Tensor.backward`'s checks; the seed gradient as a Tensor."
    if not self.requires_grad: raise RuntimeError("backward: tensor does not require grad and has no grad_fn")
    if gradient is None:
        if self.array.size != 1: raise RuntimeError("backward: grad can be implicitly created only for scalar outputs")
        return _wrap(np.ones_like(self.array))
    gradient = gradient if isinstance(gradient, Tensor) else _wrap(np.asarray(gradient, self.array.dtype))
    if gradient.shape != self.shape: raise ValueError(f"backward: gradient has shape {gradient.shape}, the tensor {self.shape}")
    return gradient

def backward6(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    gradient = _entry_checks(self, gradient)
    found = run_backward6([self], [gradient], create_graph if retain_graph is None else retain_graph, create_graph, inputs)
    if inputs is not None:
        for t, g in zip(inputs, found):
            if g is not None: t.grad = g if t.grad is None else t.grad + g

def toposort6(roots):
    pending, routes = dict.fromkeys(r._ctx for r in roots if r._ctx is not None), {}
    for n in pending: pending[n] = 0
    stack = list(pending)
    while stack:
        node = stack.pop()
        ins, v = node.inputs, node._v
        n = len(ins) if v is not None else 0
        if n == 2: moved = ins[0]._vc[0] != v[0] or ins[1]._vc[0] != v[1]
        elif n == 1: moved = ins[0]._vc[0] != v[0]
        else: moved = n > 2 and tuple([t._vc[0] for t in ins]) != v
        if moved: ins = routes[node] = _moved5(node, ins)
        for t in ins:
            p = t._ctx
            if p is None: continue
            if p in pending: pending[p] += 1
            else: pending[p] = 1; stack.append(p)
    return pending, routes

def run_backward6(roots, grads, retain_graph=None, create_graph=False, inputs=None):
    if retain_graph is None: retain_graph = create_graph
    fo = not create_graph
    xp = numpy_ns                                  # (backprop: tensor_ns under create_graph; not in the ladder)
    want = None if inputs is None else {id(t): i for i, t in enumerate(inputs)}
    found = None if inputs is None else [None] * len(inputs)
    def take(t, g):
        i, g = want[id(t)], _as_t(g)
        found[i] = g if found[i] is None else found[i] + g
    pending, routes = toposort6(roots)
    acc = {}
    for r, g in zip(roots, grads):
        if r._ctx is not None:
            if fo: g = g.array
            acc[r._ctx] = acc[r._ctx] + g if r._ctx in acc else g
        elif want is not None: take(r, g) if id(r) in want else None
        else: _accumulate_leaf(r, g, g.array, create_graph)
    prev, anomaly = is_grad_enabled(), is_anomaly_enabled()
    _set_mode(grad=create_graph)
    ready = [n for n, c in pending.items() if c == 0]
    try:
        while ready:
            node = ready.pop()
            g = acc.pop(node, None)
            if g is not None:
                out = node._out()
                if out is not None and (out._hooks or out._retain or want): g = _seen(out, g, want, take, fo)
            if g is None: gs = (None,) * len(node.inputs)
            elif node._xp: gs = node.backward(g, xp)
            elif fo: gs = [None if gi is None else gi.array for gi in node.backward(_as_t(g))]
            else: gs = node.backward(g)
            if anomaly: _anomaly_backward(node, gs)
            for t, gi in zip(routes.get(node, node.inputs) if routes else node.inputs, gs):
                p = t._ctx
                if gi is not None and t.requires_grad:
                    if gi.shape != t.array.shape: gi = _sum_to(gi, t.array.shape, node)
                    if p is not None: acc[p] = acc[p] + gi if p in acc else gi
                    elif want is None: _accumulate_leaf(t, gi, g, create_graph, gs)
                    elif id(t) in want: take(t, gi)
                if p is not None:
                    pending[p] -= 1
                    if not pending[p]: ready.append(p)
            gs = g = gi = None
    finally: _set_mode(grad=prev)
    return found

# rung 7: + freeing the graph after the sweep, and the check against a second backward

def _freed(node):
    return RuntimeError(f"backward: trying to backward through the graph a second time ({node!r} was freed); "
                        "specify retain_graph=True on the first backward if you need to")

def backward7(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    gradient = _entry_checks(self, gradient)
    found = run_backward7([self], [gradient], create_graph if retain_graph is None else retain_graph, create_graph, inputs)
    if inputs is not None:
        for t, g in zip(inputs, found):
            if g is not None: t.grad = g if t.grad is None else t.grad + g

def toposort7(roots):
    pending, routes = dict.fromkeys(r._ctx for r in roots if r._ctx is not None), {}
    for n in pending: pending[n] = 0
    stack = list(pending)
    while stack:
        node = stack.pop()
        ins, v = node.inputs, node._v
        if ins is None: raise _freed(node)
        n = len(ins) if v is not None else 0
        if n == 2: moved = ins[0]._vc[0] != v[0] or ins[1]._vc[0] != v[1]
        elif n == 1: moved = ins[0]._vc[0] != v[0]
        else: moved = n > 2 and tuple([t._vc[0] for t in ins]) != v
        if moved: ins = routes[node] = _moved5(node, ins)
        for t in ins:
            p = t._ctx
            if p is None: continue
            if p in pending: pending[p] += 1
            else: pending[p] = 1; stack.append(p)
    return pending, routes

def run_backward7(roots, grads, retain_graph=None, create_graph=False, inputs=None):
    if retain_graph is None: retain_graph = create_graph
    fo = not create_graph
    xp = numpy_ns
    want = None if inputs is None else {id(t): i for i, t in enumerate(inputs)}
    found = None if inputs is None else [None] * len(inputs)
    def take(t, g):
        i, g = want[id(t)], _as_t(g)
        found[i] = g if found[i] is None else found[i] + g
    pending, routes = toposort7(roots)
    acc = {}
    for r, g in zip(roots, grads):
        if r._ctx is not None:
            if fo: g = g.array
            acc[r._ctx] = acc[r._ctx] + g if r._ctx in acc else g
        elif want is not None: take(r, g) if id(r) in want else None
        else: _accumulate_leaf(r, g, g.array, create_graph)
    prev, anomaly = is_grad_enabled(), is_anomaly_enabled()
    _set_mode(grad=create_graph)
    ready, done = [n for n, c in pending.items() if c == 0], []
    try:
        while ready:
            node = ready.pop()
            done.append(node)
            g = acc.pop(node, None)
            if g is not None:
                out = node._out()
                if out is not None and (out._hooks or out._retain or want): g = _seen(out, g, want, take, fo)
            if g is None: gs = (None,) * len(node.inputs)
            elif node._xp: gs = node.backward(g, xp)
            elif fo: gs = [None if gi is None else gi.array for gi in node.backward(_as_t(g))]
            else: gs = node.backward(g)
            if anomaly: _anomaly_backward(node, gs)
            for t, gi in zip(routes.get(node, node.inputs) if routes else node.inputs, gs):
                p = t._ctx
                if gi is not None and t.requires_grad:
                    if gi.shape != t.array.shape: gi = _sum_to(gi, t.array.shape, node)
                    if p is not None: acc[p] = acc[p] + gi if p in acc else gi
                    elif want is None: _accumulate_leaf(t, gi, g, create_graph, gs)
                    elif id(t) in want: take(t, gi)
                if p is not None:
                    pending[p] -= 1
                    if not pending[p]: ready.append(p)
            gs = g = gi = None
    finally:
        _set_mode(grad=prev)
        if not retain_graph:
            for node in done:
                node.__dict__.clear()
                node.inputs = None
    return found

_entry = backward7                 # which sweep `Tensor.backward` runs; each chain of rungs 5-7 sets it before it runs

# ------------------------------------------------------------------ the ladder

Rung = namedtuple('Rung', 'name adds leaf entry')
RUNGS = [
    Rung('0 tape', 'benchmarks/tape.py: a node and an output per op, one counted sweep', tape.Var, None),
    Rung('1 +grad modes', 'mode flag / thread-local read per op; no-grad switch around the sweep', Var1, None),
    Rung('2 +versions', 'version counter per tensor, recorded per node, compared in the toposort', Var2, None),
    Rung('3 +weakref out, hooks', 'output by weakref (tanh reads it back, version-checked); hook/retain check per node', Var3, None),
    Rung('4 +checks', 'operand type and dtype per op; requires_grad and shape per input in the sweep', Var4, None),
    Rung('5 +Function, xp rules', 'Function.apply classmethod, forward/backward methods, xp.inputs, needs(i)', _wrap, backward5),
    Rung('6 +general entry', "backward()'s checks; run_backward's roots, inputs=, no-gradient nodes", _wrap, backward6),
    Rung('7 +free graph', "clear each node's __dict__ after the sweep; second-backward check", _wrap, backward7),
]

class RungChain(be.BackpropChain):
    "The chain of `bench_engine.py` on one rung (it inherits `run`, so every contender times the same loop)."
    def __init__(self, rung, kind='mix'):
        h0, w, b = be.chain_consts()
        self.name, self.entry, self.kind = rung.name, rung.entry, kind
        self.h0, self.w, self.b = rung.leaf(h0, True), rung.leaf(w), rung.leaf(b)
    def run(self):
        global _entry
        if self.entry is not None: _entry = self.entry     # once per chain: which sweep Tensor.backward runs
        return super().run()
    def _np(self, t): return t if isinstance(t, np.ndarray) else t.array

def _node(t): return getattr(t, 'node', None) if not isinstance(t, Tensor) else t._ctx

def check_features(i, rung):
    "Each rung's own feature, shown working (and the ones below it): raises AssertionError if one is missing."
    if rung.entry is not None:
        global _entry; _entry = rung.entry
    leaf = rung.leaf
    x = leaf(np.array([.5, -1., 2.], np.float32), True)
    c = leaf(np.array([1.5, 2., -.5], np.float32))
    if i >= 1:                                             # grad mode: nothing recorded while it is off
        _set_mode(grad=False)
        try: assert _node(x * c) is None
        finally: _set_mode(grad=True)
        assert _node(x * c) is not None
    if i >= 2:                                             # a saved input changed in place: an error, not a wrong gradient
        s = (x * c).tanh().sum()
        _bump(c)
        try: s.backward(); raise AssertionError(f"{rung.name}: in-place change of a saved input not caught")
        except RuntimeError: pass
        c = leaf(np.array([1.5, 2., -.5], np.float32)); x.grad = None
    if i >= 3:                                             # retain_grad on an inner tensor, a hook on a leaf
        seen = []
        u = x * c; u.retain_grad(); x.register_hook(lambda g: seen.append(g))
        u.tanh().sum().backward()
        ua = np.tanh(x.array * c.array)
        assert np.allclose(RungChain._np(None, u.grad), 1 - ua * ua) and len(seen) == 1
        x = leaf(x.array, True)
    if i >= 4:                                             # a broadcast gradient summed back; a dtype mismatch refused
        b1 = leaf(np.array([.25], np.float32), True)
        (x + b1).tanh().sum().backward()
        assert RungChain._np(None, b1.grad).shape == (1,)
        try: x * leaf(np.ones(3)); raise AssertionError(f"{rung.name}: dtype mismatch not refused")
        except TypeError: pass
    if i >= 6:                                             # inputs=: only the listed leaves get gradients
        y = leaf(x.array, True); z = leaf(x.array, True)
        (y * z).sum().backward(inputs=[y])
        assert y.grad is not None and z.grad is None
    if i >= 7:                                             # a second backward through a freed graph
        s = (x * c).sum(); s.backward()
        try: s.backward(); raise AssertionError(f"{rung.name}: second backward through a freed graph not caught")
        except RuntimeError: pass

def timed_chain(c):
    "One chain: forward and backward as `run` times them, and the teardown of the graph when `run` returns."
    t0 = time.process_time()
    f, b, _, _ = c.run()
    t = time.process_time() - t0
    return {'forward': f, 'backward': b, 'total': f + b, 'teardown': t - f - b, 'all': t}

def verify(contenders):
    "Same output and gradient as backprop on the chain, or the timing is meaningless."
    outs = {c.name: c.run() for c in contenders}
    ref = outs['backprop']
    problems = [f"{name}: {what} differs (max abs err {np.abs(o[k] - ref[k]).max():.3g})"
                for name, o in outs.items() for k, what in ((2, 'output'), (3, 'gradient'))
                if not np.allclose(o[k], ref[k], rtol=1e-4, atol=1e-5)]
    if problems: raise SystemExit("bench_ladder: VERIFICATION FAILED:\n  " + "\n  ".join(problems))

# ------------------------------------------------------------------ main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--reps', type=int, default=None, help='interleaved rounds (default 31; 5 with --quick)')
    ap.add_argument('--quick', action='store_true', help='few, short rounds: a smoke test, not a measurement')
    ap.add_argument('--json', metavar='PATH', help='also write the results (with raw samples) to PATH')
    a = ap.parse_args(argv)
    reps = a.reps or (5 if a.quick else 31)
    block = 0.02 if a.quick else 0.07
    if reps < 1: ap.error('--reps must be >= 1')

    be.clock = time.process_time                  # the chains' `run` reads bench_engine's clock
    torch = be.import_torch(1)
    gc.collect(); gc.freeze()                      # as bench_engine: full collections don't re-scan torch's objects
    bp = be.import_backprop()
    nblas = be.blas_threads(1)
    print(f"numpy {np.__version__} (BLAS threads {nblas}); torch {getattr(torch, '__version__', None)} "
          f"(threads {torch.get_num_threads() if torch else None}); python {platform.python_version()}; "
          f"{os.cpu_count()} CPUs, load {' '.join(f'{l:.2f}' for l in os.getloadavg())}")

    for i, rung in enumerate(RUNGS): check_features(i, rung)
    ladder = [RungChain(r) for r in RUNGS]
    refs = [be.BackpropChain(bp, 'mix')] + ([be.TorchChain(torch, 'mix')] if torch else []) + [be.NumpyChain('mix')]
    contenders = ladder + refs
    verify(contenders)
    print(f"features checked on every rung; all {len(contenders)} contenders give backprop's output and gradient on the "
          f"{CHAIN}-op chain\n{reps} interleaved rounds, blocks of ~{block} s, clock: process CPU time\n", flush=True)

    samples, inner, _ = be.interleaved(contenders, timed_chain, reps, block, warmup=3)
    parts = ('forward', 'backward', 'total', 'teardown', 'all')
    us = lambda name, part: [s[part] * 1e6 / CHAIN for s in samples[name]]
    med = {c.name: {p: statistics.median(us(c.name, p)) for p in parts} for c in contenders}
    torch_t = med['pytorch']['total'] if 'pytorch' in med else None

    names, rung_names = [c.name for c in contenders], [r.name for r in RUNGS]
    rows, prev = [], None
    for name in names:
        m = med[name]
        marg = {p: m[p] - med[prev][p] for p in ('total', 'all')} if prev is not None and name in rung_names + ['backprop'] else None
        rows.append((name, f"{m['forward']:.2f}", f"{m['backward']:.2f}", f"{m['total']:.2f}",
                     '' if marg is None else f"{marg['total']:+.2f}", f"{m['total'] / torch_t:.2f}x" if torch_t else 'n/a',
                     f"{m['teardown']:.2f}", f"{m['all']:.2f}", '' if marg is None else f"{marg['all']:+.2f}"))
        if name in rung_names: prev = name
    head = ('rung', 'fwd', 'bwd', 'total', 'marginal', 'x PyTorch', 'teardown', 'all-in', 'marginal')
    w = [max(len(r[j]) for r in [head] + rows) for j in range(len(head))]
    line = lambda r: '  '.join(c.ljust(w[j]) if j == 0 else c.rjust(w[j]) for j, c in enumerate(r))
    print("us per op, medians over rounds; total = fwd + bwd (as bench_engine.py reports); teardown = dropping the graph\n"
          "after the timed backward (by refcount, when the chain's locals go); all-in = total + teardown")
    print(line(head)); print('  '.join('-' * n for n in w))
    for r in rows: print(line(r))
    print("marginal: this row's median - the median of the rung above it (backprop's: against rung 7); the marginals\n"
          "of rungs 1-7 add up to rung 7 - tape")

    t0, top, bp_t = (med[n]['total'] for n in (rung_names[0], rung_names[-1], 'backprop'))
    gap = bp_t - t0
    share = (top - t0) / gap if gap else float('nan')
    print(f"\nbackprop - tape: {gap:.2f} us/op (backprop {bp_t / t0:.2f}x the tape); rung 7 - tape: {top - t0:.2f} us/op, "
          f"{100 * share:.0f}% of the gap")
    a0, atop, abp = (med[n]['all'] for n in (rung_names[0], rung_names[-1], 'backprop'))
    print(f"all-in (with teardown): backprop - tape {abp - a0:.2f} us/op (backprop {abp / a0:.2f}x the tape); "
          f"rung 7 - tape {atop - a0:.2f} us/op, {100 * (atop - a0) / (abp - a0):.0f}% of the gap")
    print('\nwhat each rung adds:')
    for r in RUNGS: print(f"  {r.name}: {r.adds}")

    if a.json:
        meta = dict(python=platform.python_version(), numpy=np.__version__, torch=getattr(torch, '__version__', None),
                    blas_threads=nblas, cpus=os.cpu_count(), reps=reps, block_s=block, chain_len=CHAIN,
                    time=time.strftime('%Y-%m-%d %H:%M:%S'), chains_per_block=inner)
        out = dict(meta=meta, rungs=[dict(name=r.name, adds=r.adds) for r in RUNGS], median_us_per_op=med,
                   gap_us_per_op=gap, top_rung_share_of_gap=share,
                   samples_us_per_op={n: {p: us(n, p) for p in parts} for n in names})
        Path(a.json).write_text(json.dumps(out, indent=1))
        print(f"\nwrote {a.json}")
    return 0

if __name__ == '__main__':
    sys.exit(main())
