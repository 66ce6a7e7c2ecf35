"""CDDM's schedule, SNR -> start step, and deterministic reverse process (``CDDM/Diffusion/Diffusion.py``).

**Signal model.** The JSCC latent, power-normalised per image to unit power per complex symbol,
is laid out as real values ``x0`` (B, C, H, W) (so ``E[x0²] = 1/2``); the channel adds noise of
variance ``σ² = N0/2`` per real value, ``N0 = 10^(−SNR/10)`` (the project's convention: Es/N0 per
complex symbol, :mod:`semcom_bench.channels.base`). Scaling the received ``y = x0 + σ·ε`` by
``1/√(1+σ²)`` gives ``√ᾱ·x0 + √(1−ᾱ)·ε`` with ``ᾱ = 1/(1+σ²)``: the diffusion forward process at
the step where ``ᾱ_t`` is closest to that.

**Schedule** (``noise_schedule=1``): β = linspace(1e−4, 0.02, T = 1000) in float64, ᾱ = cumprod(1−β),
``snr_t = 10·log10(ᾱ_t / (1−ᾱ_t))`` dB.

**Start step** (:func:`start_step`), two conventions:

* ``paper`` (default): ``t = argmin_t |snr_t − 10·log10(1/σ²)| + 1``, i.e. matched at SNR + 3.01 dB
  (``ᾱ_t ≈ 1/(1+σ²)``, the scaling actually applied): 0 dB -> 197 steps, 10 dB -> 66, 20 dB -> 18.
* ``official``: ``t = argmin_t |snr_t − SNR| + 1`` (``match_snr_t(snr) + 1``): the steps of twice the
  true noise variance: 0 dB -> 259, 5 -> 162, 10 -> 93, 13 -> 66, 15 -> 52, 20 -> 27. The official
  sampler also clamps ``snr = max(snr, t_max)`` (``Tmax = [10]`` in ``main.py``; it never binds in
  the official evaluation at 10 dB): ``tmax_db`` here, off unless given.

**Fading** (Rayleigh, perfect CSI, per-symbol ``h``): the received ``y = h·s + n`` is MMSE-equalised
with ``w = h*/(|h|² + s_eq)``, which gives ``g·x0 + h_n·σ·ε`` per real value with
``g = |h|²/(|h|² + s_eq)`` and ``h_n = |h|/(|h|² + s_eq)``; the network's noise prediction is
multiplied by ``h_n`` at every step and it is conditioned on ``|h|`` (ones for AWGN). ``paper``:
``s_eq = N0`` (the true MMSE; the project's Rayleigh channel returns exactly this estimate), so
``h_n·σ`` is the noise's true standard deviation. ``official``: ``s_eq = 10^(−(SNR+3)/10) ≈ N0/2``
(``sigma_square_fix`` from ``snr_train = snr_in + large_snr``). The reverse process then ends at
an estimate of ``g·x0`` (the official output; its stage 3 re-trains the decoder on it).

**Reverse process** (:func:`reverse`): from ``x_{t-1}`` down to 0 (``t`` network calls), DDIM with
η = 0 and ε-prediction: ``x_{k−1} = √ᾱ_{k−1}/√ᾱ_k·(x_k − √(1−ᾱ_k)·ε̂) + √(1−ᾱ_{k−1})·ε̂``, the last step
``x0 = (x_k − √(1−ᾱ_0)·ε̂)/√ᾱ_0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

CONVENTIONS = ("paper", "official")
#: 10·log10(2): the paper convention matches the step 3.01 dB above the official one
TWO_DB = 10.0 * math.log10(2.0)


@dataclass(frozen=True)
class Schedule:
    """The linear β schedule (float64 tensors of length T).

    Attributes:
        alphas_bar: ᾱ_t = Π_{s<=t} (1 − β_s), t = 0..T−1.
    """

    alphas_bar: torch.Tensor

    @classmethod
    def linear(cls, T: int = 1000, beta_1: float = 1e-4, beta_T: float = 0.02) -> "Schedule":
        betas = torch.linspace(beta_1, beta_T, T, dtype=torch.float64)
        return cls(torch.cumprod(1.0 - betas, dim=0))

    @property
    def T(self) -> int:
        return int(self.alphas_bar.numel())

    @property
    def snr_db(self) -> torch.Tensor:
        """(T,) float64 ``10·log10(ᾱ_t/(1−ᾱ_t))`` (dB), decreasing in t."""
        return -10.0 * torch.log10((1.0 - self.alphas_bar) / self.alphas_bar)

    def match(self, target_db: float) -> int:
        """Index t of the step whose ``snr_t`` is closest to ``target_db`` (``match_snr_t``)."""
        return int(torch.argmin(torch.abs(self.snr_db - float(target_db))))


def noise_var_per_real(snr_db: float) -> float:
    """σ² = N0/2: the channel noise variance per real value for unit-power complex symbols at ``snr_db``."""
    return 0.5 * 10.0 ** (-float(snr_db) / 10.0)


def target_db(snr_db: float, convention: str = "paper", tmax_db: float | None = None) -> float:
    """The ``snr_t`` (dB) the start step is matched to; see the module docstring."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown CDDM convention {convention!r}; known: {', '.join(CONVENTIONS)}")
    snr = float(snr_db)
    if convention == "official":
        return max(snr, float(tmax_db)) if tmax_db is not None else snr
    target = -10.0 * math.log10(noise_var_per_real(snr))  # SNR + 3.01 dB
    return max(target, float(tmax_db) + TWO_DB) if tmax_db is not None else target


def start_step(snr_db: float, convention: str = "paper", tmax_db: float | None = None,
               schedule: Schedule | None = None) -> int:
    """Number of reverse steps (network calls) at ``snr_db`` (dB, Es/N0): ``argmin + 1``."""
    sched = schedule or Schedule.linear()
    return sched.match(target_db(snr_db, convention, tmax_db)) + 1


def equalizer_noise(snr_db: float, no: float, convention: str = "paper") -> float:
    """``s_eq`` of the MMSE weights ``h*/(|h|² + s_eq)`` (linear): N0 (paper) or 10^(−(SNR+3)/10) (official)."""
    if convention == "official":
        return 10.0 ** (-(float(snr_db) + 3.0) / 10.0)
    return float(no)


def reverse(model: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor,
            cond: torch.Tensor, eps_scale: torch.Tensor | float, steps: int,
            schedule: Schedule | None = None) -> torch.Tensor:
    """The deterministic reverse process of ``ChannelDiffusionSampler.forward``.

    Args:
        model: ``eps(x_t, t, cond)`` -> (B, C, H, W) noise prediction.
        x: (B, C, H, W) float32, the scaled (and equalised) received latent, taken as ``x_{steps−1}``.
        cond: (B, C, H, W) float32 ``|h|`` per real value (ones for AWGN).
        eps_scale: ``h_n`` per real value (or 1.0 for AWGN) multiplying every noise prediction.
        steps: reverse steps t (network calls); 0 returns ``x`` as it is.
        schedule: the β schedule (default: linear, T = 1000).

    Returns:
        (B, C, H, W) float32 estimate of x0 (of ``g·x0`` over fading).
    """
    sched = schedule or Schedule.linear()
    sa = torch.sqrt(sched.alphas_bar).float()
    s1a = torch.sqrt(1.0 - sched.alphas_bar).float()
    if not 0 <= steps <= sched.T:
        raise ValueError(f"steps must be in [0, {sched.T}], got {steps}")
    B = x.shape[0]
    for k in reversed(range(steps)):
        t = torch.full((B,), k, dtype=torch.long, device=x.device)
        eps = model(x, t, cond) * eps_scale
        if k > 0:
            x = sa[k - 1] / sa[k] * (x - s1a[k] * eps) + s1a[k - 1] * eps
        else:
            x = (x - s1a[k] * eps) / sa[k]
    return x


def prepare(y: torch.Tensor, habs: torch.Tensor | None, snr_db: float, no: float,
            convention: str = "paper") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | float]:
    """The sampler's start ``x``, conditioning ``|h|`` and noise scaling from a reception (real layout).

    Args:
        y: (B, C, H, W) float32, the received latent in unit-power units. AWGN: ``x0 + noise``.
            Fading: the *unbiased* (zero-forcing) estimate ``x̂ = y/h`` per symbol, i.e.
            ``x0 + noise/h``.
        habs: (B, C, H, W) float32 ``|h|`` per real value, or None for AWGN.
        snr_db: the channel's SNR (dB, Es/N0 per complex symbol).
        no: N0, noise power per complex symbol (linear).
        convention: ``paper`` or ``official`` (module docstring).

    Returns:
        ``(x, cond, eps_scale)`` for :func:`reverse`.
    """
    scale = 1.0 / math.sqrt(1.0 + noise_var_per_real(snr_db))
    if habs is None:
        return y * scale, torch.ones_like(y), 1.0
    s = equalizer_noise(snr_db, no, convention)
    p = habs.square()
    x = y * (p / (p + s)) * scale  # = h*·y_raw/(|h|² + s), scaled
    return x, habs, habs / (p + s)


__all__ = ["CONVENTIONS", "Schedule", "noise_var_per_real", "target_db", "start_step", "equalizer_noise", "reverse",
           "prepare"]
