"""``full-image``: the image's pixels sent analog (uncoded) over the channel.

The first paper's "Full image" row. Pixels are mapped to [-1, 1], paired into complex
symbols and normalised to unit power; the receiver rescales, clips and rounds to uint8.
An H x W image takes ceil(3·H·W / 2) channel uses: bandwidth ratio k/n = 1/2.

At a bandwidth ratio (``ratio=k/n``, at most 1/2), the sender first down-samples the image
to h x w so that its pixels fit the channel uses of the ratio, and the receiver up-samples
the received pixels back to H x W (:func:`sent_size` picks h, w; both resizes are bicubic in
[-1, 1], the down-sampling antialiased, torch ``F.interpolate`` with ``align_corners=False``;
the down-sampled pixels are clipped to [-1, 1]). h and w follow from H, W and the ratio, so
no side information is added. Without ``ratio`` (the default) the image is sent at its size,
exactly as before the option existed (same symbols, same cache keys).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from semcom_bench.bandwidth import RatioOption, channel_use_budget, parse_ratio
from semcom_bench.data.base import Sample
from semcom_bench.errors import UserError
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


#: the largest ratio full-image meets: every pixel value once, two per complex symbol
MAX_RATIO = Fraction(1, 2)


def sent_size(height: int, width: int, ratio: Fraction) -> tuple[int, int]:
    """The (h, w) an H x W x 3 image is down-sampled to at bandwidth ratio ``ratio`` (k/n <= 1/2).

    h = floor(H·sqrt(2·k/n)) and w = floor(W·sqrt(2·k/n)) (exact integer square roots): the
    area scaled by 2·k/n, the aspect ratio kept. Then, while the ceil(3·h·w / 2) channel uses
    exceed floor(k/n · 3·H·W), the side further above its share (w/W against h/H) loses one
    pixel. So the achieved ratio ceil(3hw/2) / (3HW) never exceeds the requested one. A ratio
    too small for a single pixel is a one-line UserError.
    """
    budget = channel_use_budget(ratio, height, width)
    if budget < 2:  # one pixel, three values, takes two channel uses
        raise UserError(f"parameter ratio={ratio} of method 'full-image' leaves {budget} channel uses for a "
                        f"{height}x{width} image, fewer than the 2 one pixel needs; give a larger ratio")
    h = min(int(height), math.isqrt(math.floor(2 * ratio * int(height) ** 2)))
    w = min(int(width), math.isqrt(math.floor(2 * ratio * int(width) ** 2)))
    h, w = max(h, 1), max(w, 1)
    while -(-3 * h * w // 2) > budget:
        if w > 1 and (h == 1 or w * height >= h * width):
            w -= 1
        else:
            h -= 1
    return h, w


def _resize(x: torch.Tensor, size: tuple[int, int], antialias: bool) -> torch.Tensor:
    """(H, W, 3) float -> (h, w, 3) float, bicubic (``align_corners=False``)."""
    y = F.interpolate(x.permute(2, 0, 1).unsqueeze(0), size=size, mode="bicubic", align_corners=False,
                      antialias=antialias)
    return y.squeeze(0).permute(1, 2, 0).contiguous()


class PixelSender(Sender):
    """(H, W, 3) uint8 pixels -> [-1, 1] -> (ceil(3HW / 2),) complex64 unit-power symbols.

    With ``ratio`` (a :class:`~fractions.Fraction` <= 1/2) the image is first down-sampled to
    :func:`sent_size`: (ceil(3hw / 2),) symbols.
    """

    name = "pixels"

    def __init__(self, ratio: Fraction | None = None):
        self.ratio = ratio

    def settings(self) -> dict[str, Any]:
        return {} if self.ratio is None else {"ratio": str(self.ratio)}

    def transmit_batch(self, samples: list[Sample], rngs: list[torch.Generator]) -> list[Payload]:
        out = []
        for sample in samples:
            pixels = torch.from_numpy(sample.image.astype(np.float32)) / 127.5 - 1.0  # (H, W, 3) in [-1, 1]
            if self.ratio is not None:
                size = sent_size(pixels.shape[0], pixels.shape[1], self.ratio)
                if size != tuple(pixels.shape[:2]):
                    pixels = _resize(pixels, size, antialias=True).clamp(-1.0, 1.0)
            symbols, scale = to_symbols(pixels)
            side = ImageSide(tuple(int(d) for d in sample.image.shape), scale)
            out.append(Payload(symbols, source_bits=8 * pixels.numel(), side_bits=ImageSide.bits, side=side,
                               scale=scale))
        return out


@methods.register(summary="the image's pixels sent analog (uncoded), as the first paper's 'Full image' row",
                  weights=None, payload="pixels")
class FullImage(Method):
    """Analog pixels; the receiver rescales, clips to [-1, 1] and rounds to uint8.

    With ``ratio`` the sender down-samples to :func:`sent_size` and the receiver up-samples
    the received pixels (bicubic) before clipping and rounding.
    """

    name = "full-image"
    version = "1"
    added_later = ("ratio",)

    def __init__(self, context=None, *, ratio: RatioOption = None):
        super().__init__(context)
        self.k_n = parse_ratio(ratio, "method 'full-image'", high=MAX_RATIO) if ratio is not None else None
        self.ratio = str(self.k_n) if self.k_n is not None else None
        self.sender = PixelSender(self.k_n)

    def receive_batch(self, deliveries: list[Delivery], rngs: list[torch.Generator]) -> list[np.ndarray]:
        out = []
        for d in deliveries:
            shape = d.side.shape
            if self.k_n is not None:
                h, w = sent_size(shape[0], shape[1], self.k_n)
                pixels = from_symbols(d.received.symbols, d.side.scale, (h, w, shape[2]))
                if (h, w) != tuple(shape[:2]):
                    pixels = _resize(pixels, tuple(shape[:2]), antialias=False)
            else:
                pixels = from_symbols(d.received.symbols, d.side.scale, shape)
            out.append(((pixels.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8).numpy())
        return out
