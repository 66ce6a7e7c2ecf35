"""One-hot label maps and instance-edge maps, as the semantic image synthesis models take them.

Both follow the official SDM/GESCO preprocessing:

- the one-hot map has one channel per class id, channel ``c`` is 1 where ``labels == c``;
  label values outside ``[0, num_classes)`` (e.g. 255 "unlabelled") give an all-zero column;
- the instance-edge map is 1 where a pixel's instance id differs from any of its 4
  neighbours (both pixels of a differing pair are marked). Before the edges are taken, the
  official loaders convert the instance image to 8 bits with PIL (``convert("L")``), which
  clips every id above 255 to 255: all Cityscapes objects (ids ``class * 1000 + k``) then
  share the value 255, so edges between two touching objects of the same or of different
  thing classes vanish, and only object/stuff and stuff/stuff boundaries remain.
  ``eight_bit=True`` (the default) reproduces this; ``eight_bit=False`` keeps the full ids.
"""

from __future__ import annotations

import numpy as np
import torch


def _as_tensor(array: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(array, torch.Tensor):
        return array
    return torch.from_numpy(np.ascontiguousarray(array))


def one_hot(labels: np.ndarray | torch.Tensor, num_classes: int) -> torch.Tensor:
    """One-hot encode a label map.

    Args:
        labels: (H, W) or (B, H, W) integer label ids (uint8, int32, int64...).
        num_classes: number of channels C; values outside ``[0, C)`` get no channel.

    Returns:
        (C, H, W) or (B, C, H, W) float32 tensor with values in {0, 1}.
    """
    lab = _as_tensor(labels).to(torch.int64)
    if lab.ndim not in (2, 3):
        raise ValueError(f"labels must be (H, W) or (B, H, W), got shape {tuple(lab.shape)}")
    valid = (lab >= 0) & (lab < num_classes)
    index = torch.where(valid, lab, torch.zeros_like(lab))
    out = torch.nn.functional.one_hot(index, num_classes).to(torch.float32)  # (..., H, W, C)
    out = out * valid.unsqueeze(-1).to(torch.float32)
    return out.movedim(-1, -3).contiguous()


def instances_to_eight_bit(instances: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The official loaders' 8-bit conversion of an instance map: ids clipped to [0, 255].

    Args:
        instances: (..., H, W) integer instance ids.

    Returns:
        (..., H, W) int64 tensor, values in [0, 255].
    """
    return _as_tensor(instances).to(torch.int64).clamp(0, 255)


def instance_edges(instances: np.ndarray | torch.Tensor, eight_bit: bool = True) -> torch.Tensor:
    """Instance-edge map: 1 where an instance id differs from any 4-neighbour.

    Args:
        instances: (H, W) or (B, H, W) integer instance ids (Cityscapes convention).
        eight_bit: clip ids to 8 bits first, as the official SDM/GESCO loaders do.

    Returns:
        (H, W) or (B, H, W) float32 tensor with values in {0, 1}.
    """
    t = instances_to_eight_bit(instances) if eight_bit else _as_tensor(instances).to(torch.int64)
    if t.ndim not in (2, 3):
        raise ValueError(f"instances must be (H, W) or (B, H, W), got shape {tuple(t.shape)}")
    edge = torch.zeros(t.shape, dtype=torch.bool)
    dx = t[..., :, 1:] != t[..., :, :-1]
    dy = t[..., 1:, :] != t[..., :-1, :]
    edge[..., :, 1:] |= dx
    edge[..., :, :-1] |= dx
    edge[..., 1:, :] |= dy
    edge[..., :-1, :] |= dy
    return edge.to(torch.float32)


def present_classes(labels: np.ndarray | torch.Tensor, num_classes: int) -> list[int]:
    """Sorted class ids in ``[0, num_classes)`` that occur in ``labels`` ((H, W) integers)."""
    values = torch.unique(_as_tensor(labels).to(torch.int64))
    return [int(v) for v in values if 0 <= int(v) < num_classes]


def semantic_maps(
    labels: np.ndarray | torch.Tensor,
    num_classes: int,
    instances: np.ndarray | torch.Tensor | None = None,
    edges: bool = True,
    eight_bit: bool = True,
) -> torch.Tensor:
    """Clean conditioning maps: one-hot classes, then the instance-edge map.

    Args:
        labels: (H, W) or (B, H, W) integer label ids.
        num_classes: C.
        instances: instance ids of the same shape, or None (the edge channel is then zeros).
        edges: append the instance-edge channel.
        eight_bit: clip instance ids to 8 bits before taking edges (official behaviour).

    Returns:
        (C + edges, H, W) or (B, C + edges, H, W) float32 in {0, 1}; channel C is the edge map.
    """
    maps = one_hot(labels, num_classes)
    if not edges:
        return maps
    if instances is None:
        edge = torch.zeros_like(maps[..., :1, :, :])
    else:
        edge = instance_edges(instances, eight_bit=eight_bit).unsqueeze(-3)
    return torch.cat([maps, edge], dim=-3)
