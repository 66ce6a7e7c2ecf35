"""The SMIS Cityscapes generator (Zhu et al., CVPR 2020, "Semantically Multi-modal Image Synthesis").

A re-implementation of the official ``CityscapesGenerator`` (``--model smis --netG Cityscapes
--ngf 280``) with the official module tree, so that the released ``latest_net_G.pth`` loads with
``strict=True``. Its structure, read from the official code:

* **Input.** ``(B, semantic_nc + 1, H, W)``: the one-hot label map (``semantic_nc = label_nc``,
  plus one channel if ``contain_dontcare_label``) followed by the instance-edge map as the
  last channel. For SMIS on Cityscapes the edge is *not* counted in ``semantic_nc``. Inside
  the generator the edge map is interleaved after every class channel, giving
  ``2 * semantic_nc`` channels ``(class_0, edge, class_1, edge, ...)``, so that each class
  group of the grouped convolutions below sees its own mask and the edges.
* **Per-class latent.** ``z`` is ``(B, 8 * semantic_nc, sh, sw)``: channels ``8c ... 8c + 7``
  belong to class ``c``. The official test draws ``N(0, I)`` of shape ``(B, label_nc, 8, sh * sw)``
  and views it as ``z``; redrawing one class's slice changes only that class's appearance
  (semantic multi-modal synthesis). The official ``--z_dim`` option (256) is not read by
  this generator.
* **fc.** ``Conv2d(8 * semantic_nc, 16 * ngf, 3, padding=1, groups=semantic_nc)`` on ``z``
  (no spectral norm), one group per class.
* **Blocks** (:class:`SmisResnetBlock`, the official ``SPADEV2ResnetBlock``): spectral-norm
  3x3 convolutions and a 1x1 bias-free learned shortcut, all with ``groups=g``; at ngf 280
  ``head_0`` 4480->4480 (g 35), ``G_middle_0`` 4480->4480 (35), ``G_middle_1`` 4480->4480
  (20), ``up_0`` 4480->2240 (14), ``up_1`` 2240->1120 (10), ``up_2`` 1120->560 (4), ``up_3``
  560->280 (1). The group counts after ``G_middle_0`` are constants of the official code,
  not derived from ``label_nc``.
* **Norm** (:class:`SmisGroupSpade`, the official ``GROUP_SPADE`` in its Cityscapes mode): a
  parameter-free (sync) batch norm, then ``gamma``/``beta`` from the interleaved map through
  ``mlp_shared`` (``2 * semantic_nc -> semantic_nc * g``) and ``mlp_gamma``/``mlp_beta``
  (``semantic_nc * g -> norm_nc``), all three with ``groups=semantic_nc`` (one per class,
  whatever the block's ``g``).
* **Output.** ``conv_img(leaky_relu(x, 0.2))``, ``Conv2d(ngf, 3, 3, padding=1)``, then ``tanh``:
  ``(B, 3, sh * 2**n, sw * 2**n)`` in ``[-1, 1]`` (``n`` = 6 for ``num_upsampling_layers='more'``,
  256 x 512 for Cityscapes).

Checked against Seanseattle/SMIS ``models/networks/generator.py`` (``CityscapesGenerator``),
``models/networks/architecture.py`` (``SPADEV2ResnetBlock``), ``models/networks/normalization.py``
(``GROUP_SPADE``), ``models/smis_model.py`` (``vis_test``, ``preprocess_input``, ``get_edges``),
``options/base_options.py``, ``data/cityscapes_dataset.py`` and ``util/util.py``
(``save_network``/``load_network``).
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from semcom_bench_baselines.checkpoints import key_misfit
from semcom_bench.errors import MissingWeightsError, UserError

#: latent channels per semantic class (a constant of the official code: ``semantic_nc * 8``)
LATENT_CHANNELS_PER_CLASS = 8

#: block names in forward order, as in the official state dict
BLOCK_NAMES = ("head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3")

#: channel multiples of ngf (fin, fout) per block, official
_BLOCK_WIDTHS = ((16, 16), (16, 16), (16, 16), (16, 8), (8, 4), (4, 2), (2, 1))

#: official group counts of G_middle_1 ... up_3 (head_0 and G_middle_0 use semantic_nc)
_OFFICIAL_LATER_GROUPS = (20, 14, 10, 4, 1)

_UP_LAYERS = {"normal": 5, "more": 6}

_WEIGHTS_HINT = "the official SMIS checkpoints are in the Google Drive folder linked from Seanseattle/SMIS README.md (checkpoints/cityscapes_smis/latest_net_G.pth)"


@dataclass(frozen=True)
class SmisOptions:
    """The official options that shape the SMIS Cityscapes generator (defaults: the released model).

    Attributes:
        label_nc: semantic classes of the label map (Cityscapes: 35, ``data/cityscapes_dataset.py``).
        contain_dontcare_label: one more class channel for label 255 (off for Cityscapes).
        ngf: generator width (``scripts/cityscapes.sh``: 280; widest layers ``16 * ngf``).
        num_upsampling_layers: ``'more'`` (Cityscapes; 6 doublings) or ``'normal'`` (5). The
            official ``'most'`` adds a plain-SPADE block that cannot take the interleaved map, so
            it is not offered.
        crop_size: image width the latent grid is sized for (Cityscapes: 512).
        aspect_ratio: width / height (Cityscapes: 2.0).
        norm_G: ``spectralspade<norm><k>x<k>`` (official: ``spectralspadesyncbatch3x3``);
            ``spectral`` wraps the block convolutions in spectral norm, ``<norm>`` is the
            parameter-free norm (``syncbatch``, ``batch`` or ``instance``), ``k`` the kernel of
            the SPADE convolutions.
        block_groups: groups of the seven blocks ``head_0 ... up_3``; ``None`` is the official
            ``(semantic_nc, semantic_nc, 20, 14, 10, 4, 1)``. Only small test networks set it.

    The instance-edge channel is always part of the input: the official Cityscapes generator
    interleaves the last input channel as the edge map whatever ``--no_instance`` says.
    """

    label_nc: int = 35
    contain_dontcare_label: bool = False
    ngf: int = 280
    num_upsampling_layers: str = "more"
    crop_size: int = 512
    aspect_ratio: float = 2.0
    norm_G: str = "spectralspadesyncbatch3x3"
    block_groups: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.label_nc < 1 or self.ngf < 1:
            raise UserError(f"SMIS options: label_nc ({self.label_nc}) and ngf ({self.ngf}) must be positive")
        if self.num_upsampling_layers not in _UP_LAYERS:
            raise UserError(f"SMIS option num_upsampling_layers={self.num_upsampling_layers!r} is not supported; use 'more' (Cityscapes) or 'normal'")
        if self.norm_parts is None:
            raise UserError(f"SMIS option norm_G={self.norm_G!r} is not spade<syncbatch|batch|instance><k>x<k> (official: spectralspadesyncbatch3x3)")
        sh, sw = self.latent_size
        if sh < 1 or sw < 1:
            raise UserError(f"SMIS options crop_size={self.crop_size}, aspect_ratio={self.aspect_ratio} give an empty latent grid ({sh}x{sw}); use crop_size >= {2 ** self.num_up_layers}")
        groups = self.groups
        if len(groups) != len(BLOCK_NAMES) or any(g < 1 for g in groups):
            raise UserError(f"SMIS option block_groups={self.block_groups} must be {len(BLOCK_NAMES)} positive group counts (head_0 ... up_3)")
        s = self.semantic_nc
        if (16 * self.ngf) % s:
            raise UserError(f"SMIS options: 16 * ngf ({16 * self.ngf}) must be divisible by semantic_nc ({s}), the groups of fc and of every SPADE convolution")
        for name, (fin, fout), g in zip(BLOCK_NAMES, self.block_widths, groups):
            for width, normed in ((fin, True), (min(fin, fout), True), (fout, False)):  # norms see fin, fmiddle
                if width % g or (normed and width % s):
                    raise UserError(f"SMIS options: block {name} width {width} is not divisible by its groups ({g}) and semantic_nc ({s}); check ngf, label_nc and block_groups")

    @property
    def semantic_nc(self) -> int:
        """Class channels (official ``opt.semantic_nc`` for smis on Cityscapes: the edge is not counted)."""
        return self.label_nc + (1 if self.contain_dontcare_label else 0)

    @property
    def input_nc(self) -> int:
        """Channels of the generator's input: the class channels plus the instance-edge channel."""
        return self.semantic_nc + 1

    @property
    def latent_channels(self) -> int:
        """Channels of z: ``8 * semantic_nc`` (8 per class)."""
        return LATENT_CHANNELS_PER_CLASS * self.semantic_nc

    @property
    def num_up_layers(self) -> int:
        return _UP_LAYERS[self.num_upsampling_layers]

    @property
    def latent_size(self) -> tuple[int, int]:
        """``(sh, sw)`` of z and of the first feature map (official ``compute_latent_vector_size``)."""
        sw = self.crop_size // (2 ** self.num_up_layers)
        return round(sw / self.aspect_ratio), sw

    @property
    def output_size(self) -> tuple[int, int]:
        """``(H, W)`` of the generated image (Cityscapes: 256 x 512)."""
        sh, sw = self.latent_size
        return sh * 2 ** self.num_up_layers, sw * 2 ** self.num_up_layers

    @property
    def groups(self) -> tuple[int, ...]:
        """Groups of the blocks ``head_0 ... up_3``."""
        if self.block_groups is not None:
            return tuple(self.block_groups)
        return (self.semantic_nc, self.semantic_nc) + _OFFICIAL_LATER_GROUPS

    @property
    def block_widths(self) -> tuple[tuple[int, int], ...]:
        """``(fin, fout)`` of the blocks ``head_0 ... up_3``."""
        return tuple((a * self.ngf, b * self.ngf) for a, b in _BLOCK_WIDTHS)

    @property
    def norm_parts(self) -> tuple[bool, str, int] | None:
        """``(spectral, param-free norm, kernel)`` parsed from ``norm_G``; ``None`` if malformed."""
        spectral = "spectral" in self.norm_G
        match = re.fullmatch(r"spade(syncbatch|batch|instance)(\d)x\d", self.norm_G.replace("spectral", ""))
        if match is None:
            return None
        return spectral, match.group(1), int(match.group(2))


def interleave_edges(segmap: torch.Tensor) -> torch.Tensor:
    """``(B, S + 1, H, W)`` classes-then-edge -> ``(B, 2S, H, W)`` ``(class_0, edge, class_1, edge, ...)``."""
    semantic = segmap[:, :-1]
    edge = segmap[:, -1:].expand_as(semantic)
    return torch.stack((semantic, edge), dim=2).flatten(1, 2)


class SmisGroupSpade(nn.Module):
    """Group-wise SPADE, Cityscapes mode (official ``GROUP_SPADE`` with ``data_mode='cityscapes'``).

    ``forward(x, seg)``: ``x`` ``(B, norm_nc, h, w)``, ``seg`` the interleaved map
    ``(B, 2 * semantic_nc, H, W)``, resized to ``h x w`` (nearest); returns ``(B, norm_nc, h, w)``
    ``= norm(x) * (1 + gamma) + beta``.

    Keys: ``param_free_norm.{running_mean, running_var, num_batches_tracked}`` (batch norms;
    none for instance norm), ``mlp_shared.0.{weight [S*g, 2, k, k], bias}``,
    ``mlp_gamma``/``mlp_beta`` ``.{weight [norm_nc, g, k, k], bias}``.
    """

    def __init__(self, norm_nc: int, semantic_nc: int, groups: int, param_free: str = "syncbatch", kernel: int = 3):
        super().__init__()
        if param_free == "instance":
            self.param_free_norm: nn.Module = nn.InstanceNorm2d(norm_nc, affine=False)
        else:  # syncbatch: vacancy's SynchronizedBatchNorm2d is a _BatchNorm (same keys, same eval)
            self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False)
        nhidden = semantic_nc * groups
        pad = kernel // 2
        self.mlp_shared = nn.Sequential(
            nn.Conv2d(2 * semantic_nc, nhidden, kernel, padding=pad, groups=semantic_nc), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(nhidden, norm_nc, kernel, padding=pad, groups=semantic_nc)
        self.mlp_beta = nn.Conv2d(nhidden, norm_nc, kernel, padding=pad, groups=semantic_nc)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        normalized = self.param_free_norm(x)
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(seg)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SmisResnetBlock(nn.Module):
    """Residual block with grouped convolutions (official ``SPADEV2ResnetBlock``).

    ``forward(x, seg)``: ``x`` ``(B, fin, h, w)`` -> ``(B, fout, h, w)``. ``conv_0``
    ``fin -> min(fin, fout)`` and ``conv_1`` ``-> fout`` (3x3, ``groups``), a learned bias-free
    1x1 shortcut ``conv_s`` when ``fin != fout``; leaky ReLU 0.2 after each norm.
    """

    def __init__(self, fin: int, fout: int, groups: int, options: SmisOptions):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        spectral, param_free, kernel = options.norm_parts  # type: ignore[misc]
        wrap = spectral_norm if spectral else (lambda m: m)
        self.conv_0 = wrap(nn.Conv2d(fin, fmiddle, 3, padding=1, groups=groups))
        self.conv_1 = wrap(nn.Conv2d(fmiddle, fout, 3, padding=1, groups=groups))
        if self.learned_shortcut:
            self.conv_s = wrap(nn.Conv2d(fin, fout, 1, bias=False, groups=groups))
        s = options.semantic_nc
        self.norm_0 = SmisGroupSpade(fin, s, groups, param_free, kernel)
        self.norm_1 = SmisGroupSpade(fmiddle, s, groups, param_free, kernel)
        if self.learned_shortcut:
            self.norm_s = SmisGroupSpade(fin, s, groups, param_free, kernel)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return x_s + dx


class SmisGenerator(nn.Module):
    """The SMIS Cityscapes generator (official ``CityscapesGenerator``); see the module docstring.

    ``forward(segmap, z=None, generator=None)``: ``segmap`` ``(B, semantic_nc + 1, H, W)`` one-hot
    classes then the instance-edge map; ``z`` ``(B, 8 * semantic_nc, sh, sw)`` or ``None`` to draw
    it from ``generator`` (:meth:`sample_latent`). Returns ``(B, 3, *options.output_size)`` in
    ``[-1, 1]``. Use in ``eval()`` mode as the official test does (batch-norm running statistics).
    """

    def __init__(self, options: SmisOptions | None = None):
        super().__init__()
        self.options = options = options or SmisOptions()
        self.sh, self.sw = options.latent_size
        s, nf = options.semantic_nc, options.ngf
        self.fc = nn.Conv2d(options.latent_channels, 16 * nf, 3, padding=1, groups=s)
        for name, (fin, fout), g in zip(BLOCK_NAMES, options.block_widths, options.groups):
            self.add_module(name, SmisResnetBlock(fin, fout, g, options))
        self.conv_img = nn.Conv2d(nf, 3, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2)

    def sample_latent(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """Per-class noise ``(batch, 8 * semantic_nc, sh, sw)`` ~ N(0, I) from ``generator``.

        Drawn as the official test draws it, ``(batch, semantic_nc, 8, sh * sw)`` viewed as z,
        on the generator's device; channels ``8c ... 8c + 7`` are class ``c``'s code.
        """
        s = self.options.semantic_nc
        z = torch.randn(batch, s, LATENT_CHANNELS_PER_CLASS, self.sh * self.sw,
                        generator=generator, device=generator.device)
        return z.view(batch, s * LATENT_CHANNELS_PER_CLASS, self.sh, self.sw)

    def resample_class(self, z: torch.Tensor, class_index: int, generator: torch.Generator) -> torch.Tensor:
        """A copy of ``z`` with only class ``class_index``'s 8 channels redrawn (official ``--test_mask``)."""
        if not 0 <= class_index < self.options.semantic_nc:
            raise ValueError(f"class_index {class_index} is outside 0..{self.options.semantic_nc - 1}")
        k = LATENT_CHANNELS_PER_CLASS
        fresh = torch.randn(z.shape[0], k, self.sh, self.sw, generator=generator, device=generator.device)
        out = z.clone()
        out[:, k * class_index:k * (class_index + 1)] = fresh.to(z.device, z.dtype)
        return out

    def forward(self, segmap: torch.Tensor, z: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        opts = self.options
        if segmap.dim() != 4 or segmap.shape[1] != opts.input_nc:
            raise ValueError(f"segmap must be (B, {opts.input_nc}, H, W) (classes then instance edges), got {tuple(segmap.shape)}")
        batch = segmap.shape[0]
        if z is None:
            if generator is None:
                raise ValueError("SMIS needs its per-class noise: pass z or a torch.Generator")
            z = self.sample_latent(batch, generator)
        expected = (batch, opts.latent_channels, self.sh, self.sw)
        if tuple(z.shape) != expected:
            raise ValueError(f"z must be {expected}, got {tuple(z.shape)}")
        seg = interleave_edges(segmap)
        x = self.fc(z.to(segmap.device, segmap.dtype))
        x = self.head_0(x, seg)
        x = self.up(x)
        x = self.G_middle_0(x, seg)
        if opts.num_upsampling_layers == "more":
            x = self.up(x)
        x = self.G_middle_1(x, seg)
        for name in ("up_0", "up_1", "up_2", "up_3"):
            x = self.up(x)
            x = getattr(self, name)(x, seg)
        x = self.conv_img(F.leaky_relu(x, 0.2))
        return torch.tanh(x)


def _first(keys: list[str], n: int = 3) -> str:
    shown = ", ".join(keys[:n])
    return shown + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def _describe(options: SmisOptions) -> str:
    return (f"ngf={options.ngf}, label_nc={options.label_nc}, contain_dontcare_label={options.contain_dontcare_label}, "
            f"norm_G={options.norm_G}, groups={options.groups}")


def load_official(path: str | Path, options: SmisOptions | None = None) -> SmisGenerator:
    """The official generator ``latest_net_G.pth`` (``torch.save(netG.cpu().state_dict())``), strictly.

    Read with ``torch.load(weights_only=True)`` on the CPU and loaded with every key and shape
    checked; returned in ``eval()`` mode, as the official test runs it.

    Raises:
        MissingWeightsError: ``path`` does not exist.
        UserError: the file is not a state dict of tensors, or its keys or shapes differ from the
            generator these ``options`` build (one line naming the first keys and the options).
    """
    options = options or SmisOptions()
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"SMIS generator weights {path} do not exist; {_WEIGHTS_HINT}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError, TypeError, AttributeError,
            IndexError, UnicodeDecodeError):  # what torch's safe unpickler raises on a file it cannot read
        raise UserError(f"{path} is not a torch state-dict file (expected the official latest_net_G.pth)") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} does not hold a state dict of tensors (expected the official latest_net_G.pth)")
    model = SmisGenerator(options)
    missing, unexpected, _ = key_misfit(model.state_dict(), state)
    if missing or unexpected:
        parts = ([f"missing {_first(missing)}"] if missing else []) + ([f"unexpected {_first(unexpected)}"] if unexpected else [])
        raise UserError(f"{path} is not an SMIS Cityscapes generator for {_describe(options)}: {'; '.join(parts)}; "
                        "check ngf, label_nc and contain_dontcare_label against the checkpoint's training options")
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else type(exc).__name__
        detail = detail if len(detail) <= 200 else detail[:197] + "..."
        raise UserError(f"{path} does not fit the SMIS Cityscapes generator for {_describe(options)}: {detail}; "
                        "check ngf, label_nc and contain_dontcare_label against the checkpoint's training options") from None
    return model.eval()
