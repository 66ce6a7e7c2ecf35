"""The semantic-map sender and the base of every receiver that synthesises from received maps.

Sender (:class:`MapSender`, first paper sec. 3.2): the one-hot maps of the present classes
plus the instance-edge map, compressed (exact bit count = ``source_bits``), power-normalised
and sent as analog symbols (:mod:`semcom_bench.semantics`).

Receiver (:class:`MapMethod`): the maps are read back (absent classes re-inserted as zeros),
optionally denoised by FDS (eq. 2) and re-binarised, then handed to :meth:`MapMethod.synthesise`
as a (B, C + 1, H, W) float batch. A new receiver over the same maps (a GAN generator, a
diffusion model) is a subclass that implements ``synthesise``; it gets the shared parameters
``power``, ``codec``, ``fds`` and ``hard`` from here and receives, in a run, exactly the same
symbols as ``gesco`` and ``sdm``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from semcom_bench.components import Annotated, Doc, Literal, RunContext
from semcom_bench.data.base import Sample
from semcom_bench.errors import UserError
from semcom_bench.methods.base import Delivery, Method, Payload, Sender
from semcom_bench.semantics.codec import DEFAULT_CODEC

Power = Annotated[Literal["average", "peak"],
                  Doc("sender power normalisation: average (unit average symbol power, the project's Es/N0) or "
                      "peak (peak map value 1, the first paper's PSNR)")]
Codec = Annotated[str, Doc("map codec of the bit count: labels-webp, labels-png, g4, png or jpeg-<quality>")]
Fds = Annotated[bool, Doc("denoise the received maps with FDS (first paper, eq. 2)")]
Hard = Annotated[bool, Doc("re-binarise the received (filtered) maps: arg-max over the sent class maps, "
                           "edge map > 0.5 (not in the paper)")]


def check_codec(codec: str, owner: str) -> str:
    from semcom_bench.semantics import CODECS

    if codec not in CODECS and not codec.startswith("jpeg-"):
        raise UserError(f"parameter codec of {owner} must be one of {', '.join(CODECS)} or jpeg-<quality>; got {codec!r}")
    return codec


class MapSender(Sender):
    """Present-class one-hot maps + instance edges -> compressed bit count + analog symbols.

    Attributes:
        num_classes: C, the label space (the data set's); maps of absent classes are not sent.
        codec: map codec name (only the bit count and, for a lossy codec, the content).
        power: ``"average"`` or ``"peak"`` normalisation.
    """

    name = "semantic-maps"

    def __init__(self, num_classes: int, codec: str = DEFAULT_CODEC, power: str = "average"):
        self.num_classes, self.codec, self.power = int(num_classes), codec, power

    def settings(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "codec": self.codec, "power": self.power}

    def transmit_batch(self, samples: list[Sample], rngs: list[torch.Generator]) -> list[Payload]:
        from semcom_bench.semantics import encode_semantics

        out = []
        for sample in samples:
            sem = encode_semantics(sample, self.num_classes, codec=self.codec, power=self.power)
            out.append(Payload(sem.symbols, source_bits=sem.map_bits, side_bits=sem.side_bits, side=sem.side,
                               scale=sem.side.scale))
        return out


class MapMethod(Method):
    """Base of the receivers over :class:`MapSender`; subclasses implement :meth:`synthesise`."""

    def __init__(self, context: RunContext | None = None, *, power: Power = "average", codec: Codec = DEFAULT_CODEC,
                 fds: Fds = False, hard: Hard = False):
        super().__init__(context)
        self.power, self.codec, self.fds, self.hard = power, check_codec(codec, f"method {self.name!r}"), fds, hard
        self._sender: MapSender | None = None

    @property
    def sender(self) -> MapSender:  # type: ignore[override]
        """The map sender over the data set's label space (built on first use)."""
        if self._sender is None:
            self._sender = MapSender(self.label_space(), self.codec, self.power)
        return self._sender

    def label_space(self) -> int:
        """C: the data set's number of classes, else the receiver's own (:meth:`default_classes`)."""
        return self.context.num_classes or self.default_classes()

    def default_classes(self) -> int:
        """The receiver's number of classes, used when the run has no labelled data set."""
        raise UserError(f"method {self.name} needs a data set with label maps (num_classes)")

    def received_maps(self, deliveries: list[Delivery]) -> torch.Tensor:
        """(B, C + 1, H, W) float32: every class map (absent ones zero) and the edge map."""
        from semcom_bench.semantics import decode_semantics

        return decode_semantics([d.received for d in deliveries], [d.side for d in deliveries], fds=self.fds,
                                hard=self.hard)

    def receive_batch(self, deliveries: list[Delivery], rngs: list[torch.Generator]) -> list[np.ndarray]:
        maps = self.received_maps(deliveries)
        size = (int(deliveries[0].side.height), int(deliveries[0].side.width))
        return self.synthesise(maps, size, rngs)

    def synthesise(self, maps: torch.Tensor, size: tuple[int, int], rngs: list[torch.Generator]) -> list[np.ndarray]:
        """Images from maps.

        Args:
            maps: (B, C + 1, H, W) float32 received maps (the last channel is the edge map).
            size: (height, width) of the original images.
            rngs: one receiver-stream generator per image (the generator's noise must come
                from these, so runs are reproducible and paired).

        Returns:
            B arrays (height, width, 3) uint8 RGB.
        """
        raise NotImplementedError
