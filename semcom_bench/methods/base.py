"""The method contract: ``transmit`` a sample into channel symbols, ``receive`` an image."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from semcom_bench.channels.base import Received
from semcom_bench.data.base import Sample


@dataclass
class Payload:
    """What the sender puts on the channel for one image.

    Attributes:
        symbols: (N,) complex64, unit average power: the analog or modulated channel input.
            N is the number of complex channel uses.
        side: side information the receiver gets error-free (image size, scales, the list of
            present classes...). It must be small and is counted in ``side_bits``.
        source_bits: bits of the source representation carried by ``symbols`` (e.g. 8 bits
            per pixel and colour for an uncompressed image, the compressed map size).
        side_bits: bits needed to send ``side``.
    """

    symbols: torch.Tensor
    side: dict[str, Any] = field(default_factory=dict)
    source_bits: int = 0
    side_bits: int = 0

    @property
    def channel_uses(self) -> int:
        return int(self.symbols.numel())

    @property
    def total_bits(self) -> int:
        return int(self.source_bits + self.side_bits)


class Method:
    """Base class of every transmission method.

    A subclass implements :meth:`transmit` and :meth:`receive` (or :meth:`receive_batch` for
    batched generative receivers). The receiver sees only the received symbols, the channel
    state and ``payload.side`` — never the original sample.
    """

    name: str = "method"
    version: str = "1"
    #: set by the runner before use: "cpu" / "cuda", and the data set being sent
    device: str = "cpu"
    dataset: Any = None

    def params(self) -> dict[str, Any]:
        """Parameters that change the output (part of the cache key)."""
        return {}

    def checkpoint_hash(self) -> str | None:
        """Content hash of the weights the method uses, or None if it has none."""
        return None

    def transmit(self, sample: Sample, generator: torch.Generator) -> Payload:
        raise NotImplementedError

    def receive(self, side: dict[str, Any], received: Received, generator: torch.Generator) -> np.ndarray:
        """Rebuild the image: (H, W, 3) uint8 RGB of the original's size."""
        raise NotImplementedError

    def receive_batch(
        self, items: list[tuple[dict[str, Any], Received]], generators: list[torch.Generator]
    ) -> list[np.ndarray]:
        """Rebuild several images; override to batch a network. Default: one at a time."""
        return [self.receive(side, rx, g) for (side, rx), g in zip(items, generators)]
