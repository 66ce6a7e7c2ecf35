"""CC-FPSE's feature-pyramid semantics-embedding discriminator (``--netD fpse``), for training only.

Facts from the official ``models/networks/discriminator.py`` (``FPSEDiscriminator``) and
``options``: the layers use ``norm_D='spectralinstance'`` (a spectral-norm conv without bias, then a
parameter-free InstanceNorm) and LeakyReLU 0.2. The image alone goes up a bottom-up pathway of five
stride-2 3×3 convs (widths ndf, 2ndf, 4ndf, 8ndf, 8ndf); a top-down pathway adds 1×1 lateral convs
(to 4ndf) to bilinear ×2 upsamplings; 3×3 convs (to 2ndf) at 1/4, 1/8 and 1/16 of the input give
one patch map each. Each patch score is a shared 1×1 real/fake conv plus the semantic embedding
term: the inner product of a shared 1×1 "seg" projection of the features with a 1×1 embedding of
the one-hot map, average-pooled to that scale. The bottom-up features at 1/4 … 1/32 are returned for
the feature-matching loss.

Only the width ``ndf`` is scaled down here (the official default is 64). The layout works at the
embedded 32×64 resolution unchanged: the coarsest feature is 1×2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

__all__ = ["FPSEDiscriminator"]


def _sn_in(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Spectral-norm conv (no bias) + parameter-free InstanceNorm + LeakyReLU 0.2."""
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
    return nn.Sequential(spectral_norm(conv), nn.InstanceNorm2d(cout, affine=False), nn.LeakyReLU(0.2))


class FPSEDiscriminator(nn.Module):
    """Feature-pyramid semantics-embedding discriminator.

    Args:
        semantic_nc: channels of the conditioning map (one-hot labels + instance edges).
        ndf: width of the first layer.

    Forward: image (B, 3, H, W), seg (B, semantic_nc, H, W), H and W divisible by 32 →
    (features, scores): four bottom-up feature maps at 1/4, 1/8, 1/16, 1/32 and three score maps
    (B, 1, H/4, W/4), (B, 1, H/8, W/8), (B, 1, H/16, W/16).
    """

    def __init__(self, semantic_nc: int, ndf: int = 64) -> None:
        super().__init__()
        nf = ndf
        self.enc1 = _sn_in(3, nf, 3, 2)
        self.enc2 = _sn_in(nf, 2 * nf, 3, 2)
        self.enc3 = _sn_in(2 * nf, 4 * nf, 3, 2)
        self.enc4 = _sn_in(4 * nf, 8 * nf, 3, 2)
        self.enc5 = _sn_in(8 * nf, 8 * nf, 3, 2)
        self.lat2 = _sn_in(2 * nf, 4 * nf, 1)
        self.lat3 = _sn_in(4 * nf, 4 * nf, 1)
        self.lat4 = _sn_in(8 * nf, 4 * nf, 1)
        self.lat5 = _sn_in(8 * nf, 4 * nf, 1)
        self.final2 = _sn_in(4 * nf, 2 * nf, 3)
        self.final3 = _sn_in(4 * nf, 2 * nf, 3)
        self.final4 = _sn_in(4 * nf, 2 * nf, 3)
        self.tf = nn.Conv2d(2 * nf, 1, 1)
        self.seg = nn.Conv2d(2 * nf, 2 * nf, 1)
        self.embedding = nn.Conv2d(semantic_nc, 2 * nf, 1)

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, image: torch.Tensor, seg: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        f12 = self.enc2(self.enc1(image))
        f13 = self.enc3(f12)
        f14 = self.enc4(f13)
        f15 = self.enc5(f14)
        f24 = self._up(self.lat5(f15)) + self.lat4(f14)
        f23 = self._up(f24) + self.lat3(f13)
        f22 = self._up(f23) + self.lat2(f12)
        emb = F.avg_pool2d(self.embedding(seg), 2)
        scores = []
        for feat in (self.final2(f22), self.final3(f23), self.final4(f24)):
            emb = F.avg_pool2d(emb, 2)
            scores.append(self.tf(feat) + (emb * self.seg(feat)).sum(dim=1, keepdim=True))
        return [f12, f13, f14, f15], scores
