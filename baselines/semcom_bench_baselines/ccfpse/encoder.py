"""The image encoder used while training the embedded CC-FPSE generator (``--use_vae``).

The official ``ConvEncoder`` (``models/networks/encoder.py``, :class:`..network.ConvEncoder` here)
resizes every image to 256×256 and ends in a 4×4 grid only when ``crop_size >= 256`` (its
``fc_mu``/``fc_var`` expect ``8·ndf·4·4`` inputs), so it does not fit the 64-pixel-wide embedded
network. This encoder keeps its kind of layer (spectral-norm 3×3 stride-2 conv without bias +
parameter-free InstanceNorm, LeakyReLU 0.2 between layers and after the last, widths ndf, 2ndf,
4ndf, 8ndf, then two linear heads) and works on the image as it is: 32×64 → 2×4 after four layers.

It is used only for training (KL term and the reparameterised z of the generator step); it is
not shipped: the receiver has no image and draws z ~ N(0, I) from its stream.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

__all__ = ["TrainingEncoder"]


class TrainingEncoder(nn.Module):
    """image (B, 3, H, W) in [-1, 1], H and W divisible by 16 → (mu, logvar), each (B, z_dim).

    Args:
        size: (H, W) of the images.
        ndf: width of the first layer.
        z_dim: latent size.
    """

    def __init__(self, size: tuple[int, int], ndf: int, z_dim: int) -> None:
        super().__init__()
        widths = [3, ndf, 2 * ndf, 4 * ndf, 8 * ndf]
        self.layers = nn.ModuleList()
        for cin, cout in zip(widths[:-1], widths[1:]):
            conv = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
            self.layers.append(nn.Sequential(spectral_norm(conv), nn.InstanceNorm2d(cout, affine=False)))
        h, w = size[0] // 16, size[1] // 16
        self.fc_mu = nn.Linear(8 * ndf * h * w, z_dim)
        self.fc_var = nn.Linear(8 * ndf * h * w, z_dim)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = image
        for i, layer in enumerate(self.layers):
            x = layer(x if i == 0 else F.leaky_relu(x, 0.2))
        x = F.leaky_relu(x, 0.2).flatten(1)
        return self.fc_mu(x), self.fc_var(x)
