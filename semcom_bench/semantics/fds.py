"""The receiver side of the semantic payload: fast denoising semantic block (FDS), class
re-insertion, an optional hard decision on the maps, and hard labels.

FDS (first paper, eq. 2): ``y = Pad(MaxPool(AvgPool(ŷ)))``. The average pooling removes noise
spikes, the max pooling keeps the 1-regions of the binary maps, and ``Pad`` puts the classes
the sender pruned back as all-zero maps. The official code uses 3x3 kernels, stride 1,
padding 1, PyTorch defaults otherwise (the average counts the zero padding,
``count_include_pad=True``), and filters every transmitted map, the instance-edge map
included.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from semcom_bench.semantics.onehot import one_hot
from semcom_bench.semantics.payload import SemanticSide
from semcom_bench.symbols import from_symbols


def fds(
    maps: torch.Tensor,
    avg_kernel: int = 3,
    max_kernel: int = 3,
    stride: int = 1,
    padding: int | None = None,
    count_include_pad: bool = True,
) -> torch.Tensor:
    """MaxPool(AvgPool(maps)), the filtering part of FDS.

    Args:
        maps: (K, H, W) or (B, K, H, W) float received maps.
        avg_kernel, max_kernel: square kernel sizes (official: 3 and 3).
        stride: stride of both poolings (official: 1).
        padding: padding of both poolings; default ``kernel // 2`` of each (official: 1).
        count_include_pad: whether the average counts zero padding (official: True).

    Returns:
        float32 tensor of the input's shape when stride is 1 and padding keeps the size.
    """
    x = maps.to(torch.float32)
    squeeze = x.ndim == 3
    if squeeze:
        x = x[None]
    pa = avg_kernel // 2 if padding is None else padding
    pm = max_kernel // 2 if padding is None else padding
    x = F.avg_pool2d(x, avg_kernel, stride=stride, padding=pa, count_include_pad=count_include_pad)
    x = F.max_pool2d(x, max_kernel, stride=stride, padding=pm)
    return x[0] if squeeze else x


_fds_filter = fds  # decode_semantics' ``fds`` flag shadows the name


class FDS(torch.nn.Module):
    """FDS as a module: ``FDS()(maps)`` = :func:`fds` with the official 3x3 / stride 1 / padding 1."""

    def __init__(self, avg_kernel: int = 3, max_kernel: int = 3, stride: int = 1, padding: int | None = None,
                 count_include_pad: bool = True):
        super().__init__()
        self.avg_kernel, self.max_kernel, self.stride = avg_kernel, max_kernel, stride
        self.padding, self.count_include_pad = padding, count_include_pad

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return fds(maps, self.avg_kernel, self.max_kernel, self.stride, self.padding, self.count_include_pad)


def pad_classes(maps: torch.Tensor, present: Sequence[int], num_classes: int, edges: bool) -> torch.Tensor:
    """Re-insert the pruned classes as zero maps (the "Pad" of eq. 2).

    Args:
        maps: (K, H, W) or (B, K, H, W) with K = len(present) + edges; the last map is the
            instance-edge map when ``edges``.
        present: class id of each leading map.
        num_classes: C.
        edges: whether an edge map follows the class maps.

    Returns:
        (C + edges, H, W) or (B, C + edges, H, W) float32; channel C is the edge map.
    """
    present = list(present)
    if maps.shape[-3] != len(present) + int(edges):
        raise ValueError(f"{maps.shape[-3]} maps for {len(present)} classes + {int(edges)} edge map")
    shape = (*maps.shape[:-3], num_classes + int(edges), *maps.shape[-2:])
    out = maps.new_zeros(shape, dtype=torch.float32)
    if present:
        out[..., present, :, :] = maps[..., : len(present), :, :].to(torch.float32)
    if edges:
        out[..., num_classes, :, :] = maps[..., len(present), :, :].to(torch.float32)
    return out


def hard_maps(maps: torch.Tensor, edges: bool) -> torch.Tensor:
    """Project received maps back onto binary maps: the receiver knows the classes are exclusive.

    Each pixel gets a 1 in the class map with the largest value (arg-max over the K sent class
    maps) and 0 elsewhere; the instance-edge map is thresholded at 0.5. Not in the paper: an
    option of the receiver that removes the soft, positively biased values FDS leaves on every
    map (max of a 3x3 average of noise), which networks trained on {0, 1} or raw noisy maps
    never saw.

    Args:
        maps: (K, H, W) float maps, the last one the edge map when ``edges``.
        edges: whether the last map is the instance-edge map.

    Returns:
        (K, H, W) float32 maps with values in {0, 1}.
    """
    x = maps.to(torch.float32)
    k = x.shape[-3] - int(edges)
    out = torch.zeros_like(x)
    if k > 0:
        out[:k] = one_hot(x[:k].argmax(dim=0), k)
    if edges:
        out[k] = (x[k] > 0.5).to(torch.float32)
    return out


def received_maps(received: Any, side: SemanticSide) -> torch.Tensor:
    """Received channel symbols -> (K, h, w) float32 noisy maps (power normalisation undone).

    ``received`` is a :class:`semcom_bench.channels.base.Received` or an (N,) complex tensor.
    """
    symbols = received.symbols if hasattr(received, "symbols") else received
    return from_symbols(symbols, side.scale, side.map_shape)


def decode_semantics(
    received: Any,
    side: SemanticSide | dict[str, Any] | Sequence[SemanticSide | dict[str, Any]],
    fds: bool = True,
    avg_kernel: int = 3,
    max_kernel: int = 3,
    stride: int = 1,
    padding: int | None = None,
    count_include_pad: bool = True,
    upsample: str = "nearest",
    hard: bool = False,
) -> torch.Tensor:
    """Conditioning maps for a semantic-synthesis receiver.

    Undoes the power normalisation, applies FDS (``fds=True``) to the K transmitted maps,
    optionally projects them onto binary maps (``hard=True``, :func:`hard_maps`), up-samples
    them to the image size when the sender down-sampled, and re-inserts the absent classes as
    zeros.

    Args:
        received: a ``Received`` / (N,) complex tensor, or a list of them (a batch).
        side: the matching :class:`SemanticSide` (``Payload.side`` of the map sender) or its
            dict, or a list of them.
        fds: apply the FDS filtering (``False`` = the paper's "no FDS" ablation / SDM row).
        avg_kernel, max_kernel, stride, padding, count_include_pad: FDS settings (official
            defaults: 3, 3, 1, 1, True).
        upsample: interpolation mode back to the image size for down-sampled maps.
        hard: re-binarise the (filtered) maps with :func:`hard_maps` (not in the paper).

    Returns:
        (C + edges, H, W) float32, or (B, C + edges, H, W) for a list (all sides must then have
        the same C, edges and image size).
    """
    if isinstance(received, (list, tuple)):
        sides = list(side) if isinstance(side, (list, tuple)) else [side] * len(received)
        items = [decode_semantics(r, s, fds, avg_kernel, max_kernel, stride, padding, count_include_pad, upsample, hard)
                 for r, s in zip(received, sides)]
        return torch.stack(items)
    s = _side(side)
    maps = received_maps(received, s)
    if fds:
        maps = _fds_filter(maps, avg_kernel, max_kernel, stride, padding, count_include_pad)
    if hard:
        maps = hard_maps(maps, s.edges)
    if maps.shape[-2:] != (s.height, s.width):
        kwargs = {} if upsample == "nearest" else {"align_corners": False}
        maps = F.interpolate(maps[None], size=(s.height, s.width), mode=upsample, **kwargs)[0]
    return pad_classes(maps, s.present, s.num_classes, s.edges)


def _side(side: Any) -> SemanticSide:
    if isinstance(side, SemanticSide):
        return side
    if isinstance(side, dict):
        return SemanticSide.from_dict(side)
    raise TypeError(f"not a semantic side information: {type(side).__name__}")


def hard_labels(maps: torch.Tensor, num_classes: int, present: Sequence[int] | None = None) -> torch.Tensor:
    """Hard label map: argmax over the class channels (only the ``present`` ones if given).

    Args:
        maps: (C(+1), H, W) or (B, C(+1), H, W) full maps as :func:`decode_semantics` returns;
            channels beyond ``num_classes`` (the edge map) are ignored.
        num_classes: C.
        present: restrict the argmax to these class ids (the receiver knows them from the side
            information); default all C.

    Returns:
        (H, W) or (B, H, W) int64 label ids.
    """
    classes = maps[..., :num_classes, :, :]
    if present is None:
        return classes.argmax(dim=-3)
    present = list(present)
    if not present:
        return torch.zeros((*maps.shape[:-3], *maps.shape[-2:]), dtype=torch.int64)
    idx = torch.as_tensor(present, dtype=torch.int64, device=maps.device)
    return idx[classes[..., present, :, :].argmax(dim=-3)]


def map_error_rate(predicted: Any, truth: Any, num_classes: int) -> float:
    """Fraction of labelled pixels (truth in ``[0, num_classes)``) whose predicted label differs."""
    p = torch.as_tensor(predicted).to(torch.int64)
    t = torch.as_tensor(truth).to(torch.int64)
    valid = (t >= 0) & (t < num_classes)
    n = int(valid.sum())
    return float(((p != t) & valid).sum()) / n if n else 0.0
