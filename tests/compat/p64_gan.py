"""A GAN training loop in the style of the DCGAN tutorial, with small MLPs: two Adam optimisers with
betas=(0.5, 0.999), BCELoss, labels made with torch.full, the discriminator step on fake.detach(), the
generator step through the discriminator; then a shared-graph variant with backward(retain_graph=True)
and torch.autograd.backward(..., inputs=...), and the ordering mistake PyTorch refuses (a step between two backwards)."""
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from _report import report

nz = 4
netG = nn.Sequential(nn.Linear(nz, 16), nn.LeakyReLU(0.2, inplace=True), nn.Linear(16, 2))
netD = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2, inplace=True), nn.Linear(16, 1), nn.Sigmoid())
init = np.random.default_rng(21)
def init_from_numpy(m):
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.tensor(init.normal(0, 0.4, size=tuple(p.shape)).astype(np.float32)))
init_from_numpy(netG); init_from_numpy(netD)

criterion = nn.BCELoss()
real_label, fake_label = 1., 0.
optimizerD = optim.Adam(netD.parameters(), lr=2e-3, betas=(0.5, 0.999))
optimizerG = optim.Adam(netG.parameters(), lr=2e-3, betas=(0.5, 0.999))
rng = np.random.default_rng(22)
G_losses, D_losses, D_x_hist = [], [], []
for i in range(25):
    real = torch.tensor((rng.normal(size=(32, 2)) * 0.5 + np.array([2.0, -1.0])).astype(np.float32))
    noise = torch.tensor(rng.normal(size=(32, nz)).astype(np.float32))
    # (1) update D: maximize log(D(x)) + log(1 - D(G(z)))
    netD.zero_grad()
    b_size = real.size(0)
    label = torch.full((b_size,), real_label, dtype=torch.float)
    output = netD(real).view(-1)
    errD_real = criterion(output, label)
    errD_real.backward()
    D_x = output.mean().item()
    fake = netG(noise)
    label.fill_(fake_label)
    output = netD(fake.detach()).view(-1)
    errD_fake = criterion(output, label)
    errD_fake.backward()
    errD = errD_real + errD_fake
    optimizerD.step()
    # (2) update G: maximize log(D(G(z)))
    netG.zero_grad()
    label.fill_(real_label)
    output = netD(fake).view(-1)
    errG = criterion(output, label)
    errG.backward()
    optimizerG.step()
    G_losses.append(errG.item()); D_losses.append(errD.item()); D_x_hist.append(D_x)
report('G_losses', G_losses)
report('D_losses', D_losses)
report('D_x', D_x_hist)
report('G_grad_of_last_layer', netG[2].weight.grad)

# one forward, two losses: D's loss keeps the graph, G's loss reaches only G's parameters
noise = torch.tensor(rng.normal(size=(16, nz)).astype(np.float32))
fake = netG(noise)
d_out = netD(fake).view(-1)
lossD = criterion(d_out, torch.zeros(16))
lossG = criterion(d_out, torch.ones(16))
optimizerD.zero_grad(); optimizerG.zero_grad()
lossD.backward(retain_graph=True)
gD = [p.grad.clone() for p in netD.parameters()]
report('G_grads_from_lossD', [p.grad is not None for p in netG.parameters()])
optimizerG.zero_grad(set_to_none=True)
torch.autograd.backward(lossG, inputs=list(netG.parameters()))   # Tensor.backward(inputs=) is finding Q1
report('D_grads_untouched', all(torch.equal(a, p.grad) for a, p in zip(gD, netD.parameters())))
report('G_grad_after_inputs', netG[0].weight.grad)
optimizerD.step(); optimizerG.step()

# the mistake: stepping D between two backwards of one forward changes what the second backward needs
fake = netG(noise)
d_out = netD(fake).view(-1)
lossD = criterion(d_out, torch.zeros(16))
lossG = criterion(d_out, torch.ones(16))
lossD.backward(retain_graph=True)
optimizerD.step()
try:
    lossG.backward()
    report('step_between_backwards', 'no error')
except RuntimeError as e:
    report('step_between_backwards', 'modified by an inplace operation' in str(e))
