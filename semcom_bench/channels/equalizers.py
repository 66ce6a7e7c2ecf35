"""Scalar equalisers for channels with perfect CSI, and the unbiased view of a reception.

Every function works element-wise (in the precision of ``y``; outputs are complex64/float32) on a per-symbol gain ``h`` (a flat-fading coefficient, or
a singular value of a MIMO channel after SVD precoding/combining) and noise power ``no`` per
complex symbol, for the model ``y = h·x + n``, ``n ~ CN(0, no)``, ``E|x|² = 1``.

Two equalisers and three variances (all per symbol, linear):

- **ZF** ``x̂ = y / h = x + n/h``: unbiased; noise variance ``σ_u² = no / |h|²``.
- **MMSE** ``x̃ = w·y``, ``w = h* / (|h|² + no)`` (the third paper's eqs. 19-20 with
  ``|y|² = Es = 1``): biased, ``x̃ = g·x + w·n`` with real gain ``g = |h|² / (|h|² + no)``.
  Its error variance ``E|x̃ - x|² = no / (|h|² + no) = 1 - g`` (over unit-power symbols and
  noise) is the minimum mean squared error. Dividing by ``g`` gives back the unbiased
  ``x̂ = x̃ / g`` with variance ``σ_u²`` — exactly Sionna's ``lmmse_equalizer`` output
  ``(x_hat, no_eff)``. Note ``g = 1 / (1 + σ_u²)``: the diffusion step of the third paper,
  ``ᾱ = 1 / (1 + σ²)``, is reached with ``σ² = σ_u²`` (and then ``g = ᾱ``).

Channels report, for the symbols they return:

- ``state.effective_noise_var``: ``E|symbols - x|²`` (ZF: ``σ_u²``; MMSE: ``1 - g``);
- ``state.info["unbiased_noise_var"]``: ``σ_u²``;
- ``state.info["gain"]``: ``g`` (ones for ZF).

:func:`unbiased_estimate` turns any :class:`~semcom_bench.channels.base.Received` into
``(x̂, σ_u²)``: what a soft demapper or a diffusion step mapping needs.
"""

from __future__ import annotations

import torch

from semcom_bench.channels.base import Received

#: |h|² below this is treated as this (a zero gain has probability zero, but avoid inf/nan)
_TINY = 1e-30


def zf_equalize(y: torch.Tensor, h: torch.Tensor, no: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-forcing: ``x̂ = y / h``.

    Args:
        y: (...) complex64 received samples.
        h: (...) complex64 (or real) per-sample gains, broadcastable to ``y``.
        no: noise power per complex sample (linear, >= 0).

    Returns:
        x_hat: (...) complex64 unbiased estimates.
        noise_var: (...) float32 ``no / |h|²``.
    """
    h = h.to(y.dtype)
    power = h.abs().square().clamp_min(_TINY)
    x_hat = y * h.conj() / power
    return x_hat.to(torch.complex64), (no / power).to(torch.float32)


def mmse_equalize(
    y: torch.Tensor, h: torch.Tensor, no: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear MMSE for unit-power symbols: ``x̃ = h* y / (|h|² + no)``.

    Args:
        y: (...) complex64 received samples.
        h: (...) complex64 (or real) per-sample gains, broadcastable to ``y``.
        no: noise power per complex sample (linear, >= 0).

    Returns:
        x_tilde: (...) complex64 biased MMSE estimates.
        mse: (...) float32 error variance ``E|x̃ - x|² = no / (|h|² + no)``.
        gain: (...) float32 bias ``g = |h|² / (|h|² + no)``, ``x̃ = g·x + noise``.
        unbiased_noise_var: (...) float32 ``no / |h|²``, the variance of ``x̃ / g - x``.
    """
    h = h.to(y.dtype)
    power = h.abs().square().clamp_min(_TINY)
    denom = power + no
    x_tilde = y * h.conj() / denom
    gain = power / denom
    mse = no / denom
    return x_tilde.to(torch.complex64), mse.to(torch.float32), gain.to(torch.float32), (no / power).to(torch.float32)


def equalize(
    y: torch.Tensor, h: torch.Tensor, no: float, equalizer: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """ZF (``equalizer="zf"``) or MMSE (otherwise), with the four values channels report.

    Returns:
        symbols, ``effective_noise_var``, gain and ``unbiased_noise_var``, as
        :func:`mmse_equalize` returns them; for ZF the gain is ones and both variances are
        ``no / |h|²``.
    """
    if equalizer == "zf":
        x_hat, noise_var = zf_equalize(y, h, no)
        return x_hat, noise_var, torch.ones_like(noise_var), noise_var
    return mmse_equalize(y, h, no)


def unbiased_estimate(received: Received) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x̂, σ_u²)`` for any reception: symbols with the equaliser's bias removed.

    Returns:
        x_hat: (N,) complex64, ``x̂ = x + e`` with ``e`` zero-mean, independent of ``x``.
        noise_var: (N,) float32 variance of ``e`` per symbol (linear).

    Channels without a bias (AWGN, ZF) return their symbols and ``effective_noise_var``.
    """
    info = received.state.info
    gain = info.get("gain")
    noise_var = info.get("unbiased_noise_var", received.state.effective_noise_var)
    symbols = received.symbols
    if gain is not None:
        symbols = symbols / gain.clamp_min(_TINY)
    return symbols.to(torch.complex64), noise_var.to(torch.float32)
