"""The official GESCO map-noise table, offered as a named alternative to the channel model.

In the official code the channel is simulated directly on the one-hot maps: Gaussian noise
of a fixed standard deviation per "SNR" key is added to the maps of the present classes and
the edge map, without power normalisation (absent classes stay exact zeros). By
10 log10(1/σ²) the keys only approximate the paper's PSNR (1 -> 0.9 dB, 5 -> 4.4 dB,
10 -> 8.9 dB, ...). The project's default path instead power-normalises the maps and passes
them through a channel at Es/N0 (see :mod:`semcom_bench.semantics.payload`). To reproduce
the official test-time noise through the runner, use the ``gesco-code`` channel (it adds
σ·N(0, 1) to the un-normalised transmitted maps); the helpers here apply the table directly
to (B, C(+1), H, W) map tensors, e.g. for noisy training. Record which one you used.
"""

from __future__ import annotations

import torch

# σ per "SNR" key of the official sampling code (``SNR_DICT``); the ``gesco-code`` channel
# applies the same table to any payload passed through the runner.
from semcom_bench.channels.gesco_code import GESCO_SIGMA

__all__ = ["GESCO_SIGMA", "GESCO_TRAIN_SIGMAS", "add_map_noise", "present_mask"]
#: σ values drawn uniformly per training step in the official noisy training (0 weighted x3).
GESCO_TRAIN_SIGMAS: tuple[float, ...] = (0.6, 0.36, 0.22, 0.13, 0.08, 0.05, 0.0, 0.0, 0.0)


def present_mask(maps: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, C(+1)) bool: class channels that contain a 1, plus every channel beyond C (the edge map)."""
    mask = maps.amax(dim=(-2, -1)) > 0
    mask[..., num_classes:] = True
    return mask


def add_map_noise(
    maps: torch.Tensor,
    sigma: float | torch.Tensor,
    generator: torch.Generator | None = None,
    present: torch.Tensor | None = None,
    shared_across_channels: bool = False,
    only_present: bool = True,
) -> torch.Tensor:
    """Official-style map noise ``maps + σ·N(0, 1)``.

    The official *sampling* code draws noise per channel and adds it to the transmitted
    (present-class and edge) channels only: the defaults. The official *training* code draws
    one (B, 1, H, W) field, broadcasts it over every channel, absent classes included, with
    one σ per step from :data:`GESCO_TRAIN_SIGMAS`: ``shared_across_channels=True,
    only_present=False``.

    Args:
        maps: (B, C(+1), H, W) float clean maps.
        sigma: a float, or (B,) per-image standard deviations.
        generator: random source.
        present: (B, C(+1)) bool channels that get noise when ``only_present`` (default: the
            non-empty channels; pass :func:`present_mask` to keep an empty edge map noisy).
        shared_across_channels: one noise field for all channels.
        only_present: leave the other channels exact.

    Returns:
        (B, C(+1), H, W) float32 noisy maps.
    """
    b, c, h, w = maps.shape
    shape = (b, 1, h, w) if shared_across_channels else (b, c, h, w)
    noise = torch.randn(shape, generator=generator, dtype=torch.float32, device=maps.device)
    s = torch.as_tensor(sigma, dtype=torch.float32, device=maps.device).reshape(-1, 1, 1, 1)
    noise = noise * s
    if only_present:
        if present is None:
            present = maps.amax(dim=(-2, -1)) > 0
        noise = noise * present[:, :, None, None].to(torch.float32)
    return maps.to(torch.float32) + noise
