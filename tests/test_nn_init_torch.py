"PyTorch oracle for backprop.nn.init: gains, fans and the scale of every init function agree with torch.nn.init."
import math
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from backprop.core import empty, manual_seed
from backprop.nn import init

pytestmark = pytest.mark.torch
SHAPES = [(64, 32), (32, 64), (16, 8, 3, 3), (8, 4, 5)]


@pytest.mark.parametrize('nl,param', [('linear', None), ('conv2d', None), ('sigmoid', None), ('tanh', None), ('relu', None),
                                      ('leaky_relu', None), ('leaky_relu', 0.2), ('leaky_relu', 0), ('selu', None)])
def test_calculate_gain(nl, param):
    assert init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param), rel=1e-15)


@pytest.mark.parametrize('shape', SHAPES)
def test_fans(shape):
    assert init._calculate_fan_in_and_fan_out(empty(*shape)) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    for mode in ('fan_in', 'fan_out'):
        assert init._calculate_correct_fan(empty(*shape), mode) == torch.nn.init._calculate_correct_fan(torch.empty(shape), mode)


def _spread(fn_bp, fn_t, shape, n=20):
    "Sample std and max |w| of our init and torch's over n draws."
    ours = np.concatenate([fn_bp(empty(*shape)).array.ravel() for _ in range(n)]).astype(np.float64)
    theirs = np.concatenate([fn_t(torch.empty(shape)).numpy().ravel() for _ in range(n)]).astype(np.float64)
    return ours, theirs


CASES = [
    ('xavier_uniform_', dict(gain=1.5)), ('xavier_normal_', dict(gain=0.5)),
    ('kaiming_uniform_', dict(a=math.sqrt(5))), ('kaiming_uniform_', dict(mode='fan_out', nonlinearity='relu')),
    ('kaiming_normal_', dict(nonlinearity='relu')), ('kaiming_normal_', dict(a=0.1, mode='fan_out')),
    ('uniform_', dict(a=-0.3, b=0.7)), ('normal_', dict(mean=0.2, std=0.05)),
    ('trunc_normal_', dict(mean=0.1, std=1.0, a=-0.5, b=1.5)), ('orthogonal_', dict(gain=2.0)),
]


@pytest.mark.parametrize('name,kw', CASES)
@pytest.mark.parametrize('shape', SHAPES[:3])
def test_same_distribution_scale(name, kw, shape):
    manual_seed(0); torch.manual_seed(0)        # deterministic draws
    ours, theirs = _spread(lambda t: getattr(init, name)(t, **kw), lambda t: getattr(torch.nn.init, name)(t, **kw), shape)
    n = len(theirs)                                # 4 standard errors of the difference of the two estimates
    assert ours.mean() == pytest.approx(theirs.mean(), abs=4 * theirs.std() * math.sqrt(2 / n))
    assert ours.std() == pytest.approx(theirs.std(), rel=4 / math.sqrt(n))
    if name in ('uniform_', 'xavier_uniform_', 'kaiming_uniform_', 'trunc_normal_'):   # same support
        assert ours.min() == pytest.approx(theirs.min(), abs=0.01 * theirs.std())
        assert ours.max() == pytest.approx(theirs.max(), abs=0.01 * theirs.std())
