"""Real payloads <-> unit-power complex channel symbols.

Consecutive real values are paired into one complex symbol (real, imaginary); an odd count
is padded with one zero. The symbols are scaled to unit average power per complex symbol and
the scale is returned, so :func:`from_symbols` inverts :func:`to_symbols` exactly (up to
float32 rounding).
"""

from __future__ import annotations

import torch


def to_symbols(values: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Map real ``values`` (any shape, float) to (N,) complex64 unit-power symbols.

    Returns:
        symbols: (ceil(values.numel() / 2),) complex64 with mean |s|² = 1 (0 stays 0).
        scale: float such that ``symbols * scale`` are the un-normalised pairs.
    """
    flat = values.detach().reshape(-1).to(torch.float32)
    if flat.numel() % 2:
        flat = torch.cat([flat, flat.new_zeros(1)])
    pairs = torch.complex(flat[0::2], flat[1::2])
    power = float(pairs.abs().square().mean()) if pairs.numel() else 0.0
    scale = power**0.5 if power > 0 else 1.0
    return pairs / scale, scale


def from_symbols(symbols: torch.Tensor, scale: float, shape: tuple[int, ...]) -> torch.Tensor:
    """Invert :func:`to_symbols`: (N,) complex symbols -> float32 tensor of ``shape``."""
    pairs = symbols.reshape(-1) * scale
    flat = torch.stack([pairs.real, pairs.imag], dim=1).reshape(-1).to(torch.float32)
    n = 1
    for d in shape:
        n *= d
    return flat[:n].reshape(shape)
