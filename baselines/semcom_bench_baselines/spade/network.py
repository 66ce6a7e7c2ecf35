"""The SPADE generator (Park et al., CVPR 2019) with the module tree and keys of NVlabs/SPADE.

A re-implementation that loads the official ``latest_net_G.pth`` (and, for ``--use_vae``,
``latest_net_E.pth``) with ``strict=True``: every submodule has the attribute name, order of
creation, parameter and buffer set of ``models/networks/generator.py``, ``architecture.py``,
``normalization.py`` and ``encoder.py`` there, so the state-dict keys and shapes are the
official ones. Facts that shape it:

* ``semantic_nc = label_nc + (1 if contain_dontcare_label) + (0 if no_instance else 1)``; the
  segmentation input is the one-hot label map followed by the instance edge map as the last
  channel (:func:`semantic_input`).
* The generator starts from the segmap nearest-resized to ``(sh, sw)`` (or from ``z`` through a
  ``Linear`` with ``--use_vae``), with ``sw = crop_size // 2**n`` and ``sh = round(sw /
  aspect_ratio)``, ``n`` = 5, 6 or 7 for ``num_upsampling_layers`` normal, more or most, and
  doubles the size ``n`` times (nearest), so the output is ``(sh * 2**n, sw * 2**n)``.
* The block convolutions carry ``torch.nn.utils.spectral_norm`` (``weight_orig``, ``weight_u``,
  ``weight_v``); SPADE's parameter-free norm is ``BatchNorm2d(affine=False)``, key-compatible
  with the synchronised batch norm of the official code (``running_mean``, ``running_var``,
  ``num_batches_tracked``).

The Cityscapes release (``cityscapes_pretrained``) is the default of :class:`SpadeOptions`.
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

_UPSAMPLING = {"normal": 5, "more": 6, "most": 7}
_PARAM_FREE = ("instance", "syncbatch", "batch")
_ENCODER_NORMS = ("instance", "batch", "sync_batch", "none", "")


@dataclass(frozen=True)
class SpadeOptions:
    """The official options (``options/base_options.py`` and the dataset's) that shape the networks.

    The defaults are those of the released Cityscapes model: ``--dataset_mode cityscapes`` sets
    ``label_nc 35``, ``crop_size 512``, ``aspect_ratio 2`` and ``num_upsampling_layers more``;
    instances are on, ``ngf 64``, ``z_dim 256``, no VAE, and the SPADE generator's
    ``norm_G spectralspadesyncbatch3x3``.

    A checkpoint cannot tell ``num_upsampling_layers`` normal from more, nor ``crop_size`` and
    ``aspect_ratio``, unless ``use_vae`` is on (they only set the latent size ``(sh, sw)``, which
    then shapes ``fc``): wrong values load but change the output size.
    """

    label_nc: int = 35
    contain_dontcare_label: bool = False
    no_instance: bool = False
    ngf: int = 64
    z_dim: int = 256
    use_vae: bool = False
    num_upsampling_layers: str = "more"
    crop_size: int = 512
    aspect_ratio: float = 2.0
    norm_G: str = "spectralspadesyncbatch3x3"
    norm_E: str = "spectralinstance"
    #: hidden channels of every SPADE's shared MLP: 128 in the official code (fixed there); smaller
    #: only for the embedded CPU network
    spade_hidden: int = 128

    def __post_init__(self) -> None:
        if self.num_upsampling_layers not in _UPSAMPLING:
            raise UserError(f"SPADE num_upsampling_layers {self.num_upsampling_layers!r} is not one of normal, more, most")
        for name in ("label_nc", "ngf", "z_dim", "crop_size", "spade_hidden"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"SPADE {name} must be a positive integer, not {getattr(self, name)!r}")
        if self.ngf % 2 and self.num_upsampling_layers == "most":
            raise UserError(f"SPADE ngf {self.ngf} must be even with num_upsampling_layers most (up_4 has ngf // 2 channels)")
        self.spade_norm  # noqa: B018  (validates norm_G)
        self.encoder_norm  # noqa: B018  (validates norm_E)
        sh, sw = self.latent_size
        if sh < 1 or sw < 1:
            raise UserError(
                f"SPADE latent size {sh}x{sw} is empty: raise crop_size {self.crop_size}, lower aspect_ratio "
                f"{self.aspect_ratio} or num_upsampling_layers {self.num_upsampling_layers} (sw = crop_size // 2**n, "
                "sh = round(sw / aspect_ratio))"
            )

    @property
    def semantic_nc(self) -> int:
        """Input channels of the generator: labels, the dontcare label, the instance edge map."""
        return self.label_nc + (1 if self.contain_dontcare_label else 0) + (0 if self.no_instance else 1)

    @property
    def num_up_layers(self) -> int:
        """How often the generator doubles the size: 5, 6 or 7 (normal, more, most)."""
        return _UPSAMPLING[self.num_upsampling_layers]

    @property
    def latent_size(self) -> tuple[int, int]:
        """``(sh, sw)``: the size the generator starts from (``compute_latent_vector_size``)."""
        sw = self.crop_size // (2 ** self.num_up_layers)
        return round(sw / self.aspect_ratio), sw

    @property
    def output_size(self) -> tuple[int, int]:
        """``(H, W)`` of the generated image, ``(sh * 2**n, sw * 2**n)`` whatever the segmap size."""
        sh, sw = self.latent_size
        return sh * 2 ** self.num_up_layers, sw * 2 ** self.num_up_layers

    @property
    def spade_norm(self) -> tuple[bool, str, int]:
        """``norm_G`` parsed: (spectral norm on the block convs, param-free norm, SPADE kernel size)."""
        spectral = "spectral" in self.norm_G
        parsed = re.fullmatch(r"spade(\D+)(\d)x\d", self.norm_G.replace("spectral", ""))
        if parsed is None or parsed.group(1) not in _PARAM_FREE:
            raise UserError(
                f"SPADE norm_G {self.norm_G!r} is not [spectral]spade(instance|syncbatch|batch)<k>x<k>, "
                "e.g. spectralspadesyncbatch3x3"
            )
        return spectral, parsed.group(1), int(parsed.group(2))

    @property
    def encoder_norm(self) -> tuple[bool, str]:
        """``norm_E`` parsed: (spectral norm on the encoder convs, norm after them)."""
        spectral = self.norm_E.startswith("spectral")
        sub = self.norm_E[len("spectral"):] if spectral else self.norm_E
        if sub not in _ENCODER_NORMS:
            raise UserError(f"SPADE norm_E {self.norm_E!r} is not [spectral](instance|batch|sync_batch|none)")
        return spectral, sub or "none"


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: ``norm(x) * (1 + gamma(seg)) + beta(seg)``.

    Keys: ``param_free_norm.{running_mean,running_var,num_batches_tracked}`` (batch norms only),
    ``mlp_shared.0.{weight,bias}``, ``mlp_gamma.*``, ``mlp_beta.*`` (128 hidden channels).

    Args:
        norm_nc: channels of ``x``.
        label_nc: channels of the segmap (``semantic_nc``).
        param_free: ``syncbatch`` or ``batch`` (``BatchNorm2d(affine=False)``) or ``instance``.
        kernel_size: of the three convolutions (3 in ``spade...3x3``).
    """

    def __init__(self, norm_nc: int, label_nc: int, param_free: str = "syncbatch", kernel_size: int = 3,
                 nhidden: int = 128) -> None:
        super().__init__()
        if param_free == "instance":
            self.param_free_norm: nn.Module = nn.InstanceNorm2d(norm_nc, affine=False)
        elif param_free in ("syncbatch", "batch"):
            self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False)
        else:
            raise ValueError(f"param-free norm {param_free!r} is not one of {_PARAM_FREE}")
        pw = kernel_size // 2
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, nhidden, kernel_size, padding=pw), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(nhidden, norm_nc, kernel_size, padding=pw)
        self.mlp_beta = nn.Conv2d(nhidden, norm_nc, kernel_size, padding=pw)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        """``x`` (B, norm_nc, h, w), ``segmap`` (B, label_nc, H, W) -> (B, norm_nc, h, w)."""
        normalized = self.param_free_norm(x)
        segmap = F.interpolate(segmap, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(segmap)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    """Residual block ``shortcut(x) + conv_1(lrelu(norm_1(conv_0(lrelu(norm_0(x))))))``.

    ``fmiddle = min(fin, fout)``; ``conv_0``/``conv_1`` are 3x3 with bias, the learned shortcut
    ``conv_s`` (1x1, no bias) and its ``norm_s`` exist only when ``fin != fout``. LeakyReLU 0.2.
    """

    def __init__(self, fin: int, fout: int, options: SpadeOptions) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        spectral, param_free, ks = options.spade_norm
        wrap = spectral_norm if spectral else (lambda m: m)
        self.conv_0 = wrap(nn.Conv2d(fin, fmiddle, kernel_size=3, padding=1))
        self.conv_1 = wrap(nn.Conv2d(fmiddle, fout, kernel_size=3, padding=1))
        if self.learned_shortcut:
            self.conv_s = wrap(nn.Conv2d(fin, fout, kernel_size=1, bias=False))
        nc = options.semantic_nc
        self.norm_0 = SPADE(fin, nc, param_free, ks, options.spade_hidden)
        self.norm_1 = SPADE(fmiddle, nc, param_free, ks, options.spade_hidden)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, nc, param_free, ks, options.spade_hidden)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        """``x`` (B, fin, h, w), ``seg`` (B, semantic_nc, H, W) -> (B, fout, h, w)."""
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return x_s + dx


class SPADEGenerator(nn.Module):
    """The official ``--netG spade`` generator.

    Modules in order of creation: ``fc`` (``Conv2d(semantic_nc, 16*ngf, 3)``, or ``Linear(z_dim,
    16*ngf*sh*sw)`` with ``use_vae``), ``head_0``, ``G_middle_0``, ``G_middle_1`` (16ngf -> 16ngf),
    ``up_0`` .. ``up_3`` (16 -> 8 -> 4 -> 2 -> 1 x ngf), ``up_4`` (ngf -> ngf//2, only for
    ``most``), ``conv_img`` (``Conv2d(., 3, 3)``), and the parameter-free nearest ``up`` (x2).

    Forward: ``segmap`` (B, semantic_nc, H, W) float, the one-hot labels then the instance edges
    (:func:`semantic_input`); ``z`` (B, z_dim), only with ``use_vae`` (drawn from N(0, 1) when
    None). Returns (B, 3, sh*2**n, sw*2**n) in [-1, 1] (``tanh``): (B, 3, H, W) when the segmap
    is at the options' size, e.g. 256x512 for Cityscapes. Call ``eval()`` for inference (batch
    norm running statistics, fixed spectral-norm vectors), as the official test script does.
    """

    def __init__(self, options: SpadeOptions | None = None) -> None:
        super().__init__()
        self.options = opt = options or SpadeOptions()
        nf = opt.ngf
        self.sh, self.sw = opt.latent_size
        if opt.use_vae:
            self.fc: nn.Module = nn.Linear(opt.z_dim, 16 * nf * self.sw * self.sh)
        else:
            self.fc = nn.Conv2d(opt.semantic_nc, 16 * nf, 3, padding=1)
        self.head_0 = SPADEResnetBlock(16 * nf, 16 * nf, opt)
        self.G_middle_0 = SPADEResnetBlock(16 * nf, 16 * nf, opt)
        self.G_middle_1 = SPADEResnetBlock(16 * nf, 16 * nf, opt)
        self.up_0 = SPADEResnetBlock(16 * nf, 8 * nf, opt)
        self.up_1 = SPADEResnetBlock(8 * nf, 4 * nf, opt)
        self.up_2 = SPADEResnetBlock(4 * nf, 2 * nf, opt)
        self.up_3 = SPADEResnetBlock(2 * nf, 1 * nf, opt)
        final_nc = nf
        if opt.num_upsampling_layers == "most":
            self.up_4 = SPADEResnetBlock(1 * nf, nf // 2, opt)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, segmap: torch.Tensor, z: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """``segmap`` (B, semantic_nc, H, W) [, ``z`` (B, z_dim)] -> image (B, 3, sh*2**n, sw*2**n) in [-1, 1]."""
        opt = self.options
        if segmap.ndim != 4 or segmap.shape[1] != opt.semantic_nc:
            raise ValueError(
                f"segmap must be (B, {opt.semantic_nc}, H, W) (label_nc {opt.label_nc}"
                f"{' + dontcare' if opt.contain_dontcare_label else ''}{'' if opt.no_instance else ' + instance edges'}), "
                f"got {tuple(segmap.shape)}"
            )
        if opt.use_vae:
            if z is None:
                z = torch.randn(segmap.shape[0], opt.z_dim, dtype=segmap.dtype, device=segmap.device, generator=generator)
            x = self.fc(z).view(-1, 16 * opt.ngf, self.sh, self.sw)
        else:
            x = self.fc(F.interpolate(segmap, size=(self.sh, self.sw), mode="nearest"))
        x = self.head_0(x, segmap)
        x = self.up(x)
        x = self.G_middle_0(x, segmap)
        if opt.num_upsampling_layers in ("more", "most"):
            x = self.up(x)
        x = self.G_middle_1(x, segmap)
        for block in (self.up_0, self.up_1, self.up_2, self.up_3):
            x = block(self.up(x), segmap)
        if opt.num_upsampling_layers == "most":
            x = self.up_4(self.up(x), segmap)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


class ConvEncoder(nn.Module):
    """The official image encoder of ``--use_vae`` (``latest_net_E.pth``).

    ``layer1`` .. ``layer5`` (and ``layer6`` when ``crop_size >= 256``) are 3x3 stride-2 convs
    ``3 -> ngf -> 2ngf -> 4ngf -> 8ngf -> 8ngf (-> 8ngf)`` (the official code uses ``ngf``, not
    ``nef``), each ``Sequential(conv, norm)`` after ``norm_E`` (spectral norm, no bias before a
    norm; keys ``layerN.0.weight_orig``; instance norm adds no keys), then ``fc_mu`` and
    ``fc_var``: ``Linear(8ngf * 4 * 4, z_dim)``.

    Two departures that no working official file can show: the official ``fc_mu``/``fc_var``
    always have 256 outputs (only ``z_dim`` 256 runs there), and below ``crop_size`` 256 the
    official ``fc`` input stays ``8ngf*4*4`` while five layers leave 8x8; here it is ``8ngf*8*8``.

    Forward: image (B, 3, H, W) in [-1, 1], bilinearly resized to 256x256 -> ``(mu, logvar)``,
    each (B, z_dim).
    """

    def __init__(self, options: SpadeOptions | None = None) -> None:
        super().__init__()
        self.options = opt = options or SpadeOptions()
        ndf = opt.ngf
        spectral, sub = opt.encoder_norm

        def norm_layer(conv: nn.Conv2d) -> nn.Module:
            layer: nn.Module = spectral_norm(conv) if spectral else conv
            if sub == "none":
                return layer
            del layer.bias  # meaningless before a norm; the official code drops it
            layer.register_parameter("bias", None)
            if sub == "instance":
                norm: nn.Module = nn.InstanceNorm2d(conv.out_channels, affine=False)
            else:
                norm = nn.BatchNorm2d(conv.out_channels, affine=True)
            return nn.Sequential(layer, norm)

        chans = [3, ndf, ndf * 2, ndf * 4, ndf * 8, ndf * 8] + ([ndf * 8] if opt.crop_size >= 256 else [])
        for i in range(1, len(chans)):
            setattr(self, f"layer{i}", norm_layer(nn.Conv2d(chans[i - 1], chans[i], 3, stride=2, padding=1)))
        self.n_layers = len(chans) - 1
        self.so = s0 = 256 // 2 ** self.n_layers
        self.fc_mu = nn.Linear(ndf * 8 * s0 * s0, opt.z_dim)
        self.fc_var = nn.Linear(ndf * 8 * s0 * s0, opt.z_dim)
        self.actvn = nn.LeakyReLU(0.2, False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Image (B, 3, H, W) in [-1, 1] -> ``(mu, logvar)``, each (B, z_dim)."""
        if x.shape[2] != 256 or x.shape[3] != 256:
            x = F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False)
        x = self.layer1(x)
        for i in range(2, self.n_layers + 1):
            x = getattr(self, f"layer{i}")(self.actvn(x))
        x = self.actvn(x).flatten(1)
        return self.fc_mu(x), self.fc_var(x)


def instance_edges(instance: torch.Tensor) -> torch.Tensor:
    """The official ``get_edges``: 1.0 where the instance id differs from a 4-neighbour.

    ``instance`` (B, 1, H, W) integer ids -> (B, 1, H, W) float in {0, 1}.
    """
    t = instance
    edge = torch.zeros(t.shape, dtype=torch.bool, device=t.device)
    dx = t[..., :, 1:] != t[..., :, :-1]
    dy = t[..., 1:, :] != t[..., :-1, :]
    edge[..., :, 1:] |= dx
    edge[..., :, :-1] |= dx
    edge[..., 1:, :] |= dy
    edge[..., :-1, :] |= dy
    return edge.float()


def semantic_input(label: torch.Tensor, instance: torch.Tensor | None, options: SpadeOptions) -> torch.Tensor:
    """The generator's segmap, as the official ``preprocess_input`` builds it.

    Args:
        label: (B, 1, H, W) or (B, H, W) integer label ids; 255 becomes ``label_nc`` (the official
            dataset's "unknown"), which needs ``contain_dontcare_label``.
        instance: (B, 1, H, W) or (B, H, W) instance ids; required unless ``no_instance``.

    Returns:
        (B, semantic_nc, H, W) float: one-hot labels, then the instance edge map as the last channel.
    """
    label = label.long()
    if label.ndim == 3:
        label = label.unsqueeze(1)
    label = torch.where(label == 255, torch.full_like(label, options.label_nc), label)
    nc = options.label_nc + (1 if options.contain_dontcare_label else 0)
    if label.numel() and (int(label.min()) < 0 or int(label.max()) >= nc):
        raise ValueError(f"label ids must lie in [0, {nc}) for label_nc {options.label_nc}, got "
                         f"[{int(label.min())}, {int(label.max())}]")
    b, _, h, w = label.shape
    onehot = torch.zeros(b, nc, h, w, device=label.device).scatter_(1, label, 1.0)
    if options.no_instance:
        return onehot
    if instance is None:
        raise ValueError("an instance map is required unless no_instance is set")
    if instance.ndim == 3:
        instance = instance.unsqueeze(1)
    return torch.cat((onehot, instance_edges(instance)), dim=1)


# --------------------------------------------------------------------------------------------
# official checkpoints
# --------------------------------------------------------------------------------------------


def _read_state_dict(path: str | Path, label: str) -> dict[str, torch.Tensor]:
    """``torch.load(weights_only=True)`` of an official ``latest_net_<label>.pth`` (a plain state dict)."""
    p = Path(path)
    if not p.is_file():
        raise MissingWeightsError(
            f"SPADE checkpoint {p} not found: download checkpoints.tar.gz from the NVlabs/SPADE README "
            f"(Google Drive), extract it and pass checkpoints/cityscapes_pretrained/latest_net_{label}.pth"
        )
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError, TypeError, AttributeError,
            IndexError, UnicodeDecodeError):  # what torch's safe unpickler raises on a file it cannot read
        raise UserError(f"{p} is not a torch state-dict file (SPADE writes torch.save(net.state_dict()) to "
                        f"latest_net_{label}.pth)") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{p} does not hold a state dict of tensors (expected SPADE's latest_net_{label}.pth)")
    return state


def _keys(keys: list[str] | set[str], n: int = 3) -> str:
    ordered = sorted(keys)
    more = f" (+{len(ordered) - n} more)" if len(ordered) > n else ""
    return ", ".join(ordered[:n]) + more


def _hints(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]], missing: set[str],
           unexpected: set[str], options: SpadeOptions) -> list[str]:
    """What in ``options`` to check, read from the key and shape differences."""
    hints: list[str] = []
    names = missing | unexpected
    if any(k.startswith("module.") for k in unexpected):
        hints.append("the keys carry DataParallel's 'module.' prefix (save the unwrapped network)")
    if any(k.startswith(("layer1.", "fc_mu.")) for k in unexpected):
        hints.append("this looks like an encoder file (latest_net_E.pth: load_official_encoder)")
    if any(k.startswith(("fc.", "head_0.")) for k in unexpected) and "fc_mu.weight" in expected:
        hints.append("this looks like a generator file (latest_net_G.pth: load_official)")
    if any(k.startswith("up_4.") for k in names):
        has = any(k.startswith("up_4.") for k in unexpected)
        hints.append(f"--num_upsampling_layers (only 'most' has up_4; the file {'has' if has else 'lacks'} it, "
                     f"the options say {options.num_upsampling_layers})")
    if any(re.search(r"\.weight_(orig|u|v)$", k) for k in names):
        hints.append(f"the spectral prefix of --norm_G/--norm_E (spectral norm stores weight_orig/_u/_v; "
                     f"options say {options.norm_G}/{options.norm_E})")
    if any(".param_free_norm." in k for k in names):
        hints.append(f"the param-free norm of --norm_G (batch norms store running stats, instance none; "
                     f"options say {options.norm_G})")
    fc_file, fc_opt = found.get("fc.weight"), expected.get("fc.weight")
    if fc_file is not None and fc_opt is not None and len(fc_file) != len(fc_opt):
        kind = {2: "Linear (--use_vae)", 4: "Conv2d (no --use_vae)"}
        hints.append(f"--use_vae, which the file cannot carry: its fc is a {kind.get(len(fc_file), fc_file)}, "
                     f"the options build a {kind.get(len(fc_opt), fc_opt)}")
        fc_file = fc_opt = None
    head_file, head_opt = found.get("head_0.conv_0.bias"), expected.get("head_0.conv_0.bias")
    if head_file is not None and head_opt is not None and head_file != head_opt:
        hints.append(f"--ngf, which the file cannot carry: it has 16*ngf = {head_file[0]} channels, "
                     f"i.e. --ngf {head_file[0] // 16}, the options say {options.ngf}")
    mu_file, mu_opt = found.get("fc_mu.weight"), expected.get("fc_mu.weight")
    if mu_file is not None and mu_opt is not None and mu_file != mu_opt:
        hints.append(f"--ngf, --z_dim and --crop_size, which the encoder file cannot carry: its fc_mu is {list(mu_file)}, "
                     f"the options build {list(mu_opt)}")
    mlp = "head_0.norm_0.mlp_shared.0.weight"
    if mlp in found and mlp in expected and found[mlp] != expected[mlp]:
        if found[mlp][1] != expected[mlp][1]:
            hints.append(
                f"the label channels: the file has semantic_nc {found[mlp][1]} = label_nc + dontcare + instance edge, "
                f"the options give {options.semantic_nc} (--label_nc {options.label_nc}, "
                f"--contain_dontcare_label {options.contain_dontcare_label}, instances {not options.no_instance})"
            )
        if found[mlp][2:] != expected[mlp][2:]:
            hints.append(f"the SPADE kernel size of --norm_G (file {found[mlp][2]}x{found[mlp][3]}, "
                         f"options say {options.norm_G})")
    if fc_file is not None and fc_opt is not None and len(fc_opt) == 2 and fc_file != fc_opt:
        if fc_file[1] != fc_opt[1]:
            hints.append(f"--z_dim (the file's fc takes {fc_file[1]}, the options say {options.z_dim})")
        if fc_file[0] != fc_opt[0] and (head_file is None or head_file == head_opt):
            sh, sw = options.latent_size
            hints.append(f"the latent size: the file's fc makes {fc_file[0] // (16 * options.ngf)} cells, the options "
                         f"{sh}x{sw} (--crop_size {options.crop_size}, --aspect_ratio {options.aspect_ratio}, "
                         f"--num_upsampling_layers {options.num_upsampling_layers})")
    if not hints:
        hints.append("--label_nc, instances, --ngf, --num_upsampling_layers, --norm_G and --use_vae")
    return hints


def _load_strict(net: nn.Module, path: str | Path, label: str, options: SpadeOptions) -> None:
    """Load ``latest_net_<label>.pth`` into ``net`` with ``strict=True``; a mismatch is one UserError line.

    A file without ``weight_v`` (spectral norm before its version 1) holds ``weight`` instead;
    the spectral-norm load hook rebuilds ``weight_v`` from ``weight_orig``, ``weight`` and
    ``weight_u``, so those keys are not reported.
    """
    state = _read_state_dict(path, label)
    try:
        net.load_state_dict(state, strict=True)
        return
    except RuntimeError:
        pass
    missing, unexpected, shapes = (set(keys) for keys in key_misfit(net.state_dict(), state))
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    parts = []
    if missing:
        parts.append(f"missing {_keys(missing)}")
    if unexpected:
        parts.append(f"unexpected {_keys(unexpected)}")
    if shapes:
        k = sorted(shapes)[0]
        more = f" (+{len(shapes) - 1} more)" if len(shapes) > 1 else ""
        parts.append(f"shape of {k} {list(found[k])} in the file, {list(expected[k])} here{more}")
    if not parts:
        parts.append("load_state_dict rejected it")
    hints = _hints(expected, found, missing, unexpected, options)
    raise UserError(f"SPADE checkpoint {path} does not fit the options: {'; '.join(parts)}; check {'; '.join(hints)}")


def load_official(path: str | Path, options: SpadeOptions | None = None) -> SPADEGenerator:
    """Build the generator for ``options`` and load an official ``latest_net_G.pth`` strictly.

    Args:
        path: the generator state dict, e.g. ``checkpoints/cityscapes_pretrained/latest_net_G.pth``
            (``util.save_network`` writes ``torch.save(net.state_dict())``); read with
            ``weights_only=True``.
        options: the options of the run that wrote it (default: the Cityscapes release).

    Returns:
        the generator on the CPU in eval mode.

    Raises:
        MissingWeightsError: no file at ``path``.
        UserError: not a state dict, or a missing, unexpected or mis-shaped key; the one-line
            message names the first keys and the options to check.
    """
    options = options or SpadeOptions()
    net = SPADEGenerator(options)
    _load_strict(net, path, "G", options)
    return net.eval()


def load_official_encoder(path: str | Path, options: SpadeOptions | None = None) -> ConvEncoder:
    """The :class:`ConvEncoder` of a ``--use_vae`` run from its ``latest_net_E.pth``, loaded strictly, in eval mode."""
    options = options or SpadeOptions()
    net = ConvEncoder(options)
    _load_strict(net, path, "E", options)
    return net.eval()


__all__ = [
    "SpadeOptions", "SPADE", "SPADEResnetBlock", "SPADEGenerator", "ConvEncoder", "instance_edges",
    "semantic_input", "load_official", "load_official_encoder",
]
