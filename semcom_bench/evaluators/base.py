"""The evaluator contracts the semantic metrics use: segmenters, detectors, depth estimators.

Every evaluator takes a list of (H, W, 3) uint8 RGB images and answers at each image's own
resolution, in its own class list (``classes``: one name per output index). The metrics map
those names onto the data set's evaluation classes (see :mod:`semcom_bench.evaluators.spaces`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch


@dataclass
class Detections:
    """Boxes found in one image.

    Attributes:
        boxes: (N, 4) float32 ``x0, y0, x1, y1`` in pixels of the input image.
        scores: (N,) float32 confidences in [0, 1].
        labels: (N,) int64 indices into the detector's ``classes``.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    @staticmethod
    def empty() -> "Detections":
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


@dataclass
class Evaluator:
    """Common part of every evaluator.

    Attributes:
        name: evaluator name (``drn-d-105``, ``embedded-seg`` ...).
        classes: one name per output index (segmenters and detectors; empty for depth).
        identity: what determines its outputs (weights name, checksum, input size...), used in
            the metric cache keys.
        device: torch device the model runs on.
    """

    name: str
    classes: list[str] = field(default_factory=list)
    identity: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"


class Segmenter(Evaluator):
    def predict(self, images: Sequence[np.ndarray], size: tuple[int, int] | None = None) -> list[np.ndarray]:
        """(H, W) int64 class indices per image; logits are up-sampled to ``size`` (default: the image's)."""
        raise NotImplementedError


class Detector(Evaluator):
    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        raise NotImplementedError


class DepthEstimator(Evaluator):
    #: ``"inverse"`` (relative inverse depth, e.g. DPT/MiDaS) or ``"depth"``.
    kind: str = "inverse"

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """(H, W) float32 per image, in the estimator's domain (``kind``)."""
        raise NotImplementedError


def to_batch(images: Sequence[np.ndarray], mean: Sequence[float], std: Sequence[float], device: str = "cpu",
             size: tuple[int, int] | None = None) -> torch.Tensor:
    """Same-size uint8 images -> normalised (B, 3, H, W) float32, optionally resized (bilinear)."""
    x = torch.from_numpy(np.stack([np.ascontiguousarray(im) for im in images])).to(device)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    m = torch.tensor(mean, device=device, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, device=device, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


def group_by_size(images: Sequence[np.ndarray]) -> list[list[int]]:
    """Indices of the images grouped by shape (each group can be stacked into one batch)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, im in enumerate(images):
        groups.setdefault(tuple(im.shape), []).append(i)
    return list(groups.values())


class PredictionCache:
    """A small LRU of evaluator outputs keyed by (evaluator identity, image bytes).

    ``miou`` and ``miou-set`` score the same reconstructions with the same segmenter; this
    keeps the second from running the network again.
    """

    def __init__(self, max_items: int = 512):
        self.max_items = max_items
        self._items: OrderedDict[str, Any] = OrderedDict()

    @staticmethod
    def key(identity: str, image: np.ndarray) -> str:
        h = hashlib.sha1(identity.encode())
        h.update(str(image.shape).encode())
        h.update(np.ascontiguousarray(image).tobytes())
        return h.hexdigest()

    def get(self, key: str) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None

    def put(self, key: str, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)


PREDICTIONS = PredictionCache()


def cached_predict(evaluator: Evaluator, method: str, images: Sequence[np.ndarray], **kwargs: Any) -> list[Any]:
    """Call ``evaluator.<method>(images, **kwargs)`` for the images not in :data:`PREDICTIONS` only."""
    from semcom_bench.hashing import canonical_json

    ident = canonical_json({"evaluator": evaluator.name, "method": method, "kwargs": kwargs, "device": evaluator.device,
                            **evaluator.identity})
    keys = [PREDICTIONS.key(ident, im) for im in images]
    out = [PREDICTIONS.get(k) for k in keys]
    todo = [i for i, o in enumerate(out) if o is None]
    if todo:
        fresh = getattr(evaluator, method)([images[i] for i in todo], **kwargs)
        for i, value in zip(todo, fresh):
            out[i] = value
            PREDICTIONS.put(keys[i], value)
    return out


__all__ = ["Detections", "Evaluator", "Segmenter", "Detector", "DepthEstimator", "to_batch", "group_by_size",
           "PredictionCache", "PREDICTIONS", "cached_predict"]
