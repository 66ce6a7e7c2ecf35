"""Pixel-fidelity metrics: PSNR, SSIM and MS-SSIM, on uint8 RGB in [0, 255].

SSIM is computed here, in torch (float64), rather than by a library whose border handling
changes between versions:

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

MS-SSIM still comes from torchmetrics.
"""

from __future__ import annotations

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
    """(N, C, H, W) -> (N, C, H - 10, W - 10): the Gaussian window where it fits inside."""
    n, c, h, w = x.shape
    g = gaussian_window().to(x.device)
    flat = x.reshape(n * c, 1, h, w)
    flat = F.conv2d(flat, g.view(1, 1, 1, -1))
    flat = F.conv2d(flat, g.view(1, 1, -1, 1))
    return flat.reshape(n, c, h - WINDOW + 1, w - WINDOW + 1)


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
    """Multi-scale SSIM with the standard 5 scales; needs the short side >= 161 px.

    With smaller images it uses as many scales as fit (at least 2) and records how many.
    """

    name = "ms-ssim"
    version = "1"
    outputs = {"ms-ssim": False}
    WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

    def score(self, items: list[Scored]) -> list[dict[str, float]]:
        from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as msssim

        preds = _to_tensor([it.recon for it in items]).to(torch.float32)
        target = _to_tensor([it.sample.image for it in items]).to(torch.float32)
        scales, kernel = self.scales_for(min(preds.shape[-2:]))
        weights = self.WEIGHTS[:scales]
        norm = sum(weights)
        values = msssim(
            preds,
            target,
            data_range=255.0,
            kernel_size=kernel,
            betas=tuple(w / norm for w in weights),
            reduction="none",
            normalize="relu",
        )
        return [{"ms-ssim": float(v)} for v in values]

    @staticmethod
    def scales_for(short_side: int) -> tuple[int, int]:
        """(number of scales, Gaussian kernel size) that fit an image of ``short_side`` px."""
        for kernel in (11, 7, 5, 3):
            for scales in (5, 4, 3, 2):
                if short_side // (2 ** (scales - 1)) > kernel - 1:
                    return scales, kernel
        raise ValueError(f"image too small for MS-SSIM (short side {short_side} px)")

    def unavailable(self) -> str | None:
        return None
