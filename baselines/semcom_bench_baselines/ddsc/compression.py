"""DDSC's compression modules F_d and F_u (paper eqs. 2, 4-5, 30; Fig. 4) in the official layout.

A re-implementation of ``diffusion_en`` / ``diffusion_de`` of
import-sudo/Diffusion-Driven-Semantic-Communication (``scripts/train_submission.py``) whose
module tree, attribute names and parameter shapes are the official ones, so a checkpoint of the
official training script loads with ``strict=True`` (:func:`load_official`). Facts that shape it:

* every unit is ``Conv2d(bias=False) -> LeakyReLU(0.1) -> BatchNorm2d``, batch norm **after** the
  activation (indices 0, 1, 2 of a ``Sequential``; 3, 4, 5 ... for the next unit);
* :class:`DiffusionEn` (F_d): ``downsampling`` = 1x1 ``latent -> width`` then 3x3 stride-2
  ``width -> width``; ``encoder`` = :class:`EncoderUnit` (a residual bottleneck ``block1``: 1x1
  ``width -> 2 width``, 3x3 ``2 width -> 2 width``, 1x1 ``2 width -> width``, plus the input; then
  ``conv``: 1x1 ``width -> C``). Official: latent 4, width 16, C = 28, so 4x64x64 -> 28x32x32;
* :class:`DiffusionDe` (F_u): ``decoder`` = :class:`DecoderUnit` (the same bottleneck at C, then
  ``C -> width``); ``upsampling`` = ``ConvTranspose2d(width, width, 5, stride 2, padding 2,
  output_padding 1)`` **with** bias + LeakyReLU, then 1x1 ``width -> latent`` + LeakyReLU + BN;
  ``fc_mu`` = 1x1 ``latent -> latent`` and ``fc_logvar`` = 1x1 ``latent + 1 -> latent`` (no biases),
  the extra input channel a constant plane holding the SNR **in dB** (eq. 4: F_u takes the SNR);
* F_u returns ``(ŷ, μ, σ)`` with ``ŷ = μ + σ ε`` (reparameterisation, eq. 5), ``σ = exp(½ logvar)``.

Shapes: F_d maps (B, latent, h, w) float32 to (B, C, h/2, w/2) (h, w even); F_u maps back. The
transmitted real values per image are ``C·h·w/4``: ``C/16`` of the latent's ``4·h·w`` for the
official latent of 4 channels (so C = 28 sends 1.75x the latent's values; C < 16 compresses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from semcom_bench.errors import MissingWeightsError, UserError
from semcom_bench_baselines.checkpoints import misfit_message

#: the official sizes: SD's 4 latent channels, F_d's inner width 16, C = 28
OFFICIAL_LATENT, OFFICIAL_WIDTH, OFFICIAL_C = 4, 16, 28
#: the keys of the official checkpoint dict (``save_checkpoint`` in ``train_submission.py``)
CHECKPOINT_KEYS = ("epoch", "en_state_dict", "de_state_dict", "en_optimizer", "de_optimizer")


def _unit(cin: int, cout: int, kernel: int = 1, stride: int = 1) -> list[nn.Module]:
    """Conv(no bias) -> LeakyReLU(0.1) -> BN: three entries of a ``Sequential``."""
    return [nn.Conv2d(cin, cout, kernel_size=kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.LeakyReLU(0.1, inplace=True), nn.BatchNorm2d(cout)]


class _BottleneckUnit(nn.Module):
    """``block1`` (1x1 c->2c, 3x3 2c->2c, 1x1 2c->c) + x, then ``conv`` 1x1 c->out (official ``encoder_unit``)."""

    def __init__(self, input_channel: int, output_channel: int):
        super().__init__()
        c = input_channel
        self.block1 = nn.Sequential(*_unit(c, 2 * c), *_unit(2 * c, 2 * c, kernel=3), *_unit(2 * c, c))
        self.conv = nn.Sequential(*_unit(c, output_channel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.block1(x) + x)


class EncoderUnit(_BottleneckUnit):
    """The official ``encoder_unit`` (keys ``block1.{0,3,6}``, ``block1.{2,5,8}`` BN, ``conv.{0,2}``)."""


class DecoderUnit(_BottleneckUnit):
    """The official ``decoder_unit``: the same layers as :class:`EncoderUnit`."""


class DiffusionEn(nn.Module):
    """F_d (eq. 2): (B, latent, h, w) -> (B, C, h/2, w/2), the official ``diffusion_en``."""

    def __init__(self, latent_channels: int = OFFICIAL_LATENT, c: int = OFFICIAL_C, width: int = OFFICIAL_WIDTH):
        super().__init__()
        self.latent_channels, self.c, self.width = int(latent_channels), int(c), int(width)
        self.downsampling = nn.Sequential(*_unit(latent_channels, width), *_unit(width, width, kernel=3, stride=2))
        self.encoder = EncoderUnit(width, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.downsampling(x))


class DiffusionDe(nn.Module):
    """F_u (eqs. 4-5, 30): (B, C, h/2, w/2) and the SNR (dB) -> (ŷ, μ, σ), each (B, latent, h, w).

    The official ``diffusion_de``; :meth:`encode` gives (μ, logvar), :meth:`forward` draws
    ``ε`` from ``generators`` (one per image, CPU) when given, else from torch's global stream.
    """

    def __init__(self, latent_channels: int = OFFICIAL_LATENT, c: int = OFFICIAL_C, width: int = OFFICIAL_WIDTH):
        super().__init__()
        self.latent_channels, self.c, self.width = int(latent_channels), int(c), int(width)
        self.decoder = DecoderUnit(c, width)
        self.upsampling = nn.Sequential(
            nn.ConvTranspose2d(width, width, kernel_size=5, stride=2, padding=2, output_padding=1),
            nn.LeakyReLU(0.1, inplace=True),
            *_unit(width, latent_channels),
        )
        self.fc_mu = nn.Conv2d(latent_channels, latent_channels, kernel_size=1, bias=False)
        self.fc_logvar = nn.Conv2d(latent_channels + 1, latent_channels, kernel_size=1, bias=False)

    def encode(self, z: torch.Tensor, snr_db: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, logvar), each (B, latent, h, w), from the received (B, C, h/2, w/2) ``z``.

        ``snr_db``: a number or a (B,) tensor, in dB; it fills the extra plane of ``fc_logvar``.
        """
        h = self.upsampling(self.decoder(z))
        snr = torch.as_tensor(snr_db, dtype=h.dtype, device=h.device).reshape(-1, 1, 1, 1)
        plane = snr.expand(h.shape[0], 1, *h.shape[-2:])
        return self.fc_mu(h), self.fc_logvar(torch.cat((h, plane), dim=1))

    def forward(self, z: torch.Tensor, snr_db: float | torch.Tensor,
                generators: list[torch.Generator] | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(z, snr_db)
        std = torch.exp(0.5 * logvar)
        if generators is None:
            eps = torch.randn_like(std)
        else:
            eps = torch.stack([torch.randn(tuple(std.shape[1:]), generator=g) for g in generators]).to(std)
        return mu + eps * std, mu, std


def build(latent_channels: int = OFFICIAL_LATENT, c: int = OFFICIAL_C,
          width: int = OFFICIAL_WIDTH) -> tuple[DiffusionEn, DiffusionDe]:
    """(F_d, F_u) with random weights for the given sizes."""
    if min(int(latent_channels), int(c), int(width)) < 1:
        raise UserError(f"ddsc compression sizes must be positive: latent {latent_channels}, C {c}, width {width}")
    return DiffusionEn(latent_channels, c, width), DiffusionDe(latent_channels, c, width)


def sizes_of(en_state: dict[str, torch.Tensor]) -> tuple[int, int, int]:
    """(latent channels, C, width) that an F_d state dict was built with, read from its shapes."""
    try:
        first = en_state["downsampling.0.weight"]  # (width, latent, 1, 1)
        last = en_state["encoder.conv.0.weight"]  # (C, width, 1, 1)
    except KeyError as exc:
        raise UserError(f"the F_d state dict has no {exc.args[0]} key: not a diffusion_en of the official layout") from None
    return int(first.shape[1]), int(last.shape[0]), int(first.shape[0])


def load_strict(net: nn.Module, state: Any, what: str, source: str | Path) -> None:
    """``net.load_state_dict(state, strict=True)``; any misfit is one UserError line naming keys and shapes."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{what} in {source} is not a state dict of tensors")
    misfit = misfit_message(net.state_dict(), state)
    if misfit:
        raise UserError(f"{what} in {source} does not fit the official layout: {misfit}")
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The official ``{epoch, en_state_dict, de_state_dict, ...}`` dict of ``path`` (read with ``weights_only``)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise MissingWeightsError(f"ddsc weights file {p} does not exist; give the F_d/F_u checkpoint of the official "
                                  "training script (<epoch>_epoch_loss_<loss>.pth) or of semcom-bench train ddsc")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's safe unpickler raises many kinds on a foreign file
        raise UserError(f"ddsc weights file {p} cannot be read as a torch checkpoint ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or "en_state_dict" not in ckpt or "de_state_dict" not in ckpt:
        found = ", ".join(sorted(map(str, ckpt))[:5]) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise UserError(f"ddsc weights file {p} is not an F_d/F_u checkpoint: it needs en_state_dict and de_state_dict "
                        f"(found {found})")
    return ckpt


def load_official(path: str | Path, latent_channels: int | None = None,
                  c: int | None = None) -> tuple[DiffusionEn, DiffusionDe, dict[str, Any]]:
    """(F_d, F_u, checkpoint dict) of an official ``<epoch>_epoch_loss_<loss>.pth``, loaded strictly, in eval mode.

    Args:
        path: the dict ``{epoch, en_state_dict, de_state_dict, en_optimizer, de_optimizer}`` that
            ``save_checkpoint`` of ``train_submission.py`` writes (the optimiser states are not used;
            ``semcom-bench train ddsc`` writes the same keys).
        latent_channels, c: the sizes expected (e.g. the base's latent channels); None reads them
            from the file's shapes. A file of other sizes is a one-line error.

    Returns:
        F_d and F_u on the CPU in eval mode (batch norm with its running statistics), and the dict.
    """
    ckpt = read_checkpoint(path)
    en_state = ckpt["en_state_dict"]
    if not isinstance(en_state, dict):
        raise UserError(f"en_state_dict in {path} is not a state dict of tensors")
    file_latent, file_c, width = sizes_of(en_state)
    if latent_channels is not None and int(latent_channels) != file_latent:
        raise UserError(f"ddsc weights {path} are for {file_latent} latent channels, the base has {latent_channels}; "
                        "give F_d/F_u trained on this base")
    if c is not None and int(c) != file_c:
        raise UserError(f"ddsc weights {path} have C = {file_c} compressed channels, c = {c} was asked; "
                        f"set c={file_c} or give weights for C = {c}")
    en, de = build(file_latent, file_c, width)
    load_strict(en, en_state, "en_state_dict (F_d)", path)
    load_strict(de, ckpt["de_state_dict"], "de_state_dict (F_u)", path)
    return en.eval(), de.eval(), ckpt


def checkpoint_dict(en: DiffusionEn, de: DiffusionDe, epoch: int = 0, en_optimizer: Any = None,
                    de_optimizer: Any = None, half: bool = False) -> dict[str, Any]:
    """The official checkpoint dict for (F_d, F_u); ``half`` stores floating tensors as float16."""

    def state(net: nn.Module) -> dict[str, torch.Tensor]:
        out = {}
        for k, v in net.state_dict().items():
            v = v.detach().to("cpu")
            out[k] = v.half() if half and v.is_floating_point() else v.clone()
        return out

    return {"epoch": int(epoch), "en_state_dict": state(en), "de_state_dict": state(de),
            "en_optimizer": en_optimizer.state_dict() if en_optimizer is not None else {},
            "de_optimizer": de_optimizer.state_dict() if de_optimizer is not None else {}}


__all__ = ["EncoderUnit", "DecoderUnit", "DiffusionEn", "DiffusionDe", "build", "sizes_of", "load_strict",
           "read_checkpoint", "load_official", "checkpoint_dict", "CHECKPOINT_KEYS", "OFFICIAL_LATENT",
           "OFFICIAL_WIDTH", "OFFICIAL_C"]
