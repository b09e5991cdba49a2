"""Tensors: creation, dtypes, indexing, arithmetic, in-place ops and the numpy bridge (a tensors-quickstart in miniature)."""
import numpy as np
import torch
from _report import report

data = [[1, 2], [3, 4]]
x_data = torch.tensor(data)
report('x_data', x_data)
report('x_data_is_int64', x_data.dtype == torch.int64)

np_array = np.array([[0.5, -1.0], [2.0, 3.5]], dtype=np.float32)
x_np = torch.from_numpy(np_array)
report('x_np', x_np)

x_ones = torch.ones_like(x_data)
x_rand = torch.rand_like(x_data, dtype=torch.float)
report('ones_like', x_ones)
report('rand_like_shape', list(x_rand.shape))
report('rand_like_in_unit_interval', bool(((x_rand >= 0) & (x_rand < 1)).all()))

shape = (2, 3,)
report('zeros', torch.zeros(shape))
report('ones_float32', torch.ones(shape).dtype == torch.float32)
report('full_int', torch.full((2,), 7).dtype == torch.int64)
report('full_float', torch.full((2,), 7.0).dtype == torch.float32)
report('arange', torch.arange(0, 10, 3))
report('linspace', torch.linspace(-1, 1, steps=5))
report('eye', torch.eye(3))

tensor = torch.arange(16, dtype=torch.float32).reshape(4, 4)
report('first_row', tensor[0])
report('first_col', tensor[:, 0])
report('last_col', tensor[..., -1])
tensor[:, 1] = 0
report('col_zeroed', tensor)

t1 = torch.cat([tensor, tensor, tensor], dim=1)
report('cat_shape', list(t1.shape))
y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
y3 = torch.rand_like(y1)
torch.matmul(tensor, tensor.T, out=y3)
report('matmul', y1)
report('matmul_same', bool(torch.equal(y1, y2)) and bool(torch.equal(y1, y3)))
z1 = tensor * tensor
z2 = tensor.mul(tensor)
report('mul', z1)
report('mul_same', bool(torch.allclose(z1, z2)))

agg = tensor.sum()
agg_item = agg.item()
report('sum_item', agg_item)
report('sum_item_is_float', isinstance(agg_item, float))

tensor.add_(5)
report('add_inplace', tensor)

t = torch.ones(5)
n = t.numpy()
t.add_(1)
report('numpy_shares_memory', n)
n2 = np.ones(5)
t2 = torch.from_numpy(n2)
np.add(n2, 1, out=n2)
report('from_numpy_shares_memory', t2)
report('float64_from_numpy', t2.dtype == torch.float64)
