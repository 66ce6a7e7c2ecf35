"""Uncoded bit error rates: Gray mapping, hard decisions, closed forms and a Monte Carlo check.

Conventions (the project's, see :mod:`semcom_bench.channels.base`):

- **SNR** is Es/N0 per complex symbol with unit average symbol energy (Es = 1). Functions
  named ``*_db`` or taking ``snr_values`` / ``snr_db`` use **dB**; :func:`ber_given_snr` and
  :func:`closed_form_ber` take the **linear** ratio ``γ = 10^(snr_db/10)``. Eb/N0 (dB) is
  Es/N0 (dB) minus ``10·log10(m)`` for ``m`` bits per symbol.
- **Bits** are ``(n·m,)`` int64 tensors of 0/1, ``m`` consecutive bits per symbol, and
  **symbols** ``(n,)`` complex64 tensors (:func:`modulate`, :func:`demodulate`).
- :func:`q_function` and :func:`ber_given_snr` work element-wise on float64 tensors of any
  shape and return the same shape; :func:`closed_form_ber` returns a Python float (or None
  where no closed form is known).
- :func:`simulate_ber` returns one dict per SNR value (see its docstring); rates are floats
  in [0, 1], counts ints.

Modulations (:data:`MODULATIONS`): ``bpsk`` (1 bit), ``qpsk`` (2), ``16qam`` (4), all Gray
labelled with unit average energy. Closed forms: AWGN exact; Rayleigh (h ~ CN(0,1), coherent
detection with CSI) and M×M MIMO with SVD streams averaged over the fading (up to
:data:`MAX_CLOSED_FORM_ANTENNAS` antennas).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from numpy.polynomial import laguerre, polynomial

from semcom_bench import registry
from semcom_bench.channels.equalizers import unbiased_estimate
from semcom_bench.specs import parse_spec

#: modulation -> bits per symbol (all Gray-labelled, unit average energy Es = 1)
MODULATIONS = {"bpsk": 1, "qpsk": 2, "16qam": 4}


def q_function(x: torch.Tensor) -> torch.Tensor:
    """Gaussian tail Q(x) = P(N(0,1) > x), element-wise on a float64 tensor."""
    return 0.5 * torch.special.erfc(x / math.sqrt(2.0))


def modulate(bits: torch.Tensor, modulation: str) -> torch.Tensor:
    """(n·m,) {0,1} int64 -> (n,) complex64 unit-energy Gray symbols.

    BPSK: ``1 - 2b`` on the real axis. QPSK: ``((1-2b0) + j(1-2b1)) / √2``. 16-QAM: each
    axis is a Gray 4-PAM, ``(1-2b_sign)·(1+2b_outer) / √10`` (levels ±1, ±3).
    """
    m = MODULATIONS[modulation]
    b = bits.reshape(-1, m).to(torch.float32)
    if modulation == "bpsk":
        return torch.complex(1 - 2 * b[:, 0], torch.zeros_like(b[:, 0]))
    if modulation == "qpsk":
        return torch.complex(1 - 2 * b[:, 0], 1 - 2 * b[:, 1]) / math.sqrt(2.0)
    re = (1 - 2 * b[:, 0]) * (1 + 2 * b[:, 1])
    im = (1 - 2 * b[:, 2]) * (1 + 2 * b[:, 3])
    return torch.complex(re, im) / math.sqrt(10.0)


def demodulate(symbols: torch.Tensor, modulation: str) -> torch.Tensor:
    """Hard Gray decisions: (n,) complex -> (n·m,) int64 bits (inverse of :func:`modulate`)."""
    re, im = symbols.real, symbols.imag
    if modulation == "bpsk":
        out = [re < 0]
    elif modulation == "qpsk":
        out = [re < 0, im < 0]
    else:
        t = 2.0 / math.sqrt(10.0)
        out = [re < 0, re.abs() > t, im < 0, im.abs() > t]
    return torch.stack(out, dim=1).reshape(-1).to(torch.int64)


def ber_given_snr(snr: torch.Tensor, modulation: str) -> torch.Tensor:
    """BER of Gray ``modulation`` at per-symbol linear SNR ``snr`` (Es/N0) over AWGN (exact).

    BPSK ``Q(√(2γ))``; QPSK ``Q(√γ)`` (= ``Q(√(2 Eb/N0))``, Eb = Es/2); 16-QAM
    ``(3Q(x) + 2Q(3x) - Q(5x)) / 4`` with ``x = √(γ/5)`` (Eb = Es/4).
    """
    if modulation == "bpsk":
        return q_function((2 * snr).sqrt())
    if modulation == "qpsk":
        return q_function(snr.sqrt())
    x = (snr / 5).sqrt()
    return (3 * q_function(x) + 2 * q_function(3 * x) - q_function(5 * x)) / 4


def _gamma_q(c: float, order: int) -> float:
    """E[Q(√(c·λ))] for λ ~ Gamma(order, 1) (the L-branch MRC formula with μ = √(c / (2 + c)))."""
    mu = math.sqrt(c / (2.0 + c))
    lo, hi = (1.0 - mu) / 2.0, (1.0 + mu) / 2.0
    return lo**order * sum(math.comb(order - 1 + j, j) * hi**j for j in range(order))


def _fading_q(c: float, antennas: int) -> float:
    """E[Q(√(c·λ))] for λ an unordered eigenvalue of HHᴴ, H M×M with i.i.d. CN(0,1) entries.

    The marginal density is ``(1/M) Σ_{k<M} L_k(λ)² e^{-λ}`` (L_k: Laguerre polynomials).
    Writing ``Σ L_k² = Σ_j a_j λ^j`` gives ``(1/M) Σ_j a_j j! E_Gamma(j+1)[Q(√(cλ))]``.
    M = 1 is the Rayleigh channel: ``0.5 (1 - √((c/2) / (1 + c/2)))``.
    """
    total = np.zeros(1)
    for k in range(antennas):
        lk = laguerre.lag2poly([0] * k + [1])
        total = polynomial.polyadd(total, polynomial.polymul(lk, lk))
    return sum(float(a) * math.factorial(j) * _gamma_q(c, j + 1) for j, a in enumerate(total)) / antennas


#: largest M for which the MIMO closed form is evaluated (the polynomial coefficients grow fast)
MAX_CLOSED_FORM_ANTENNAS = 8


def closed_form_ber(channel: str, modulation: str, es_n0: float, antennas: int = 1) -> float | None:
    """Closed-form uncoded BER at linear Es/N0 per complex symbol, or None where none is known.

    AWGN: :func:`ber_given_snr`. Rayleigh (h ~ CN(0,1), coherent detection with CSI, any
    block length and either equaliser): each ``Q(√(c·γ))`` term of :func:`ber_given_snr`
    averaged over ``|h|² ~ Exp(1)``, i.e. ``0.5 (1 - √(γb / (1 + γb)))`` for BPSK/QPSK with
    γb = Eb/N0 per bit. MIMO M×M with SVD streams: the same terms averaged over the unordered
    eigenvalue of the Wishart matrix HHᴴ (symbols are spread evenly over the streams).
    """
    if channel == "awgn":
        return float(ber_given_snr(torch.tensor(es_n0, dtype=torch.float64), modulation))
    if channel == "rayleigh":
        antennas = 1
    elif channel != "mimo" or antennas > MAX_CLOSED_FORM_ANTENNAS:
        return None
    if modulation == "bpsk":
        return _fading_q(2 * es_n0, antennas)
    if modulation == "qpsk":
        return _fading_q(es_n0, antennas)
    q = [_fading_q(k * k * es_n0 / 5, antennas) for k in (1, 3, 5)]
    return (3 * q[0] + 2 * q[1] - q[2]) / 4


def simulate_ber(channel_spec: str, modulation: str, snr_values: tuple[float, ...], num_bits: int, seed: int) -> list[dict[str, Any]]:
    """Uncoded BER of ``modulation`` over ``channel_spec`` at each SNR (dB, Es/N0 per symbol).

    The same ``num_bits`` random bits (from ``seed``) are sent at every SNR; the channel's
    draws at SNR index ``i`` come from a generator seeded with ``seed·1000 + i + 1``. The
    receiver removes any equaliser bias (:func:`unbiased_estimate`) and takes hard Gray
    decisions. Returns one row per SNR: ``snr_db`` and ``ebn0_db`` (dB), ``errors`` and
    ``bits`` (ints; ``bits`` is ``num_bits`` rounded up to whole symbols), ``simulated``
    (errors / bits), ``closed_form`` (:func:`closed_form_ber`, None if unknown) and
    ``given_csi`` (the exact BER averaged over the drawn per-symbol post-equalisation SNRs).
    """
    spec = parse_spec(channel_spec)
    channel = registry.channels.create(spec.name, **spec.params)
    m = MODULATIONS[modulation]
    num_sym = max(1, -(-num_bits // m))
    bits = torch.randint(0, 2, (num_sym * m,), generator=torch.Generator().manual_seed(seed))
    x = modulate(bits, modulation)
    antennas = int(getattr(channel, "antennas", 1))
    rows = []
    for i, snr_db in enumerate(snr_values):
        rx = channel(x, float(snr_db), torch.Generator().manual_seed(seed * 1000 + i + 1))
        x_hat, noise_var = unbiased_estimate(rx)
        errors = int((demodulate(x_hat, modulation) != bits).sum())
        given = float(ber_given_snr(1.0 / noise_var.to(torch.float64).clamp_min(1e-300), modulation).mean())
        rows.append({
            "snr_db": float(snr_db),
            "ebn0_db": float(snr_db) - 10 * math.log10(m),
            "errors": errors,
            "bits": int(bits.numel()),
            "simulated": errors / bits.numel(),
            "closed_form": closed_form_ber(channel.name, modulation, 10 ** (snr_db / 10), antennas),
            "given_csi": given,
        })
    return rows


__all__ = [
    "MODULATIONS", "MAX_CLOSED_FORM_ANTENNAS", "q_function", "modulate", "demodulate", "ber_given_snr",
    "closed_form_ber", "simulate_ber",
]
