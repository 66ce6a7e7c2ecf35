"""``gesco-code``: the channel noise of the official GESCO code, offered as a named alternative.

The GESCO code does not normalise power: it multiplies standard normal noise by a σ taken
from a table keyed by the "SNR" the paper reports, and adds it to the one-hot maps::

    SNR key (dB):  100   30    25    20    15    10    5     1
    σ:             0     0.05  0.08  0.13  0.22  0.36  0.6   0.9

This channel reproduces that: it adds real Gaussian noise of standard deviation
``σ(snr_db)`` to each real value of the *un-normalised* payload, i.e. to
``symbols · payload_scale`` (the method's own values before :func:`semcom_bench.symbols.
to_symbols` normalised them), and returns the result normalised again. Methods that send no
``scale`` side information (e.g. QAM symbols) are treated as having scale 1: the noise is
then added to the unit-power symbols themselves.

How it differs from the project's SNR (Es/N0 per complex symbol, unit-power symbols) and
from the first paper's PSNR ``10 log10(P / σ²)`` with ``P = 1``: the key is only a label.
By ``10 log10(1 / σ²)`` the table gives 26.0, 21.9, 17.7, 13.2, 8.9, 4.4 and 0.9 dB for
the keys 30, 25, 20, 15, 10, 5 and 1, and the actual signal-to-noise ratio further depends
on the payload's power (a one-hot map with few present classes has far less than P = 1).
``state.info`` records ``sigma``, ``payload_scale``, ``psnr_db`` (``10 log10(1/σ²)``) and
``es_n0_db`` (the Es/N0 actually realised for this payload: ``scale² / (2σ²)``). Only the
table's keys are valid SNR values; others raise a :class:`UserError`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from semcom_bench.channels.base import Channel, ChannelState, Received
from semcom_bench.errors import UserError
from semcom_bench.registry import channels

#: the official code's table: SNR key (dB) -> noise standard deviation per real value
GESCO_SIGMA: dict[int, float] = {100: 0.0, 30: 0.05, 25: 0.08, 20: 0.13, 15: 0.22, 10: 0.36, 5: 0.6, 1: 0.9}

SNR_DEFINITION_GESCO = "GESCO code table key: real noise std sigma(key) on the un-normalised payload (dB label)"


def gesco_sigma(snr_db: float) -> float:
    """σ of the GESCO code's table for ``snr_db``; a one-line UserError for any other value."""
    for key, sigma in GESCO_SIGMA.items():
        if float(snr_db) == float(key):
            return sigma
    keys = ", ".join(str(k) for k in GESCO_SIGMA)
    raise UserError(
        f"channel gesco-code has no noise level for SNR {snr_db:g} dB: its table has only {keys} "
        "(the official GESCO code's keys); use those values, or the awgn channel for others"
    )


@channels.register(
    summary="official GESCO code's noise: real N(0, sigma^2) on the un-normalised payload, sigma from its table "
    "{100:0, 30:.05, 25:.08, 20:.13, 15:.22, 10:.36, 5:.6, 1:.9}; keys are labels, not Es/N0 "
    "(10log10(1/sigma^2) = 26.0..0.9 dB for keys 30..1)",
    snr_values="100,30,25,20,15,10,5,1",
)
class GescoCode(Channel):
    """Real Gaussian noise of std ``σ(snr_db)`` on the un-normalised payload.

    Input: (N,) complex64 unit-power symbols; ``snr_db`` a key of :data:`GESCO_SIGMA`;
    ``payload_scale`` the method's scale (None means 1). Output: :class:`Received` with
    (N,) complex64 symbols in the normalised domain and ``effective_noise_var`` (N,) float32
    ``2σ² / scale²`` (complex noise power per normalised symbol).
    """

    name = "gesco-code"
    version = "1"
    snr_definition = SNR_DEFINITION_GESCO

    def realise(self, num_symbols: int, snr_db: float, generator: torch.Generator) -> None:
        gesco_sigma(snr_db)  # fail early on a value the table does not have
        return None

    def apply(
        self,
        symbols: torch.Tensor,
        realisation: None,
        snr_db: float,
        generator: torch.Generator,
        payload_scale: float | None = None,
    ) -> Received:
        sigma = gesco_sigma(snr_db)
        scale = 1.0 if payload_scale is None else float(payload_scale)
        if not scale > 0:
            raise ValueError(f"payload_scale must be positive, got {payload_scale!r}")
        raw = symbols.to(torch.complex64) * scale
        re = torch.randn(tuple(symbols.shape), generator=generator, dtype=torch.float32)
        im = torch.randn(tuple(symbols.shape), generator=generator, dtype=torch.float32)
        noisy = raw + torch.complex(re * sigma, im * sigma)
        noise_var = 2.0 * sigma**2 / scale**2
        info: dict[str, Any] = {
            "sigma": sigma,
            "payload_scale": payload_scale,
            "psnr_db": math.inf if sigma == 0 else 10.0 * math.log10(1.0 / sigma**2),
            "es_n0_db": math.inf if sigma == 0 else 10.0 * math.log10(scale**2 / (2.0 * sigma**2)),
        }
        state = ChannelState.uniform(snr_db, noise_var, symbols.shape, info)
        return Received((noisy / scale).to(torch.complex64), state)
