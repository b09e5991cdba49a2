"""Linear and softmax regression from scratch in the style of the Dive-into-Deep-Learning chapters:
torch.normal parameters with requires_grad, a shuffled minibatch iterator, a hand-written sgd()
that updates under torch.no_grad() and zeroes .grad, and accuracy computed with argmax(axis=1)."""
import random
import numpy as np
import torch
from torch import nn
from _report import report

rng = np.random.default_rng(3)
true_w = torch.tensor([2, -3.4])
true_b = 4.2
def synthetic_data(w, b, num_examples):
    X = torch.tensor(rng.normal(0, 1, (num_examples, len(w))).astype(np.float32))
    y = torch.matmul(X, w) + b
    y += torch.tensor(rng.normal(0, 0.01, y.shape).astype(np.float32))
    return X, y.reshape((-1, 1))
features, labels = synthetic_data(true_w, true_b, 1000)
report('data_shapes', [list(features.shape), list(labels.shape)])

def data_iter(batch_size, features, labels):
    num_examples = len(features)
    indices = list(range(num_examples))
    random.shuffle(indices)
    for i in range(0, num_examples, batch_size):
        batch_indices = torch.tensor(indices[i: min(i + batch_size, num_examples)])
        yield features[batch_indices], labels[batch_indices]

w = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)
b = torch.zeros(1, requires_grad=True)
report('normal_param', [list(w.shape), w.requires_grad, w.is_leaf, float(w.abs().max()) < 0.1])
with torch.no_grad():
    w.copy_(torch.tensor([[0.01], [-0.005]]))

def linreg(X, w, b): return torch.matmul(X, w) + b
def squared_loss(y_hat, y): return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2
def sgd(params, lr, batch_size):
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()

random.seed(0)
lr, num_epochs, net, loss = 0.03, 3, linreg, squared_loss
epoch_losses = []
for epoch in range(num_epochs):
    for X, y in data_iter(10, features, labels):
        l = loss(net(X, w, b), y)
        l.sum().backward()
        sgd([w, b], lr, 10)
    with torch.no_grad():
        train_l = loss(net(features, w, b), labels)
        epoch_losses.append(float(train_l.mean()))
report('epoch_losses', epoch_losses)
report('w_error', true_w - w.reshape(true_w.shape))
report('b_error', true_b - b)

# the concise version
net = nn.Sequential(nn.Linear(2, 1))
net[0].weight.data.normal_(0, 0.01)
net[0].bias.data.fill_(0)
report('bias_filled', net[0].bias.data.tolist())
net[0].weight.data = torch.tensor([[0.01, -0.005]])
loss = nn.MSELoss()
trainer = torch.optim.SGD(net.parameters(), lr=0.03)
random.seed(1)
for epoch in range(2):
    for X, y in data_iter(10, features, labels):
        l = loss(net(X), y)
        trainer.zero_grad()
        l.backward()
        trainer.step()
    l = loss(net(features), labels)
report('concise_loss', l.item())
report('concise_w', net[0].weight.data)

# softmax regression from scratch, with the book's accuracy helper
Xs = torch.tensor(rng.normal(size=(200, 6)).astype(np.float32))
ys = torch.tensor((np.abs(rng.normal(size=200)) * 1.5).astype(np.int64).clip(0, 2))
W = torch.tensor(rng.normal(0, 0.01, size=(6, 3)).astype(np.float32), requires_grad=True)
bb = torch.zeros(3, requires_grad=True)
def softmax(X):
    X_exp = torch.exp(X)
    partition = X_exp.sum(1, keepdim=True)
    return X_exp / partition
def net_s(X): return softmax(torch.matmul(X.reshape((-1, W.shape[0])), W) + bb)
def cross_entropy(y_hat, y): return - torch.log(y_hat[range(len(y_hat)), y])
def accuracy(y_hat, y):
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())
accs = []
for epoch in range(5):
    l = cross_entropy(net_s(Xs), ys)
    l.mean().backward()
    sgd([W, bb], 0.5, 1)
    accs.append(accuracy(net_s(Xs), ys) / len(ys))
report('softmax_loss', cross_entropy(net_s(Xs), ys).mean())
report('softmax_acc', accs)
report('sum_axis', Xs.sum(axis=0))
