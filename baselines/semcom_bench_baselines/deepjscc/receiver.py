"""``deepjscc``: the image encoded into channel symbols by the DeepJSCC encoder, decoded by its decoder.

Bourtsoulatze, Kurka, Gündüz, "Deep joint source-channel coding for wireless image transmission"
(IEEE TCCN 2019), the paper's variant: one model per training SNR (``snr_train``), no SNR input to
the network. The networks are :mod:`.network`'s.

Sender (deterministic, independent of the SNR): (H, W, 3) uint8 -> [0, 1] -> encoder ->
(c, H/4, W/4) -> per-image power normalisation to unit average power per complex symbol (the
paper's z̃ = sqrt(k·P)·z / sqrt(z*z), P = 1) -> consecutive real values paired into
k = c·H·W/32 complex symbols (:func:`semcom_bench.symbols.to_symbols`). Bandwidth ratio
k/n = c/96 for every H, W divisible by 4: ``ratio=1/6`` is c = 16, ``ratio=1/12`` is c = 8.

Receiver: the channel's output symbols (equalised where the channel has CSI: the biased MMSE
estimate for ``rayleigh``, as CDDM's JSCC-only evaluation does) -> real layout (c, H/4, W/4) ->
decoder -> [0, 1] -> uint8. The decoder takes the unit-power layout as the channel delivers it,
the layout it was trained on; the sender's scale is not sent (as in the paper). The receiver
does not use the SNR either.

Weights: without ``weights``, the embedded model of (``ratio``, ``snr_train``) trained here on
synthetic-streets at 64x128 (``semcom-bench train deepjscc``): ratio 1/6 or 1/12 at 10 or 13 dB;
any other pair is a one-line error listing them. ``weights=PATH`` takes a user's file (kaira's
``DeepJSCCModel`` state dict, see :mod:`.network`), loaded strictly; its width sets the ratio
(a different ``ratio`` is an error) and ``snr_train`` is then only a label.

Bits: ``source_bits`` = 8·3·H·W, the uint8 image the analog symbols stand for (as ``full-image``
counts it); ``side_bits`` = the image shape (3 x 16 bits); channel uses k = c·H·W/32.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semcom_bench.bandwidth import parse_ratio
from semcom_bench.components import Annotated, Doc, RunContext
from semcom_bench.data.base import Sample
from semcom_bench.errors import MissingWeightsError, UserError
from semcom_bench.methods.base import Delivery, Method, Payload, Sender
from semcom_bench.registry import methods
from semcom_bench.symbols import from_symbols, to_symbols
from semcom_bench_baselines.deepjscc.network import (DOWNSAMPLING, EMBEDDED, DeepJsccDecoder, DeepJsccEncoder,
                                                     channels_for_ratio, channels_of, embedded_entry, load_state,
                                                     normalise, ratio_of, read_weights)

#: the embedded model used without options
DEFAULT_RATIO = Fraction(1, 6)
DEFAULT_SNR_TRAIN = 10.0
#: bits of an image dimension in the side information
DIM_BITS = 16


@dataclass(frozen=True)
class JsccSide:
    """Side information of a DeepJSCC image: its (H, W, 3) shape (the latent shape follows from it and c)."""

    shape: tuple[int, int, int]

    bits = 3 * DIM_BITS


@lru_cache(maxsize=8)
def _networks(path: str, channels: int, device: str) -> tuple[DeepJsccEncoder, DeepJsccDecoder]:
    """(encoder, decoder) of a weights file, strictly loaded, eval mode, on ``device``; cached."""
    encoder, decoder = load_state(read_weights(path), channels, path)
    return encoder.to(device), decoder.to(device)


@lru_cache(maxsize=16)
def _file_hash(path: str) -> str:
    from semcom_bench.hashing import hash_file

    return hash_file(path)


class JsccSender(Sender):
    """The DeepJSCC transmitter: encoder, per-image power normalisation, real pairs -> complex symbols."""

    name = "deepjscc"

    def __init__(self, method: "DeepJscc"):
        self.method = method

    def settings(self) -> dict[str, Any]:
        return {"channels": self.method.channels, "checkpoint": self.method.checkpoint_hash()}

    def transmit_batch(self, samples: list[Sample], rngs: list[torch.Generator]) -> list[Payload]:
        encoder, _ = self.method.networks()
        dev = next(encoder.parameters()).device
        out: list[Payload | None] = [None] * len(samples)
        for shape, idx in _by_shape([s.image.shape for s in samples]).items():
            h, w = shape[0], shape[1]
            if h % DOWNSAMPLING or w % DOWNSAMPLING:
                raise UserError(f"method deepjscc needs image height and width divisible by {DOWNSAMPLING}, "
                                f"got {h}x{w}; resize the data set (e.g. height=64, width=128)")
            x = torch.from_numpy(np.stack([samples[i].image for i in idx])).to(dev).permute(0, 3, 1, 2).float() / 255.0
            with torch.no_grad():
                z, scales = normalise(encoder(x))
            for j, i in enumerate(idx):
                symbols, rest = to_symbols(z[j].cpu())  # rest = 1 up to rounding (an odd count adds a zero)
                out[i] = Payload(symbols, source_bits=8 * int(samples[i].image.size), side_bits=JsccSide.bits,
                                 side=JsccSide(tuple(int(d) for d in shape)), scale=float(scales[j]) * rest)
        return out  # type: ignore[return-value]


def _by_shape(shapes: list[tuple[int, ...]]) -> dict[tuple[int, ...], list[int]]:
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(tuple(int(d) for d in shape), []).append(i)
    return groups


class DeepJscc(Method):
    """DeepJSCC: learned analog JSCC; the embedded model of (ratio, snr_train) or ``weights=PATH``."""

    name = "deepjscc"
    version = "1"

    def __init__(
        self,
        context: RunContext | None = None,
        *,
        ratio: Annotated[str | None, Doc("bandwidth ratio k/n = c/96 (c latent channels; any H, W divisible by 4), "
                                         "as 1/12 or 0.0833; none: 1/6, or the width of weights")] = None,
        snr_train: Annotated[float | None, Doc("training SNR of the model in dB (Es/N0 per complex symbol, AWGN): "
                                               "the embedded ones are 10 and 13; with weights only a label; "
                                               "none: 10")] = None,
        weights: Annotated[Path | None, Doc("a DeepJSCC state dict (kaira layout, encoder.* and decoder.* keys) "
                                            "instead of the embedded model")] = None,
    ):
        super().__init__(context)
        owner = "method 'deepjscc'"
        self.weights = weights
        if weights is not None:
            state = read_weights(weights)  # a bad file fails here, in one line
            found = channels_of(state, weights)
            if ratio is not None and channels_for_ratio(parse_ratio(ratio, owner), owner) != found:
                raise UserError(f"parameter ratio={ratio} of {owner} does not fit weights {weights}: its c={found} "
                                f"channels make ratio {ratio_of(found)}; give ratio={ratio_of(found)} or leave it out")
            self.channels = found
            self.snr_train = snr_train
        else:
            k_n = parse_ratio(ratio, owner) if ratio is not None else DEFAULT_RATIO
            self.channels = channels_for_ratio(k_n, owner)
            self.snr_train = float(snr_train) if snr_train is not None else DEFAULT_SNR_TRAIN
            self.entry = embedded_entry(self.channels, self.snr_train)
        self.ratio = str(ratio_of(self.channels))
        self.sender = JsccSender(self)

    def weights_path(self) -> Path:
        """The weights file in use (the user's, or the verified embedded one)."""
        if self.weights is not None:
            p = Path(self.weights).expanduser()
            if not p.is_file():
                raise MissingWeightsError(f"weights file {p} does not exist (for method deepjscc); check the path")
            return p
        from semcom_bench.weights import find, resolve

        if find(self.entry.weights.name) is None:
            raise UserError(f"embedded deepjscc ratio={self.ratio} snr_train={self.snr_train:g} is not in this "
                            f"installation; 'semcom-bench train deepjscc --ratio {self.ratio} --snr-train "
                            f"{self.snr_train:g} --export' makes it, or pass weights=PATH")
        return resolve(self.entry.weights.name)

    def networks(self) -> tuple[DeepJsccEncoder, DeepJsccDecoder]:
        return _networks(str(self.weights_path()), self.channels, self.device)

    def checkpoint_hash(self) -> str | None:
        return _file_hash(str(self.weights_path()))

    def receive_batch(self, deliveries: list[Delivery], rngs: list[torch.Generator]) -> list[np.ndarray]:
        _, decoder = self.networks()
        dev = next(decoder.parameters()).device
        out: list[np.ndarray | None] = [None] * len(deliveries)
        for shape, idx in _by_shape([d.side.shape for d in deliveries]).items():
            latent = (self.channels, shape[0] // DOWNSAMPLING, shape[1] // DOWNSAMPLING)
            z = torch.stack([from_symbols(deliveries[i].received.symbols, 1.0, latent) for i in idx]).to(dev)
            with torch.no_grad():
                x = decoder(z)
            images = (x.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
            for j, i in enumerate(idx):
                out[i] = np.ascontiguousarray(images[j])
        return out  # type: ignore[return-value]


methods.register(
    summary="DeepJSCC (Bourtsoulatze et al. 2019): CNN encoder -> unit-power analog symbols -> CNN decoder; "
            "k/n = c/96; embedded models for ratio 1/6, 1/12 trained at 10 and 13 dB (one per SNR)",
    weights=tuple(e.weights.name for e in EMBEDDED.values()),
    payload="JSCC features (analog)",
)(DeepJscc)

__all__ = ["DeepJscc", "JsccSender", "JsccSide", "DEFAULT_RATIO", "DEFAULT_SNR_TRAIN"]
