"""The semantic diffusion U-Net of SDM and GESCO (first paper, sec. 3.3 and Fig. 6).

Encoder ResBlocks: GroupNorm -> SiLU -> conv, the timestep injected as a scale and shift of
the normalised mid activation (``use_scale_shift_norm``); multi-head self-attention at the
chosen resolutions. Middle and decoder ResBlocks replace both GroupNorms by SPADE (eq. 7):
``gamma(y) * GroupNorm(a) + beta(y)`` with ``gamma``, ``beta`` predicted from the
conditioning maps ``y`` (the received one-hot maps plus the instance-edge map, resized to
each feature resolution with nearest neighbour). The output holds 3 eps channels and, with
``learn_sigma``, 3 channels that interpolate the log variance (improved DDPM "learned range").

The parameter names and shapes follow the official guided-diffusion / SDM ``UNetModel``
exactly, so an official ``ema_0.9999_*.pt`` state dict loads with ``strict=True`` into the
network built with the same hyperparameters (see :func:`official_config` and
:func:`load_official`). Two notes on that layout:

* The attention of the official code is plain scaled dot-product attention with the heads
  split before q/k/v ("legacy" order); eq. 5 of the paper describes a cosine similarity,
  the code (and therefore every checkpoint) uses the dot product. This module follows the code.
* GESCO's fork adds an unused ``spade_norm`` module (SPADE on 3 label channels) to every
  encoder ResBlock; its checkpoints therefore hold ``input_blocks.*.spade_norm.*`` keys.
  ``encoder_spade_stub=True`` builds those (never used in ``forward``) so such files load
  strictly too; :func:`load_official` detects it from the keys.

Sizes: the official Cityscapes network (:func:`official_config`) has about 790M
parameters; the embedded checkpoints use :func:`embedded_config` (see its docstring).
"""

from __future__ import annotations

import math
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------


@dataclass
class UNetConfig:
    """Hyperparameters of :class:`SemanticUNet` (names as the official ``create_model``).

    Attributes:
        image_size: the ``--image_size`` flag; only used to turn ``attention_resolutions``
            (feature-map sizes) into downsampling rates, as the official code does.
        num_classes: semantic classes C of the one-hot maps (35 for Cityscapes).
        instance_edges: one extra conditioning channel for the instance-edge map
            (official ``no_instance=False``); conditioning maps then have C + 1 channels.
        model_channels: ``--num_channels``, width of the first level.
        channel_mult: width multiplier per level (the official 256-pixel default is
            1,1,2,2,4,4).
        num_res_blocks: ResBlocks per level in the encoder (the decoder has one more).
        attention_resolutions: feature-map sizes (``image_size // rate``) with attention.
        num_head_channels: channels per attention head (-1: use ``num_heads``).
        num_heads: heads when ``num_head_channels`` is -1.
        learn_sigma: 6 output channels (eps and the variance interpolation) instead of 3.
        use_scale_shift_norm: timestep as scale and shift of the normalised activation.
        resblock_updown: down/upsample with ResBlocks instead of plain conv/pool layers.
        dropout: dropout inside the ResBlocks.
        norm_groups: GroupNorm groups (32 in the official code).
        spade_hidden: hidden channels of the SPADE MLP (128 in the official code).
        encoder_spade_stub: build GESCO's unused encoder ``spade_norm`` modules.
        in_channels: image channels (3).
    """

    image_size: int = 256
    num_classes: int = 35
    instance_edges: bool = True
    model_channels: int = 256
    channel_mult: tuple[float, ...] = (1, 1, 2, 2, 4, 4)
    num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (32, 16, 8)
    num_head_channels: int = 64
    num_heads: int = 1
    learn_sigma: bool = True
    use_scale_shift_norm: bool = True
    resblock_updown: bool = True
    dropout: float = 0.0
    norm_groups: int = 32
    spade_hidden: int = 128
    encoder_spade_stub: bool = False
    in_channels: int = 3

    @property
    def label_channels(self) -> int:
        """Channels of the conditioning maps: C (+1 for the instance edges)."""
        return self.num_classes + (1 if self.instance_edges else 0)

    @property
    def out_channels(self) -> int:
        return 2 * self.in_channels if self.learn_sigma else self.in_channels

    @property
    def attention_rates(self) -> tuple[int, ...]:
        """Downsampling rates with attention (official: ``image_size // resolution``)."""
        return tuple(self.image_size // int(r) for r in self.attention_resolutions)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channel_mult"] = list(self.channel_mult)
        d["attention_resolutions"] = list(self.attention_resolutions)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "UNetConfig":
        d = dict(d)
        d["channel_mult"] = tuple(d["channel_mult"])
        d["attention_resolutions"] = tuple(d["attention_resolutions"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def official_config(num_classes: int = 35, instance_edges: bool = True, image_size: int = 256, **overrides: Any) -> UNetConfig:
    """The official SDM/GESCO Cityscapes flags.

    ``--image_size 256 --num_classes 35 --num_channels 256 --num_res_blocks 2
    --attention_resolutions 32,16,8 --num_head_channels 64 --resblock_updown True
    --use_scale_shift_norm True --learn_sigma True`` with the instance-edge channel
    (``--no_instance False``): channel_mult 1,1,2,2,4,4 = widths [256, 256, 512, 512, 1024,
    1024] (Supplementary, "Experimental Details"). ``overrides`` change any field (tests build
    the same layout at a small width this way).
    """
    mult = {512: (0.5, 1, 1, 2, 2, 4, 4), 256: (1, 1, 2, 2, 4, 4), 128: (1, 1, 2, 3, 4), 64: (1, 2, 3, 4)}
    cfg = dict(
        image_size=image_size, num_classes=num_classes, instance_edges=instance_edges, model_channels=256,
        channel_mult=mult.get(image_size, (1, 1, 2, 2, 4, 4)), num_res_blocks=2, attention_resolutions=(32, 16, 8),
        num_head_channels=64, learn_sigma=True, use_scale_shift_norm=True, resblock_updown=True,
    )
    cfg.update(overrides)
    return UNetConfig(**cfg)


def embedded_config(num_classes: int = 34, **overrides: Any) -> UNetConfig:
    """The network of the embedded ``gesco``/``sdm`` checkpoints (street scenes, 32 x 64 model grid).

    The official architecture scaled down so that a CPU samples an image in about a second:
    width 32, four levels 1,2,2,2 (32x64 -> 4x8), one ResBlock per level, attention (one
    32-channel head) only at the lowest level and in the middle block, GroupNorm with 8
    groups, a 16-channel SPADE MLP. ``image_size`` 32 is the model grid's height, as the
    official flag is the height of Cityscapes' 256 x 512 images. About 2.6M parameters and
    1.9 GFLOP per pass with 34 classes + edges; learned sigma, scale-shift norm, ResBlock
    up/down and the SPADE decoder as the official network.
    """
    cfg = dict(
        image_size=32, num_classes=num_classes, instance_edges=True, model_channels=32, channel_mult=(1, 2, 2, 2),
        num_res_blocks=1, attention_resolutions=(4,), num_head_channels=32, learn_sigma=True,
        use_scale_shift_norm=True, resblock_updown=True, norm_groups=8, spade_hidden=16,
    )
    cfg.update(overrides)
    return UNetConfig(**cfg)


# --------------------------------------------------------------------------------------------
# building blocks (names mirror the official modules so state-dict keys match)
# --------------------------------------------------------------------------------------------


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32 (as the official ``GroupNorm32``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type(x.dtype)


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: int = 10000) -> torch.Tensor:
    """Sinusoidal embedding of (B,) timesteps -> (B, dim): ``[cos(t f), sin(t f)]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half)
    args = timesteps[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.detach().zero_()
    return module


class TimestepSequential(nn.Sequential):
    """Runs its children, handing the timestep embedding and the maps to those that take them."""

    def forward(self, x: torch.Tensor, y: "torch.Tensor | MapPyramid", emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            if isinstance(layer, SpadeResBlock):
                x = layer(x, y, emb)
            elif isinstance(layer, ResBlock):
                x = layer(x, emb)
            else:
                x = layer(x)
        return x


class Upsample(nn.Module):
    """Nearest x2 upsampling with an optional 3x3 conv."""

    def __init__(self, channels: int, use_conv: bool):
        super().__init__()
        self.use_conv = use_conv
        if use_conv:
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.use_conv else x


class Downsample(nn.Module):
    """Stride-2 3x3 conv, or 2x2 average pooling."""

    def __init__(self, channels: int, use_conv: bool):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1) if use_conv else nn.AvgPool2d(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def _resize_nearest(y: torch.Tensor, size: Any) -> torch.Tensor:
    return y if tuple(y.shape[-2:]) == tuple(size) else F.interpolate(y, size=tuple(size), mode="nearest")


class MapPyramid:
    """The conditioning maps resized (nearest) to each feature size once per forward pass."""

    def __init__(self, y: torch.Tensor):
        self.cache = {tuple(y.shape[-2:]): y}
        self.full = y

    def at(self, size: Any) -> torch.Tensor:
        size = tuple(size)
        if size not in self.cache:
            self.cache[size] = _resize_nearest(self.full, size)
        return self.cache[size]


class SpadeGroupNorm(nn.Module):
    """SPADE (eq. 7): ``GroupNorm(a) * (1 + gamma(y)) + beta(y)``, no affine GroupNorm weights.

    ``y`` (B, label_channels, H', W') is resized to the feature size with nearest neighbour;
    ``gamma`` and ``beta`` come from a shared 3x3 conv + ReLU and two 3x3 convs.
    """

    def __init__(self, channels: int, label_channels: int, hidden: int = 128, groups: int = 32):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, y: "torch.Tensor | MapPyramid") -> torch.Tensor:
        x = self.norm(x.float()).type(x.dtype)
        y = y.at(x.shape[-2:]) if isinstance(y, MapPyramid) else _resize_nearest(y, x.shape[-2:])
        actv = self.mlp_shared(y)
        return x * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class ResBlock(nn.Module):
    """Encoder ResBlock: GroupNorm, SiLU, conv; timestep scale-shift; optional up/down."""

    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channels: int | None = None,
                 use_scale_shift_norm: bool = True, up: bool = False, down: bool = False, groups: int = 32,
                 spade_stub: bool = False, spade_hidden: int = 128):
        super().__init__()
        self.out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        if spade_stub:  # GESCO's unused module, kept so its checkpoints load strictly
            self.spade_norm = SpadeGroupNorm(channels, 3, spade_hidden, groups)
        self.in_layers = nn.Sequential(GroupNorm32(groups, channels), nn.SiLU(), nn.Conv2d(channels, self.out_channels, 3, padding=1))
        self.updown = up or down
        if up:
            self.h_upd, self.x_upd = Upsample(channels, False), Upsample(channels, False)
        elif down:
            self.h_upd, self.x_upd = Downsample(channels, False), Downsample(channels, False)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * self.out_channels if use_scale_shift_norm else self.out_channels))
        self.out_layers = nn.Sequential(
            GroupNorm32(groups, self.out_channels), nn.SiLU(), nn.Dropout(dropout),
            _zero(nn.Conv2d(self.out_channels, self.out_channels, 3, padding=1)),
        )
        self.skip_connection = nn.Identity() if self.out_channels == channels else nn.Conv2d(channels, self.out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.updown:
            h = self.in_layers[:-1](x)
            h = self.h_upd(h)
            x = self.x_upd(x)
            h = self.in_layers[-1](h)
        else:
            h = self.in_layers(x)
        emb_out = self.emb_layers(emb).type(h.dtype)[..., None, None]
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class SpadeResBlock(nn.Module):
    """Middle/decoder ResBlock (official ``SDMResBlock``): both norms are SPADE on the maps."""

    def __init__(self, channels: int, emb_channels: int, dropout: float, label_channels: int,
                 out_channels: int | None = None, use_scale_shift_norm: bool = True, up: bool = False,
                 down: bool = False, groups: int = 32, spade_hidden: int = 128):
        super().__init__()
        self.out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_norm = SpadeGroupNorm(channels, label_channels, spade_hidden, groups)
        self.in_layers = nn.Sequential(nn.SiLU(), nn.Conv2d(channels, self.out_channels, 3, padding=1))
        self.updown = up or down
        if up:
            self.h_upd, self.x_upd = Upsample(channels, False), Upsample(channels, False)
        elif down:
            self.h_upd, self.x_upd = Downsample(channels, False), Downsample(channels, False)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * self.out_channels if use_scale_shift_norm else self.out_channels))
        self.out_norm = SpadeGroupNorm(self.out_channels, label_channels, spade_hidden, groups)
        self.out_layers = nn.Sequential(nn.SiLU(), nn.Dropout(dropout), _zero(nn.Conv2d(self.out_channels, self.out_channels, 3, padding=1)))
        self.skip_connection = nn.Identity() if self.out_channels == channels else nn.Conv2d(channels, self.out_channels, 1)

    def forward(self, x: torch.Tensor, y: "torch.Tensor | MapPyramid", emb: torch.Tensor) -> torch.Tensor:
        h = self.in_norm(x, y)
        if self.updown:
            h = self.in_layers[0](h)
            h = self.h_upd(h)
            x = self.x_upd(x)
            h = self.in_layers[1](h)
        else:
            h = self.in_layers(h)
        emb_out = self.emb_layers(emb).type(h.dtype)[..., None, None]
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_norm(h, y) * (1 + scale) + shift
        else:
            h = self.out_norm(h + emb_out, y)
        return self.skip_connection(x) + self.out_layers(h)


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all positions, residual (eqs. 5-6; dot-product form).

    Heads are split before q/k/v, as the official ``QKVAttentionLegacy``.
    """

    def __init__(self, channels: int, num_heads: int = 1, num_head_channels: int = -1, groups: int = 32):
        super().__init__()
        if num_head_channels == -1:
            self.num_heads = num_heads
        else:
            if channels % num_head_channels:
                raise ValueError(f"attention channels {channels} not divisible by num_head_channels {num_head_channels}")
            self.num_heads = channels // num_head_channels
        self.norm = GroupNorm32(groups, channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = _zero(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x))  # (B, 3C, T)
        length = qkv.shape[-1]
        ch = c // self.num_heads
        q, k, v = qkv.reshape(b * self.num_heads, 3 * ch, length).split(ch, dim=1)  # (BH, ch, T)
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))  # (BH, T, ch)
        h = self.proj_out(a.transpose(1, 2).reshape(b, c, length))
        return (x + h).reshape(b, c, *spatial)


# --------------------------------------------------------------------------------------------
# the network
# --------------------------------------------------------------------------------------------


class SemanticUNet(nn.Module):
    """SDM/GESCO U-Net: ``forward(x, t, y)`` -> (B, 6, H, W) (eps and variance interpolation).

    Args:
        config: :class:`UNetConfig`.

    Inputs of ``forward``:
        x: (B, 3, H, W) noisy images in [-1, 1] scale; H and W divisible by
            ``2 ** (len(channel_mult) - 1)``.
        t: (B,) integer timesteps in ``[0, T)``.
        y: (B, label_channels, H, W) conditioning maps (one-hot + instance edges; zeros are
            the null label of classifier-free guidance).
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = cfg = config
        mc, groups, hid, lc = cfg.model_channels, cfg.norm_groups, cfg.spade_hidden, cfg.label_channels
        emb_dim = 4 * mc
        self.time_embed = nn.Sequential(nn.Linear(mc, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        rates = cfg.attention_rates

        def attn(ch: int) -> AttentionBlock:
            return AttentionBlock(ch, cfg.num_heads, cfg.num_head_channels, groups)

        ch = input_ch = int(cfg.channel_mult[0] * mc)
        self.input_blocks = nn.ModuleList([TimestepSequential(nn.Conv2d(cfg.in_channels, ch, 3, padding=1))])
        chans = [ch]
        ds = 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, emb_dim, cfg.dropout, int(mult * mc), cfg.use_scale_shift_norm,
                                                   groups=groups, spade_stub=cfg.encoder_spade_stub, spade_hidden=hid)]
                ch = int(mult * mc)
                if ds in rates:
                    layers.append(attn(ch))
                self.input_blocks.append(TimestepSequential(*layers))
                chans.append(ch)
            if level != len(cfg.channel_mult) - 1:
                down = (ResBlock(ch, emb_dim, cfg.dropout, ch, cfg.use_scale_shift_norm, down=True, groups=groups,
                                 spade_stub=cfg.encoder_spade_stub, spade_hidden=hid)
                        if cfg.resblock_updown else Downsample(ch, True))
                self.input_blocks.append(TimestepSequential(down))
                chans.append(ch)
                ds *= 2
        self.middle_block = TimestepSequential(
            SpadeResBlock(ch, emb_dim, cfg.dropout, lc, use_scale_shift_norm=cfg.use_scale_shift_norm, groups=groups, spade_hidden=hid),
            attn(ch),
            SpadeResBlock(ch, emb_dim, cfg.dropout, lc, use_scale_shift_norm=cfg.use_scale_shift_norm, groups=groups, spade_hidden=hid),
        )
        self.output_blocks = nn.ModuleList([])
        for level, mult in list(enumerate(cfg.channel_mult))[::-1]:
            for i in range(cfg.num_res_blocks + 1):
                ich = chans.pop()
                layers = [SpadeResBlock(ch + ich, emb_dim, cfg.dropout, lc, int(mc * mult), cfg.use_scale_shift_norm,
                                        groups=groups, spade_hidden=hid)]
                ch = int(mc * mult)
                if ds in rates:
                    layers.append(attn(ch))
                if level and i == cfg.num_res_blocks:
                    layers.append(SpadeResBlock(ch, emb_dim, cfg.dropout, lc, ch, cfg.use_scale_shift_norm, up=True,
                                                groups=groups, spade_hidden=hid)
                                  if cfg.resblock_updown else Upsample(ch, True))
                    ds //= 2
                self.output_blocks.append(TimestepSequential(*layers))
        self.out = nn.Sequential(GroupNorm32(groups, ch), nn.SiLU(), _zero(nn.Conv2d(input_ch, cfg.out_channels, 3, padding=1)))

    @property
    def downsampling(self) -> int:
        """H and W of the input must be multiples of this."""
        return 2 ** (len(self.config.channel_mult) - 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if y.shape[0] != x.shape[0] or y.shape[1] != cfg.label_channels or y.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"maps must be (B, {cfg.label_channels}, H, W) matching x {tuple(x.shape)}, got {tuple(y.shape)}")
        emb = self.time_embed(timestep_embedding(t, cfg.model_channels).to(x.dtype))
        y = MapPyramid(y.to(x.dtype))
        hs = []
        h = x
        for block in self.input_blocks:
            h = block(h, y, emb)
            hs.append(h)
        h = self.middle_block(h, y, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), y, emb)
        return self.out(h)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------
# official checkpoints
# --------------------------------------------------------------------------------------------


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A guided-diffusion state dict from ``path`` (``model*.pt`` / ``ema_*.pt``), on the CPU.

    Raises:
        ValueError: the file is not a torch file holding a dict of tensors.
    """
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError, TypeError, AttributeError,
            IndexError, UnicodeDecodeError):  # what torch's safe unpickler raises on a file it cannot read
        raise ValueError(f"{path} is not a torch state-dict file") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load ``state`` (fp16 or fp32 tensors) into ``model`` as float32 with ``strict=True``.

    Raises:
        ValueError: the keys or shapes do not fit; the message is the first detail line of torch's
            (the missing, unexpected or mis-shaped keys).
    """
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else "load_state_dict failed"
        raise ValueError(detail if len(detail) <= 160 else detail[:157] + "...") from None


def infer_official_config(state: dict[str, torch.Tensor], base: UNetConfig | None = None) -> UNetConfig:
    """Fill the shape-determined fields of ``base`` (default :func:`official_config`) from ``state``.

    Width, label channels, output channels and GESCO's encoder stub are read from the
    tensors; the rest (levels, attention, ResBlock up/down) must match ``base``, and
    ``load_state_dict(strict=True)`` then checks every key and shape.

    Raises:
        ValueError: ``state`` lacks the tensors the shapes are read from (``does not hold an
            SDM/GESCO network (no <key>)``).
    """
    cfg = base or official_config()
    d = cfg.to_dict()
    needed = ("time_embed.0.weight", "input_blocks.0.0.weight", "out.2.weight", "middle_block.0.in_norm.mlp_shared.0.weight")
    missing = [k for k in needed if k not in state or getattr(state[k], "ndim", 0) < 2]
    if missing:
        raise ValueError(f"does not hold an SDM/GESCO network (no {missing[0]})")
    d["model_channels"] = int(state["time_embed.0.weight"].shape[1])
    d["in_channels"] = int(state["input_blocks.0.0.weight"].shape[1])
    out_ch = int(state["out.2.weight"].shape[0])
    d["learn_sigma"] = out_ch == 2 * d["in_channels"]
    label_ch = int(state["middle_block.0.in_norm.mlp_shared.0.weight"].shape[1])
    d["spade_hidden"] = int(state["middle_block.0.in_norm.mlp_shared.0.weight"].shape[0])
    d["num_classes"] = label_ch - (1 if d["instance_edges"] else 0)
    d["encoder_spade_stub"] = any(".spade_norm." in k for k in state)
    return UNetConfig.from_dict(d)


def load_official(path: str | Path, base: UNetConfig | None = None) -> SemanticUNet:
    """Build the network for an official SDM/GESCO checkpoint and load it with ``strict=True``.

    Args:
        path: an official guided-diffusion state dict (``ema_0.9999_*.pt``, fp16 or fp32).
        base: hyperparameters of the run that wrote it (default: the Cityscapes flags of
            :func:`official_config`).

    Returns:
        the network in float32, eval mode.
    """
    state = read_state_dict(path)
    cfg = infer_official_config(state, base)
    model = SemanticUNet(cfg)
    load_weights(model, state)
    return model.eval()


__all__ = [
    "UNetConfig", "SemanticUNet", "official_config", "embedded_config", "load_official", "load_weights", "read_state_dict",
    "infer_official_config", "count_parameters", "timestep_embedding",
]
