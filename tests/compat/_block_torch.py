"""Run a program with PyTorch made unimportable: `python _block_torch.py program.py`.

The backprop run of a compatibility program goes through this stub, so a program can only pass on
backprop: any `import torch` (or torch.*, torchvision, functorch) left in it raises ImportError."""
import importlib.abc, runpy, sys

BLOCKED = ('torch', 'torchvision', 'torchaudio', 'functorch')

class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED: raise ImportError(f"{name} is blocked in the backprop run of a compatibility program")
        return None

sys.meta_path.insert(0, _Block())
for m in BLOCKED: sys.modules[m] = None
import os
prog = sys.argv[1]
sys.path[0] = os.path.dirname(os.path.abspath(prog))
sys.argv = sys.argv[1:]
runpy.run_path(prog, run_name='__main__')
