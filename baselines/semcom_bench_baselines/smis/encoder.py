"""The SMIS training encoder: per-class image crops -> the per-class latent's mean and log-variance.

SMIS trains its Cityscapes generator as a VAE-GAN (``--use_vae --netE conv``, ``lambda_kld``
0.05 in ``options/train_options.py``): at training time the latent ``z`` comes from an encoder
of the real image, ``z = mu + exp(logvar / 2) * eps``, with a KL term towards N(0, I); at test
time ``z`` is drawn from N(0, I) per class. What the encoder sees (``models/smis_model.py``,
``trans_img``): for every class, the image masked by that class, cropped to the class's bounding
box and resized (nearest) back to the full image size; the crops of all classes are stacked
class after class, ``(B, 3 * semantic_nc, H, W)`` (the instance-edge channel is not a class).
A class absent from the image gives zeros.

The encoder (``models/networks/encoder.py``, ``ConvEncoder``) is grouped per class: 3x3
stride-2 convolutions with ``groups=semantic_nc`` (widths ``ndf, 2ndf, 4ndf, 8ndf, 8ndf``;
a sixth only for crops of 256 or more), spectral norm + parameter-free instance norm
(``--norm_E spectralinstance``), leaky ReLU 0.2, then ``fc_mu`` / ``fc_var``, 3x3 convolutions
``8 ndf -> 8 * semantic_nc`` (``groups=semantic_nc``): channels ``8c ... 8c + 7`` are class
``c``'s code, as in the generator's ``z``. Officially ``ndf`` is 350 (10 per Cityscapes class);
here it is a multiple of ``semantic_nc`` chosen by the recipe.
"""

from __future__ import annotations

import torch
from torch import nn

from semcom_bench_baselines.smis.discriminator import nonspade_norm_layer
from semcom_bench_baselines.smis.network import LATENT_CHANNELS_PER_CLASS


def class_crops(maps: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """``(B, 3 * S, H, W)``: per class, the image masked by the class, cropped to its box, resized (nearest) to ``H x W``.

    Args:
        maps: ``(B, S + 1, H, W)`` one-hot classes then the instance-edge channel (ignored).
        image: ``(B, 3, H, W)``.

    The crop of class ``c`` is the bounding box of its pixels; nearest resizing takes source
    row ``y0 + floor(i * h_c / H)`` for output row ``i`` (``F.interpolate``'s nearest rule), and
    likewise for columns. Absent classes give zeros.
    """
    classes = maps[:, :-1]
    b, s, h, w = classes.shape
    masked = classes[:, :, None] * image[:, None]  # (B, S, 3, H, W)
    present = classes > 0.5
    rows, cols = present.any(dim=3), present.any(dim=2)  # (B, S, H), (B, S, W)

    def span(hit: torch.Tensor, n: int) -> torch.Tensor:
        idx = torch.arange(n, device=hit.device)
        first = torch.where(hit, idx, n).amin(dim=-1)
        last = torch.where(hit, idx, -1).amax(dim=-1)
        size = (last - first + 1).clamp(min=1)
        first = first.clamp(max=n - 1)
        return (first[..., None] + (idx * size[..., None]) // n).clamp(max=n - 1)  # (B, S, n)

    ri, ci = span(rows, h), span(cols, w)
    out = torch.gather(masked, 3, ri[:, :, None, :, None].expand(b, s, 3, h, w))
    out = torch.gather(out, 4, ci[:, :, None, None, :].expand(b, s, 3, h, w))
    out = out * rows.any(dim=-1)[:, :, None, None, None]
    return out.reshape(b, 3 * s, h, w)


class SmisConvEncoder(nn.Module):
    """``forward(crops)`` ``(B, 3 * S, H, W)`` -> ``(mu, logvar)``, each ``(B, 8 * S, H / 2**L, W / 2**L)``.

    ``L`` is 5 stride-2 layers (6 when ``six_layers``, the official rule for crops >= 256), so
    a 32 x 64 image gives the 1 x 2 latent grid of a generator with 5 upsamplings.
    """

    def __init__(self, semantic_nc: int, ndf: int, six_layers: bool = False, norm: str = "spectralinstance"):
        super().__init__()
        if ndf % semantic_nc:
            raise ValueError(f"encoder width {ndf} must be a multiple of semantic_nc ({semantic_nc})")
        s = semantic_nc
        widths = [3 * s, ndf, 2 * ndf, 4 * ndf, 8 * ndf, 8 * ndf] + ([8 * ndf] if six_layers else [])
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            self.add_module(f"layer{i + 1}", nonspade_norm_layer(nn.Conv2d(a, b, 3, stride=2, padding=1, groups=s), norm))
        self.n_layers = len(widths) - 1
        k = LATENT_CHANNELS_PER_CLASS * s
        self.fc_mu = nn.Conv2d(8 * ndf, k, 3, padding=1, groups=s)
        self.fc_var = nn.Conv2d(8 * ndf, k, 3, padding=1, groups=s)
        self.actvn = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.layer1(x)
        for i in range(2, self.n_layers + 1):
            x = getattr(self, f"layer{i}")(self.actvn(x))
        x = self.actvn(x)
        return self.fc_mu(x), self.fc_var(x)


__all__ = ["SmisConvEncoder", "class_crops"]
