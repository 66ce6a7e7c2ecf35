"""A small CenterNet-style detector ("Objects as Points") on a DRN-D trunk.

Objects are the peaks of a per-class centre heat map; at each peak the network regresses the
box width and height and the sub-cell offset of the centre. No anchors and no NMS: peaks are
the local maxima of a 3x3 max-pool. Targets use elliptical Gaussians sized by the box
(sigma = alpha * side / 6, alpha = 0.54, as in TTFNet), the heat-map loss is the penalty-reduced
focal loss of CenterNet (alpha 2, beta 4), sizes and offsets are L1 at the centre cells.

This is the embedded synthetic-streets detector: DETR needs hundreds of epochs to converge and
an evaluator has to be trainable in minutes, while a centre-point head on a small dilated
trunk reaches a useful mAP in a few thousand steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semcom_bench.evaluators.base import Detections, Detector, group_by_size, to_batch
from semcom_bench.evaluators.drn import DRNConfig, drn_trunk

GAUSSIAN_ALPHA = 0.54


def _head(width: int, out: int, hidden: int, bias: float = 0.0) -> nn.Sequential:
    head = nn.Sequential(nn.Conv2d(width, hidden, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(hidden, out, 1))
    nn.init.constant_(head[-1].bias, bias)
    return head


class CenterNet(nn.Module):
    """DRN-D trunk + heat-map / size / offset heads at the trunk's output stride."""

    def __init__(self, cfg: DRNConfig, num_classes: int, head_width: int = 64):
        super().__init__()
        self.config = cfg
        self.num_classes = num_classes
        self.base, width = drn_trunk(cfg)
        self.heatmap = _head(width, num_classes, head_width, bias=-2.19)  # sigmoid(-2.19) = 0.1
        self.size = _head(width, 2, head_width)
        self.offset = _head(width, 2, head_width)

    @property
    def stride(self) -> int:
        return self.config.output_stride

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.base(x)
        return {"heatmap": self.heatmap(f), "size": self.size(f), "offset": self.offset(f)}


@torch.no_grad()
def decode(out: dict[str, torch.Tensor], stride: int, top_k: int = 100, min_score: float = 0.01) -> list[Detections]:
    """Peaks of the heat map -> boxes in input pixels, per image."""
    heat = out["heatmap"].float().sigmoid()
    b, c, h, w = heat.shape
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
    k = min(top_k, c * h * w)
    scores, flat = peaks.reshape(b, -1).topk(k)
    cls = flat // (h * w)
    pos = flat % (h * w)
    ys, xs = (pos // w).float(), (pos % w).float()
    size = out["size"].float().reshape(b, 2, -1)
    off = out["offset"].float().reshape(b, 2, -1)
    result = []
    for i in range(b):
        p = pos[i]
        cx = (xs[i] + off[i, 0, p]) * stride
        cy = (ys[i] + off[i, 1, p]) * stride
        bw = size[i, 0, p].clamp_min(0) * stride
        bh = size[i, 1, p].clamp_min(0) * stride
        boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
        keep = scores[i] >= min_score
        result.append(Detections(boxes[keep].cpu().numpy().astype(np.float32), scores[i][keep].cpu().numpy().astype(np.float32),
                                 cls[i][keep].cpu().numpy().astype(np.int64)))
    return result


@dataclass
class Targets:
    heatmap: torch.Tensor  # (B, C, h, w)
    size: torch.Tensor  # (B, 2, h, w)
    offset: torch.Tensor  # (B, 2, h, w)
    mask: torch.Tensor  # (B, 1, h, w) 1 at object centres


def make_targets(boxes: Sequence[np.ndarray], labels: Sequence[np.ndarray], num_classes: int, out_hw: tuple[int, int],
                 stride: int, device: str = "cpu") -> Targets:
    """Training targets for a batch; ``boxes`` in input pixels, ``labels`` class indices."""
    h, w = out_hw
    b = len(boxes)
    heat = np.zeros((b, num_classes, h, w), np.float32)
    size = np.zeros((b, 2, h, w), np.float32)
    off = np.zeros((b, 2, h, w), np.float32)
    mask = np.zeros((b, 1, h, w), np.float32)
    ys = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None, :]
    for i, (bx, lb) in enumerate(zip(boxes, labels)):
        if len(bx) == 0:
            continue
        areas = (bx[:, 2] - bx[:, 0]) * (bx[:, 3] - bx[:, 1])
        for j in np.argsort(-areas):  # small boxes last: they win shared centre cells
            x0, y0, x1, y1 = (bx[j] / stride).tolist()
            bw, bh = x1 - x0, y1 - y0
            if bw <= 0 or bh <= 0:
                continue
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            ix, iy = min(int(cx), w - 1), min(int(cy), h - 1)
            sx, sy = max(GAUSSIAN_ALPHA * bw / 6, 0.3), max(GAUSSIAN_ALPHA * bh / 6, 0.3)
            g = np.exp(-((xs - ix) ** 2) / (2 * sx * sx) - ((ys - iy) ** 2) / (2 * sy * sy))
            c = int(lb[j])
            np.maximum(heat[i, c], g, out=heat[i, c])
            heat[i, c, iy, ix] = 1.0
            size[i, :, iy, ix] = (bw, bh)
            off[i, :, iy, ix] = (cx - ix, cy - iy)
            mask[i, 0, iy, ix] = 1.0
    t = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
    return Targets(t(heat), t(size), t(off), t(mask))


def loss(out: dict[str, torch.Tensor], tgt: Targets, size_weight: float = 0.1) -> torch.Tensor:
    """CenterNet loss: focal heat-map loss + 0.1 x L1 size + L1 offset, per object."""
    pred = out["heatmap"].float().sigmoid().clamp(1e-4, 1 - 1e-4)
    pos = tgt.heatmap.eq(1).float()
    neg_w = (1 - tgt.heatmap).pow(4)
    pos_loss = (torch.log(pred) * (1 - pred).pow(2) * pos).sum()
    neg_loss = (torch.log(1 - pred) * pred.pow(2) * neg_w * (1 - pos)).sum()
    n = pos.sum().clamp_min(1.0)
    focal = -(pos_loss + neg_loss) / n
    m = tgt.mask
    nm = m.sum().clamp_min(1.0)
    size_l = (F.l1_loss(out["size"].float(), tgt.size, reduction="none") * m).sum() / nm
    off_l = (F.l1_loss(out["offset"].float(), tgt.offset, reduction="none") * m).sum() / nm
    return focal + size_weight * size_l + off_l


class CenterNetDetector(Detector):
    """A :class:`CenterNet` as a detector (input padded to the stride, boxes clipped to the image)."""

    def __init__(self, model: CenterNet, classes: list[str], mean: Sequence[float], std: Sequence[float],
                 name: str = "centernet", identity: dict[str, Any] | None = None, device: str = "cpu",
                 min_score: float = 0.01, top_k: int = 100):
        super().__init__(name=name, classes=list(classes), identity=identity or {}, device=device)
        self.model = model.to(device).eval()
        self.mean, self.std = tuple(mean), tuple(std)
        self.min_score, self.top_k = min_score, top_k

    @torch.no_grad()
    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        out: list[Detections] = [Detections.empty()] * len(images)
        for idx in group_by_size(images):
            x = to_batch([images[i] for i in idx], self.mean, self.std, self.device)
            h, w = x.shape[-2:]
            s = self.model.stride
            ph, pw = (-h) % s, (-w) % s
            if ph or pw:
                x = F.pad(x, (0, pw, 0, ph), mode="replicate")
            dets = decode(self.model(x), s, self.top_k, self.min_score)
            for j, i in enumerate(idx):
                d = dets[j]
                d.boxes[:, 0::2] = d.boxes[:, 0::2].clip(0, w)
                d.boxes[:, 1::2] = d.boxes[:, 1::2].clip(0, h)
                out[i] = d
        return out


__all__ = ["CenterNet", "CenterNetDetector", "decode", "make_targets", "loss", "Targets"]
