"""Flat Rayleigh fading with perfect CSI at the receiver and ZF or MMSE equalisation.

Model, per complex symbol ``k``: ``y_k = h_k·x_k + n_k`` with ``h ~ CN(0, 1)`` (so
``E|h|² = 1`` and the *average* received SNR equals the configured Es/N0) and
``n ~ CN(0, N0)``, ``N0 = 10^(-snr_db/10)`` for unit-power ``x`` — the project's one SNR
convention (:mod:`semcom_bench.channels.base`). The coefficient is constant over blocks of
``block`` consecutive symbols (``block=1``: a new draw per symbol, i.e. ideally interleaved
fast fading) and independent between blocks.

The receiver knows ``h`` and equalises (:mod:`semcom_bench.channels.equalizers` defines
both equalisers and the variances precisely):

- ``equalizer="mmse"`` (default; the third paper's eqs. 18-22): returns the biased MMSE
  estimate ``x̃ = h* y / (|h|² + N0)``. ``state.effective_noise_var`` is its error variance
  ``N0 / (|h|² + N0)``; ``state.info["gain"]`` is the bias ``g = |h|² / (|h|² + N0)`` and
  ``state.info["unbiased_noise_var"]`` is ``N0 / |h|²``, the noise variance of ``x̃ / g``.
  The paper's diffusion step is ``ᾱ = 1 / (1 + N0/|h|²) = g`` (its eq. 22 writes
  ``1/(1 + |σ·h|²)``; the two agree at ``|h| = 1``, the case the paper evaluates).
- ``equalizer="zf"``: returns ``x̂ = y / h``; ``effective_noise_var = N0 / |h|²``, gain 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semcom_bench.channels.base import Channel, ChannelState, Received, complex_normal, snr_db_to_noise_power
from semcom_bench.channels.equalizers import equalize
from semcom_bench.components import Annotated, Doc, Literal, RunContext
from semcom_bench.registry import channels

@dataclass
class FadingRealisation:
    """One draw of the flat-fading channel.

    Attributes:
        gains: (ceil(N / block),) complex64 coefficients ``h ~ CN(0, 1)``, one per block.
        block: symbols per block.
        num_symbols: N, the number of complex channel uses covered.
    """

    gains: torch.Tensor
    block: int
    num_symbols: int

    def per_symbol(self) -> torch.Tensor:
        """(N,) complex64: the coefficient seen by each symbol."""
        return self.gains.repeat_interleave(self.block)[: self.num_symbols]


Equalizer = Annotated[Literal["mmse", "zf"], Doc("equaliser with perfect CSI: mmse (biased MMSE estimate) or zf")]


@channels.register(summary="flat Rayleigh fading h~CN(0,1), perfect CSI, MMSE (default) or ZF equalisation; "
                   "SNR = average Es/N0 per complex symbol")
class Rayleigh(Channel):
    """Flat Rayleigh fading, perfect CSI, ZF/MMSE equalisation.

    Input: (N,) complex64 unit-power symbols; SNR in dB (Es/N0 per complex symbol, average
    over the fading). Output: :class:`Received` with (N,) complex64 equalised symbols and a
    state whose ``effective_noise_var`` (N,) float32, ``info["gain"]`` (N,) float32 and
    ``info["unbiased_noise_var"]`` (N,) float32 are exact for the drawn coefficients.
    """

    name = "rayleigh"
    version = "1"

    def __init__(self, context: RunContext | None = None, *,
                 block: Annotated[int, Doc("symbols per fading coefficient (1: a new draw per symbol)", low=1)] = 1,
                 equalizer: Equalizer = "mmse"):
        super().__init__(context)
        self.block, self.equalizer = block, equalizer

    def realise(self, num_symbols: int, snr_db: float, generator: torch.Generator) -> FadingRealisation:
        """Draw ``ceil(num_symbols / block)`` coefficients ``CN(0, 1)`` from ``generator``."""
        num_blocks = -(-num_symbols // self.block)
        return FadingRealisation(complex_normal((num_blocks,), 1.0, generator), self.block, num_symbols)

    def apply(
        self,
        symbols: torch.Tensor,
        realisation: FadingRealisation,
        snr_db: float,
        generator: torch.Generator,
        payload_scale: float | None = None,
    ) -> Received:
        """Fade, add CN(0, N0) noise drawn from ``generator``, equalise with the known ``h``."""
        no = snr_db_to_noise_power(snr_db)
        h = realisation.per_symbol()
        if h.numel() != symbols.numel():
            raise ValueError(f"realisation covers {h.numel()} symbols, got {symbols.numel()}")
        y = h * symbols.to(torch.complex64) + complex_normal(tuple(symbols.shape), no, generator)
        x_hat, noise_var, gain, unbiased = equalize(y, h, no, self.equalizer)
        state = ChannelState(
            snr_db=snr_db,
            noise_power=no,
            effective_noise_var=noise_var,
            realisation=realisation,
            info={"equalizer": self.equalizer, "block": self.block, "gain": gain, "unbiased_noise_var": unbiased},
        )
        return Received(x_hat, state)
