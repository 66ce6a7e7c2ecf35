"""The sample and data-set contracts every loader follows."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterator, Protocol

import numpy as np


@dataclass(frozen=True, eq=False)
class Sample:
    """One image with whatever ground truth its data set has.

    Attributes:
        key: identifier unique within the data set (e.g. ``"test/00007"``).
        image: (H, W, 3) uint8 RGB.
        labels: (H, W) uint8 semantic label ids in the data set's label space, or None.
        instances: (H, W) int32 instance ids, Cityscapes convention (``class_id * 1000 + k``
            for countable objects, the class id elsewhere), or None.
        boxes: (N, 4) float32 boxes ``x0, y0, x1, y1`` in pixels, or None.
        box_labels: (N,) int64 label ids of the boxes, or None.
        depth: (H, W) float32 depth in metres along the optical axis, or None.
        meta: free extra information (source file names, scene parameters).
    """

    key: str
    image: np.ndarray
    labels: np.ndarray | None = None
    instances: np.ndarray | None = None
    boxes: np.ndarray | None = None
    box_labels: np.ndarray | None = None
    depth: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 (hex) of the image and every ground-truth array: the sample's identity."""
        h = hashlib.sha256()
        for name in ("image", "labels", "instances", "boxes", "box_labels", "depth"):
            value = getattr(self, name)
            h.update(name.encode())
            if value is None:
                h.update(b"none")
                continue
            arr = np.ascontiguousarray(value)
            h.update(str(arr.dtype).encode() + str(arr.shape).encode())
            h.update(arr.tobytes())
        return h.hexdigest()


class IndexedDataset:
    """Integer indexing (negative from the end) and iteration over ``len(self)`` samples.

    Subclasses set ``name`` and implement ``__len__`` and :meth:`sample_at`.
    """

    name: str

    def __len__(self) -> int:
        raise NotImplementedError

    def sample_at(self, i: int) -> Sample:
        """The sample at position ``i``, already checked to be in ``[0, len(self))``."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> Sample:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"{self.name} indices are integers, not {type(index).__name__}")
        size = len(self)
        i = int(index)
        if i < 0:
            i += size
        if not 0 <= i < size:
            raise IndexError(f"index {index} out of range for a data set of {size} samples")
        return self.sample_at(i)

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]


class Dataset(Protocol):
    """A finite, indexable, deterministic collection of samples.

    Attributes:
        name: registry name.
        num_classes: size of the label space (labels take values in ``[0, num_classes)``,
            ``ignore_index`` marks unlabelled pixels).
        class_names: one name per label id.
        ignore_index: label id that metrics ignore, or None.
    """

    name: str
    num_classes: int
    class_names: list[str]
    ignore_index: int | None

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...

    def __iter__(self) -> Iterator[Sample]: ...

    def describe(self) -> dict[str, Any]:
        """Everything that determines the samples (name, version, split, size, root...)."""
        ...
