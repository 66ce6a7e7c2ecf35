"""A semcom-bench plugin: the image's pixels sent analog, a median filter at the receiver."""

import torch
import torch.nn.functional as F

from semcom_bench.components import Annotated, Doc
from semcom_bench.errors import UserError
from semcom_bench.methods.base import Method
from semcom_bench.methods.classical.full_image import PixelSender
from semcom_bench.registry import methods
from semcom_bench.symbols import from_symbols


@methods.register(summary="analog pixels (as full-image), median-filtered at the receiver")
class MedianImage(Method):
    name = "median-image"
    version = "1"

    def __init__(self, context=None, *, size: Annotated[int, Doc("median window in pixels (odd)", low=1)] = 3):
        super().__init__(context)
        if size % 2 == 0:
            raise UserError(f"parameter size of method 'median-image' must be odd, got {size}")
        self.size = size
        self.sender = PixelSender()  # full-image's sender: in one run both receive the same symbols

    def receive_batch(self, deliveries, rngs):
        images = []
        for d in deliveries:
            x = from_symbols(d.received.symbols, d.side.scale, d.side.shape).permute(2, 0, 1)[None]  # (1, 3, H, W)
            padded = F.pad(x, (self.size // 2,) * 4, mode="replicate")
            windows = F.unfold(padded, self.size).view(3, self.size**2, -1)  # (3, k*k, H*W)
            median = windows.median(dim=1).values.view(x.shape[1:])  # (3, H, W) in about [-1, 1]
            images.append(((median.permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy())
        return images
