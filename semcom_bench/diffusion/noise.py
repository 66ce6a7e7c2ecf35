"""Noisy training of the semantic diffusion model (first paper, sec. 3.3): the channel on the maps.

Every training step corrupts the conditioning maps as a test-time receiver would see them.
Three named options (``NOISE_MODES``):

* ``"channel"`` (default, the paper's): each image draws a PSNR from
  {1, 5, 10, 15, 20, 30, 100} dB with PSNR 100 weighted x3 (one third of the images are
  noiseless, as in the official σ list), and its maps go through the same sender -> channel
  -> receiver arithmetic as at test time: only the present classes and the instance-edge map
  are sent; their values are paired into complex symbols and scaled to unit average power
  (``power="average"``, the project's Es/N0 convention) or to unit peak power
  (``power="peak"``, the paper's PSNR); AWGN of N0 = 10^(-PSNR/10) per complex symbol is added;
  the receiver undoes the scale and re-inserts the absent classes as exact zeros. Per real
  map value that is Gaussian noise of standard deviation ``scale · sqrt(N0 / 2)`` on the sent
  maps only. :func:`channel_maps` computes it batched on the training device; the tests check
  it against :func:`semcom_bench.semantics.encode_semantics` -> ``AWGN`` ->
  :func:`semcom_bench.semantics.decode_semantics` (same scale, same noise law).
* ``"gesco-code"`` (the official GESCO training code): one σ per step from
  [0.6, 0.36, 0.22, 0.13, 0.08, 0.05, 0, 0, 0], one noise field of shape (B, 1, H, W)
  broadcast across *all* channels, absent classes included, no power normalisation.
  It differs from its own test-time noise (independent per channel, present classes only) and
  from the paper's description: absent classes become noisy during training but are exact
  zeros at test time, and the same noise value hits every channel of a pixel.
* ``"none"``: clean maps (the SDM row of Table 1 / "no noisy training" of Table 5).

FDS is not applied during training by default (the paper inserts it at inference only, and the
official code trains on the raw noisy maps); ``TrainConfig(fds=True)`` (``train gesco --fds``)
passes the noisy maps through FDS so that the network sees what the receiver feeds it.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from semcom_bench.semantics.noise import GESCO_TRAIN_SIGMAS, add_map_noise

NOISE_MODES = ("channel", "gesco-code", "none")
#: PSNRs (dB) of the paper's noisy training and their sampling weights (100 weighted x3).
TRAIN_PSNRS: tuple[float, ...] = (1.0, 5.0, 10.0, 15.0, 20.0, 30.0, 100.0)
TRAIN_PSNR_WEIGHTS: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 3.0)
POWERS = ("average", "peak")


def clean_maps(labels: torch.Tensor, edges: torch.Tensor | None, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot maps + edge map, and which channels the sender transmits.

    Args:
        labels: (B, H, W) integer label ids (values outside ``[0, C)`` get no class).
        edges: (B, H, W) {0, 1} instance-edge maps, or None (no edge channel).
        num_classes: C.

    Returns:
        maps: (B, C(+1), H, W) float32.
        sent: (B, C(+1)) bool: the present classes, and the edge channel (always sent).
    """
    lab = labels.long()
    valid = (lab >= 0) & (lab < num_classes)
    onehot = torch.nn.functional.one_hot(torch.where(valid, lab, torch.zeros_like(lab)), num_classes)
    onehot = (onehot * valid[..., None]).permute(0, 3, 1, 2).float()
    sent = onehot.amax(dim=(2, 3)) > 0
    if edges is not None:
        onehot = torch.cat([onehot, edges[:, None].float()], dim=1)
        sent = torch.cat([sent, torch.ones_like(sent[:, :1])], dim=1)
    return onehot, sent


def symbol_scale(maps: torch.Tensor, sent: torch.Tensor, power: str = "average") -> torch.Tensor:
    """(B,) the sender's power-normalisation scale (``symbols · scale`` = the value pairs).

    ``average``: sqrt of the mean power per complex symbol of the sent values (pairs, an odd
    count padded with one zero), as :func:`semcom_bench.symbols.to_symbols`; ``peak``: the peak
    value times sqrt(2) (a pair of ones has unit power). 1 where nothing is sent.
    """
    if power not in POWERS:
        raise ValueError(f"unknown power normalisation {power!r}; use one of {', '.join(POWERS)}")
    m = sent[:, :, None, None].float()
    if power == "average":
        n_values = sent.sum(dim=1).float() * maps.shape[-2] * maps.shape[-1]
        n_symbols = torch.ceil(n_values / 2.0)
        energy = (maps.float() ** 2 * m).sum(dim=(1, 2, 3))
        p = energy / n_symbols.clamp(min=1.0)
        return torch.where(p > 0, p.sqrt(), torch.ones_like(p))
    peak = (maps.float().abs() * m).amax(dim=(1, 2, 3)) * math.sqrt(2.0)
    return torch.where(peak > 0, peak, torch.ones_like(peak))


def channel_maps(
    maps: torch.Tensor,
    sent: torch.Tensor,
    snr_db: torch.Tensor,
    generator: torch.Generator | None = None,
    power: str = "average",
) -> torch.Tensor:
    """Received maps after sender, AWGN channel at ``snr_db`` and receiver (no FDS).

    Args:
        maps: (B, K, H, W) clean maps (see :func:`clean_maps`).
        sent: (B, K) bool transmitted channels.
        snr_db: (B,) channel SNR per image (dB, Es/N0 per complex symbol).
        generator: random source (on ``maps``' device).
        power: the sender's power normalisation, ``average`` or ``peak``.

    Returns:
        (B, K, H, W) float32: ``maps + scale · sqrt(N0/2) · z`` on the sent channels, zeros on
        the others.
    """
    scale = symbol_scale(maps, sent, power)
    n0 = torch.pow(10.0, -snr_db.to(maps.device, torch.float32) / 10.0)
    std = scale * torch.sqrt(n0 / 2.0)
    z = torch.randn(maps.shape, generator=generator, device=maps.device, dtype=torch.float32)
    m = sent[:, :, None, None].float()
    return maps.float() * m + std[:, None, None, None] * z * m


def draw_psnr(batch: int, generator: torch.Generator | None, device: torch.device | str,
              psnrs: Sequence[float] = TRAIN_PSNRS, weights: Sequence[float] = TRAIN_PSNR_WEIGHTS) -> torch.Tensor:
    """(B,) PSNRs (dB) drawn from ``psnrs`` with probabilities proportional to ``weights``."""
    w = torch.as_tensor(list(weights), dtype=torch.float32, device=device)
    idx = torch.multinomial(w, batch, replacement=True, generator=generator)
    return torch.as_tensor(list(psnrs), dtype=torch.float32, device=device)[idx]


def noisy_training_maps(
    maps: torch.Tensor,
    sent: torch.Tensor,
    mode: str,
    generator: torch.Generator | None = None,
    power: str = "average",
    psnrs: Sequence[float] = TRAIN_PSNRS,
    weights: Sequence[float] = TRAIN_PSNR_WEIGHTS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt a batch of clean maps by the named option (see the module docstring).

    Returns:
        (maps, level): the corrupted (B, K, H, W) float32 maps and (B,) the PSNR drawn per
        image (``channel``), the σ of the step (``gesco-code``) or zeros (``none``).
    """
    b = maps.shape[0]
    if mode == "none":
        return maps.float(), torch.zeros(b, device=maps.device)
    if mode == "channel":
        snr = draw_psnr(b, generator, maps.device, psnrs, weights)
        return channel_maps(maps, sent, snr, generator, power), snr
    if mode == "gesco-code":
        k = int(torch.randint(len(GESCO_TRAIN_SIGMAS), (1,), generator=generator, device=maps.device))
        sigma = float(GESCO_TRAIN_SIGMAS[k])
        return add_map_noise(maps, sigma, generator, shared_across_channels=True, only_present=False), torch.full((b,), sigma, device=maps.device)
    raise ValueError(f"unknown training noise {mode!r}; use one of {', '.join(NOISE_MODES)}")


def drop_labels(maps: torch.Tensor, rate: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Classifier-free guidance training: replace each image's maps by the null label (zeros)
    with probability ``rate``."""
    if rate <= 0:
        return maps
    keep = (torch.rand((maps.shape[0], 1, 1, 1), generator=generator, device=maps.device) >= rate).to(maps.dtype)
    return maps * keep


__all__ = ["NOISE_MODES", "TRAIN_PSNRS", "TRAIN_PSNR_WEIGHTS", "POWERS", "clean_maps", "symbol_scale", "channel_maps",
           "draw_psnr", "noisy_training_maps", "drop_labels"]
