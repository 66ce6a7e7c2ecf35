"""``cddm``: a JSCC encoder's latent over the channel, the CDDM denoiser (Wu et al., TWC 2024), the JSCC decoder.

**Sender** (:class:`LatentSender`): the image in [0, 1] (edge-padded to the sizes the networks take,
if needed) -> JSCC encoder -> latent (C, h, w) -> complex symbols, power-normalised **per image** to
unit power per complex symbol (the official ``complex_normalize``: ``pwr = 2·mean(z²)``, which
with batch 1 is per image). The scale ``√pwr`` goes as side information, as the official receiver
has it. Two packings of the real latent into complex symbols: ``pairs`` (consecutive values,
:func:`semcom_bench.symbols.to_symbols`, as ``deepjscc`` sends its latent: the same symbols in a
run) for the embedded JSCC, and ``height`` (the official one: the first half of the rows are the
real parts, the second half the imaginary parts) for the official Swin JSCC.

**Receiver** (:meth:`Cddm.receive_batch`): the received symbols in the latent's real layout ->
:func:`~.sampler.prepare` (scale by 1/√(1+σ²); over fading, MMSE weights and the noise rescaled
by ``|h|/(|h|²+s)``, conditioning on ``|h|``) -> :func:`~.sampler.reverse` from the start step of
the SNR (:func:`~.sampler.start_step`, ``convention`` paper or official) -> × √pwr -> JSCC
decoder -> clamp to [0, 1] -> uint8. The denoiser follows the channel the symbols came over:
the AWGN one for AWGN, the Rayleigh one over a fading channel (the channel's state carries the
equaliser's gains); a channel without a denoiser is a one-line error listing what exists.

**Weights.** Without ``weights``, the embedded models: the ``deepjscc`` JSCC (ratio k/n = 1/12 or
1/6, trained at ``snr_train``, default 13 dB: the official +3 dB recipe for a 10 dB test point)
and the small denoisers trained on its frozen latents (``semcom-bench train cddm``, the official
stage 2; no stage-3 decoder: the receiver decodes with deepjscc's own decoder), shipped in
``semcom_bench/assets/cddm/``: k/n 1/12 for AWGN and Rayleigh, 1/6 for AWGN. A denoiser's JSON
names the sha256 of the deepjscc file it was trained on; another installed file is refused. The
Rayleigh denoiser was trained with the paper convention's equaliser term (true MMSE at 10 dB). With ``weights=FOLDER``, the official files found under it
(:mod:`.official`): JSCC encoder and decoder (the stage-3 ``redecoder`` when present) and the
``CDDM_`` denoisers, loaded strictly into the official Swin and UNet layouts (DIV2K or CIFAR
configuration, told apart by the encoder's stages); ``options=FILE`` (JSON ``{"jscc": {...},
"unet": {...}}`` of :class:`~.swin.SwinJsccConfig` / :class:`~.unet.UNetConfig` fields) for files
of another width.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semcom_bench.bandwidth import parse_ratio, ratio_text
from semcom_bench.channels.equalizers import unbiased_estimate
from semcom_bench.components import Annotated, Doc, Literal, RunContext
from semcom_bench.data.base import Sample
from semcom_bench.errors import UserError
from semcom_bench.methods.base import Delivery, Method, Payload, Sender
from semcom_bench.registry import methods
from semcom_bench.symbols import from_symbols, to_symbols
from semcom_bench.weights import WeightFile, find, get, register_weights, resolve
from semcom_bench_baselines.cddm import official
from semcom_bench_baselines.cddm.sampler import CONVENTIONS, prepare, reverse, start_step
from semcom_bench_baselines.cddm.swin import JsccDecoder, JsccEncoder, SwinJsccConfig
from semcom_bench_baselines.cddm.unet import UNet, UNetConfig

#: the package's assets folder of the embedded denoisers
ASSETS = Path(__import__("semcom_bench").__file__).resolve().parent / "assets" / "cddm"
#: bits of an image dimension and of the float scale in the side information
DIM_BITS, FLOAT_BITS = 16, 32
#: latent channels per unit k/n of the embedded (deepjscc) JSCC: k/n = c/96 (4x down-sampling, 3 colours, 2 reals per symbol)
DEEPJSCC_PER_RATIO = 96


def embedded_name(ratio: Fraction, channel: str, snr_train: float) -> str:
    """``cddm-r1_12-awgn-snr13``: the stem of an embedded denoiser's files."""
    return f"cddm-r{ratio.numerator}_{ratio.denominator}-{channel}-snr{_num(snr_train)}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


#: the shipped denoisers: (k/n, channel, JSCC training SNR dB) -> sha256 of the .pt (None: not shipped yet)
SHIPPED: dict[tuple[Fraction, str, float], str | None] = {}


def _declare(ratio: Fraction, channel: str, snr_train: float, sha256: str | None) -> WeightFile:
    name = embedded_name(ratio, channel, snr_train)
    SHIPPED[(ratio, channel, float(snr_train))] = sha256
    return register_weights(WeightFile(
        name=name, filename=f"{name}.pt", sha256=sha256, embedded=f"cddm/{name}.pt", used_by=("cddm",),
        description=f"CDDM denoiser (official UNet layout, narrow) trained on the deepjscc k/n={ratio} latent "
                    f"(JSCC at {_num(snr_train)} dB) for {channel}; semcom-bench train cddm"))


_declare(Fraction(1, 12), "awgn", 13.0, "a23e8d008e34c1ac48822e61e405e59c80c3b8c96ec15e6c53bda39c932d5e06")
_declare(Fraction(1, 12), "rayleigh", 13.0, "36900249e33c3adeceaeadb8e05cb77a07700a3abbb97069938b28c2e79f403f")
_declare(Fraction(1, 6), "awgn", 13.0, "5e9461286cd9232fc56e902135f9038b879388849521427b0d9b46237231249c")


def shipped_files() -> dict[tuple[Fraction, str, float], WeightFile]:
    """The declared embedded denoisers that are present."""
    out = {}
    for (r, ch, s) in SHIPPED:
        w = get(embedded_name(r, ch, s))
        if find(w.name) is not None:
            out[(r, ch, s)] = w
    return out


def _listing(keys: list[tuple[Fraction, str, float]]) -> str:
    return ", ".join(f"ratio={r} {ch} snr_train={_num(s)}" for r, ch, s in sorted(keys, key=lambda k: (k[0], k[1], k[2])))


# --------------------------------------------------------------------------------------------
# packing of the real latent into complex symbols
# --------------------------------------------------------------------------------------------


def pack(z: torch.Tensor, packing: str) -> tuple[torch.Tensor, float]:
    """(C, h, w) real latent -> ((C·h·w/2,) complex64 unit-power symbols, scale = √(2·mean z²))."""
    if packing == "pairs":
        return to_symbols(z)
    h = z.shape[1]
    if h % 2:
        raise ValueError(f"height packing needs an even latent height, got {h}")
    pairs = torch.complex(z[:, : h // 2].float(), z[:, h // 2:].float()).reshape(-1)
    power = float(pairs.abs().square().mean())
    scale = power ** 0.5 if power > 0 else 1.0
    return pairs / scale, scale


def unpack(symbols: torch.Tensor, scale: float, shape: tuple[int, int, int], packing: str) -> torch.Tensor:
    """Inverse of :func:`pack`: (N,) complex -> (C, h, w) float32 (times ``scale``)."""
    if packing == "pairs":
        return from_symbols(symbols, scale, shape)
    C, h, w = shape
    c = (symbols.reshape(C, h // 2, w) * scale)
    return torch.cat((c.real, c.imag), dim=1).to(torch.float32)


# --------------------------------------------------------------------------------------------
# networks
# --------------------------------------------------------------------------------------------


@dataclass
class Backbone:
    """A JSCC pair and how its latent is sent.

    Attributes:
        encoder: (B, 3, H, W) in [0, 1] -> (B, C, H/d, W/d) latent (before power normalisation).
        decoder: (B, C, H/d, W/d) -> (B, 3, H, W) (clamped to [0, 1] by the receiver).
        C: latent channels; d = ``downsampling``.
        multiple: image sides must be multiples of this (the sender pads the image to it).
        packing: ``pairs`` or ``height`` (:func:`pack`).
        scaled_decoder: the decoder takes the latent at the encoder's scale (official: ``× √pwr``);
            otherwise the unit-power latent as the channel carries it (deepjscc).
        files: the weight files, for the checkpoint hash.
        label: for messages.
    """

    encoder: nn.Module
    decoder: nn.Module
    C: int
    downsampling: int
    multiple: int
    packing: str
    scaled_decoder: bool
    files: tuple[str, ...]
    label: str


def padded_size(H: int, W: int, multiple: int) -> tuple[int, int]:
    """The smallest multiples of ``multiple`` at least (H, W)."""
    return -(-H // multiple) * multiple, -(-W // multiple) * multiple


@lru_cache(maxsize=8)
def _embedded_backbone(C: int, snr_train: float, device: str) -> Backbone:
    try:
        from semcom_bench_baselines.deepjscc.network import load_embedded
    except ImportError:
        raise UserError("cddm's embedded default needs the deepjscc JSCC (semcom_bench_baselines.deepjscc), which this "
                        "installation lacks; pass weights=FOLDER of official CDDM files") from None
    encoder, decoder, info = load_embedded(C, snr_train)
    files = tuple(str(f) for f in _info_files(info))
    return Backbone(encoder.to(device).eval(), decoder.to(device).eval(), C, 4, 4, "pairs", False, files,
                    f"deepjscc c={C} snr_train={_num(snr_train)}")


def _info_files(info: Any) -> list[str]:
    """The weight files named in deepjscc's ``load_embedded`` info (a dict), if any."""
    if not isinstance(info, dict):
        return []
    out = []
    for key in ("path", "weights", "file", "json", "encoder", "decoder", "files"):
        v = info.get(key)
        if isinstance(v, (str, Path)) and Path(v).is_file():
            out.append(str(v))
        elif isinstance(v, (list, tuple)):
            out.extend(str(x) for x in v if isinstance(x, (str, Path)) and Path(x).is_file())
    return out


@lru_cache(maxsize=16)
def _sidecar(path: str) -> dict[str, Any]:
    """The JSON beside an embedded denoiser (empty when unreadable; :func:`read_unet` reports that)."""
    try:
        info = json.loads(Path(path).with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def read_unet(path: str | Path) -> tuple[UNet, dict[str, Any]]:
    """An embedded denoiser (``.pt`` + ``.json`` beside it with ``unet``), loaded strictly, in eval mode."""
    p = Path(path)
    sidecar = p.with_suffix(".json")
    try:
        info = json.loads(sidecar.read_text(encoding="utf-8"))
        config = UNetConfig.from_dict(info["unet"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"embedded CDDM denoiser {p} has no readable {sidecar.name} with its 'unet' configuration "
                        f"({type(exc).__name__}); reinstall the package or retrain it with semcom-bench train cddm") from None
    net = UNet(config)
    official.load_strict(net, official.load_state(p, "denoiser"), "denoiser", p, f"UNet ch={config.ch} C={config.input_channel}")
    return net.eval(), info


@lru_cache(maxsize=16)
def _embedded_unet(path: str, device: str) -> UNet:
    return read_unet(path)[0].to(device)


@lru_cache(maxsize=8)
def _official_backbone(encoder: str, decoder: str, config_json: str, device: str) -> Backbone:
    config = SwinJsccConfig.from_dict(json.loads(config_json))
    layout = f"{'div2k' if config.stages == 4 else 'cifar' if config.stages == 2 else 'Swin'} C={config.C}"
    enc, dec = JsccEncoder(config), JsccDecoder(config)
    official.load_strict(enc, official.load_state(encoder, "encoder"), "encoder", encoder, layout)
    official.load_strict(dec, official.load_state(decoder, "decoder"), "decoder", decoder, layout)
    return Backbone(enc.encoder.to(device).eval(), dec.decoder.to(device).eval(), config.C, config.downsampling,
                    config.multiple(), "height", True, (encoder, decoder), f"official Swin JSCC {layout}")


@lru_cache(maxsize=8)
def _official_unet(path: str, config_json: str, device: str) -> UNet:
    config = UNetConfig.from_dict(json.loads(config_json))
    net = UNet(config)
    official.load_strict(net, official.load_state(path, "denoiser"), "denoiser", path,
                         f"UNet ch={config.ch} C={config.input_channel}")
    return net.to(device).eval()


@lru_cache(maxsize=64)
def _file_hash(path: str) -> str:
    from semcom_bench.hashing import hash_file

    return hash_file(path)


# --------------------------------------------------------------------------------------------
# the sender
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatentSide:
    """Side information: the image's (H, W, 3) shape, the latent's (C, h, w) shape and the power scale √pwr.

    The latent's shape follows from the image's; the scale counts (:meth:`bits`) only for a decoder
    that takes the latent at the encoder's scale (the official Swin one), not for deepjscc's.
    """

    shape: tuple[int, int, int]
    latent: tuple[int, int, int]
    scale: float

    @staticmethod
    def bits(scaled_decoder: bool) -> int:
        return 3 * DIM_BITS + (FLOAT_BITS if scaled_decoder else 0)


class LatentSender(Sender):
    """(H, W, 3) uint8 -> [0, 1] -> JSCC encoder -> per-image unit-power symbols (see the module docstring).

    Embedded (``pairs``): images of one shape are encoded as one batch, normalised with deepjscc's
    :func:`~semcom_bench_baselines.deepjscc.network.normalise` and paired by
    :func:`~semcom_bench.symbols.to_symbols`, exactly as the ``deepjscc`` sender does, so in one run
    both methods send the same symbols. Official (``height``): one image at a time, edge-padded to
    the Swin encoder's multiple (the padding is sent too), the official packing.
    """

    name = "jscc-latent"
    version = "1"

    def __init__(self, method: "Cddm"):
        self.method = method

    def settings(self) -> dict[str, Any]:
        return self.method.sender_settings()

    def transmit_batch(self, samples: list[Sample], rngs: list[torch.Generator]) -> list[Payload]:
        backbone = self.method.backbone()
        dev = next(backbone.encoder.parameters()).device
        out: list[Payload | None] = [None] * len(samples)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, sample in enumerate(samples):
            groups.setdefault(tuple(int(d) for d in sample.image.shape), []).append(i)
        for shape, idx in groups.items():
            H, W = shape[:2]
            if backbone.packing == "pairs":
                if H % backbone.multiple or W % backbone.multiple:
                    raise UserError(f"method cddm with the embedded deepjscc JSCC needs image height and width divisible "
                                    f"by {backbone.multiple}, got {H}x{W}; resize the data set (e.g. height=64, width=128)")
                from semcom_bench_baselines.deepjscc.network import normalise

                x = torch.from_numpy(np.stack([samples[i].image for i in idx])).to(dev).permute(0, 3, 1, 2).float() / 255.0
                with torch.no_grad():
                    z, scales = normalise(backbone.encoder(x))
                for j, i in enumerate(idx):
                    symbols, rest = to_symbols(z[j].cpu())
                    scale = float(scales[j]) * rest
                    side = LatentSide(shape, tuple(int(d) for d in z.shape[1:]), scale)
                    out[i] = Payload(symbols, source_bits=8 * int(samples[i].image.size),
                                     side_bits=LatentSide.bits(backbone.scaled_decoder), side=side, scale=scale)
                continue
            Hp, Wp = padded_size(H, W, backbone.multiple)
            for i in idx:
                x = torch.from_numpy(samples[i].image.astype(np.float32) / 255.0).permute(2, 0, 1)[None].to(dev)
                if (Hp, Wp) != (H, W):
                    x = F.pad(x, (0, Wp - W, 0, Hp - H), mode="replicate")
                with torch.no_grad():
                    z = backbone.encoder(x)[0].float().cpu()
                symbols, scale = pack(z, backbone.packing)
                side = LatentSide(shape, tuple(int(d) for d in z.shape), float(scale))
                out[i] = Payload(symbols, source_bits=8 * int(samples[i].image.size),
                                 side_bits=LatentSide.bits(backbone.scaled_decoder), side=side, scale=float(scale))
        return out  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# the method
# --------------------------------------------------------------------------------------------

Ratio = Annotated[str | None, Doc("bandwidth ratio k/n (complex channel uses per real source dimension 3·H·W), "
                                  "as 1/12 or 0.0833; embedded: 1/12 (default) or 1/6; with weights: that of the "
                                  "files' C")]
SnrTrain = Annotated[float | None, Doc("training SNR (dB) of the JSCC and the denoiser; default 13 (official: trained "
                                       "3 dB above the 10 dB test point)")]
Convention = Annotated[Literal["paper", "official"], Doc(
    "start step: paper (alpha_bar = 1/(1+sigma^2), sigma^2 = N0/2 per real value; true MMSE) or official "
    "(step matched at the SNR itself: twice the noise; MMSE with 10^-(SNR+3)/10)")]
Tmax = Annotated[float | None, Doc("the official Tmax clamp (dB): the step is matched at max(SNR, tmax); none: off")]
ChannelKind = Annotated[Literal["auto", "awgn", "rayleigh"], Doc(
    "checkpoints of which channel: auto follows the channel the symbols came over (awgn, or rayleigh for fading)")]
Weights = Annotated[Path | None, Doc("a folder of official CDDM files (encoder_/decoder_/redecoder_/CDDM_snr{S}_"
                                     "channel_{awgn|rayleigh}_C{C}.pt) instead of the embedded models")]
Options = Annotated[Path | None, Doc("with weights: JSON {\"jscc\": {...}, \"unet\": {...}} of the networks' "
                                     "configuration when it is not the official one (jscc: SwinJsccConfig fields, or "
                                     "arch div2k|cifar with narrow N dividing the widths; unet: UNetConfig fields)")]


@methods.register(summary="CDDM (Wu et al., TWC 2024): JSCC latent over the channel, channel-denoising diffusion "
                          "(SNR -> start step, deterministic reverse steps, MMSE for fading), JSCC decoder; official "
                          "Swin/UNet checkpoints (weights=) or the embedded deepjscc + small denoiser",
                  weights=("cddm-r1_12-awgn-snr13", "cddm-r1_12-rayleigh-snr13", "deepjscc-c8-snr13-synthetic-streets"),
                  payload="JSCC latent (analog)")
class Cddm(Method):
    """CDDM over the JSCC latent; see the module docstring."""

    name = "cddm"
    version = "1"

    def __init__(self, context: RunContext | None = None, *, ratio: Ratio = None, snr_train: SnrTrain = None,
                 convention: Convention = "paper", tmax: Tmax = None, channel: ChannelKind = "auto",
                 weights: Weights = None, options: Options = None):
        super().__init__(context)
        self.ratio, self.snr_train, self.convention, self.tmax = ratio, snr_train, convention, tmax
        self.channel, self.weights, self.options = channel, weights, options
        if convention not in CONVENTIONS:
            raise UserError(f"parameter convention of method 'cddm' must be one of {', '.join(CONVENTIONS)}")
        if options is not None and weights is None:
            raise UserError("parameter options of method 'cddm' applies to official files: give weights=FOLDER too")
        self._plan = self._official_plan() if weights is not None else self._embedded_plan()
        self.sender = LatentSender(self)

    # --- which files ------------------------------------------------------------------------

    def _embedded_plan(self) -> dict[str, Any]:
        ratio = parse_ratio(self.ratio, "method 'cddm'") if self.ratio is not None else Fraction(1, 12)
        self.ratio = ratio_text(ratio)
        snr = float(self.snr_train) if self.snr_train is not None else 13.0
        C = ratio * DEEPJSCC_PER_RATIO
        present = shipped_files()
        channels = [ch for ch in ("awgn", "rayleigh") if (ratio, ch, snr) in present
                    and (self.channel in ("auto", ch))]
        if C.denominator != 1 or not channels:
            want = f"ratio={ratio} snr_train={_num(snr)}" + ("" if self.channel == "auto" else f" {self.channel}")
            have = _listing(list(present)) or "none (semcom-bench train cddm trains them)"
            raise UserError(f"cddm has no embedded denoiser for {want}; embedded: {have}; or pass weights=FOLDER of "
                            "official CDDM files")
        from semcom_bench_baselines.deepjscc.network import embedded_entry

        entry = embedded_entry(int(C), snr)  # a pair deepjscc does not ship: its one-line error
        if find(entry.weights.name) is None:
            raise UserError(f"cddm's embedded JSCC (deepjscc ratio={ratio} snr_train={_num(snr)}) is not in this "
                            f"installation; 'semcom-bench train deepjscc --ratio {ratio} --snr-train {_num(snr)} --export' "
                            "makes it, or pass weights=FOLDER of official CDDM files")
        denoisers = {ch: str(resolve(present[(ratio, ch, snr)].name)) for ch in channels}
        jscc_sha = _file_hash(str(resolve(entry.weights.name)))
        for ch, path in denoisers.items():  # a denoiser is only good for the encoder whose latents it learned
            trained_on = _sidecar(path).get("jscc", {}).get("sha256")
            if trained_on != jscc_sha:
                raise UserError(f"embedded CDDM denoiser {Path(path).name} was trained on another deepjscc file "
                                f"(sha256 {str(trained_on)[:12]}…) than the installed {entry.weights.filename} "
                                f"({jscc_sha[:12]}…); retrain it: semcom-bench train cddm --ratio {ratio} --channel {ch} "
                                f"--snr-train {_num(snr)} --export")
        return {"kind": "embedded", "ratio": ratio, "snr_train": snr, "C": int(C), "denoisers": denoisers,
                "jscc_sha256": jscc_sha}

    def _official_plan(self) -> dict[str, Any]:
        files = official.discover(self.weights)
        where = f"weights folder {Path(self.weights).expanduser()}"
        if not any(f.kind == "CDDM" for f in files):
            raise UserError(f"{where} holds no CDDM_snr{{S}}_channel_{{ch}}_C{{C}}.pt denoiser ({official.describe(files)})")
        den = [f for f in files if f.kind == "CDDM" and self.channel in ("auto", f.channel)]
        snrs = sorted({f.snr for f in den})
        if self.snr_train is not None:
            snr = float(self.snr_train)
            if not float(snr).is_integer() or int(snr) not in snrs:
                raise UserError(f"{where} has no CDDM denoiser for snr_train={_num(snr)}"
                                f"{'' if self.channel == 'auto' else ' ' + self.channel}; it holds: {official.describe(files)}")
        elif len(snrs) == 1 or 13 in snrs:
            snr = float(snrs[0] if len(snrs) == 1 else 13)
        else:
            raise UserError(f"{where} holds CDDM denoisers for several training SNRs {snrs}: give snr_train=")
        den = [f for f in den if f.snr == int(snr)]
        Cs = sorted({f.C for f in den})
        opts = self._read_options()
        if self.ratio is not None:
            ratio = parse_ratio(self.ratio, "method 'cddm'")
            match = [c for c in Cs if abs(self._files_ratio(files, c, opts) - float(ratio)) < 1e-9]
            if not match:
                raise UserError(f"{where} has no CDDM files for ratio={ratio} at snr_train={_num(snr)} (their k/n: "
                                + ", ".join(f"C{c} {self._files_ratio(files, c, opts):.4g}" for c in Cs)
                                + f"); it holds: {official.describe(files)}")
            C = match[0]
        elif len(Cs) == 1:
            C = Cs[0]
        else:
            raise UserError(f"{where} holds CDDM denoisers for C={Cs} at snr_train={_num(snr)}: give ratio=")
        den = {f.channel: f for f in den if f.C == C}
        jscc_channels = sorted({f.channel for f in files if f.kind == "encoder" and f.snr == int(snr) and f.C == C})
        if self.channel != "auto":
            jscc_channel = self.channel
        elif len(jscc_channels) == 1:
            jscc_channel = jscc_channels[0]
        elif len(jscc_channels) > 1:
            raise UserError(f"{where} holds JSCC encoders for {', '.join(jscc_channels)} at snr_train={_num(snr)} C{C}: "
                            "the sender cannot know the channel; give channel=awgn or channel=rayleigh")
        else:
            jscc_channel = None
        enc = self._pick(files, "encoder", int(snr), jscc_channel, C, where)
        dec = (self._pick(files, "redecoder", int(snr) - 3, jscc_channel, C, where, required=False)
               or self._pick(files, "decoder", int(snr), jscc_channel, C, where))
        return {"kind": "official", "snr_train": snr, "C": C, "files": files, "encoder": str(enc.path),
                "decoder": str(dec.path), "jscc_channel": jscc_channel, "options": opts,
                "denoisers": {ch: str(f.path) for ch, f in den.items()}}

    @staticmethod
    def _pick(files: list[official.OfficialFile], kind: str, snr: int, channel: str | None, C: int, where: str,
              required: bool = True) -> official.OfficialFile | None:
        hits = [f for f in files if f.kind == kind and f.snr == snr and f.C == C and f.channel == channel]
        if not hits and required:
            raise UserError(f"{where} has no {kind}_snr{snr}_channel_{channel or '{awgn|rayleigh}'}_C{C}.pt; it holds: "
                            f"{official.describe(files)}")
        return hits[0] if hits else None

    def _read_options(self) -> dict[str, Any]:
        if self.options is None:
            return {}
        p = Path(self.options).expanduser()
        try:
            info = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise UserError(f"options file {p} cannot be read ({type(exc).__name__}); give a JSON object "
                            '{"jscc": {...}, "unet": {...}}') from None
        if not isinstance(info, dict) or not set(info) <= {"jscc", "unet"}:
            raise UserError(f"options file {p} must be a JSON object with keys jscc and/or unet")
        return info

    def _jscc_config(self, C: int, arch: str | None, opts: dict[str, Any]) -> SwinJsccConfig:
        fields = dict(opts.get("jscc") or {})
        try:
            if "embed_dims" in fields:
                return SwinJsccConfig.from_dict({**fields, "C": C})
            return SwinJsccConfig.preset(fields.pop("arch", arch or "div2k"), C, int(fields.pop("narrow", 1)))
        except (TypeError, ValueError) as exc:
            raise UserError(f"options file {self.options}: its jscc entry does not fit SwinJsccConfig ({exc})") from None

    def _files_ratio(self, files: list[official.OfficialFile], C: int, opts: dict[str, Any]) -> float:
        arch = (opts.get("jscc") or {}).get("arch")
        if arch is None and "embed_dims" not in (opts.get("jscc") or {}):
            enc = [f for f in files if f.kind == "encoder" and f.C == C]
            arch = official.infer_arch(official.load_state(enc[0].path, "encoder")) if enc else None
        return self._jscc_config(C, arch, opts).ratio()

    # --- networks ---------------------------------------------------------------------------

    def backbone(self) -> Backbone:
        plan = self._plan
        if plan["kind"] == "embedded":
            return _embedded_backbone(plan["C"], plan["snr_train"], self.device)
        state = official.load_state(plan["encoder"], "encoder")
        arch = official.infer_arch(state)
        if arch is None and "embed_dims" not in (plan["options"].get("jscc") or {}):
            raise UserError(f"CDDM encoder file {plan['encoder']} has neither the DIV2K (4 stages) nor the CIFAR (2 stages) "
                            "layout of encoder.layers.N; give options=FILE with its configuration")
        config = self._jscc_config(plan["C"], arch, plan["options"])
        return _official_backbone(plan["encoder"], plan["decoder"], json.dumps(config.to_dict(), sort_keys=True),
                                  self.device)

    def unet_config(self) -> UNetConfig | None:
        """The official denoiser configuration (None for the embedded ones: their JSON says it)."""
        plan = self._plan
        if plan["kind"] == "embedded":
            return None
        fields = (plan["options"].get("unet") or {})
        try:
            return UNetConfig.from_dict({"input_channel": plan["C"], "ch": 16 * plan["C"], **fields})
        except TypeError as exc:
            raise UserError(f"options file {self.options}: its unet entry does not fit UNetConfig ({exc})") from None

    def denoiser(self, kind: str) -> UNet:
        """The denoiser for symbols received over ``kind`` (awgn or rayleigh); a one-line error if none."""
        plan = self._plan
        if self.channel != "auto" and kind != self.channel:
            raise UserError(f"cddm(channel={self.channel}) received symbols over a "
                            f"{'fading' if kind == 'rayleigh' else 'AWGN'} channel; use channel={kind} or auto")
        path = plan["denoisers"].get(kind)
        if path is None:
            if plan["kind"] == "embedded":
                have = _listing(list(shipped_files()))
                raise UserError(f"cddm has no embedded {kind} denoiser for ratio={plan['ratio']} snr_train="
                                f"{_num(plan['snr_train'])}; embedded: {have}")
            raise UserError(f"weights folder {Path(self.weights).expanduser()} has no CDDM_snr{_num(plan['snr_train'])}"
                            f"_channel_{kind}_C{plan['C']}.pt for symbols received over "
                            f"{'a fading' if kind == 'rayleigh' else 'an AWGN'} channel; it holds: "
                            f"{official.describe(plan['files'])}")
        if plan["kind"] == "embedded":
            return _embedded_unet(path, self.device)
        return _official_unet(path, json.dumps(self.unet_config().to_dict(), sort_keys=True), self.device)

    def checkpoint_hash(self) -> str | None:
        from semcom_bench.hashing import hash_obj

        plan = self._plan
        files = sorted(plan["denoisers"].values())
        if plan["kind"] == "official":
            files += [plan["encoder"], plan["decoder"]]
        else:
            files += [str(Path(p).with_suffix(".json")) for p in plan["denoisers"].values()]
        hashes = [_file_hash(f) for f in files if Path(f).is_file()]
        if plan["kind"] == "embedded":
            hashes.append(plan["jscc_sha256"])
        if plan["kind"] == "official" and self.options is not None:
            hashes.append(_file_hash(str(Path(self.options).expanduser())))
        return hash_obj(hashes)

    def sender_settings(self) -> dict[str, Any]:
        plan = self._plan
        if plan["kind"] == "embedded":
            return {"jscc": "deepjscc", "C": plan["C"], "snr_train": plan["snr_train"], "packing": "pairs",
                    "encoder": plan["jscc_sha256"]}
        return {"jscc": "official-swin", "encoder": _file_hash(plan["encoder"]), "packing": "height",
                "options": plan["options"]}

    # --- receiving --------------------------------------------------------------------------

    def steps(self, snr_db: float) -> int:
        """Reverse steps (network calls) at ``snr_db`` under this method's convention."""
        return start_step(snr_db, self.convention, self.tmax)

    def receive_batch(self, deliveries: list[Delivery], rngs: list[torch.Generator]) -> list[np.ndarray]:
        backbone = self.backbone()
        groups: dict[tuple, list[int]] = {}
        prepared = []
        for i, d in enumerate(deliveries):
            kind, y, habs, state = self._received(d, backbone.packing)
            prepared.append((y, habs))
            groups.setdefault((kind, float(state.snr_db), float(state.noise_power), tuple(y.shape)), []).append(i)
        outs: list[np.ndarray | None] = [None] * len(deliveries)
        dec_dev = next(backbone.decoder.parameters()).device
        for (kind, snr_db, no, shape), idx in groups.items():
            net = self.denoiser(kind)
            dev = next(net.parameters()).device
            y = torch.stack([prepared[i][0] for i in idx]).to(dev)
            habs = None if kind == "awgn" else torch.stack([prepared[i][1] for i in idx]).to(dev)
            with torch.no_grad():
                x, cond, eps_scale = prepare(y, habs, snr_db, no, self.convention)
                x, cond, eps_scale = (_pad_latent(t, 2 ** (len(net.config.ch_mult) - 1)) for t in (x, cond, eps_scale))
                z = reverse(net, x, cond, eps_scale, self.steps(snr_db))[..., : shape[1], : shape[2]]
                if backbone.scaled_decoder:
                    z = z * torch.tensor([deliveries[i].side.scale for i in idx], dtype=z.dtype, device=dev)[:, None, None, None]
                images = backbone.decoder(z.to(dec_dev)).float().clamp(0.0, 1.0)
            for j, i in enumerate(idx):
                H, W = deliveries[i].side.shape[:2]
                outs[i] = np.ascontiguousarray(
                    (images[j, :, :H, :W] * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy())
        return outs  # type: ignore[return-value]

    def _received(self, d: Delivery, packing: str) -> tuple[str, torch.Tensor, torch.Tensor | None, Any]:
        """(channel kind, unbiased latent (C, h, w), |h| per real value or None, channel state)."""
        state = d.received.state
        shape = tuple(d.side.latent)
        x_hat, noise_var = unbiased_estimate(d.received)
        y = unpack(x_hat, 1.0, shape, packing)
        if "gain" not in state.info:
            return "awgn", y, None, state
        realisation = state.realisation
        if realisation is not None and hasattr(realisation, "per_symbol"):
            habs = realisation.per_symbol().abs().float()
        else:  # |h|² = N0 / σ_u² (MIMO: the stream's singular value)
            habs = (float(state.noise_power) / noise_var.clamp_min(1e-30)).sqrt()
        hmap = unpack(torch.complex(habs, habs), 1.0, shape, packing)
        return "rayleigh", y, hmap, state


def _pad_latent(t: torch.Tensor | float, factor: int) -> torch.Tensor | float:
    """(B, C, h, w) edge-padded so that 2h and w are multiples of ``factor`` (the denoiser's input is (C, 2h, w))."""
    if not isinstance(t, torch.Tensor):
        return t
    h, w = t.shape[-2:]
    hp = -(-2 * h // factor) * factor // 2 if (2 * h) % factor else h
    while (2 * hp) % factor:
        hp += 1
    wp = -(-w // factor) * factor
    if (hp, wp) == (h, w):
        return t
    return F.pad(t, (0, wp - w, 0, hp - h), mode="replicate")


__all__ = ["Cddm", "LatentSender", "LatentSide", "Backbone", "pack", "unpack", "padded_size",
           "embedded_name", "SHIPPED", "read_unet", "ASSETS"]
