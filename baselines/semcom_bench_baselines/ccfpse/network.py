"""CC-FPSE's generator (``--netG condconv``) and image encoder (``net_E``), in the official layout.

A re-implementation of the networks of Liu et al., "Learning to Predict Layout-to-image
Conditional Convolutions for Semantic Image Synthesis" (NeurIPS 2019), official code
xh-liu/CC-FPSE, written so that the released Cityscapes checkpoints
(``checkpoints/cs_best/200_net_G.pth`` and ``200_net_E.pth``, loaded by ``test_cityscapes.sh``
with ``--which_epoch 200 --use_vae``) load with ``strict=True``. Every module name, the order in
which modules are registered, the places of spectral norm and the batch norms the forward pass
never uses are kept, because they are what the state-dict keys are made of.

Two networks:

* :class:`CondConvGenerator` maps a semantic map (B, semantic_nc, H, W) and a latent z (B, z_dim)
  to an image (B, 3, H, W) in [-1, 1]. A feature-pyramid network on the semantic map (the
  *weight-prediction network*: ``labelenc*``, ``labellat*``, ``labeldec*``) gives one feature map
  per generator scale; every generator block predicts, from that feature map and the one-hot
  map, per-pixel 3×3 depthwise kernels and channel gates (``gen_weights*``, ``gen_se_weights*``).
* :class:`ConvEncoder` maps an image (B, 3, H, W) in [-1, 1] to (mu, logvar), each (B, 256).

The latent z. The official test (``pix2pix_model.py::generate_fake`` with ``--use_vae``) does not
sample z from the prior: it encodes the *real image* with ``net_E`` and reparameterises,
z = mu + exp(logvar / 2) · eps with eps = ``randn_like`` (unseeded). A receiver of a semantic
communication link has no image, so here z ~ N(0, I), drawn from an explicit
:class:`torch.Generator` (:func:`sample_z`), which is what the official generator itself does when
it is called without z. :func:`encode_z` reproduces the official test path for when an image is at
hand, again with an explicit generator.

Facts that shape the networks were read from the official code: ``models/networks/generator.py``
(``CondConvGenerator``), ``architecture.py`` (``DepthsepCCBlock``), ``condconv.py``
(``DepthConv``), ``normalization.py`` (``get_nonspade_norm_layer``, ``SPADE``), ``encoder.py``
(``ConvEncoder``), ``options/*.py``, ``data/cityscapes_dataset.py``, ``models/pix2pix_model.py``
and ``util/util.py`` (``save_network``/``load_network``: ``torch.save(net.state_dict())`` of the
bare network, no ``module.`` prefix).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from semcom_bench_baselines.checkpoints import key_misfit
from semcom_bench.errors import UserError

__all__ = [
    "CcfpseOptions",
    "CondConvGenerator",
    "ConvEncoder",
    "DepthConv",
    "DepthsepCCBlock",
    "SPADE",
    "encode_z",
    "load_official",
    "sample_z",
]


@dataclass(frozen=True)
class CcfpseOptions:
    """The official options that shape CC-FPSE's networks; defaults are the Cityscapes test.

    ``test_cityscapes.sh`` runs ``test.py --netG condconv --dataset_mode cityscapes --use_vae``;
    ``data/cityscapes_dataset.py`` then sets ``label_nc=35``, ``crop_size=512``,
    ``aspect_ratio=2.0`` (after the test options' ``crop_size=256`` default, so 512 wins), and the
    generator forces ``num_upsampling_layers='more'`` for ``dataset_mode == 'cityscapes'``.
    ``ngf=64``, ``z_dim=256``, ``norm_G='spectralsync_batch'``, ``norm_E='spectralinstance'`` are the
    defaults of ``options/base_options.py``; instance edges are on (``no_instance`` unset).

    Attributes:
        label_nc: label classes in the one-hot map (35 for Cityscapes' ``labelIds``).
        contain_dontcare_label: one more one-hot channel for label 255.
        no_instance: True drops the instance-edge channel (appended last when present).
        ngf: generator width; the generator's first block has ``16·ngf`` channels. The encoder's
            width ``ndf`` is also ``ngf`` (``encoder.py``).
        z_dim: latent size (the input of ``fc`` when ``use_vae``). The official encoder's
            ``fc_mu``/``fc_var`` output 256 whatever ``z_dim`` is; here they output ``z_dim``,
            which is the same network for the released ``z_dim=256``.
        crop_size: image width the network was built for (512); sets the latent grid
            (``sw = crop_size // 2**num_up``) and whether the encoder has ``layer6`` (crop ≥ 256).
        aspect_ratio: width / height (2.0); ``sh = round(sw / aspect_ratio)``.
        num_upsampling_layers: ``'more'`` (Cityscapes: 6 upsamplings, ``labelenc7``, ``labellat6``
            and ``labeldec6`` exist) or ``'normal'`` (5 upsamplings).
        use_vae: ``fc`` is ``Linear(z_dim, 16·ngf·sh·sw)`` fed by z and ``net_E`` exists; otherwise
            ``fc`` is a 3×3 conv on the downsampled semantic map and there is no encoder.
        hidden: width of the hidden layer of every weight-prediction head and of SPADE's shared
            MLP, hard-coded 128 in the official code. Only small test networks change it.
    """

    label_nc: int = 35
    contain_dontcare_label: bool = False
    no_instance: bool = False
    ngf: int = 64
    z_dim: int = 256
    crop_size: int = 512
    aspect_ratio: float = 2.0
    num_upsampling_layers: Literal["normal", "more"] = "more"
    use_vae: bool = True
    hidden: int = 128

    def __post_init__(self) -> None:
        if self.num_upsampling_layers not in ("normal", "more"):
            raise UserError(f"CcfpseOptions.num_upsampling_layers={self.num_upsampling_layers!r}: "
                            "use 'more' (Cityscapes) or 'normal'")
        for name in ("label_nc", "ngf", "z_dim", "crop_size", "hidden"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"CcfpseOptions.{name}={getattr(self, name)!r}: must be a positive integer")
        sw, sh = self.latent_size
        if sw < 1 or sh < 1:
            raise UserError(f"CcfpseOptions crop_size={self.crop_size} with aspect_ratio={self.aspect_ratio} "
                            f"gives an empty {sh}x{sw} latent grid: raise crop_size")

    @property
    def semantic_nc(self) -> int:
        """Channels of the generator input: one-hot labels (+ don't-care) (+ instance edges); 36."""
        return self.label_nc + int(self.contain_dontcare_label) + int(not self.no_instance)

    @property
    def num_up_layers(self) -> int:
        """Upsamplings from the latent grid to the image: 6 for ``'more'``, 5 for ``'normal'``."""
        return 6 if self.num_upsampling_layers == "more" else 5

    @property
    def latent_size(self) -> tuple[int, int]:
        """(sw, sh), the latent grid of ``fc``'s output: (8, 4) for Cityscapes."""
        sw = self.crop_size // (2 ** self.num_up_layers)
        return sw, round(sw / self.aspect_ratio)

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the semantic map and of the output: (256, 512) for Cityscapes."""
        sw, sh = self.latent_size
        return sh * 2 ** self.num_up_layers, sw * 2 ** self.num_up_layers


# --------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------


def _sn_conv_bn(conv: nn.Conv2d) -> nn.Sequential:
    """``get_nonspade_norm_layer(opt, 'spectralsync_batch')`` applied to ``conv``.

    Spectral norm on the conv (keys ``0.weight_orig``, ``0.weight_u``, ``0.weight_v``), its bias
    removed since a norm follows, then an affine BatchNorm (``1.weight``, ``1.bias``, running
    stats; SyncBatchNorm under ``--mpdist`` has the same keys).
    """
    return nn.Sequential(spectral_norm(conv), nn.BatchNorm2d(conv.out_channels, affine=True))


def _sn_conv_in(conv: nn.Conv2d) -> nn.Sequential:
    """``get_nonspade_norm_layer(opt, 'spectralinstance')``: SN conv without bias, then a
    parameter-free InstanceNorm (no keys)."""
    return nn.Sequential(spectral_norm(conv), nn.InstanceNorm2d(conv.out_channels, affine=False))


def _fpn_layer(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """One layer of the weight-prediction network: ``Sequential(Sequential(SN conv, BN), LReLU 0.2)``.

    Keys ``0.0.weight_orig|weight_u|weight_v`` and ``0.1.weight|bias|running_mean|running_var|
    num_batches_tracked``.
    """
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
    return nn.Sequential(_sn_conv_bn(conv), nn.LeakyReLU(0.2, inplace=True))


def _head(cin: int, hidden: int, cout: int, gate: bool) -> nn.Sequential:
    """A per-pixel prediction head: 3×3 conv → ReLU → 3×3 conv (→ Sigmoid when ``gate``).

    Keys ``0.weight|bias`` (hidden, cin, 3, 3) and ``2.weight|bias`` (cout, hidden, 3, 3).
    """
    layers: list[nn.Module] = [nn.Conv2d(cin, hidden, 3, padding=1), nn.ReLU(),
                               nn.Conv2d(hidden, cout, 3, padding=1)]
    if gate:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


class SPADE(nn.Module):
    """SPADE as in CC-FPSE's ``normalization.py``: parameter-free BatchNorm, then a per-pixel
    scale and shift predicted from the conditioning map.

    Keys: ``param_free_norm.running_mean|running_var|num_batches_tracked`` (norm_nc),
    ``mlp_shared.0`` (hidden, label_nc, 3, 3), ``mlp_gamma``/``mlp_beta`` (norm_nc, hidden, 3, 3).

    Shapes: x (B, norm_nc, h, w), segmap (B, label_nc, h', w') → (B, norm_nc, h, w); the map is
    resized (nearest) when its height differs from x's.
    """

    def __init__(self, norm_nc: int, label_nc: int, hidden: int = 128) -> None:
        super().__init__()
        self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, 3, padding=1)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        normalized = self.param_free_norm(x)
        if x.shape[2] != segmap.shape[2]:
            segmap = F.interpolate(segmap, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(segmap)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class DepthConv(nn.Module):
    """Conditional depthwise 3×3 convolution with a kernel per pixel (``condconv.py``).

    ``out[b, c, y, x] = Σ_{i,j} w[b, 9c + 3i + j, y, x] · x_pad[b, c, y + i, x + j]`` (zero
    padding 1, stride 1): the predicted weights' channel ``9c + k`` is the tap ``k`` (row-major
    over the 3×3 window) of channel ``c``, the order of ``unfold``.

    The module holds a BatchNorm ``norm_layer`` that the official forward never calls (its use is
    commented out); it is kept because its tensors are in the checkpoint.

    Shapes: x (B, C, H, W), weights (B, 9·C, H, W) → (B, C, H, W).
    """

    def __init__(self, channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.kernel = kernel
        self.norm_layer = nn.BatchNorm2d(channels, affine=True)  # in the state dict, unused

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        taps = self.kernel * self.kernel
        patches = F.unfold(x, self.kernel, padding=self.kernel // 2).view(b, c, taps, h, w)
        return (patches * weights.view(b, c, taps, h, w)).sum(dim=2)


class DepthsepCCBlock(nn.Module):
    """The generator's residual block with conditional convolutions (``architecture.py``).

    Modules in the official registration order (state-dict keys follow it):
    ``gen_weights1`` (→ 9·fin depthwise taps), ``gen_weights2`` (→ 9·fout), ``gen_se_weights1``
    (→ fmiddle gates), ``gen_se_weights2`` (→ fout gates), ``conv_0`` (DepthConv on fin),
    ``norm_0`` (BN fmiddle, unused), ``conv_1`` (1×1 fin→fmiddle), ``norm_1`` (BN fin),
    ``conv_2`` (DepthConv on fmiddle), ``norm_2`` (BN fmiddle), ``conv_3`` (1×1 fmiddle→fout) and,
    when fin ≠ fout, ``conv_s`` (spectral-norm 1×1, no bias) and ``norm_s`` (SPADE on fin).
    fmiddle = min(fin, fout). No spectral norm on ``conv_1``/``conv_3`` or the heads.

    Forward: with s = seg resized (nearest) to x,
    dx = LReLU(conv_3(dconv(norm_2(LReLU(conv_1(dconv(norm_1(x), W1(s))) · g1(s))), W2(s))) · g2(s)),
    out = shortcut + dx, shortcut = conv_s(norm_s(x, s)) or x.

    Shapes: x (B, fin, h, w), seg (B, cond_nc, h', w') → (B, fout, h, w).
    """

    def __init__(self, fin: int, fout: int, cond_nc: int, hidden: int = 128) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.gen_weights1 = _head(cond_nc, hidden, fin * 9, gate=False)
        self.gen_weights2 = _head(cond_nc, hidden, fout * 9, gate=False)
        self.gen_se_weights1 = _head(cond_nc, hidden, fmiddle, gate=True)
        self.gen_se_weights2 = _head(cond_nc, hidden, fout, gate=True)
        self.conv_0 = DepthConv(fin)
        self.norm_0 = nn.BatchNorm2d(fmiddle, affine=True)  # in the state dict, unused
        self.conv_1 = nn.Conv2d(fin, fmiddle, kernel_size=1)
        self.norm_1 = nn.BatchNorm2d(fin, affine=True)
        self.conv_2 = DepthConv(fmiddle)
        self.norm_2 = nn.BatchNorm2d(fmiddle, affine=True)
        self.conv_3 = nn.Conv2d(fmiddle, fout, kernel_size=1)
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, kernel_size=1, bias=False))
            self.norm_s = SPADE(fin, cond_nc, hidden)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        s = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        x_s = self.conv_s(self.norm_s(x, s)) if self.learned_shortcut else x
        dx = self.conv_0(self.norm_1(x), self.gen_weights1(s))
        dx = F.leaky_relu(self.conv_1(dx) * self.gen_se_weights1(s), 0.2)
        dx = self.conv_2(self.norm_2(dx), self.gen_weights2(s))
        dx = F.leaky_relu(self.conv_3(dx) * self.gen_se_weights2(s), 0.2)
        return x_s + dx


# --------------------------------------------------------------------------------------------
# generator and encoder
# --------------------------------------------------------------------------------------------


class CondConvGenerator(nn.Module):
    """CC-FPSE's generator ``CondConvGenerator`` (``--netG condconv``).

    Input: seg (B, semantic_nc, H, W), the one-hot labels followed by the instance-edge channel
    (36 × 256 × 512 for Cityscapes), and z (B, z_dim) when ``use_vae``. Output (B, 3, H, W) in
    [-1, 1] (tanh). H, W = ``options.image_size``: the weight-prediction network halves the map
    ``num_up_layers`` times and its coarsest level must meet the latent grid (sh, sw).

    Weight-prediction network (nf = ngf channels throughout, every layer SN conv + BN + LReLU):
    ``labelenc1`` 3×3 on the map, ``labelenc2..7`` 3×3 stride 2 (to H/64 × W/64 for ``'more'``);
    top-down ``segout1 = enc7``, ``segout_{k+1} = labeldec_k(up(segout_k) + labellat_k(enc_{7-k}))``.
    Each block is conditioned on cat(seg resized to its scale, segout of that scale):
    semantic_nc + ngf channels (100).

    Blocks (``'more'``): ``head_0`` 16nf at (sh, sw), ``G_middle_0`` 16nf and ``G_middle_1`` 16nf
    after one upsampling each, ``up_0..3`` 16nf→8nf→4nf→2nf→nf after one upsampling each, then
    ``conv_img`` (3×3, nf→3) after LReLU 0.2. Upsampling is nearest ×2.
    """

    def __init__(self, options: CcfpseOptions) -> None:
        super().__init__()
        self.options = options
        o = options
        nf, nc, more = o.ngf, o.semantic_nc, o.num_upsampling_layers == "more"
        self.sw, self.sh = o.latent_size
        if o.use_vae:
            self.fc: nn.Module = nn.Linear(o.z_dim, 16 * nf * self.sw * self.sh)
        else:
            self.fc = nn.Conv2d(nc, 16 * nf, 3, padding=1)
        levels = 7 if more else 6
        # registration order as in the official __init__: labelenc*, labellat*, labeldec*
        for i in range(1, levels + 1):
            setattr(self, f"labelenc{i}", _fpn_layer(nc if i == 1 else nf, nf, 3, stride=1 if i == 1 else 2))
        for i in range(1, levels):
            setattr(self, f"labellat{i}", _fpn_layer(nf, nf, 1))
        for i in range(1, levels):
            setattr(self, f"labeldec{i}", _fpn_layer(nf, nf, 3))
        cond = nc + nf
        self.head_0 = DepthsepCCBlock(16 * nf, 16 * nf, cond, o.hidden)
        self.G_middle_0 = DepthsepCCBlock(16 * nf, 16 * nf, cond, o.hidden)
        self.G_middle_1 = DepthsepCCBlock(16 * nf, 16 * nf, cond, o.hidden)
        self.up_0 = DepthsepCCBlock(16 * nf, 8 * nf, cond, o.hidden)
        self.up_1 = DepthsepCCBlock(8 * nf, 4 * nf, cond, o.hidden)
        self.up_2 = DepthsepCCBlock(4 * nf, 2 * nf, cond, o.hidden)
        self.up_3 = DepthsepCCBlock(2 * nf, 1 * nf, cond, o.hidden)
        self.conv_img = nn.Conv2d(nf, 3, 3, padding=1)
        self.levels = levels

    def pyramid(self, seg: torch.Tensor) -> list[torch.Tensor]:
        """The weight-prediction network's outputs, coarsest first.

        seg (B, semantic_nc, H, W) → ``levels`` maps (B, ngf, H/2^k, W/2^k), k = levels-1 … 0.
        """
        enc = []
        h = seg
        for i in range(1, self.levels + 1):
            h = getattr(self, f"labelenc{i}")(h)
            enc.append(h)
        outs = [enc[-1]]
        for k in range(1, self.levels):
            up = F.interpolate(outs[-1], scale_factor=2, mode="nearest")
            lat = getattr(self, f"labellat{k}")(enc[self.levels - 1 - k])
            outs.append(getattr(self, f"labeldec{k}")(up + lat))
        return outs

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None = None, *,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """seg (B, semantic_nc, H, W), z (B, z_dim) or None → image (B, 3, H, W) in [-1, 1].

        With ``use_vae`` and no z, z ~ N(0, I) is drawn from ``generator`` (:func:`sample_z`);
        one of the two must be given, so every output is reproducible.
        """
        o = self.options
        if o.use_vae:
            if z is None:
                if generator is None:
                    raise ValueError("CondConvGenerator with use_vae needs z or an explicit torch.Generator")
                z = sample_z(seg.shape[0], o.z_dim, generator, device=seg.device)
            x = self.fc(z.to(seg.dtype)).view(-1, 16 * o.ngf, self.sh, self.sw)
        else:
            x = self.fc(F.interpolate(seg, size=(self.sh, self.sw), mode="nearest"))
        segouts = self.pyramid(seg)

        def cond(x: torch.Tensor, level: int) -> torch.Tensor:
            return torch.cat((F.interpolate(seg, size=x.shape[2:], mode="nearest"), segouts[level]), dim=1)

        def up(x: torch.Tensor) -> torch.Tensor:
            return F.interpolate(x, scale_factor=2, mode="nearest")

        more = o.num_upsampling_layers == "more"
        x = self.head_0(x, cond(x, 0))
        x = up(x)
        x = self.G_middle_0(x, cond(x, 1))
        level = 1
        if more:
            x = up(x)
            level = 2
        x = self.G_middle_1(x, cond(x, level))
        for block in (self.up_0, self.up_1, self.up_2, self.up_3):
            x = up(x)
            level += 1
            x = block(x, cond(x, level))
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


class ConvEncoder(nn.Module):
    """CC-FPSE's image encoder ``ConvEncoder`` (``net_E``, built only with ``--use_vae``).

    ``layer1..5`` (``layer6`` too when crop_size ≥ 256): SN conv 3×3 stride 2 without bias + a
    parameter-free InstanceNorm (keys ``layerN.0.weight_orig|weight_u|weight_v``), widths
    ndf, 2ndf, 4ndf, 8ndf, 8ndf, 8ndf with ndf = ngf; LReLU 0.2 between layers and after the last;
    ``fc_mu``/``fc_var`` = Linear(8ndf·4·4, z_dim) (8192 → 256 for Cityscapes).

    Shapes: image (B, 3, H, W) in [-1, 1], resized (bilinear) to 256 × 256 when it is not →
    (mu, logvar), each (B, z_dim).
    """

    def __init__(self, options: CcfpseOptions) -> None:
        super().__init__()
        self.options = options
        ndf = options.ngf
        widths = [3, ndf, 2 * ndf, 4 * ndf, 8 * ndf, 8 * ndf]
        if options.crop_size >= 256:
            widths.append(8 * ndf)
        for i in range(1, len(widths)):
            conv = nn.Conv2d(widths[i - 1], widths[i], 3, stride=2, padding=1, bias=False)
            setattr(self, f"layer{i}", _sn_conv_in(conv))
        self.layers = len(widths) - 1
        self.fc_mu = nn.Linear(ndf * 8 * 4 * 4, options.z_dim)
        self.fc_var = nn.Linear(ndf * 8 * 4 * 4, options.z_dim)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """image (B, 3, H, W) → (mu, logvar), each (B, z_dim)."""
        x = image
        if x.shape[2] != 256 or x.shape[3] != 256:
            x = F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False)
        for i in range(1, self.layers + 1):
            if i > 1:
                x = F.leaky_relu(x, 0.2)
            x = getattr(self, f"layer{i}")(x)
        x = F.leaky_relu(x, 0.2).flatten(1)
        return self.fc_mu(x), self.fc_var(x)


def sample_z(batch: int, z_dim: int, generator: torch.Generator,
             device: torch.device | str | None = None) -> torch.Tensor:
    """z ~ N(0, I), (batch, z_dim) float32, drawn on ``generator``'s device and moved to ``device``.

    Drawing on the generator's own device keeps z the same for the same seed whatever device the
    network runs on (a CPU generator gives the same z for a CPU and a GPU run).
    """
    z = torch.randn((batch, z_dim), generator=generator, device=generator.device, dtype=torch.float32)
    return z if device is None else z.to(device)


def encode_z(encoder: ConvEncoder, image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The official test's z: mu + exp(logvar / 2) · eps of ``net_E(image)``, eps from ``generator``.

    image (B, 3, H, W) in [-1, 1] → z (B, z_dim). Only for when a real image is at hand; the
    receiver samples z with :func:`sample_z`.
    """
    mu, logvar = encoder(image)
    eps = sample_z(mu.shape[0], mu.shape[1], generator, device=mu.device).to(mu.dtype)
    return mu + eps * torch.exp(0.5 * logvar)


# --------------------------------------------------------------------------------------------
# official checkpoints
# --------------------------------------------------------------------------------------------


def _read(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"CC-FPSE {what} checkpoint {p} does not exist: pass the path of the official file")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's safe unpickler raises many kinds on a foreign file
        raise UserError(f"CC-FPSE {what} checkpoint {p} is not a torch state-dict file "
                        f"({type(exc).__name__}): pass the official .pth") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"CC-FPSE {what} checkpoint {p} does not hold a state dict of tensors: "
                        "pass the file written by the official save_network")
    return state


def _hint(keys: list[str], encoder: bool) -> str:
    """The option most likely wrong, from the keys that did not fit."""
    joined = " ".join(keys)
    if encoder:
        if "layer6" in joined:
            return "crop_size (layer6 exists when crop_size >= 256)"
        if "fc_" in joined:
            return "ngf and z_dim"
        return "ngf"
    if any(f"label{part}" in joined for part in ("enc7", "lat6", "dec6")):
        return "num_upsampling_layers ('more' for Cityscapes)"
    if joined.startswith("fc.") or " fc." in joined:
        return "use_vae, z_dim, crop_size and aspect_ratio"
    if "labelenc1." in joined:
        return "label_nc, contain_dontcare_label and no_instance"
    if "gen_" in joined or "mlp_" in joined:
        return "label_nc, no_instance, ngf and hidden"
    return "ngf"


def _fit(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path, what: str, encoder: bool) -> None:
    """Strict load of ``state`` into ``model``; any misfit is one UserError line."""
    own = model.state_dict()
    missing, unexpected, mismatched = key_misfit(own, state)

    def first(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")

    problems = []
    if missing:
        problems.append(f"missing keys {first(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {first(unexpected)}")
    if mismatched:
        k = mismatched[0]
        problems.append(f"shape of {k} is {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} here"
                        + (f" (+{len(mismatched) - 1} more)" if len(mismatched) > 1 else ""))
    if problems:
        hint = _hint(missing + unexpected + mismatched, encoder)
        raise UserError(f"CC-FPSE {what} checkpoint {path} does not fit: {'; '.join(problems)}; "
                        f"check CcfpseOptions {hint}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else "load_state_dict failed")
        detail = detail if len(detail) <= 200 else detail[:197] + "..."
        raise UserError(f"CC-FPSE {what} checkpoint {path} does not fit: {detail}") from None


def load_official(g_path: str | Path, e_path: str | Path | None,
                  options: CcfpseOptions | None = None) -> tuple[CondConvGenerator, ConvEncoder | None]:
    """The official generator (``200_net_G.pth``) and, with ``use_vae``, encoder (``200_net_E.pth``).

    Both files are read with ``torch.load(weights_only=True)`` and loaded with ``strict=True``;
    the networks are returned on the CPU in eval mode (the official ``test.py`` calls
    ``model.eval()``, so batch norms use their running statistics).

    Raises:
        UserError: a file is missing or unreadable, a key is missing or extra, or a shape differs
            (one line naming the first keys and the option to check); ``use_vae`` without
            ``e_path``; an ``e_path`` while ``use_vae`` is off.
    """
    options = options or CcfpseOptions()
    if options.use_vae and e_path is None:
        raise UserError("CC-FPSE with use_vae=True needs the encoder net_E too: pass the path of "
                        f"200_net_E.pth (next to {Path(g_path).name} in checkpoints/cs_best)")
    if not options.use_vae and e_path is not None:
        raise UserError(f"CC-FPSE encoder {e_path} given but CcfpseOptions.use_vae is False: "
                        "drop the encoder path or set use_vae=True")
    generator = CondConvGenerator(options)
    _fit(generator, _read(g_path, "generator net_G"), g_path, "generator net_G", encoder=False)
    generator.eval()
    encoder = None
    if e_path is not None:
        encoder = ConvEncoder(options)
        _fit(encoder, _read(e_path, "encoder net_E"), e_path, "encoder net_E", encoder=True)
        encoder.eval()
    return generator, encoder

