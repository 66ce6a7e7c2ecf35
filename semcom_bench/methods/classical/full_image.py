"""``full-image``: the image's pixels sent analog (uncoded) over the channel.

The first paper's "Full image" row. Pixels are mapped to [-1, 1], paired into complex
symbols and normalised to unit power; the receiver rescales, clips and rounds to uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from semcom_bench.data.base import Sample
from semcom_bench.methods.base import Delivery, Method, Payload, Sender
from semcom_bench.registry import methods
from semcom_bench.symbols import from_symbols, to_symbols

FLOAT_BITS = 32
#: bits of an image dimension in the side information
DIM_BITS = 16


@dataclass(frozen=True)
class ImageSide:
    """Side information of an analog image: its (H, W, 3) shape and normalisation scale."""

    shape: tuple[int, int, int]
    scale: float

    bits = 3 * DIM_BITS + FLOAT_BITS


class PixelSender(Sender):
    """(H, W, 3) uint8 pixels -> [-1, 1] -> (ceil(3HW / 2),) complex64 unit-power symbols."""

    name = "pixels"

    def transmit_batch(self, samples: list[Sample], rngs: list[torch.Generator]) -> list[Payload]:
        out = []
        for sample in samples:
            pixels = torch.from_numpy(sample.image.astype(np.float32)) / 127.5 - 1.0  # (H, W, 3) in [-1, 1]
            symbols, scale = to_symbols(pixels)
            side = ImageSide(tuple(int(d) for d in sample.image.shape), scale)
            out.append(Payload(symbols, source_bits=8 * sample.image.size, side_bits=ImageSide.bits, side=side,
                               scale=scale))
        return out


@methods.register(summary="the image's pixels sent analog (uncoded), as the first paper's 'Full image' row",
                  weights=None, payload="pixels")
class FullImage(Method):
    """Analog pixels; the receiver rescales, clips to [-1, 1] and rounds to uint8."""

    name = "full-image"
    version = "1"

    def __init__(self, context=None):
        super().__init__(context)
        self.sender = PixelSender()

    def receive_batch(self, deliveries: list[Delivery], rngs: list[torch.Generator]) -> list[np.ndarray]:
        out = []
        for d in deliveries:
            pixels = from_symbols(d.received.symbols, d.side.scale, d.side.shape)
            out.append(((pixels.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8).numpy())
        return out
