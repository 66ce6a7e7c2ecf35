"""Pixel-fidelity metrics: PSNR, SSIM and MS-SSIM, on uint8 RGB in [0, 255].

SSIM and MS-SSIM are computed here, in torch (float64), rather than by a library whose border
handling changes between versions:

SSIM (Wang, Bovik, Sheikh and Simoncelli 2004)
    Gaussian window of 11 taps, sigma 1.5 (scikit-image's ``truncate=3.5``: radius
    ``int(3.5 * 1.5 + 0.5) = 5``), K1 0.01, K2 0.03, data range 255, population (co)variances.
    The SSIM map is taken only where the window lies inside the image (a 'valid' convolution:
    an H x W image gives an (H - 10) x (W - 10) map), averaged per channel, then over RGB.
    This is scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=255, channel_axis=-1)`` (it filters with reflected
    borders and crops 5 pixels from each side of the map before averaging: the same pixels)
    and the authors' reference code. torchmetrics averages the map over the reflect-padded
    border as well (22 % of a 64 x 128 image), which gave lower values: 0.403 instead of 0.431
    for full-image at 5 dB over the 32 synthetic-streets scenes.

MS-SSIM (Wang, Simoncelli and Bovik 2003)
    Per channel: at each scale j = 1..M the mean contrast-structure term cs_j over the valid
    region, at the coarsest scale the mean SSIM; MS-SSIM = prod_j<M cs_j^b_j * SSIM_M^b_M, with
    negative means clipped to 0; then averaged over RGB. Between scales the images are averaged
    over 2 x 2 blocks (an odd last row/column is repeated first). This is the definition of the
    authors' ``msssim.m`` and TensorFlow's ``tf.image.ssim_multiscale``: every scale, the
    coarsest one included, is averaged over its valid region. pytorch-msssim 1.0 gives the
    same values (to 1e-15 with a float64 window) when every scale has even sides; it pads odd
    sides differently. No such package is a dependency: the tests check each scale against
    scikit-image's SSIM instead.
    torchmetrics' multiscale SSIM (used before) averages the coarsest scale's SSIM over the
    reflect-padded border too (74 % of that 16 x 32 map for a 64 x 128 image; 0.788 instead
    of 0.807 for full-image at 5 dB) and combines the channels' means before the product.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from semcom_bench.metrics.base import Metric, Scored
from semcom_bench.registry import metrics

#: Gaussian window of SSIM: sigma and size (scikit-image: 2 * int(3.5 * sigma + 0.5) + 1)
SIGMA = 1.5
WINDOW = 2 * int(3.5 * SIGMA + 0.5) + 1
K1, K2 = 0.01, 0.03
DATA_RANGE = 255.0


def _to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """(H, W, 3) uint8 images -> (B, 3, H, W) float64 in [0, 255]."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).to(torch.float64)


def _by_shape(items: list[Scored]) -> list[list[int]]:
    """Indices of ``items`` grouped by image shape (each group is scored as one batch)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, it in enumerate(items):
        if it.recon.shape != it.sample.image.shape:
            raise ValueError(f"reconstruction {it.recon.shape} and original {it.sample.image.shape} differ in shape")
        groups.setdefault(it.sample.image.shape, []).append(i)
    return list(groups.values())


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> torch.Tensor:
    """The normalised 1-D Gaussian of ``size`` taps (float64); SSIM's window is its outer product."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def _filter_valid(x: torch.Tensor) -> torch.Tensor:
    """(..., H, W) -> (..., H - 10, W - 10): the Gaussian window where it fits inside.

    Separable, as weighted sums of shifted slices (on a CPU ~20x faster than float64 conv2d).
    """
    h, w = x.shape[-2:]
    g = gaussian_window().tolist()
    rows = x[..., :, 0 : w - WINDOW + 1] * g[0]
    for k in range(1, WINDOW):
        rows.add_(x[..., :, k : k + w - WINDOW + 1], alpha=g[k])
    out = rows[..., 0 : h - WINDOW + 1, :] * g[0]
    for k in range(1, WINDOW):
        out.add_(rows[..., k : k + h - WINDOW + 1, :], alpha=g[k])
    return out


def ssim_maps(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(SSIM map, contrast-structure map) of two (N, C, H, W) float64 batches, valid region only.

    Both maps are (N, C, H - 10, W - 10); H and W must be at least 11.
    """
    h, w = x.shape[-2:]
    if h < WINDOW or w < WINDOW:
        raise ValueError(f"SSIM needs images of at least {WINDOW} x {WINDOW} px (its window), got {h} x {w}")
    n = x.shape[0]
    mu_x, mu_y, xx, yy, xy = _filter_valid(torch.cat([x, y, x * x, y * y, x * y])).split(n)
    var_x = xx - mu_x * mu_x
    var_y = yy - mu_y * mu_y
    cov = xy - mu_x * mu_y
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return luminance * cs, cs


def ssim(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM of each image of two (N, 3, H, W) batches in [0, 255]: (N,) float64."""
    s, _ = ssim_maps(preds.to(torch.float64), target.to(torch.float64))
    return s.mean(dim=(-2, -1)).mean(dim=-1)


def _halve(x: torch.Tensor) -> torch.Tensor:
    """2 x 2 block average; an odd last row or column is repeated first (MATLAB 'symmetric')."""
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
    return F.avg_pool2d(x, 2)


def ms_ssim(preds: torch.Tensor, target: torch.Tensor, weights: tuple[float, ...]) -> torch.Tensor:
    """MS-SSIM of each image of two (N, 3, H, W) batches in [0, 255] with one weight per scale.

    Per channel ``prod_j<M relu(cs_j)^w_j * relu(ssim_M)^w_M`` over the M = len(weights)
    scales (means over valid regions), then averaged over channels: (N,) float64.
    """
    x, y = preds.to(torch.float64), target.to(torch.float64)
    terms = []
    for j in range(len(weights)):
        s, cs = ssim_maps(x, y)
        if j < len(weights) - 1:
            terms.append(cs.mean(dim=(-2, -1)).clamp_min(0))
            x, y = _halve(x), _halve(y)
        else:
            terms.append(s.mean(dim=(-2, -1)).clamp_min(0))
    w = torch.tensor(weights, dtype=torch.float64, device=x.device).view(-1, 1, 1)
    per_channel = torch.prod(torch.stack(terms) ** w, dim=0)  # (N, C)
    return per_channel.mean(dim=-1)


@metrics.register(summary="peak signal-to-noise ratio (dB, range 255)", weights=None)
class PSNR(Metric):
    """Peak signal-to-noise ratio (dB) over all pixels and channels, data range 255.

    Identical images give +inf.
    """

    name = "psnr"
    version = "1"
    outputs = {"psnr": False}

    def score(self, items: list[Scored]) -> list[dict[str, float]]:
        out = []
        for it in items:
            ref = it.sample.image.astype(np.float64)
            mse = float(np.mean((ref - it.recon.astype(np.float64)) ** 2))
            value = float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)
            out.append({"psnr": value})
        return out


@metrics.register(summary="structural similarity (11x11 Gaussian, σ=1.5, valid region)", weights=None)
class SSIM(Metric):
    """Structural similarity as Wang et al. (2004) and scikit-image compute it.

    Gaussian window 11 x 11, σ 1.5, K1 0.01, K2 0.03, data range 255, population covariance;
    the SSIM map is averaged over the window positions that lie wholly inside the image (no
    padding: an H x W image has an (H - 10) x (W - 10) map), per channel, then over RGB.
    Equal to scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=255, channel_axis=-1)``. Images need at least 11
    px on each side.

    Version 2: the valid region only (version 1 used torchmetrics, which also averaged the
    reflect-padded border).
    """

    name = "ssim"
    version = "2"
    outputs = {"ssim": False}

    def score(self, items: list[Scored]) -> list[dict[str, float]]:
        out: list[dict[str, float]] = [{} for _ in items]
        for idx in _by_shape(items):
            values = ssim(_to_tensor([items[i].recon for i in idx]), _to_tensor([items[i].sample.image for i in idx]))
            for i, v in zip(idx, values.tolist()):
                out[i] = {"ssim": float(v)}
        return out


@metrics.register(summary="multi-scale SSIM (as many of the 5 scales as the size allows)", weights=None)
class MSSSIM(Metric):
    """Multi-scale SSIM (Wang, Simoncelli and Bovik 2003) with up to the standard 5 scales.

    Each scale uses SSIM's 11 x 11 Gaussian window (σ 1.5) over its valid region; between
    scales the image is halved by 2 x 2 averaging. Per channel, MS-SSIM is the product of the
    contrast-structure means of the finer scales and the SSIM mean of the coarsest, each
    raised to its weight (negative means clipped to 0), then averaged over RGB: the authors'
    definition as TensorFlow's ``tf.image.ssim_multiscale`` computes it.

    All 5 scales (weights 0.0448, 0.2856, 0.3001, 0.2363, 0.1333) need a short side of at least
    176 px (11 px at the coarsest scale). Smaller images use the most scales that fit, at least
    2 (short side >= 22 px), with the first weights rescaled to sum to 1: 3 scales for the
    64 x 128 synthetic-streets scenes, 4 from 88 px, 5 from 176 px (256 x 512 Cityscapes). The
    number of scales is not recorded with the value; it follows from the image size
    (:meth:`scales_for`), so values are comparable only between images of similar size.

    Version 2: valid regions at every scale and channels combined after the product (version 1
    used torchmetrics, which averaged the coarsest scale's SSIM over a reflect-padded border).
    """

    name = "ms-ssim"
    version = "2"
    outputs = {"ms-ssim": False}
    WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

    def score(self, items: list[Scored]) -> list[dict[str, float]]:
        out: list[dict[str, float]] = [{} for _ in items]
        for idx in _by_shape(items):
            weights = self.weights_for(min(items[idx[0]].sample.image.shape[:2]))
            values = ms_ssim(_to_tensor([items[i].recon for i in idx]),
                             _to_tensor([items[i].sample.image for i in idx]), weights)
            for i, v in zip(idx, values.tolist()):
                out[i] = {"ms-ssim": float(v)}
        return out

    @staticmethod
    def scales_for(short_side: int) -> int:
        """How many scales fit an image of ``short_side`` px: the coarsest keeps >= 11 px."""
        for scales in (5, 4, 3, 2):
            if short_side // 2 ** (scales - 1) >= WINDOW:
                return scales
        raise ValueError(f"image too small for MS-SSIM: short side {short_side} px, at least {2 * WINDOW} needed")

    @classmethod
    def weights_for(cls, short_side: int) -> tuple[float, ...]:
        """The scale weights used for an image of ``short_side`` px (all 5 as published, or the
        first ones rescaled to sum to 1)."""
        scales = cls.scales_for(short_side)
        if scales == len(cls.WEIGHTS):
            return cls.WEIGHTS
        first = cls.WEIGHTS[:scales]
        return tuple(w / math.fsum(first) for w in first)
