"""Collects what a compatibility program computes, and prints it as one JSON line when the program ends.

Shared by the PyTorch run and the backprop run of every program in this folder: it uses numpy only,
so it is the same code on both sides. `np.asarray` reads a PyTorch tensor and a backprop Tensor alike."""
import atexit, json, sys
import numpy as np

_values = {}

def _plain(v):
    if isinstance(v, (str, bool)) or v is None: return v
    if isinstance(v, (list, tuple)) and v and not isinstance(v[0], (int, float)):
        return [_plain(x) for x in v]
    if hasattr(v, 'detach'): v = v.detach()
    return np.asarray(v, dtype=np.float64).tolist()

def report(name, value):
    "Record `value` (a number, string, bool, tensor, array, or a list of these) under `name`."
    if name in _values: raise KeyError(f"report: {name!r} reported twice")
    _values[name] = _plain(value)

def _dump():
    torch = sys.modules.get('torch')
    _values['__torch_imported__'] = torch is not None and getattr(torch, '__name__', '') == 'torch'
    print('@@REPORT ' + json.dumps(_values))

atexit.register(_dump)
