"""Additive white Gaussian noise channel."""

from __future__ import annotations

import torch

from semcom_bench.channels.base import Channel, ChannelState, Received, complex_normal, snr_db_to_noise_power
from semcom_bench.registry import channels


@channels.register(summary="additive white Gaussian noise, Es/N0 per complex symbol")
class AWGN(Channel):
    """y = x + n, n ~ CN(0, N0), N0 = 10^(-snr_db/10) for unit-power x.

    Input: (N,) complex64 symbols, unit average power. Output: (N,) complex64.
    """

    name = "awgn"
    version = "1"

    def realise(self, num_symbols: int, snr_db: float, generator: torch.Generator) -> None:
        return None

    def apply(
        self,
        symbols: torch.Tensor,
        realisation: None,
        snr_db: float,
        generator: torch.Generator,
        payload_scale: float | None = None,
    ) -> Received:
        no = snr_db_to_noise_power(snr_db)
        noise = complex_normal(tuple(symbols.shape), no, generator)
        return Received(symbols.to(torch.complex64) + noise, ChannelState.uniform(snr_db, no, symbols.shape))
