"""The semantic payload of generative semantic communication (first paper, sec. 3.2).

Sender: one-hot maps of the present classes plus the instance-edge map, compressed with an
exact bit count, power-normalised, sent as analog channel symbols
(:func:`encode_semantics`). Receiver: FDS denoising and re-insertion of the absent classes
(:func:`decode_semantics`), hard labels for map-error measurements. Bits per image versus the
full image: :mod:`semcom_bench.semantics.bits`.

Typical use::

    payload = encode_semantics(sample, num_classes=35)        # .symbols, .side, .map_bits
    rx = AWGN()(payload.symbols, snr_db=10, generator=g)
    cond = decode_semantics(rx, payload.side, fds=True)        # (36, H, W) float32
"""

from semcom_bench.semantics.codec import CODECS, DEFAULT_CODEC, MapCodec, get_codec
from semcom_bench.semantics.fds import FDS, decode_semantics, fds, hard_labels, hard_maps, map_error_rate, pad_classes, received_maps
from semcom_bench.semantics.onehot import instance_edges, one_hot, present_classes, semantic_maps
from semcom_bench.semantics.payload import (
    SemanticPayload,
    SemanticSide,
    decode_code,
    encode_maps,
    encode_semantics,
)

__all__ = [
    "CODECS", "DEFAULT_CODEC", "FDS", "MapCodec", "SemanticPayload", "SemanticSide",
    "decode_code", "decode_semantics", "encode_maps", "encode_semantics", "fds", "get_codec", "hard_labels", "hard_maps",
    "instance_edges", "map_error_rate", "one_hot", "pad_classes", "present_classes", "received_maps", "semantic_maps",
]
