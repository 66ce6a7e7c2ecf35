"""The method contract: a sender that turns samples into channel symbols, a receiver that
turns what arrives back into images, both batched.

One image's journey (:mod:`semcom_bench.runner` drives it)::

    sender.transmit_batch(samples, rngs)      -> [Payload]   symbols, side information, bits
    channel(payload.symbols, snr, rng, scale) -> Received    noisy (equalised) symbols, state
    method.receive_batch([Delivery], rngs)    -> [image]     (H, W, 3) uint8 RGB

Each stage draws from its own random stream (``rngs`` are one ``torch.Generator`` per
image): the sender's is keyed by the sample and the sender, the channel's by what the channel
sees (sample, channel, SNR, seed) and the receiver's by the sample, channel, SNR and seed,
never by the method. So within a run, methods that share a sender receive identical symbols,
and diffusion receivers start from identical noise: every run is a paired comparison.

A method is a :class:`Method` subclass registered with ``@methods.register``: its
constructor's keyword-only parameters are its options (:mod:`semcom_bench.components`), it
sets ``self.sender`` and implements :meth:`Method.receive_batch`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from semcom_bench.channels.base import Received
from semcom_bench.components import Component, RunContext
from semcom_bench.data.base import Sample
from semcom_bench.hashing import hash_obj


@dataclass
class Payload:
    """What the sender puts on the channel for one image.

    Attributes:
        symbols: (N,) complex64, unit average power (unless the sender's convention says
            otherwise, e.g. the paper's peak power): the channel input. N = complex channel uses.
        source_bits: bits of the source representation the symbols carry (8 bits per pixel
            and colour for an uncompressed image, the compressed map size...).
        side_bits: bits of ``side``, sent error-free.
        side: the side information the receiver gets error-free, typed by the sender (image
            shape, the present classes...). Never the original sample.
        scale: the pre-normalisation scale: ``symbols * scale`` are the sender's own real
            pairs (see :mod:`semcom_bench.symbols`), or None when the symbols are not a scaled
            real payload (QAM). Channels defined on the un-normalised payload (``gesco-code``)
            add their noise there.
    """

    symbols: torch.Tensor
    source_bits: int
    side_bits: int
    side: Any = None
    scale: float | None = None

    @property
    def channel_uses(self) -> int:
        """Complex channel uses N."""
        return int(self.symbols.numel())

    @property
    def total_bits(self) -> int:
        return int(self.source_bits + self.side_bits)


@dataclass
class Delivery:
    """What reaches the receiver for one image.

    Attributes:
        received: the channel output ((N,) complex64 symbols, equalised where the channel has
            CSI) and the channel state.
        side: the payload's error-free side information.
    """

    received: Received
    side: Any


class Sender:
    """Turns samples into payloads. Subclasses implement :meth:`transmit_batch`.

    Senders of the same :meth:`identity` produce the same symbols for the same sample: the
    runner keys the sender's random stream by it.
    """

    name: str = "sender"
    version: str = "1"

    def settings(self) -> dict[str, Any]:
        """Everything besides name and version that changes the symbols."""
        return {}

    def identity(self) -> dict[str, Any]:
        return {"sender": self.name, "version": self.version, **self.settings()}

    def key(self) -> str:
        return hash_obj(self.identity())

    def transmit_batch(self, samples: list[Sample], rngs: list[torch.Generator]) -> list[Payload]:
        """One payload per sample; ``rngs[i]`` is sample i's sender stream."""
        raise NotImplementedError


class Method(Component):
    """A sender and a receiver.

    Subclasses set ``self.sender`` in their constructor and implement :meth:`receive_batch`.
    The receiver sees only :class:`Delivery` items, never the original sample.
    """

    sender: Sender
    #: network passes per image of the last :meth:`receive_batch` (a receiver that samples step
    #: by step sets it; a guided step counts 2), None where it does not apply
    network_passes: int | None = None

    def __init__(self, context: RunContext | None = None):
        super().__init__(context)

    def checkpoint_hash(self) -> str | None:
        """Content hash of the weights the method uses, or None if it has none."""
        return None

    def transmit_batch(self, samples: list[Sample], rngs: list[torch.Generator]) -> list[Payload]:
        return self.sender.transmit_batch(samples, rngs)

    def receive_batch(self, deliveries: list[Delivery], rngs: list[torch.Generator]) -> list[np.ndarray]:
        """One (H, W, 3) uint8 RGB image per delivery, the original's size; ``rngs[i]`` is
        image i's receiver stream."""
        raise NotImplementedError
