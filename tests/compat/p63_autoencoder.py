"""An autoencoder: nn.Sequential encoder and decoder (Flatten/Unflatten), nn.MSELoss, Adam, a DataLoader
over unlabeled images, reconstructions under torch.no_grad(), and the codes taken out with .detach().numpy()."""
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset
from _report import report

class AutoEncoder(nn.Module):
    def __init__(self, code=3):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(True), nn.Linear(16, code))
        self.decoder = nn.Sequential(nn.Linear(code, 16), nn.ReLU(inplace=True), nn.Linear(16, 36), nn.Sigmoid(),
                                     nn.Unflatten(1, (1, 6, 6)))
    def forward(self, x):
        return self.decoder(self.encoder(x))

rng = np.random.default_rng(11)
basis = rng.uniform(0, 1, (3, 36))
imgs = (rng.dirichlet(np.ones(3), 128) @ basis).reshape(128, 1, 6, 6).astype(np.float32)
loader = DataLoader(TensorDataset(torch.tensor(imgs)), batch_size=32)

model = AutoEncoder()
init = np.random.default_rng(12)
sd = model.state_dict()
model.load_state_dict({k: torch.tensor(init.normal(0, 0.3, size=tuple(v.shape)).astype(np.float32)) for k, v in sd.items()})
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-5)
report('param_shapes', [list(p.shape) for p in model.parameters()])
losses = []
for epoch in range(6):
    total = 0.0
    for (img,) in loader:
        output = model(img)
        loss = criterion(output, img)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * img.size(0)
    losses.append(total / len(loader.dataset))
report('epoch_losses', losses)
model.eval()
with torch.no_grad():
    x = torch.tensor(imgs[:4])
    recon = model(x)
    codes = model.encoder(x)
report('recon_shape', list(recon.shape))
report('recon_range', [bool((recon > 0).all()), bool((recon < 1).all())])
report('codes', codes.detach().numpy())
report('codes_cpu_numpy', model.encoder(x).detach().cpu().numpy().shape)
report('per_image_error', ((recon - x) ** 2).mean(dim=(1, 2, 3)))
report('decoder_repr', repr(model.decoder))
