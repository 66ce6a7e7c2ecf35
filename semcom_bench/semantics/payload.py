"""The GESCO sender (first paper, sec. 3.2): one-hot maps of the present classes, compressed,
power-normalised, sent as analog channel symbols.

Steps, for one image with labels (H, W) in a C-class label space:

1. one-hot encode the labels and take the instance-edge map (:mod:`.onehot`);
2. keep only the K_c classes present in the image (``present``, ascending) plus the edge map:
   K = K_c + 1 maps (K_c without an edge map);
3. optionally down-sample the maps by an integer ``downsample`` factor (majority class per
   block, edge if any pixel of the block is an edge) — a lossy variant the paper does not use;
4. compress the K binary maps with a map codec (:mod:`.codec`, lossless by default) and, for
   a lossy codec, continue with the decoded maps so the analog and digital payloads carry
   the same content;
5. pair the map values into complex symbols and normalise their power:

   - ``power="average"`` (default, the project's convention): unit average power per
     complex symbol (:func:`semcom_bench.symbols.to_symbols`), so the channel's SNR is
     Es/N0. Binary maps are sparse (one class per pixel among K maps), so their average
     power is far below their peak: per real map value the noise variance is
     ``N0 * scale**2 / 2`` with ``scale**2 = 2 * mean(map**2)`` (0.15-0.24 on
     synthetic-streets, 10-16 maps), i.e. ``10 log10(2 / scale**2)`` = 9-11 dB less noise
     on the maps than the paper's PSNR at the same number.
   - ``power="peak"`` (the first paper's PSNR = 10 log10(P / σ²) with P = 1 the peak map
     value): the maps are scaled so that a pair of ones has unit power; with the channel's
     N0 = 10^(-snr/10), each real map value then sees noise of variance σ² = N0 — exactly
     ``map + σ·N(0, 1)`` of the paper, with the SNR read as its PSNR. The average symbol
     power is then below 1; results using it must say so.

Two bit counts come out, and the difference matters:

- ``map_bits``: exact size of the compressed maps (8 x bytes produced by the codec). This is
  what a digital link would have to carry, and what the paper's "119,000 bits per image"
  figure measures. It is reported as ``source_bits``.
- ``side_bits``: the side information the receiver needs error-free: a count field of
  ceil(log2(C + 1)) bits, ceil(log2 C) bits per present class index, one bit for "an edge
  map follows", the image height and width (16 bits each) and the power-normalisation scale
  (32-bit float). The codec and the down-sampling factor are configuration, known to both
  ends, and not counted.

What the paper actually puts on the channel is analog: the float map values, one real
value per map pixel, ``ceil(K * h * w / 2)`` complex channel uses (``Payload.channel_uses``).
The compressed bits are never modulated; they measure the payload, the symbols carry it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from semcom_bench.errors import UserError
from semcom_bench.semantics.codec import DEFAULT_CODEC, MapCodec, get_codec
from semcom_bench.semantics.onehot import instance_edges, one_hot, present_classes
from semcom_bench.symbols import to_symbols

#: Bits of a float field (the power-normalisation scale) in the side information.
SIDE_FLOAT_BITS = 32
#: Bits of an image dimension (height or width) in the side information.
SIDE_DIM_BITS = 16


def index_bits(num_classes: int) -> int:
    """Bits of one class index in ``[0, num_classes)``: ceil(log2 C) (at least 1)."""
    return max(1, math.ceil(math.log2(max(num_classes, 2))))


def present_list_bits(num_present: int, num_classes: int) -> int:
    """Bits of the present-class list: a count field of ceil(log2(C + 1)) bits + count x ceil(log2 C)."""
    return math.ceil(math.log2(num_classes + 1)) + num_present * index_bits(num_classes)


@dataclass(frozen=True)
class SemanticSide:
    """Side information of one semantic payload (sent error-free, counted in ``bits``).

    Attributes:
        num_classes: C, size of the label space (known to both ends, not counted).
        present: ascending class ids of the transmitted class maps.
        edges: an instance-edge map follows the class maps.
        height, width: size of the full-resolution maps (the image size).
        map_height, map_width: size of the transmitted maps (smaller when down-sampled).
        scale: power-normalisation scale: symbols x scale = the map value pairs.
        codec: name of the map codec (configuration, not counted).
        power: ``"average"`` (unit average symbol power, SNR = Es/N0) or ``"peak"`` (peak map
            value 1, SNR = the paper's PSNR); configuration, not counted.
    """

    num_classes: int
    present: tuple[int, ...]
    edges: bool
    height: int
    width: int
    map_height: int
    map_width: int
    scale: float
    codec: str = DEFAULT_CODEC
    power: str = "average"

    @property
    def num_maps(self) -> int:
        """K: number of transmitted maps (present classes + edge map)."""
        return len(self.present) + int(self.edges)

    @property
    def map_shape(self) -> tuple[int, int, int]:
        """(K, map_height, map_width) of the transmitted maps."""
        return (self.num_maps, self.map_height, self.map_width)

    @property
    def bits(self) -> int:
        """Exact side-information bits (see the module docstring)."""
        return present_list_bits(len(self.present), self.num_classes) + 1 + 2 * SIDE_DIM_BITS + SIDE_FLOAT_BITS

    def to_dict(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes, "present": list(self.present), "edges": self.edges,
            "height": self.height, "width": self.width, "map_height": self.map_height,
            "map_width": self.map_width, "scale": self.scale, "codec": self.codec, "power": self.power,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SemanticSide":
        return cls(**{**d, "present": tuple(int(c) for c in d["present"])})


@dataclass
class SemanticPayload:
    """What the semantic sender produces for one image.

    Attributes:
        symbols: (N,) complex64, unit average power, N = ceil(K * h * w / 2): the analog maps.
        side: the side information.
        maps: (K, h, w) float32, the transmitted maps before power normalisation (after the
            codec round trip, so equal to the originals for a lossless codec).
        code: the compressed maps as the codec produced them.
        map_bits: ``8 * len(code)``, exact; reported as ``source_bits``.
        side_bits: ``side.bits``.
    """

    symbols: torch.Tensor
    side: SemanticSide
    maps: torch.Tensor
    code: bytes
    map_bits: int
    side_bits: int

    @property
    def source_bits(self) -> int:
        return self.map_bits

    @property
    def total_bits(self) -> int:
        return self.map_bits + self.side_bits

    @property
    def channel_uses(self) -> int:
        return int(self.symbols.numel())


def _downsample(labels: torch.Tensor, edge: torch.Tensor | None, num_classes: int, factor: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Majority label per factor x factor block (ties: lowest id); edge = any edge in the block."""
    h, w = labels.shape
    if h % factor or w % factor:
        raise UserError(f"downsample={factor} does not divide the map size {h}x{w}; choose a divisor of both")
    # channel num_classes collects pixels outside the label space
    lab = torch.where((labels >= 0) & (labels < num_classes), labels, torch.full_like(labels, num_classes))
    counts = torch.nn.functional.avg_pool2d(one_hot(lab, num_classes + 1)[None], factor)[0]
    small = counts.argmax(dim=0)
    small = torch.where(small == num_classes, torch.full_like(small, 255), small)
    e = None if edge is None else torch.nn.functional.max_pool2d(edge[None, None], factor)[0, 0]
    return small, e


def encode_maps(
    labels: np.ndarray | torch.Tensor,
    num_classes: int,
    instances: np.ndarray | torch.Tensor | None = None,
    *,
    codec: str | MapCodec = DEFAULT_CODEC,
    edges: bool | None = None,
    eight_bit: bool = True,
    downsample: int = 1,
    power: str = "average",
) -> SemanticPayload:
    """Encode a label map (and instance map) into a semantic payload.

    Args:
        labels: (H, W) integer label ids; values outside ``[0, num_classes)`` belong to no class.
        num_classes: C.
        instances: (H, W) integer instance ids, or None.
        codec: map codec name (``labels-webp`` default, ``labels-png``, ``g4``, ``png``,
            ``jpeg-<q>``) or a :class:`MapCodec`.
        edges: send the instance-edge map; default: when ``instances`` is given.
        eight_bit: take edges of the 8-bit-clipped instance ids, as the official code does.
        downsample: integer factor (1 = full resolution).
        power: ``"average"`` (unit average symbol power) or ``"peak"`` (the paper's PSNR); see
            the module docstring.

    Returns:
        :class:`SemanticPayload` (symbols (N,) complex64, maps (K, h, w) float32).
    """
    lab = torch.as_tensor(np.ascontiguousarray(labels) if isinstance(labels, np.ndarray) else labels).to(torch.int64)
    if lab.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {tuple(lab.shape)}")
    height, width = lab.shape
    if power not in ("average", "peak"):
        raise UserError(f"unknown power normalisation {power!r}: choose average or peak")
    with_edges = instances is not None if edges is None else bool(edges)
    edge = None
    if with_edges:
        edge = instance_edges(instances, eight_bit=eight_bit) if instances is not None else torch.zeros(lab.shape)
    if int(downsample) > 1:
        lab, edge = _downsample(lab, edge, num_classes, int(downsample))
    present = present_classes(lab, num_classes)
    maps = one_hot(lab, num_classes)[present]
    if edge is not None:
        maps = torch.cat([maps, edge[None]], dim=0)
    c = get_codec(codec)
    planes = maps.numpy()
    code = c.encode(planes, len(present))
    if not c.lossless:
        maps = torch.from_numpy(c.decode(code, tuple(planes.shape), len(present)))
    symbols, scale = to_symbols(maps)
    if power == "peak":
        peak = float(maps.abs().max()) * math.sqrt(2.0) if maps.numel() else 0.0
        peak = peak if peak > 0 else 1.0
        symbols, scale = symbols * (scale / peak), peak
    side = SemanticSide(
        num_classes=int(num_classes), present=tuple(present), edges=with_edges, height=int(height), width=int(width),
        map_height=int(maps.shape[1]), map_width=int(maps.shape[2]), scale=float(scale), codec=c.name, power=power,
    )
    return SemanticPayload(symbols=symbols, side=side, maps=maps, code=code, map_bits=8 * len(code), side_bits=side.bits)


def encode_semantics(
    sample: Any,
    num_classes: int,
    *,
    codec: str | MapCodec = DEFAULT_CODEC,
    edges: bool | None = None,
    eight_bit: bool = True,
    downsample: int = 1,
    power: str = "average",
) -> SemanticPayload:
    """Encode a :class:`~semcom_bench.data.base.Sample`'s labels and instances (see :func:`encode_maps`).

    Returns:
        :class:`SemanticPayload` (the method-level sender is
        :class:`semcom_bench.methods.semantic.maps.MapSender`).
    """
    if sample.labels is None:
        raise UserError(f"sample {sample.key!r} has no labels: semantic methods need a data set with label maps")
    return encode_maps(
        sample.labels, num_classes, sample.instances, codec=codec, edges=edges, eight_bit=eight_bit, downsample=downsample,
        power=power,
    )


def decode_code(payload_code: bytes, side: SemanticSide) -> torch.Tensor:
    """Decode the compressed maps (the digital path): bytes -> (K, h, w) float32."""
    c = get_codec(side.codec)
    return torch.from_numpy(c.decode(payload_code, side.map_shape, len(side.present)))
