"""The channel as the forward process of diffusion: DDSC's SNR -> diffusion-step mapping (paper §III).

Notation (the paper's): a latent ``y`` (real, in the latent's own units: SD's scaled latent) is
received as ``ŝ = y + σ·ε`` with ``ε ~ N(0, 1)`` per real value. The forward process of the
diffusion model is ``y_t = √ᾱ_t·y + √(1-ᾱ_t)·ε_t`` (eq. 10). Then

* **eq. 15-16:** ``√ᾱ_u·ŝ = √ᾱ_u·y + √(1-ᾱ_u)·ε`` exactly when ``ᾱ_u = 1/(1+σ²)``: the channel *is*
  the forward process up to step u, and the reverse process starts there (eq. 17);
* **eq. 14 (fixed forward process):** to reach a set step T with ``ᾱ_T < ᾱ_u`` the receiver adds
  the compensation noise ``n_cps = √((1-ᾱ_T)/ᾱ_T - σ²)·ε'``: ``√ᾱ_T·(ŝ + n_cps)`` is exactly
  ``y_T``; the paper's "200 steps" are 200 DDIM steps of the official 500-entry grid, training step
  401, ``ᾱ = 0.4229``, an SNR of -1.35 dB;
* **eqs. 18-22 (Rayleigh + MMSE)** and **23-29 (MIMO + SVD):** per element (per stream) the same
  with that element's noise. In this project's channels (:mod:`semcom_bench.channels`) every
  reception has an exact per-symbol unbiased noise variance ``σ_u²`` (``unbiased_estimate``):
  ``N0`` for AWGN, ``N0/|h|²`` per element for Rayleigh, ``N0/σ_i²`` per stream for MIMO, whose
  MMSE gain ``g = 1/(1+σ_u²)`` is ``ᾱ`` for unit-power symbols (``rayleigh.py``).

Units. Symbols are unit-power complex pairs of the sender's real values (:mod:`semcom_bench.symbols`):
a real tensor of mean square ``P`` (per real value) goes out as pairs scaled by ``1/√(2P)``, so a
symbol noise variance ``σ_u²`` (per complex symbol, relative to Es = 1) is ``σ² = P·σ_u²`` per real
value in the sender's units. For the latent this is the official ``α̃ = snr/(snr + P)`` with
``P = mean(y²)`` (``ddim.py::stochastic_encode_from_snr``): ``1/(1 + P/snr)``.

One start step per image. A U-Net takes one timestep per image, but Rayleigh and MIMO give every
element (stream) its own ``ᾱ_i``. :func:`aggregate_alpha` picks the image's ``ᾱ_u``: ``mean`` of
the ``ᾱ_i`` (exact for AWGN, finite for Rayleigh where the mean of ``σ_u²`` is not) or
``nominal`` (the configured SNR, i.e. ``|h| = 1``: the paper's evaluation assumption). Then
:func:`to_level` brings every element to the start level: an element cleaner than it gets the
eq.-14 compensation noise (exact), a noisier one is left at its own level ``√ᾱ_i·ŝ_i`` (its exact
forward state, which has more noise than the start step assumes: nothing can remove it).

Discrete steps. A sampler runs on a grid of training steps (DDIM: ``steps`` entries).
:func:`grid_index` is the official rule: the grid step with the largest ``ᾱ_k <= ᾱ_u`` (at least
as much noise as the channel). The official code then starts from the received signal as it is
(its noise is slightly *below* step k's); this module's default adds the gap ``ᾱ_u -> ᾱ_k`` as
eq. 14 does (:func:`jump`), so the state is exactly ``y_k``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from semcom_bench.channels.base import Received
from semcom_bench.channels.equalizers import unbiased_estimate

Aggregate = Literal["mean", "nominal"]


# --------------------------------------------------------------------------------------------
# closed forms
# --------------------------------------------------------------------------------------------


def alpha_from_noise_var(noise_var: torch.Tensor | float) -> torch.Tensor:
    """``ᾱ_u = 1/(1 + σ²)`` (eq. 16) for a noise variance ``σ²`` per real value in the latent's units."""
    var = torch.as_tensor(noise_var, dtype=torch.float64)
    return 1.0 / (1.0 + var)


def noise_var_from_alpha(alpha: torch.Tensor | float) -> torch.Tensor:
    """Inverse of :func:`alpha_from_noise_var`: ``σ² = (1 - ᾱ)/ᾱ``."""
    a = torch.as_tensor(alpha, dtype=torch.float64)
    return (1.0 - a) / a


def alpha_from_snr(snr_db: float | torch.Tensor, power: float | torch.Tensor = 1.0) -> torch.Tensor:
    """The official ``α̃ = snr/(snr + P)`` (snr linear from dB, ``P`` the latent's mean square).

    Equal to ``1/(1 + P·N0)`` with ``N0 = 10^(-snr_db/10)``: :func:`alpha_from_noise_var` of the
    AWGN noise ``σ² = P·N0`` per real value.
    """
    snr = 10.0 ** (torch.as_tensor(snr_db, dtype=torch.float64) / 10.0)
    return snr / (snr + torch.as_tensor(power, dtype=torch.float64))


def snr_db_from_alpha(alpha: torch.Tensor | float, power: float = 1.0) -> torch.Tensor:
    """The SNR (dB) whose :func:`alpha_from_snr` is ``alpha``: ``10 log10(P·ᾱ/(1-ᾱ))``."""
    a = torch.as_tensor(alpha, dtype=torch.float64)
    return 10.0 * torch.log10(power * a / (1.0 - a))


# --------------------------------------------------------------------------------------------
# per-element noise of a reception
# --------------------------------------------------------------------------------------------


def symbol_noise(received: Received, aggregate: Aggregate = "mean",
                 power: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(x̂, σ_u², σ̄²) of a reception.

    Args:
        received: a channel's output (any of this project's channels).
        aggregate: how the image's one noise level is made of the per-symbol ones (below).
        power: ``P``, the mean square per real value of what the symbols carry, in its own
            units (a latent: its mean square; 1: unit-power symbol units).

    Returns:
        x_hat: (N,) complex64 unbiased estimates of the sent unit-power symbols.
        noise_var: (N,) float64 ``σ_u²`` per complex symbol relative to Es = 1 (AWGN: N0;
            Rayleigh: N0/|h|²; MIMO: N0/σ_i² of the symbol's stream; ZF and MMSE alike); the
            noise per real value in the carried units is ``P·σ_u²``.
        common: the image's noise variance per real value in the carried units: ``nominal`` =
            ``P·N0`` (the configured SNR, as if |h| = 1); ``mean`` = the ``σ̄²`` whose
            ``1/(1+σ̄²)`` is the mean over the symbols of ``ᾱ_i = 1/(1 + P·σ_u²)``.
    """
    x_hat, var = unbiased_estimate(received)
    var = var.to(torch.float64)
    if aggregate == "nominal":
        common = float(power) * float(received.state.noise_power)
    else:
        common = float(noise_var_from_alpha(alpha_from_noise_var(float(power) * var).mean()))
    return x_hat, var, common


def per_real(noise_var: torch.Tensor, count: int) -> torch.Tensor:
    """(count,) the per-symbol ``noise_var`` of (N,) symbols repeated for both real values of each pair."""
    return noise_var.repeat_interleave(2)[:count]


def to_level(values: torch.Tensor, noise_var: torch.Tensor, target_var: float, generators: list[torch.Generator] | None,
             signal_power: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Every element of ``values = v + σ_i·ε`` brought to the noise level ``target_var`` where it can be.

    Args:
        values: (B, ...) float real values ``v + σ_i ε``.
        noise_var: (B, ...) float ``σ_i²`` per element (same units as ``values²``).
        target_var: the common level ``σ*²`` (a number, or (B,) per image).
        generators: one CPU generator per image for the compensation noise (None: torch's global).
        signal_power: what ``ᾱ`` is relative to (1 for a diffusion latent; the mean square of a
            non-latent signal), a number or (B,).

    Returns:
        (B, ...) float32: where ``σ_i² <= σ*²``, ``values + √(σ*² - σ_i²)·ε'`` (eq. 14: the noise is
        then exactly ``σ*``); elsewhere ``√(ᾱ_i/ᾱ*)·values`` with ``ᾱ = 1/(1 + σ²/P)``, so that
        ``√ᾱ*`` times it is the element's own forward state ``√ᾱ_i·values``.
    """
    b = values.shape[0]
    shape = (b,) + (1,) * (values.ndim - 1)
    target = torch.as_tensor(target_var, dtype=torch.float64).reshape(-1)
    target = (target if target.numel() == b else target.expand(b)).reshape(shape).to(values.device)
    power = torch.as_tensor(signal_power, dtype=torch.float64).reshape(-1)
    power = (power if power.numel() == b else power.expand(b)).reshape(shape).to(values.device)
    var = noise_var.to(torch.float64)
    if generators is None:
        eps = torch.randn(values.shape, dtype=torch.float64)
    else:
        eps = torch.stack([torch.randn(tuple(values.shape[1:]), generator=g, dtype=torch.float64) for g in generators])
    eps = eps.to(values.device)
    cleaner = var <= target
    compensated = values.double() + torch.sqrt((target - var).clamp_min(0.0)) * eps
    shrink = torch.sqrt((1.0 + target / power) / (1.0 + var / power))
    return torch.where(cleaner, compensated, shrink * values.double()).to(torch.float32)


def jump(x: torch.Tensor, alpha_from: torch.Tensor, alpha_to: torch.Tensor,
         generators: list[torch.Generator] | None) -> torch.Tensor:
    """The forward process from ``ᾱ_from`` to ``ᾱ_to <= ᾱ_from``: ``√(ᾱ_to/ᾱ_from)·x + √(1 - ᾱ_to/ᾱ_from)·ε``.

    ``x`` (B, ...) float is a state at ``ᾱ_from``; ``alpha_*`` are (B,) (or numbers). Where
    ``ᾱ_to >= ᾱ_from`` nothing is added and ``x`` is returned as it is (no noise can be removed).
    """
    b = x.shape[0]
    shape = (b,) + (1,) * (x.ndim - 1)
    a_from = torch.as_tensor(alpha_from, dtype=torch.float64).reshape(-1).expand(b).reshape(shape).to(x.device)
    a_to = torch.as_tensor(alpha_to, dtype=torch.float64).reshape(-1).expand(b).reshape(shape).to(x.device)
    ratio = (a_to / a_from).clamp(max=1.0)
    if generators is None:
        eps = torch.randn(x.shape, dtype=torch.float64)
    else:
        eps = torch.stack([torch.randn(tuple(x.shape[1:]), generator=g, dtype=torch.float64) for g in generators])
    out = torch.sqrt(ratio) * x.double() + torch.sqrt(1.0 - ratio) * eps.to(x.device)
    return out.to(torch.float32)


# --------------------------------------------------------------------------------------------
# the step grid
# --------------------------------------------------------------------------------------------


def official_ddim_timesteps(ddim_steps: int, num_train_timesteps: int = 1000) -> np.ndarray:
    """ldm's ``make_ddim_timesteps(uniform)``: ``range(0, T, T // S) + 1`` (its length check is off:
    ``--ddim_steps 400`` gives stride 2 and **500** steps 1, 3, ..., 999)."""
    c = num_train_timesteps // int(ddim_steps)
    return np.asarray(list(range(0, num_train_timesteps, c))) + 1


@dataclass(frozen=True)
class Grid:
    """A sampler's step grid, ascending (index 0 = least noise).

    Attributes:
        timesteps: (S,) int64 training steps ``t_0 < t_1 < ...``.
        alphas: (S,) float64 ``ᾱ`` at each (decreasing).
    """

    timesteps: torch.Tensor
    alphas: torch.Tensor

    def __len__(self) -> int:
        return int(self.timesteps.numel())

    @classmethod
    def from_scheduler(cls, scheduler) -> "Grid":
        """The grid of a diffusers scheduler after ``set_timesteps`` (its ``timesteps``, descending)."""
        t = torch.as_tensor(scheduler.timesteps).to(torch.int64).flip(0)
        a = torch.as_tensor(scheduler.alphas_cumprod, dtype=torch.float64)[t]
        return cls(t, a)

    @classmethod
    def official(cls, alphas_cumprod: torch.Tensor, ddim_steps: int) -> "Grid":
        """The official ldm DDIM grid of ``--ddim_steps`` over a training schedule's ``ᾱ``."""
        t = torch.as_tensor(official_ddim_timesteps(ddim_steps, len(alphas_cumprod)), dtype=torch.int64)
        return cls(t, torch.as_tensor(alphas_cumprod, dtype=torch.float64)[t])


def grid_index(alpha_u: torch.Tensor | float, alphas: torch.Tensor) -> torch.Tensor:
    """The official rule: index of the grid step with the largest ``ᾱ_k <= ᾱ_u`` (ties included).

    ``alphas`` (S,) decreasing; ``alpha_u`` a number or (B,). When every grid step is cleaner than
    the channel (``ᾱ_u`` below the last one), the last index (most noise). Returns (B,) int64
    (a 0-d tensor for a number).
    """
    a = torch.as_tensor(alpha_u, dtype=torch.float64)
    sq = torch.sqrt(alphas.to(torch.float64))
    ok = sq.unsqueeze(0) <= torch.sqrt(a).reshape(-1, 1)  # the official compares square roots
    first = torch.where(ok.any(1), ok.to(torch.int64).argmax(1), torch.full_like(ok[:, 0], len(alphas) - 1,
                                                                              dtype=torch.int64))
    return first.reshape(a.shape)


def official_step(snr_db: float, alphas: torch.Tensor, power: float = 1.0) -> int:
    """The official ``tilde_t`` of ``stochastic_encode_from_snr`` (α̃ = snr/(snr+P), then :func:`grid_index`)."""
    return int(grid_index(alpha_from_snr(snr_db, power), alphas))


def start_index(alpha_u: torch.Tensor, grid: Grid, mode: Literal["adaptive", "fixed"], fixed_step: int) -> torch.Tensor:
    """(B,) grid index each image's reverse process starts at.

    ``adaptive`` (eqs. 15-17): :func:`grid_index` of the channel's ``ᾱ_u``. ``fixed`` (eq. 14): index
    ``fixed_step`` when the channel is at least as clean as it (``ᾱ_u >= ᾱ_fixed``: compensation
    noise fills the rest); a channel noisier than the fixed step cannot be brought to it and starts
    at its own (adaptive) index, as far as the grid goes.
    """
    adaptive = grid_index(alpha_u, grid.alphas).reshape(-1)
    if mode == "adaptive":
        return adaptive
    fixed = torch.full_like(adaptive, int(fixed_step))
    return torch.maximum(adaptive, fixed)


__all__ = [
    "Aggregate", "alpha_from_noise_var", "noise_var_from_alpha", "alpha_from_snr", "snr_db_from_alpha", "symbol_noise",
    "per_real", "to_level", "jump", "official_ddim_timesteps", "Grid", "grid_index", "official_step", "start_index",
]
