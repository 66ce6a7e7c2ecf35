"""Pixel-fidelity metrics: PSNR, SSIM and MS-SSIM (torchmetrics), on uint8 RGB in [0, 255]."""

from __future__ import annotations

import numpy as np
import torch

from semcom_bench.metrics.base import Metric, Scored
from semcom_bench.registry import metrics


def _to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """(H, W, 3) uint8 images -> (B, 3, H, W) float32 in [0, 255] (float64 convolutions are ~5x slower)."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).to(torch.float32)


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


@metrics.register(summary="structural similarity (11x11 Gaussian, σ=1.5)", weights=None)
class SSIM(Metric):
    """Structural similarity (Gaussian window 11, σ 1.5, data range 255), averaged over RGB."""

    name = "ssim"
    version = "1"
    outputs = {"ssim": False}

    def score(self, items: list[Scored]) -> list[dict[str, float]]:
        from torchmetrics.functional.image import structural_similarity_index_measure as ssim

        preds = _to_tensor([it.recon for it in items])
        target = _to_tensor([it.sample.image for it in items])
        values = ssim(preds, target, data_range=255.0, reduction="none")
        return [{"ssim": float(v)} for v in values]


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

        preds = _to_tensor([it.recon for it in items])
        target = _to_tensor([it.sample.image for it in items])
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
