"""The OASIS generator (Schönfeld et al., ICLR 2021) in the official module tree and key layout.

Re-implemented from the paper and from boschresearch/OASIS (``models/generator.py``,
``models/norms.py``, ``models/models.py``, ``config.py``, ``dataloaders/CityscapesDataset.py``,
``utils/utils.py``), so that the released EMA generator ``best_EMA.pth`` loads with
``strict=True`` and the same inputs give the same images.

Layout (``channels_G = ch``, six blocks)::

    fc        Conv2d(semantic_nc + z_dim, 16ch, 3, p1)           (no spectral norm)
    body.0    ResnetBlock_with_SPADE(16ch -> 16ch)  then nearest x2
    body.1    ResnetBlock_with_SPADE(16ch -> 16ch)  then nearest x2
    body.2    ResnetBlock_with_SPADE(16ch ->  8ch)  then nearest x2
    body.3    ResnetBlock_with_SPADE( 8ch ->  4ch)  then nearest x2
    body.4    ResnetBlock_with_SPADE( 4ch ->  2ch)  then nearest x2
    body.5    ResnetBlock_with_SPADE( 2ch ->  1ch)
    conv_img  Conv2d(ch, 3, 3, p1) after LeakyReLU(0.2), then tanh (no spectral norm)

Each block has spectral-norm ``conv_0``, ``conv_1`` (3x3, bias) and, when fin != fout, ``conv_s``
(1x1, no bias), conditioned by SPADE norms ``norm_0``, ``norm_1`` and ``norm_s`` whose
parameter-free norm is named ``first_norm`` and whose hidden convs are ``mlp_shared.0``,
``mlp_gamma`` and ``mlp_beta``.

**One difference from the official code.** The official ``forward`` ignores its ``z`` argument
and draws ``z ~ N(0, I)`` of shape (B, z_dim) with ``torch.randn`` from the global generator on
every call. Here the noise comes only from an explicit ``torch.Generator`` (or an explicit noise
tensor of shape (B, z_dim)), so a run is reproducible and independent of any other code that
draws from the global generator. The noise is used exactly as the official code uses it: one
vector per image, broadcast over H x W and concatenated *before* the label channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from semcom_bench_baselines.checkpoints import key_misfit
from semcom_bench.errors import MissingWeightsError, UserError

#: where the official pretrained checkpoints are published (boschresearch/OASIS README)
OFFICIAL_CHECKPOINTS_URL = "https://www.dropbox.com/sh/nf6of02pyk84zjg/AAC8hnnj0T_MAiPx3tzdAyiWa?dl=0"
#: the EMA generator of the Cityscapes model inside the unzipped ``oasis_cityscapes_pretrained.zip``
OFFICIAL_CITYSCAPES_FILE = "oasis_cityscapes_pretrained/models/best_EMA.pth"

PARAM_FREE_NORMS = ("syncbatch", "batch", "instance")


@dataclass(frozen=True)
class OasisOptions:
    """The official options that shape the generator; the defaults are the Cityscapes model's.

    Attributes:
        semantic_nc: label channels of the input. Cityscapes: ``label_nc=34`` plus the dontcare
            label = 35 (``dataloaders/CityscapesDataset.py``); the official OASIS Cityscapes input
            is the one-hot of ``*_labelIds.png`` and has **no** instance-edge channel.
        z_dim: channels of the 3D noise (``--z_dim``, 64).
        no_3dnoise: no noise channels (``--no_3dnoise``, off for the released models).
        channels_G: width multiplier ``ch``; block channels are [16, 16, 16, 8, 4, 2, 1] x ch.
        num_res_blocks: generator blocks (``--num_res_blocks``, 6). The channel list above has
            seven entries, so the official layout needs exactly 6.
        crop_size: output width (Cityscapes sets 512).
        aspect_ratio: width / height (Cityscapes sets 2.0), so the output is 256 x 512.
        spade_ks: kernel size of the SPADE convs (``--spade_ks``, 3).
        spade_hidden: hidden channels of SPADE's ``mlp_shared`` (fixed to 128 in ``models/norms.py``;
            an option here only so tests can build small networks).
        param_free_norm: ``syncbatch`` (official default), ``batch`` or ``instance``. The two batch
            norms have the same keys and, on one device, the same output, so both build
            ``nn.BatchNorm2d(affine=False)``.
        spectral_norm: spectral norm on the block convs (official: on; ``--no_spectral_norm``).
    """

    semantic_nc: int = 35
    z_dim: int = 64
    no_3dnoise: bool = False
    channels_G: int = 64
    num_res_blocks: int = 6
    crop_size: int = 512
    aspect_ratio: float = 2.0
    spade_ks: int = 3
    spade_hidden: int = 128
    param_free_norm: str = "syncbatch"
    spectral_norm: bool = True

    def __post_init__(self) -> None:
        if self.num_res_blocks != 6:
            raise UserError(f"OasisOptions.num_res_blocks={self.num_res_blocks}: the official generator has "
                            "exactly 6 blocks (channels 16,16,16,8,4,2,1 x channels_G); use 6")
        if self.param_free_norm not in PARAM_FREE_NORMS:
            raise UserError(f"OasisOptions.param_free_norm={self.param_free_norm!r} is unknown; "
                            f"use one of {', '.join(PARAM_FREE_NORMS)}")
        for name in ("semantic_nc", "channels_G", "crop_size", "spade_ks", "spade_hidden"):
            if getattr(self, name) < 1:
                raise UserError(f"OasisOptions.{name}={getattr(self, name)} must be at least 1")
        if self.crop_size % 2 ** (self.num_res_blocks - 1):
            raise UserError(f"OasisOptions.crop_size={self.crop_size} must be a multiple of "
                            f"{2 ** (self.num_res_blocks - 1)} (the generator upsamples 2^(blocks-1) times)")

    @property
    def noise_nc(self) -> int:
        """Noise channels concatenated to the labels (0 with ``no_3dnoise``)."""
        return 0 if self.no_3dnoise else self.z_dim

    @property
    def init_size(self) -> tuple[int, int]:
        """(h, w) at which ``fc`` runs: w = crop // 2^(blocks-1), h = round(w / aspect); Cityscapes (8, 16)."""
        w = self.crop_size // 2 ** (self.num_res_blocks - 1)
        return round(w / self.aspect_ratio), w

    @property
    def output_size(self) -> tuple[int, int]:
        """(H, W) of the generated image; Cityscapes (256, 512)."""
        h, w = self.init_size
        scale = 2 ** (self.num_res_blocks - 1)
        return h * scale, w * scale

    @property
    def channels(self) -> tuple[int, ...]:
        """Block channels [16, 16, 16, 8, 4, 2, 1] x ``channels_G``."""
        ch = self.channels_G
        return (16 * ch, 16 * ch, 16 * ch, 8 * ch, 4 * ch, 2 * ch, ch)


def _param_free_norm(options: OasisOptions, channels: int) -> nn.Module:
    if options.param_free_norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    # "syncbatch" (the official SynchronizedBatchNorm2d subclasses _BatchNorm: same buffers) or "batch"
    return nn.BatchNorm2d(channels, affine=False)


def _maybe_spectral(options: OasisOptions, conv: nn.Conv2d) -> nn.Module:
    return spectral_norm(conv) if options.spectral_norm else conv


class SPADE(nn.Module):
    """OASIS's SPADE norm (``models/norms.py``): ``first_norm(x) * (1 + gamma(seg)) + beta(seg)``.

    Args:
        norm_nc: channels C of the normalised features.
        label_nc: channels of the condition (labels plus noise, 99 for Cityscapes).
    """

    def __init__(self, options: OasisOptions, norm_nc: int, label_nc: int) -> None:
        super().__init__()
        ks, hidden = options.spade_ks, options.spade_hidden
        self.first_norm = _param_free_norm(options, norm_nc)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, ks, padding=ks // 2), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, ks, padding=ks // 2)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, ks, padding=ks // 2)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        """x (B, C, h, w), seg (B, label_nc, H, W), nearest-resized to (h, w) -> (B, C, h, w)."""
        normalized = self.first_norm(x)
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(seg)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class ResnetBlock_with_SPADE(nn.Module):  # noqa: N801 - the official class name
    """out = shortcut(x) + conv_1(lrelu(norm_1(conv_0(lrelu(norm_0(x, seg))), seg))).

    The shortcut is ``conv_s(norm_s(x, seg))`` when fin != fout, else x. LeakyReLU slope 0.2.

    Args:
        fin, fout: input and output channels; the middle width is min(fin, fout).
        cond_nc: channels of the SPADE condition (semantic_nc + noise channels).
    """

    def __init__(self, fin: int, fout: int, options: OasisOptions, cond_nc: int) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = _maybe_spectral(options, nn.Conv2d(fin, fmiddle, 3, padding=1))
        self.conv_1 = _maybe_spectral(options, nn.Conv2d(fmiddle, fout, 3, padding=1))
        if self.learned_shortcut:
            self.conv_s = _maybe_spectral(options, nn.Conv2d(fin, fout, 1, bias=False))
        self.norm_0 = SPADE(options, fin, cond_nc)
        self.norm_1 = SPADE(options, fmiddle, cond_nc)
        if self.learned_shortcut:
            self.norm_s = SPADE(options, fin, cond_nc)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        """x (B, fin, h, w), seg (B, cond_nc, H, W) -> (B, fout, h, w)."""
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return x_s + dx


class OASIS_Generator(nn.Module):  # noqa: N801 - the official class name
    """The OASIS generator: label map (+ 3D noise) -> image in [-1, 1].

    Args:
        options: the network's shape; the default is the official Cityscapes model.

    The parameter-free norms are batch norms by default, so call ``.eval()`` for inference, as
    the official ``test.py`` does (running statistics; spectral norm without power iteration).
    """

    def __init__(self, options: OasisOptions | None = None) -> None:
        super().__init__()
        self.options = options = options or OasisOptions()
        channels = options.channels
        cond_nc = options.semantic_nc + options.noise_nc
        # registered in the official order (conv_img, body, fc), so state_dict() lists keys as the file does
        self.conv_img = nn.Conv2d(channels[-1], 3, 3, padding=1)
        self.body = nn.ModuleList(
            ResnetBlock_with_SPADE(channels[i], channels[i + 1], options, cond_nc) for i in range(len(channels) - 1))
        self.fc = nn.Conv2d(cond_nc, channels[0], 3, padding=1)

    def draw_noise(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """z ~ N(0, I) of shape (batch, z_dim), float32, on ``generator``'s device."""
        return torch.randn((batch, self.options.z_dim), generator=generator, device=generator.device,
                           dtype=torch.float32)

    def forward(self, label: torch.Tensor, *, generator: torch.Generator | None = None,
                z: torch.Tensor | None = None) -> torch.Tensor:
        """Generate images from one-hot label maps.

        Args:
            label: (B, semantic_nc, H, W) float one-hot labels (Cityscapes: 35 channels, 256 x 512).
            generator: draws the noise z (B, z_dim) when ``z`` is not given; a CPU generator gives
                the same noise on every device.
            z: explicit noise (B, z_dim), instead of ``generator``.

        Returns:
            (B, 3, *options.output_size) images in [-1, 1] (``tanh``); the output size is set by the
            options, not by H x W (the label map is nearest-resized to every stage).

        Raises:
            ValueError: the label has the wrong channel count, or the noise is missing or has the
                wrong shape.
        """
        opts = self.options
        if label.ndim != 4 or label.shape[1] != opts.semantic_nc:
            raise ValueError(f"label must be (B, {opts.semantic_nc}, H, W), got {tuple(label.shape)}")
        seg = label
        if not opts.no_3dnoise:
            if z is None:
                if generator is None:
                    raise ValueError("OASIS draws 3D noise: pass generator= (a torch.Generator) or z=")
                z = self.draw_noise(label.shape[0], generator)
            if tuple(z.shape) != (label.shape[0], opts.z_dim):
                raise ValueError(f"z must be ({label.shape[0]}, {opts.z_dim}), got {tuple(z.shape)}")
            z = z.to(device=label.device, dtype=label.dtype)
            z = z[:, :, None, None].expand(-1, -1, label.shape[2], label.shape[3])
            seg = torch.cat((z, label), dim=1)  # noise first, then the labels, as the official code
        x = self.fc(F.interpolate(seg, size=opts.init_size, mode="nearest"))
        for i, block in enumerate(self.body):
            x = block(x, seg)
            if i < len(self.body) - 1:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


# --------------------------------------------------------------------------------------------
# official checkpoints
# --------------------------------------------------------------------------------------------

#: the options whose values set the keys and shapes, named in a mismatch message
_SHAPE_OPTIONS = "semantic_nc, z_dim, no_3dnoise, channels_G, spade_ks, spectral_norm"


def read_official(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of an official ``*_EMA.pth`` / ``*_G.pth`` file, on the CPU.

    The official ``utils/utils.py::save_networks`` saves ``netEMA.state_dict()`` (the bare
    ``OASIS_Generator``, not the DataParallel-wrapped ``OASIS_model``), and
    ``models/models.py::load_checkpoints`` loads it into ``netEMA`` unchanged; so the keys carry
    no ``module.`` or ``netEMA.`` prefix and none is stripped here either.

    Raises:
        MissingWeightsError: no file at ``path``.
        UserError: the file is not a torch file holding a dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"OASIS checkpoint {path} not found; download oasis_cityscapes_pretrained.zip "
                                  f"from {OFFICIAL_CHECKPOINTS_URL} and pass {OFFICIAL_CITYSCAPES_FILE}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's safe unpickler raises many types on a foreign file
        raise UserError(f"OASIS checkpoint {path} is not a readable torch file ({type(exc).__name__}); "
                        f"pass the generator file {OFFICIAL_CITYSCAPES_FILE}") from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"OASIS checkpoint {path} does not hold a state dict of tensors; "
                        f"pass the generator file {OFFICIAL_CITYSCAPES_FILE}")
    return state


def _first(keys: list[str], n: int = 3) -> str:
    shown = ", ".join(keys[:n])
    return shown + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def _mismatch(model: nn.Module, state: Mapping[str, torch.Tensor]) -> str:
    """One line naming the first missing, unexpected and mis-shaped keys of ``state``."""
    own = model.state_dict()
    missing, unexpected, mismatched = key_misfit(own, state)
    shapes = [f"{k} {tuple(state[k].shape)} in the file vs {tuple(own[k].shape)} here" for k in mismatched]
    parts = []
    if missing:
        parts.append(f"missing keys {_first(missing)}")
    if unexpected:
        parts.append(f"unexpected keys {_first(unexpected)}")
    if shapes:
        parts.append(f"shape mismatch {_first(shapes, 2)}")
    return "; ".join(parts)


def load_official(path: str | Path, options: OasisOptions | None = None) -> OASIS_Generator:
    """Build :class:`OASIS_Generator` from ``options`` and load the official EMA generator strictly.

    Args:
        path: an official ``best_EMA.pth`` (e.g. ``oasis_cityscapes_pretrained/models/best_EMA.pth``).
        options: the network's shape; default the official Cityscapes model.

    Returns:
        The generator on the CPU in eval mode (running BN statistics, as the official ``test.py``).

    Raises:
        MissingWeightsError: no file at ``path``.
        UserError: the file is unreadable, or a key or shape does not match the network (one line
            naming the first keys and the options to check).
    """
    options = options or OasisOptions()
    state = read_official(path)
    model = OASIS_Generator(options)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        detail = _mismatch(model, state) or "load_state_dict failed"
        raise UserError(f"OASIS checkpoint {path} does not fit OasisOptions: {detail}; "
                        f"check {_SHAPE_OPTIONS} (or pass the generator file *_EMA.pth)") from None
    return model.eval()


def official_key_shapes(options: OasisOptions | None = None) -> dict[str, tuple[int, ...]]:
    """Every state-dict key and shape of the generator, built on the meta device (no memory)."""
    with torch.device("meta"):
        model = OASIS_Generator(options or OasisOptions())
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}

