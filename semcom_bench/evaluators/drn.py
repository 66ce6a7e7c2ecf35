"""Dilated residual networks (DRN-D) for semantic segmentation.

The layout is the one of the reference ``drn_d_*`` segmentation models, so their released
state dicts load as they are:

* ``base.0`` ... ``base.8``: the DRN-D trunk without its classifier. ``base.0``, ``base.1``,
  ``base.2``, ``base.7`` and ``base.8`` are plain ``conv-bn-relu`` stacks (keys
  ``base.<i>.<3k>.weight`` for the conv, ``base.<i>.<3k+1>.*`` for the batch norm);
  ``base.3`` ... ``base.6`` are residual stages of blocks (``base.<i>.<j>.conv1.weight``,
  ``bn1``, ``conv2``, ``bn2``, [``conv3``, ``bn3``,] ``downsample.0`` / ``downsample.1``).
* ``seg``: a 1x1 convolution from the trunk's last width to the classes (with bias).
* ``up``: a fixed bilinear up-sampling, a grouped transposed convolution (no bias) of kernel
  ``2s``, stride ``s``, padding ``s/2`` where ``s`` is the trunk's output stride (8 for the
  released models). Absent when the stride is 1.

DRN-D-105 is ``Bottleneck`` blocks with stage depths ``(1, 1, 3, 4, 23, 3, 1, 1)`` and widths
``(16, 32, 64, 128, 256, 512, 512, 512)``; the Cityscapes model predicts the 19 train ids from
images normalised with mean ``(.290, .328, .287)`` and std ``(.183, .187, .184)``.

Smaller members of the family (narrower widths, fewer blocks, a smaller output stride) use
the same code; the embedded synthetic-streets segmenter is one of them.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semcom_bench.evaluators.base import Segmenter, group_by_size, to_batch

#: Normalisation of the released Cityscapes models (mean/std of the Cityscapes training images).
CITYSCAPES_MEAN = (0.290, 0.328, 0.287)
CITYSCAPES_STD = (0.183, 0.187, 0.184)


@dataclass(frozen=True)
class DRNConfig:
    """Shape of a DRN-D network.

    Attributes:
        block: ``"bottleneck"`` (expansion 4) or ``"basic"`` (expansion 1), for stages 3-6.
        layers: number of convs (stages 0-2, 7, 8 count convs; stage 0 is always one 7x7 conv)
            or blocks (stages 3-6), for the 8 stages ``layer1 ... layer8``.
        channels: width of stages 0/1 ... 8 (8 values: layer0 shares layer1's first width).
        strides: strides of stages 2, 3 and 4; the output stride is their product.
        classes: number of output classes.
    """

    block: str = "bottleneck"
    layers: tuple[int, ...] = (1, 1, 3, 4, 23, 3, 1, 1)
    channels: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 512, 512)
    strides: tuple[int, int, int] = (2, 2, 2)
    classes: int = 19

    @property
    def output_stride(self) -> int:
        return int(math.prod(self.strides))

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DRNConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


#: DRN-D-105 as released for Cityscapes (19 train ids, output stride 8).
DRN_D_105 = DRNConfig()
#: DRN-D-22 layout (basic blocks), for reference and tests.
DRN_D_22 = DRNConfig(block="basic", layers=(1, 1, 2, 2, 2, 2, 1, 1), channels=(16, 32, 64, 128, 256, 512, 512, 512))


def _conv3(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 dilation: tuple[int, int] = (1, 1)):
        super().__init__()
        self.conv1 = _conv3(cin, planes, stride, dilation[0])
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3(planes, planes, 1, dilation[1])
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + skip)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 dilation: tuple[int, int] = (1, 1)):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3(planes, planes, stride, dilation[1])
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + skip)


def _conv_stage(cin: int, cout: int, convs: int, stride: int = 1, dilation: int = 1, kernel: int = 3) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(convs):
        pad = dilation * (kernel // 2)
        mods += [nn.Conv2d(cin, cout, kernel, stride=stride if i == 0 else 1, padding=pad, dilation=dilation, bias=False),
                 nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        cin = cout
    return nn.Sequential(*mods)


def _block_stage(block: type, cin: int, planes: int, blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    out = planes * block.expansion
    downsample = None
    if stride != 1 or cin != out:
        downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
    mods = [block(cin, planes, stride, downsample, dilation=(dilation, dilation))]
    mods += [block(out, planes, 1, None, dilation=(dilation, dilation)) for _ in range(1, blocks)]
    return nn.Sequential(*mods)


def drn_trunk(cfg: DRNConfig) -> tuple[nn.Sequential, int]:
    """The DRN-D trunk as ``nn.Sequential(layer0, ..., layer8)`` and its output width."""
    block = {"bottleneck": Bottleneck, "basic": BasicBlock}[cfg.block]
    ch, n = cfg.channels, cfg.layers
    if len(ch) != 8 or len(n) != 8 or len(cfg.strides) != 3:
        raise ValueError("a DRN config needs 8 widths, 8 stage depths and 3 strides")
    s2, s3, s4 = cfg.strides
    stages: list[nn.Module] = [
        _conv_stage(3, ch[0], 1, kernel=7),
        _conv_stage(ch[0], ch[0], n[0]),
        _conv_stage(ch[0], ch[1], n[1], stride=s2),
    ]
    cin = ch[1]
    for planes, blocks, stride, dil in ((ch[2], n[2], s3, 1), (ch[3], n[3], s4, 1), (ch[4], n[4], 1, 2), (ch[5], n[5], 1, 4)):
        if blocks:
            stages.append(_block_stage(block, cin, planes, blocks, stride, dil))
            cin = planes * block.expansion
    for width, convs, dil in ((ch[6], n[6], 2), (ch[7], n[7], 1)):
        if convs:
            stages.append(_conv_stage(cin, width, convs, dilation=dil))
            cin = width
    return nn.Sequential(*stages), cin


def bilinear_upsampler(classes: int, stride: int) -> nn.ConvTranspose2d:
    """Fixed grouped transposed conv that up-samples by ``stride`` with bilinear weights."""
    k = 2 * stride
    up = nn.ConvTranspose2d(classes, classes, k, stride=stride, padding=stride // 2, groups=classes, bias=False)
    f = math.ceil(k / 2)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    r = torch.arange(k, dtype=torch.float64)
    w1 = 1 - (r / f - c).abs()
    with torch.no_grad():
        up.weight.copy_((w1[:, None] * w1[None, :]).to(up.weight.dtype).expand(classes, 1, k, k))
    up.weight.requires_grad_(False)
    return up


class DRNSeg(nn.Module):
    """DRN-D segmenter: ``up(seg(base(x)))`` -> (B, classes, H, W) logits (H, W multiples of the stride)."""

    def __init__(self, cfg: DRNConfig = DRN_D_105):
        super().__init__()
        self.config = cfg
        self.base, width = drn_trunk(cfg)
        self.seg = nn.Conv2d(width, cfg.classes, 1, bias=True)
        self.up = bilinear_upsampler(cfg.classes, cfg.output_stride) if cfg.output_stride > 1 else None
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and not isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.seg(self.base(x))
        return y if self.up is None else self.up(y)


def clean_state_dict(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Unwrap a training checkpoint (``{"state_dict": ...}``) and drop ``module.`` prefixes."""
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    out = {}
    for k, v in state.items():
        k = re.sub(r"^module\.", "", k)
        out[k] = v
    return out


def load_drn_seg(state: Mapping[str, Any], cfg: DRNConfig = DRN_D_105) -> DRNSeg:
    """Build a :class:`DRNSeg` of shape ``cfg`` and load ``state`` into it (exact key match).

    Raises:
        ValueError: keys or shapes differ, with the first differences named.
    """
    model = DRNSeg(cfg)
    state = clean_state_dict(state)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    bad = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or extra or bad:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s) e.g. {missing[:3]}")
        if extra:
            parts.append(f"unexpected {len(extra)} key(s) e.g. {extra[:3]}")
        if bad:
            parts.append(f"shape mismatch e.g. {bad[0]} {tuple(state[bad[0]].shape)} vs {tuple(own[bad[0]].shape)}")
        raise ValueError("checkpoint does not match the DRN layout: " + "; ".join(parts))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval()


class DRNSegmenter(Segmenter):
    """A :class:`DRNSeg` as a segmenter: normalise, pad to the output stride, arg-max.

    Args:
        model: the network (eval mode).
        classes: names of its output indices (the 19 Cityscapes train ids for DRN-D-105).
        mean, std: input normalisation (RGB in [0, 1]).
        name, identity, device: see :class:`~semcom_bench.evaluators.base.Evaluator`.
    """

    def __init__(self, model: DRNSeg, classes: list[str], mean: tuple[float, ...] = CITYSCAPES_MEAN,
                 std: tuple[float, ...] = CITYSCAPES_STD, name: str = "drn", identity: dict[str, Any] | None = None,
                 device: str = "cpu"):
        super().__init__(name=name, classes=list(classes), identity=identity or {}, device=device)
        self.model = model.to(device).eval()
        self.mean, self.std = tuple(mean), tuple(std)

    @torch.no_grad()
    def logits(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """(B, classes, H, W) logits of same-size images."""
        x = to_batch(images, self.mean, self.std, self.device)
        h, w = x.shape[-2:]
        s = self.model.config.output_stride
        ph, pw = (-h) % s, (-w) % s
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return self.model(x)[..., :h, :w].float()

    def predict(self, images: Sequence[np.ndarray], size: tuple[int, int] | None = None) -> list[np.ndarray]:
        out: list[np.ndarray] = [None] * len(images)  # type: ignore[list-item]
        for idx in group_by_size(images):
            logits = self.logits([images[i] for i in idx])
            if size is not None and tuple(size) != tuple(logits.shape[-2:]):
                logits = F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)
            pred = logits.argmax(1).cpu().numpy().astype(np.int64)
            for j, i in enumerate(idx):
                out[i] = pred[j]
        return out


__all__ = ["DRNConfig", "DRNSeg", "DRNSegmenter", "DRN_D_105", "DRN_D_22", "CITYSCAPES_MEAN", "CITYSCAPES_STD",
           "drn_trunk", "bilinear_upsampler", "clean_state_dict", "load_drn_seg"]
