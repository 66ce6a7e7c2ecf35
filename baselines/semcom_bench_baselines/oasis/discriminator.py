"""The OASIS segmentation-based discriminator, scaled down for the embedded 32x64 network.

Written from the paper (Schönfeld et al., ICLR 2021, Sec. 3.1) and the structure of
boschresearch/OASIS ``models/discriminator.py``: a U-Net-like encoder-decoder of residual blocks
that predicts N+1 logits per pixel (N semantic classes, plus one "fake" class at index 0).

Official structure (``num_res_blocks = 6``, channels ``[3, 128, 128, 256, 256, 512, 512]``)::

    encoder  body_down.i   residual block channels[i] -> channels[i+1], average-pool /2
                           (the first block: conv, no leading activation)
    decoder  body_up.0     residual block channels[-1] -> channels[-2], nearest x2
             body_up.i     residual block 2 * channels[-1-i] -> channels[-2-i], nearest x2
                           (input: the skip feature of the encoder concatenated first)
             body_up.last  residual block 2 * channels[1] -> 64, nearest x2
    head     layer_up_last Conv2d(64, N + 1, 1)

Every conv is spectrally normalised. A residual block is ``shortcut(x) + conv2(lrelu(conv1(lrelu(x))))``
with LeakyReLU(0.2); upsampling happens before ``conv1`` (and on the shortcut before its 1x1
conv), downsampling after ``conv2`` (and on the shortcut after its 1x1 conv; the first block
pools before the 1x1 conv).

Scaled here: ``levels`` encoder blocks (4 for 32x64 inputs, so the bottleneck is 2x4; the
official 6 would need at least 64x64) and channels ``[3, 1, 1, 2, 2, 4, 4] x base`` cut to
``levels + 1`` entries, with the last decoder block giving ``base`` channels (official: 64 with
base 128, i.e. ``base / 2``; here ``base`` so that it is never thinner than the encoder input).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

#: the official channel pattern of the encoder outputs, in units of ``base`` (128 in the official code)
CHANNEL_PATTERN = (1, 1, 2, 2, 4, 4)


@dataclass(frozen=True)
class DiscriminatorOptions:
    """The shape of the discriminator.

    Attributes:
        semantic_nc: label classes N; the output has N + 1 channels (index 0: fake).
        base: width unit (official 128).
        levels: encoder blocks = decoder blocks (official 6); the input side must be divisible
            by ``2 ** levels``.
        spectral_norm: spectral norm on every conv (official: on).
    """

    semantic_nc: int = 34
    base: int = 32
    levels: int = 4
    spectral_norm: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.levels <= len(CHANNEL_PATTERN):
            raise ValueError(f"DiscriminatorOptions.levels={self.levels} must be in 1..{len(CHANNEL_PATTERN)}")
        if self.base < 1 or self.semantic_nc < 1:
            raise ValueError("DiscriminatorOptions.base and semantic_nc must be at least 1")

    @property
    def channels(self) -> tuple[int, ...]:
        """Encoder channels, input first: ``(3, 1*base, 1*base, 2*base, ...)`` with ``levels + 1`` entries."""
        return (3, *(m * self.base for m in CHANNEL_PATTERN[: self.levels]))


class ResidualBlockD(nn.Module):
    """One residual block of the discriminator.

    Args:
        fin, fout: channels in and out (the middle width is ``fout``).
        sampling: -1 average-pool by 2 (encoder), +1 nearest x2 (decoder), 0 none.
        first: the first encoder block (no activation before its first conv).
    """

    def __init__(self, fin: int, fout: int, sampling: int, *, first: bool = False, sn: bool = True) -> None:
        super().__init__()
        wrap = spectral_norm if sn else (lambda m: m)
        self.sampling, self.first = sampling, first
        self.conv1 = wrap(nn.Conv2d(fin, fout, 3, padding=1))
        self.conv2 = wrap(nn.Conv2d(fout, fout, 3, padding=1))
        self.conv_s = wrap(nn.Conv2d(fin, fout, 1)) if fin != fout else None

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.sampling > 0:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        elif self.sampling < 0 and self.first:
            x = F.avg_pool2d(x, 2)
        if self.conv_s is not None:
            x = self.conv_s(x)
        if self.sampling < 0 and not self.first:
            x = F.avg_pool2d(x, 2)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dx = x if self.first else F.leaky_relu(x, 0.2)
        if self.sampling > 0:
            dx = F.interpolate(dx, scale_factor=2, mode="nearest")
        dx = self.conv1(dx)
        dx = self.conv2(F.leaky_relu(dx, 0.2))
        if self.sampling < 0:
            dx = F.avg_pool2d(dx, 2)
        return self._shortcut(x) + dx


class OasisDiscriminator(nn.Module):
    """Image (B, 3, H, W) in [-1, 1] -> per-pixel logits (B, N + 1, H, W); class 0 is "fake"."""

    def __init__(self, options: DiscriminatorOptions | None = None) -> None:
        super().__init__()
        self.options = options = options or DiscriminatorOptions()
        ch, sn, n = options.channels, options.spectral_norm, options.levels
        self.body_down = nn.ModuleList(ResidualBlockD(ch[i], ch[i + 1], -1, first=(i == 0), sn=sn) for i in range(n))
        up = [ResidualBlockD(ch[-1], ch[-2] if n > 1 else options.base, +1, sn=sn)]
        up += [ResidualBlockD(2 * ch[-1 - i], ch[-2 - i], +1, sn=sn) for i in range(1, n - 1)]
        if n > 1:
            up.append(ResidualBlockD(2 * ch[1], options.base, +1, sn=sn))
        self.body_up = nn.ModuleList(up)
        self.layer_up_last = nn.Conv2d(options.base, options.semantic_nc + 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = 2 ** self.options.levels
        if x.shape[2] % f or x.shape[3] % f:
            raise ValueError(f"discriminator input {tuple(x.shape[2:])} must be divisible by {f}")
        skips = []
        for block in self.body_down:
            x = block(x)
            skips.append(x)
        x = self.body_up[0](x)
        for i in range(1, len(self.body_up)):
            x = self.body_up[i](torch.cat((skips[-1 - i], x), dim=1))
        return self.layer_up_last(x)


__all__ = ["CHANNEL_PATTERN", "DiscriminatorOptions", "OasisDiscriminator", "ResidualBlockD"]
