"""The channel contract and the one SNR convention of the project.

Convention (stated once, used everywhere): transmitted symbols are complex and normalised to
unit average power per complex channel use, Es = 1. ``snr_db = 10 log10(Es / N0)`` where N0
is the noise power per complex symbol (N0/2 per real dimension). The first paper's "PSNR"
grid is the same quantity (10 log10(P/σ²) with P = 1); 100 dB is effectively noiseless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from semcom_bench.components import Component

SNR_DEFINITION = "Es/N0 per complex symbol, Es=1 (dB)"


def snr_db_to_noise_power(snr_db: float) -> float:
    """Noise power N0 per complex symbol (linear) for unit-power symbols at ``snr_db`` (dB)."""
    return float(10.0 ** (-snr_db / 10.0))


@dataclass
class ChannelState:
    """What a receiver may know about the channel after one use.

    Attributes:
        snr_db: the configured SNR (dB, Es/N0 per complex symbol).
        noise_power: N0, noise power per complex symbol before equalisation (linear).
        effective_noise_var: (N,) float32, noise variance per received symbol after
            equalisation (linear); equals ``noise_power`` everywhere for AWGN.
        realisation: channel-specific realisation (e.g. complex gains), or None.
        info: further channel-specific details (equaliser, block length...).
    """

    snr_db: float
    noise_power: float
    effective_noise_var: torch.Tensor
    realisation: Any = None
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def uniform(
        cls, snr_db: float, noise_power: float, shape: tuple[int, ...], info: dict[str, Any] | None = None
    ) -> "ChannelState":
        """The state of a channel without equaliser: ``noise_power`` for each of the ``shape`` symbols."""
        return cls(
            snr_db=snr_db,
            noise_power=noise_power,
            effective_noise_var=torch.full(tuple(shape), noise_power, dtype=torch.float32),
            info={} if info is None else info,
        )


@dataclass
class Received:
    """Received (and, with CSI, equalised) symbols.

    Attributes:
        symbols: (N,) complex64 estimates of the transmitted unit-power symbols.
        state: the channel state for this use.
    """

    symbols: torch.Tensor
    state: ChannelState


class Channel(Component):
    """Base class. Subclasses implement :meth:`realise` and :meth:`apply`; their constructor's
    keyword-only arguments are their parameters (:mod:`semcom_bench.components`).

    ``channel(x, snr_db, generator)`` draws a realisation and applies it; every random draw
    comes from ``generator``, so the same generator state gives the same received symbols.
    """

    name = "channel"
    version = "1"
    #: what ``snr_db`` means for this channel; recorded with every result
    snr_definition: str = SNR_DEFINITION

    def identity(self) -> dict[str, Any]:
        """Everything about the channel that determines its output for given symbols and SNR."""
        return {"channel": self.name, "version": self.version, "params": self.params(),
                "snr_definition": self.snr_definition}

    def realise(self, num_symbols: int, snr_db: float, generator: torch.Generator) -> Any:
        """Draw the channel realisation for ``num_symbols`` complex channel uses."""
        raise NotImplementedError

    def apply(
        self,
        symbols: torch.Tensor,
        realisation: Any,
        snr_db: float,
        generator: torch.Generator,
        payload_scale: float | None = None,
    ) -> Received:
        """Pass (N,) complex64 unit-power ``symbols`` through ``realisation`` at ``snr_db``.

        ``payload_scale`` is the method's normalisation scale (``symbols * payload_scale`` are
        its un-normalised real pairs, see :mod:`semcom_bench.symbols`), or None when the
        method sends no such payload. Channels defined on unit-power symbols ignore it.
        """
        raise NotImplementedError

    def __call__(
        self, symbols: torch.Tensor, snr_db: float, generator: torch.Generator, payload_scale: float | None = None
    ) -> Received:
        if symbols.ndim != 1 or not symbols.is_complex():
            raise ValueError(f"channel input must be a 1-D complex tensor, got {symbols.dtype} {tuple(symbols.shape)}")
        realisation = self.realise(symbols.numel(), snr_db, generator)
        return self.apply(symbols, realisation, snr_db, generator, payload_scale=payload_scale)


def complex_normal(shape: tuple[int, ...], variance: float, generator: torch.Generator) -> torch.Tensor:
    """Circularly-symmetric complex Gaussian CN(0, variance): complex64 of ``shape``."""
    std = (variance / 2.0) ** 0.5
    re = torch.randn(shape, generator=generator, dtype=torch.float32)
    im = torch.randn(shape, generator=generator, dtype=torch.float32)
    return torch.complex(re * std, im * std)
