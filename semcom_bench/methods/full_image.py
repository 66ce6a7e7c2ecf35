"""``full-image``: the image's pixels sent analog (uncoded) over the channel.

The first paper's "Full image" row. Pixels are mapped to [-1, 1], paired into complex
symbols and normalised to unit power; the receiver rescales, clips and rounds to uint8.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from semcom_bench.channels.base import Received
from semcom_bench.data.base import Sample
from semcom_bench.methods.base import Method, Payload
from semcom_bench.registry import methods
from semcom_bench.symbols import from_symbols, to_symbols

FLOAT_BITS = 32


class FullImage(Method):
    name = "full-image"
    version = "1"

    def transmit(self, sample: Sample, generator: torch.Generator) -> Payload:
        pixels = torch.from_numpy(sample.image.astype(np.float32)) / 127.5 - 1.0  # (H, W, 3) in [-1, 1]
        symbols, scale = to_symbols(pixels)
        side = {"shape": tuple(sample.image.shape), "scale": scale}
        return Payload(
            symbols=symbols,
            side=side,
            source_bits=8 * sample.image.size,
            side_bits=3 * 16 + FLOAT_BITS,
        )

    def receive(self, side: dict[str, Any], received: Received, generator: torch.Generator) -> np.ndarray:
        pixels = from_symbols(received.symbols, side["scale"], side["shape"])
        image = ((pixels.clamp(-1.0, 1.0) + 1.0) * 127.5).round()
        return image.to(torch.uint8).numpy()


@methods.register(
    "full-image",
    version=FullImage.version,
    summary="the image's pixels sent analog (uncoded), as the first paper's 'Full image' row",
    weights=None,
    payload="pixels",
)
def full_image() -> FullImage:
    return FullImage()
