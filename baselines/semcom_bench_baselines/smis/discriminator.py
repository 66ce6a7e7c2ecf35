"""The SMIS training discriminator: SPADE's multi-scale PatchGAN, which SMIS trains with.

SMIS (Seanseattle/SMIS, ``options/train_options.py``) keeps SPADE's discriminator defaults:
``--netD multiscale`` (``num_D`` 2 scales, the second on the input average-pooled by 2),
``n_layers_D`` 4 and ``--norm_D spectralinstance``. Each scale is a PatchGAN of 4x4
convolutions (stride 2, padding 2; the last two stride 1): the first without normalisation,
the middle ones spectral-norm convolutions without bias followed by a parameter-free instance
norm, all with leaky ReLU 0.2, and a final 1-channel convolution. Its input is the one-hot map
with the instance-edge channel, concatenated with the (real or generated) image.

``forward`` returns, per scale, the list of every layer's output (the last one is the patch
prediction; the others feed the feature-matching loss).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm


def nonspade_norm_layer(conv: nn.Conv2d, norm: str) -> nn.Module:
    """``spectral<instance|batch|none>`` or ``<instance|batch|none>`` around ``conv`` (SPADE's non-SPADE norm).

    With a norm after it the convolution's bias is dropped (the norm removes it anyway).
    """
    layer: nn.Module = conv
    sub = norm
    if norm.startswith("spectral"):
        layer = spectral_norm(conv)
        sub = norm[len("spectral"):]
    if sub in ("", "none"):
        return layer
    conv.bias = None  # the norm's mean subtraction makes a bias useless
    if sub == "instance":
        return nn.Sequential(layer, nn.InstanceNorm2d(conv.out_channels, affine=False))
    if sub in ("batch", "syncbatch"):
        return nn.Sequential(layer, nn.BatchNorm2d(conv.out_channels, affine=True))
    raise ValueError(f"unknown norm {norm!r}: use [spectral]instance, [spectral]batch or [spectral]none")


class NLayerDiscriminator(nn.Module):
    """One PatchGAN scale; ``forward(x)`` -> the outputs of its ``n_layers + 1`` layers."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 4, norm: str = "spectralinstance"):
        super().__init__()
        kw, pad = 4, int(math.ceil((4 - 1.0) / 2))
        layers: list[list[nn.Module]] = [[nn.Conv2d(input_nc, ndf, kw, stride=2, padding=pad), nn.LeakyReLU(0.2)]]
        nf = ndf
        for n in range(1, n_layers):
            prev, nf = nf, min(nf * 2, 512)
            stride = 1 if n == n_layers - 1 else 2
            layers.append([nonspade_norm_layer(nn.Conv2d(prev, nf, kw, stride=stride, padding=pad), norm), nn.LeakyReLU(0.2)])
        layers.append([nn.Conv2d(nf, 1, kw, stride=1, padding=pad)])
        for i, seq in enumerate(layers):
            self.add_module(f"model{i}", nn.Sequential(*seq))
        self.n_outputs = len(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i in range(self.n_outputs):
            x = getattr(self, f"model{i}")(x)
            outs.append(x)
        return outs


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGANs on the input at full, 1/2, 1/4 ... resolution; ``forward`` -> one output list per scale."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 4, num_D: int = 2, norm: str = "spectralinstance"):
        super().__init__()
        for i in range(num_D):
            self.add_module(f"discriminator_{i}", NLayerDiscriminator(input_nc, ndf, n_layers, norm))
        self.num_D = num_D

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        results = []
        for i in range(self.num_D):
            results.append(getattr(self, f"discriminator_{i}")(x))
            if i + 1 < self.num_D:
                x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
        return results


__all__ = ["MultiscaleDiscriminator", "NLayerDiscriminator", "nonspade_norm_layer"]
