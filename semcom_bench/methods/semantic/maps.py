"""The semantic-map sender and the base of every receiver that synthesises from received maps.

Sender (:class:`MapSender`, first paper sec. 3.2): the one-hot maps of the present classes
plus the instance-edge map, compressed (exact bit count = ``source_bits``), power-normalised
and sent as analog symbols (:mod:`semcom_bench.semantics`).

Receiver (:class:`MapMethod`): the maps are read back (absent classes re-inserted as zeros),
optionally denoised by FDS (eq. 2) and re-binarised, then handed to :meth:`MapMethod.synthesise`
as a (B, C + 1, H, W) float batch. A new receiver over the same maps (a GAN generator, a
diffusion model) is a subclass that implements ``synthesise``; it gets the shared parameters
``power``, ``codec``, ``fds``, ``hard``, ``transport``, ``rate`` and ``bits_per_symbol`` from
here and receives, in a run, exactly the same symbols as ``gesco`` and ``sdm`` of the same
transport.

The digital transport (``transport=digital``)
    What the paper only counts is sent: the map codec's bytes (``encode_semantics(...).code``,
    lossless by default, exactly ``source_bits``) cross the channel through ``digital``'s
    coding chain (:class:`semcom_bench.methods.classical.digital.BitLink`: 5G LDPC at
    ``rate`` with k = 1024 information bits per codeword, 5G scrambling, Gray QAM of
    ``bits_per_symbol``; soft demapping and BP decoding with 20 iterations), and the map
    codec decodes the received bytes back to maps (``decode_code``), which go to the same
    ``synthesise``. Channel uses = ``ceil(source_bits / 1024) · n / bits_per_symbol``; the
    side information is the present-class list, the edge flag, the image size and the byte
    count (32 bits) instead of the analog scale. There is no CRC and no retransmission, as
    in ``digital``: below the code's threshold the bytes carry errors, and a stream the map
    codec cannot decode into maps of the announced shape is *concealed*: the receiver uses
    all-zero maps, which is the diffusion network's null label, so the image is the
    network's unconditional sample (the map estimate that uses no information, as
    ``digital``'s mid-grey frame). :meth:`MapMethod.receive_with_status` returns each image
    with its outcome (``decoded`` or ``concealed``, and the codec's complaint). Without a
    CRC, ``decoded`` only says that the codec accepted the stream: the lossless
    ``labels-webp`` codec refuses most damaged streams, but near the code's threshold a few
    pass with residual errors (first 32 synthetic-streets test scenes, QPSK rate 1/2 on
    AWGN: 2 of the 160 streams sent at 1, 1.25, 1.5, 1.75 and 2 dB Es/N0 were decoded into
    wrong maps, none at 2 dB; every stream is concealed at 0.5 dB and decoded exactly from
    2 dB up).

    ``power`` does not apply (QAM symbols have unit average power, so the SNR is Es/N0 as
    for ``digital``): ``power=peak`` with the digital transport is an error. ``fds`` and
    ``hard`` do not apply either: the decoded maps are exact binary maps, and FDS, a
    denoiser of analog map values, would only blur them; both are ignored. The sender's
    identity holds the transport (and the digital chain's parameters), so the runner's
    streams and cache keys keep the transports apart. As every parameter, ``transport``,
    ``rate`` and ``bits_per_symbol`` are in the cache key of both transports, so caches
    of map receivers written before the digital transport existed are not reused (their
    images are regenerated; the analog symbols and results are unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from semcom_bench.components import Annotated, Doc, Literal, RunContext
from semcom_bench.data.base import Sample
from semcom_bench.errors import UserError
from semcom_bench.methods.base import Delivery, Method, Payload, Sender
from semcom_bench.methods.classical.digital import BitLink, BitsPerSymbol, DecodeStatus, Rate
from semcom_bench.semantics.codec import DEFAULT_CODEC

Power = Annotated[Literal["average", "peak"],
                  Doc("sender power normalisation: average (unit average symbol power, the project's Es/N0) or "
                      "peak (peak map value 1, the first paper's PSNR); analog transport only (QAM is unit power)")]
Codec = Annotated[str, Doc("map codec of the bit count: labels-webp, labels-png, g4, png or jpeg-<quality>")]
Fds = Annotated[bool, Doc("denoise the received maps with FDS (first paper, eq. 2)")]
Hard = Annotated[bool, Doc("re-binarise the received (filtered) maps: arg-max over the sent class maps, "
                           "edge map > 0.5 (not in the paper)")]
Transport = Annotated[Literal["analog", "digital"],
                      Doc("analog: the map values as analog symbols (the paper); digital: the map codec's bytes "
                          "through digital's 5G LDPC + QAM chain, decoded back to maps")]

#: the digital transport's LDPC information bits per codeword and BP iterations (digital's defaults)
DIGITAL_K = 1024
DIGITAL_ITERATIONS = 20
#: side-information bits of the digital transport's byte count
NBYTES_BITS = 32


def check_codec(codec: str, owner: str) -> str:
    from semcom_bench.semantics import CODECS

    if codec not in CODECS and not codec.startswith("jpeg-"):
        raise UserError(f"parameter codec of {owner} must be one of {', '.join(CODECS)} or jpeg-<quality>; got {codec!r}")
    return codec


@dataclass(frozen=True)
class CodedMapsSide:
    """Side information of the digital transport: the maps' side information and the byte count.

    ``maps.scale`` (the analog power normalisation) is not sent and not counted.
    """

    maps: Any  # SemanticSide
    nbytes: int

    @property
    def height(self) -> int:
        return int(self.maps.height)

    @property
    def width(self) -> int:
        return int(self.maps.width)

    @property
    def bits(self) -> int:
        from semcom_bench.semantics.payload import SIDE_FLOAT_BITS

        return int(self.maps.bits) - SIDE_FLOAT_BITS + NBYTES_BITS


class MapSender(Sender):
    """Present-class one-hot maps + instance edges -> compressed bit count + channel symbols.

    Attributes:
        num_classes: C, the label space (the data set's); maps of absent classes are not sent.
        codec: map codec name (the bit count, for a lossy codec the content, and with the
            digital transport the bytes that are sent).
        power: ``"average"`` or ``"peak"`` normalisation (analog transport).
        transport: ``"analog"`` (the map values as symbols) or ``"digital"`` (the codec's
            bytes through ``link``).
        link: the digital transport's coding chain (:class:`~semcom_bench.methods.classical.digital.BitLink`).
        device: where the coding chain runs (not part of the identity).
    """

    name = "semantic-maps"

    def __init__(self, num_classes: int, codec: str = DEFAULT_CODEC, power: str = "average",
                 transport: str = "analog", link: "BitLink | None" = None, device: str = "cpu"):
        self.num_classes, self.codec, self.power = int(num_classes), codec, power
        self.transport, self.link, self.device = transport, link, device
        if transport == "digital" and link is None:
            raise ValueError("the digital transport needs a BitLink")

    def settings(self) -> dict[str, Any]:
        if self.transport == "analog":
            return {"num_classes": self.num_classes, "codec": self.codec, "power": self.power, "transport": "analog"}
        link = self.link
        return {"num_classes": self.num_classes, "codec": self.codec, "transport": "digital", "rate": link.rate,
                "bits_per_symbol": link.bits_per_symbol, "k": link.k, "n": link.n, "num_iter": link.num_iter}

    def transmit_batch(self, samples: list[Sample], rngs: list[torch.Generator]) -> list[Payload]:
        from semcom_bench.semantics import encode_semantics

        out = []
        for sample in samples:
            if self.transport == "digital":
                sem = encode_semantics(sample, self.num_classes, codec=self.codec)
                side = CodedMapsSide(sem.side, len(sem.code))
                out.append(Payload(self.link.send(sem.code, self.device), source_bits=sem.map_bits,
                                   side_bits=side.bits, side=side, scale=None))
                continue
            sem = encode_semantics(sample, self.num_classes, codec=self.codec, power=self.power)
            out.append(Payload(sem.symbols, source_bits=sem.map_bits, side_bits=sem.side_bits, side=sem.side,
                               scale=sem.side.scale))
        return out


class MapMethod(Method):
    """Base of the receivers over :class:`MapSender`; subclasses implement :meth:`synthesise`."""

    def __init__(self, context: RunContext | None = None, *, power: Power = "average", codec: Codec = DEFAULT_CODEC,
                 fds: Fds = False, hard: Hard = False, transport: Transport = "analog", rate: Rate = 0.5,
                 bits_per_symbol: BitsPerSymbol = 2):
        super().__init__(context)
        owner = f"method {self.name!r}"
        self.power, self.codec, self.fds, self.hard = power, check_codec(codec, owner), fds, hard
        self.transport, self.rate, self.bits_per_symbol = transport, rate, bits_per_symbol
        self.link: BitLink | None = None
        if transport == "digital":
            from semcom_bench.methods.classical.digital import INSTALL_HINT, sionna_available

            if power != "average":
                raise UserError(f"parameter power of {owner} does not apply to transport=digital (QAM symbols have "
                                f"unit average power; the SNR is Es/N0 as for digital): leave power out")
            if not sionna_available():
                raise UserError(f"{owner} with transport=digital needs Sionna for LDPC coding and QAM; "
                                f"install it with: {INSTALL_HINT}")
            self.link = BitLink(DIGITAL_K, rate, bits_per_symbol, DIGITAL_ITERATIONS)
        self._sender: MapSender | None = None

    def params(self) -> dict[str, Any]:
        """Every parameter, and with the digital transport the coding chain's fixed settings and versions."""
        out = super().params()
        if self.transport == "analog":
            return out
        from semcom_bench.methods.classical.digital import CHECK_EVERY, _version

        return {**out, "k": self.link.k, "n": self.link.n, "num_iter": self.link.num_iter,
                "decoder": f"offset-minsum, parity check every {CHECK_EVERY}", "sionna": _version("sionna-no-rt"),
                "pillow": _version("pillow")}

    @property
    def sender(self) -> MapSender:  # type: ignore[override]
        """The map sender over the data set's label space (built on first use)."""
        if self._sender is None:
            self._sender = MapSender(self.label_space(), self.codec, self.power, self.transport, self.link,
                                     self.device)
        return self._sender

    def label_space(self) -> int:
        """C: the data set's number of classes, else the receiver's own (:meth:`default_classes`)."""
        return self.context.num_classes or self.default_classes()

    def default_classes(self) -> int:
        """The receiver's number of classes, used when the run has no labelled data set."""
        raise UserError(f"method {self.name} needs a data set with label maps (num_classes)")

    def received_maps(self, deliveries: list[Delivery]) -> torch.Tensor:
        """(B, C + 1, H, W) float32: every class map (absent ones zero) and the edge map."""
        return self.received_maps_with_status(deliveries)[0]

    def received_maps_with_status(self, deliveries: list[Delivery]) -> tuple[torch.Tensor, list[DecodeStatus]]:
        """The maps of :meth:`received_maps` and what became of each image's stream.

        Analog transport: every outcome is ``"analog"``. Digital transport: ``"decoded"`` (the
        map codec read the received bytes into maps of the announced shape) or
        ``"concealed"`` (it could not: all-zero maps, the network's null label).
        """
        if self.transport == "analog":
            from semcom_bench.semantics import decode_semantics

            maps = decode_semantics([d.received for d in deliveries], [d.side for d in deliveries], fds=self.fds,
                                    hard=self.hard)
            return maps, [DecodeStatus("analog") for _ in deliveries]
        streams = self.link.receive([d.received for d in deliveries], [d.side.nbytes for d in deliveries],
                                    self.device)
        items, statuses = [], []
        for d, data in zip(deliveries, streams):
            maps, status = decode_map_stream(data, d.side.maps)
            items.append(maps)
            statuses.append(status)
        return torch.stack(items), statuses

    def receive_batch(self, deliveries: list[Delivery], rngs: list[torch.Generator]) -> list[np.ndarray]:
        return [image for image, _ in self.receive_with_status(deliveries, rngs)]

    def receive_with_status(self, deliveries: list[Delivery],
                            rngs: list[torch.Generator]) -> list[tuple[np.ndarray, DecodeStatus]]:
        """Each image with what became of its maps (:meth:`received_maps_with_status`)."""
        maps, statuses = self.received_maps_with_status(deliveries)
        size = (int(deliveries[0].side.height), int(deliveries[0].side.width))
        return list(zip(self.synthesise(maps, size, rngs), statuses))

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


def decode_map_stream(data: bytes, side: Any) -> tuple[torch.Tensor, DecodeStatus]:
    """Received map-codec bytes -> (C + edges, H, W) float32 maps and the outcome; never raises.

    The codec decodes the bytes (``decode_code``) into the K sent maps of the announced
    shape, which are taken to the image size (nearest) and padded with the absent classes
    (zeros). Anything it cannot decode is concealed with all-zero maps (the diffusion
    network's null label: an unconditional sample).
    """
    import torch.nn.functional as F

    from semcom_bench.semantics import decode_code, pad_classes

    try:
        maps = decode_code(data, side)
        if tuple(maps.shape) != tuple(side.map_shape) or not bool(torch.isfinite(maps).all()):
            raise ValueError(f"decoded maps of shape {tuple(maps.shape)}, expected {tuple(side.map_shape)}")
        if maps.shape[-2:] != (side.height, side.width):
            maps = F.interpolate(maps[None], size=(side.height, side.width), mode="nearest")[0]
        return pad_classes(maps, side.present, side.num_classes, side.edges), DecodeStatus("decoded")
    except Exception as exc:  # a damaged stream: conceal, never crash
        empty = torch.zeros((side.num_classes + int(side.edges), side.height, side.width), dtype=torch.float32)
        return empty, DecodeStatus("concealed", f"{type(exc).__name__}: {exc}")
