"""DeepJSCC (Bourtsoulatze, Kurka, Gündüz, IEEE TCCN 2019) as a network: encoder, decoder, power
normalisation, the embedded checkpoints and a strict loader for user weights.

Layers (the paper's; the same in kaira 0.2.1, ``kaira/models/image/bourtsoulatze2019_deepjscc.py``):

* :class:`DeepJsccEncoder`: five 5x5 convolutions, padding 2, each followed by a PReLU (one
  slope): 3->16 stride 2, 16->32 stride 2, 32->32, 32->32, 32->c. (B, 3, H, W) in [0, 1] ->
  (B, c, H/4, W/4), before power normalisation.
* :class:`DeepJsccDecoder`: five 5x5 transposed convolutions, padding 2: c->32, 32->32, 32->32
  (stride 1, PReLU), 32->16 (stride 2, output padding 1, PReLU), 16->3 (stride 2, output
  padding 1, sigmoid). (B, c, H/4, W/4) -> (B, 3, H, W) in [0, 1].

The state-dict keys are kaira's, so weights trained with kaira load strictly: encoder
``model.{0..4}.conv.{weight,bias}`` and ``model.{0..4}.prelu.weight``; decoder
``model.{0..4}.transconv.{weight,bias}`` and ``model.{0..3}.activate.weight`` (the sigmoid of
``model.4`` has no weights).

Bandwidth: c channels at H/4 x W/4 are c·H·W/16 real values, c·H·W/32 complex channel uses for
3·H·W real source dimensions, so k/n = c/96 for every H, W divisible by 4 (c = 8: 1/12,
c = 16: 1/6). :func:`channels_for_ratio` inverts it.

Power normalisation (:func:`normalise`): per image, z̃ = z / sqrt(2·mean(z²)), i.e. the paper's
z̃ = sqrt(k·P)·z / sqrt(z*z) with P = 1: unit average power per complex symbol, each image on
its own. Its real layout is what the channel carries (consecutive values paired into complex
symbols, :func:`semcom_bench.symbols.to_symbols`), and the decoder takes the received real
layout as it is: no side information, the scale is not sent (as in the paper). AWGN at SNR
(dB, Es/N0 per complex symbol) adds N(0, N0/2) per real value, N0 = 10^(-SNR/10)
(:func:`awgn`).

Weights: :func:`load_embedded` (the checkpoints shipped in ``semcom_bench/assets/deepjscc``,
one per ratio and training SNR, :data:`EMBEDDED`) and :func:`load_weights` (a user's file,
strictly). A weights file is one state dict with the encoder's keys under ``encoder.`` and the
decoder's under ``decoder.`` — the layout of kaira's ``DeepJSCCModel.state_dict()`` — or a dict
``{"encoder": state dict, "decoder": state dict}``; keys under ``constraint.`` and
``channel.`` (kaira's power constraint and channel modules, which hold no network weights) are
ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from semcom_bench.errors import MissingWeightsError, UserError
from semcom_bench.weights import WeightFile, find, register_weights, resolve
from semcom_bench_baselines.checkpoints import misfit_message

#: source real dimensions per latent channel use: k/n = c / RATIO_DENOMINATOR
RATIO_DENOMINATOR = 96
#: the image size must be divisible by this (two stride-2 layers)
DOWNSAMPLING = 4


class _ConvPReLU(nn.Module):
    """``conv`` (5x5, padding 2) then ``prelu`` (one slope): kaira's ``_ConvWithPReLU`` keys."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 5, stride, 2)
        self.prelu = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.conv(x))


class _TransConvAct(nn.Module):
    """``transconv`` (5x5, padding 2) then ``activate`` (PReLU, or a sigmoid without weights)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, sigmoid: bool = False):
        super().__init__()
        self.transconv = nn.ConvTranspose2d(in_channels, out_channels, 5, stride, 2, output_padding=stride - 1)
        self.activate: nn.Module = nn.Sigmoid() if sigmoid else nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.transconv(x))


def _check_channels(channels: int) -> int:
    if isinstance(channels, bool) or int(channels) != channels or channels < 1:
        raise UserError(f"DeepJSCC channels must be a positive integer, got {channels!r}")
    return int(channels)


class DeepJsccEncoder(nn.Module):
    """The paper's encoder: (B, 3, H, W) float32 in [0, 1] -> (B, channels, H/4, W/4) float32.

    The output is before power normalisation (:func:`normalise`). H and W must be divisible by 4.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = _check_channels(channels)
        self.model = nn.Sequential(
            _ConvPReLU(3, 16, 2),
            _ConvPReLU(16, 32, 2),
            _ConvPReLU(32, 32, 1),
            _ConvPReLU(32, 32, 1),
            _ConvPReLU(32, self.channels, 1),
        )
        for layer in self.model:  # kaira's initialisation (PyTorch's default for biases and slopes)
            nn.init.kaiming_normal_(layer.conv.weight, mode="fan_out", nonlinearity="leaky_relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] % DOWNSAMPLING or x.shape[3] % DOWNSAMPLING:
            raise ValueError(f"DeepJSCC encoder input must be (B, 3, H, W) with H and W divisible by {DOWNSAMPLING}, "
                             f"got {tuple(x.shape)}")
        return self.model(x)


class DeepJsccDecoder(nn.Module):
    """The paper's decoder: (B, channels, h, w) float32 -> (B, 3, 4h, 4w) float32 in [0, 1] (sigmoid)."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = _check_channels(channels)
        self.model = nn.Sequential(
            _TransConvAct(self.channels, 32, 1),
            _TransConvAct(32, 32, 1),
            _TransConvAct(32, 32, 1),
            _TransConvAct(32, 16, 2),
            _TransConvAct(16, 3, 2, sigmoid=True),
        )
        for layer in self.model:  # kaira's initialisation
            if isinstance(layer.activate, nn.PReLU):
                nn.init.kaiming_normal_(layer.transconv.weight, mode="fan_out", nonlinearity="leaky_relu")
            else:
                nn.init.xavier_normal_(layer.transconv.weight)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 4 or z.shape[1] != self.channels:
            raise ValueError(f"DeepJSCC decoder input must be (B, {self.channels}, h, w), got {tuple(z.shape)}")
        return self.model(z)


# --------------------------------------------------------------------------------------------
# bandwidth, power, channel
# --------------------------------------------------------------------------------------------


def ratio_of(channels: int) -> Fraction:
    """k/n of a ``channels``-wide latent: channels / 96 (for every H, W divisible by 4)."""
    return Fraction(_check_channels(channels), RATIO_DENOMINATOR)


def channels_for_ratio(ratio: Fraction, owner: str = "method 'deepjscc'") -> int:
    """The latent width c with c/96 = ``ratio``; a ratio that is no multiple of 1/96 is a one-line UserError."""
    c = ratio * RATIO_DENOMINATOR
    if c.denominator != 1 or c < 1:
        lo = max(1, int(c))
        near = sorted({Fraction(lo, RATIO_DENOMINATOR), Fraction(lo + 1, RATIO_DENOMINATOR)})
        raise UserError(f"parameter ratio of {owner} must be c/96 for a whole number of channels c, got {ratio}; "
                        f"nearest: {' or '.join(str(r) for r in near)}")
    return int(c)


def normalise(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image power normalisation to unit average power per complex symbol.

    Args:
        z: (B, ...) float latent (the encoder's output).

    Returns:
        z_tilde: ``z`` divided by its image's scale: 2·mean(z_tilde²) = 1 per image (real
            layout: consecutive pairs are one complex symbol of mean power 1).
        scale: (B,) float, sqrt(2·mean(z²)) per image (the :func:`semcom_bench.symbols.to_symbols` scale
            for an even number of values).
    """
    power = 2.0 * z.flatten(1).square().mean(dim=1)
    scale = power.clamp_min(1e-12).sqrt()
    return z / scale.view(-1, *([1] * (z.ndim - 1))), scale


def awgn(z_tilde: torch.Tensor, snr_db: float | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``z_tilde`` (real layout of unit-power complex symbols) plus AWGN at ``snr_db`` (Es/N0 per complex symbol, dB).

    Each real value gets N(0, N0/2), N0 = 10^(-snr_db/10); ``snr_db`` may be a (B,) tensor, one SNR per image.
    """
    snr = torch.as_tensor(snr_db, dtype=z_tilde.dtype, device=z_tilde.device)
    if snr.ndim:
        snr = snr.view(-1, *([1] * (z_tilde.ndim - 1)))
    std = torch.sqrt(10.0 ** (-snr / 10.0) / 2.0)
    noise = torch.randn(z_tilde.shape, generator=generator, dtype=z_tilde.dtype, device=z_tilde.device)
    return z_tilde + std * noise


# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Embedded:
    """One shipped checkpoint: latent width ``channels`` (ratio c/96), trained at ``snr_train`` dB."""

    channels: int
    snr_train: float
    weights: WeightFile

    @property
    def ratio(self) -> Fraction:
        return ratio_of(self.channels)


def _declare(channels: int, snr_train: float, sha256: str | None) -> Embedded:
    name = embedded_name(channels, snr_train)
    weight = register_weights(WeightFile(
        name=name, filename=f"{name}.pt", sha256=sha256, embedded=f"deepjscc/{name}.pt", used_by=("deepjscc",),
        description=f"DeepJSCC encoder and decoder, k/n = {ratio_of(channels)} (c = {channels}), trained on "
                    f"synthetic-streets 64x128 over AWGN at {snr_train:g} dB"))
    return Embedded(channels, float(snr_train), weight)


def embedded_name(channels: int, snr_train: float) -> str:
    """File stem of the embedded checkpoint: ``deepjscc-c<c>-snr<S>-synthetic-streets``."""
    return f"deepjscc-c{int(channels)}-snr{float(snr_train):g}-synthetic-streets"


#: the shipped checkpoints, by (channels, training SNR in dB); sha256 filled in after training
EMBEDDED: dict[tuple[int, float], Embedded] = {
    (e.channels, e.snr_train): e
    for e in (
        _declare(16, 10.0, "002f81f87a656ebf9b74754e6852b820805bcbc46fa136aafcfddacf0b3a6cb1"),
        _declare(16, 13.0, "d64a97dbf2d16d97c8054cabb903166049d1052f328bd26a27c0578510f15a81"),
        _declare(8, 10.0, "9a249c9ea8ba3bd871833152d439a8a66c04f1b1a60fc506c4c22e3a8bc7389d"),
        _declare(8, 13.0, "7b323ca24dbca3498380763e1858f6dfedc67239921e13f98ee97e13830ed516"),
    )
}


def embedded_list() -> str:
    """``ratio 1/6 or 1/12 at snr_train 10 or 13 dB`` (or each pair, when the grid is not full)."""
    ratios = sorted({e.ratio for e in EMBEDDED.values()}, reverse=True)
    snrs = sorted({e.snr_train for e in EMBEDDED.values()})
    if len(ratios) * len(snrs) == len(EMBEDDED):
        return (f"ratio {' or '.join(str(r) for r in ratios)} at snr_train "
                f"{' or '.join(f'{s:g}' for s in snrs)} dB")
    return ", ".join(f"ratio {e.ratio} at snr_train {e.snr_train:g} dB" for e in EMBEDDED.values())


def embedded_entry(channels: int, snr_train_db: float) -> Embedded:
    """The declaration of the shipped checkpoint for (channels, snr_train); a missing pair is a one-line UserError."""
    entry = EMBEDDED.get((int(channels), float(snr_train_db)))
    if entry is None:
        raise UserError(f"no embedded deepjscc for ratio={ratio_of(channels)} snr_train={float(snr_train_db):g}; "
                        f"embedded: {embedded_list()} (or pass weights=PATH)")
    return entry


def _tensors(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"DeepJSCC weights {path} do not hold a state dict of tensors; give a file saved with "
                        "torch.save(model.state_dict())")
    return dict(obj)


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a DeepJSCC weights file, with ``encoder.``/``decoder.`` keys, float32.

    Accepts a flat state dict (kaira's ``DeepJSCCModel``: keys under ``constraint.``/``channel.``
    are dropped) or ``{"encoder": state dict, "decoder": state dict}``; read with ``weights_only=True``.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise MissingWeightsError(f"weights file {p} does not exist (for method deepjscc); check the path")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's safe unpickler raises many kinds on a foreign file
        raise UserError(f"DeepJSCC weights {p} cannot be read as a torch state dict ({type(exc).__name__}); "
                        "give a file saved with torch.save(model.state_dict())") from None
    if isinstance(obj, Mapping) and set(obj) == {"encoder", "decoder"} and all(isinstance(v, Mapping) for v in obj.values()):
        state = {f"{part}.{k}": v for part in ("encoder", "decoder") for k, v in _tensors(obj[part], p).items()}
    else:
        state = {k: v for k, v in _tensors(obj, p).items() if not k.startswith(("constraint.", "channel."))}
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def channels_of(state: Mapping[str, torch.Tensor], path: str | Path = "the file") -> int:
    """The latent width c of a state dict (the encoder's last convolution's output channels)."""
    key = "encoder.model.4.conv.weight"
    if key not in state or state[key].ndim != 4:
        raise UserError(f"DeepJSCC weights {path} have no {key}: not a DeepJSCC encoder/decoder state dict "
                        "(keys encoder.model.{0..4}.conv.*, decoder.model.{0..4}.transconv.*)")
    return int(state[key].shape[0])


def load_state(state: Mapping[str, torch.Tensor], channels: int | None = None,
               source: str | Path = "the state dict") -> tuple[DeepJsccEncoder, DeepJsccDecoder]:
    """Encoder and decoder (eval mode, float32, CPU) from a combined state dict, loaded strictly.

    Args:
        state: ``encoder.*`` and ``decoder.*`` keys (kaira's layout).
        channels: the latent width expected (None: read from ``state``).
        source: the file, for messages.

    Raises:
        UserError: one line naming the first missing, unexpected or mis-shaped keys.
    """
    found = channels_of(state, source)
    if channels is not None and found != int(channels):
        raise UserError(f"DeepJSCC weights {source} have c={found} channels (ratio {ratio_of(found)}), "
                        f"not c={channels} (ratio {ratio_of(channels)}); give ratio={ratio_of(found)} or other weights")
    encoder, decoder = DeepJsccEncoder(found), DeepJsccDecoder(found)
    own = {**{f"encoder.{k}": v for k, v in encoder.state_dict().items()},
           **{f"decoder.{k}": v for k, v in decoder.state_dict().items()}}
    misfit = misfit_message(own, state)
    if misfit:
        raise UserError(f"DeepJSCC weights {source} do not fit the network (kaira Bourtsoulatze2019 layout, c={found}): "
                        + misfit)
    for prefix, net in (("encoder.", encoder), ("decoder.", decoder)):
        net.load_state_dict({k[len(prefix):]: v.float() for k, v in state.items() if k.startswith(prefix)}, strict=True)
    return encoder.float().eval(), decoder.float().eval()


def load_weights(path: str | Path, channels: int | None = None) -> tuple[DeepJsccEncoder, DeepJsccDecoder]:
    """A user's DeepJSCC weights file (see the module docstring), loaded strictly; (encoder, decoder) in eval mode."""
    return load_state(read_weights(path), channels, path)


def load_embedded(channels: int, snr_train_db: float) -> tuple[DeepJsccEncoder, DeepJsccDecoder, dict[str, Any]]:
    """The shipped encoder and decoder of ratio ``channels``/96 trained at ``snr_train_db`` dB.

    Returns:
        encoder, decoder: new modules on the CPU, float32, eval mode.
        info: the JSON beside the file (``options``, ``train`` recipe, ``provenance``,
            ``evaluation`` PSNR table, ``weights``), plus ``path``.

    Raises:
        UserError: no such embedded pair (the message lists the shipped ones), or the file is
            not in this installation, or does not fit.
    """
    entry = embedded_entry(channels, snr_train_db)
    if find(entry.weights.name) is None:
        raise UserError(f"embedded deepjscc ratio={entry.ratio} snr_train={entry.snr_train:g} is not in this "
                        f"installation; 'semcom-bench train deepjscc --ratio {entry.ratio} --snr-train "
                        f"{entry.snr_train:g} --export' makes it, or pass weights=PATH")
    path = resolve(entry.weights.name)
    sidecar = path.with_suffix(".json")
    try:
        info = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"embedded network {path} has no readable {sidecar.name} beside it ({type(exc).__name__}); "
                        "reinstall the package") from None
    encoder, decoder = load_state(read_weights(path), entry.channels, path)
    return encoder, decoder, {**info, "path": str(path)}


def state_dict(encoder: DeepJsccEncoder, decoder: DeepJsccDecoder) -> dict[str, torch.Tensor]:
    """The combined ``encoder.*``/``decoder.*`` state dict (the layout of :func:`read_weights`)."""
    return {**{f"encoder.{k}": v for k, v in encoder.state_dict().items()},
            **{f"decoder.{k}": v for k, v in decoder.state_dict().items()}}


__all__ = [
    "DeepJsccEncoder", "DeepJsccDecoder", "RATIO_DENOMINATOR", "DOWNSAMPLING", "ratio_of", "channels_for_ratio",
    "normalise", "awgn", "Embedded", "EMBEDDED", "embedded_name", "embedded_list", "embedded_entry", "read_weights",
    "channels_of", "load_state", "load_weights", "load_embedded", "state_dict",
]
