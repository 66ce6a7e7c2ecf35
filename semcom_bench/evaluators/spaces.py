"""Evaluation class spaces: what the metrics count, and how evaluator outputs map onto it.

* Data sets in the Cityscapes label-id space (34 ids: synthetic-streets, Cityscapes) are
  evaluated on the 19 train ids (label ids map through the official table, unmapped ids are
  ignored, 255), and detection on the 8 Cityscapes "thing" train ids.
* Any other data set is evaluated in its own label space (``class_names``, its
  ``ignore_index`` ignored), and detection on its own label ids.

Evaluator classes are matched to evaluation classes by name (case and the separators ``-``,
``_`` and space ignored, plus a few synonyms such as motorbike/motorcycle); an evaluator class
with no match maps to "other", which never counts as a correct prediction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from semcom_bench.data.cityscapes_labels import (
    ID_TO_TRAINID,
    IGNORE_TRAIN_ID,
    LABEL_NAMES,
    NUM_LABEL_IDS,
    TRAINID_NAMES,
)

IGNORE = 255
#: The Cityscapes classes with instances that the benchmark evaluates (train ids 11-18).
CITYSCAPES_THINGS = ["person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"]
_SYNONYMS = {"motorbike": "motorcycle", "bike": "bicycle", "pedestrian": "person", "aeroplane": "airplane",
             "tvmonitor": "tv", "diningtable": "dining table", "pottedplant": "potted plant", "sofa": "couch"}


def normalise_name(name: str) -> str:
    n = re.sub(r"[-_\s]+", " ", str(name).strip().lower())
    return _SYNONYMS.get(n, n)


def name_map(source: Sequence[str], target: Sequence[str]) -> np.ndarray:
    """(len(source),) int64: index in ``target`` of each source class, ``len(target)`` when none."""
    index: dict[str, int] = {}
    for i, t in enumerate(target):
        index.setdefault(normalise_name(t), i)
    return np.array([index.get(normalise_name(s), len(target)) for s in source], dtype=np.int64)


def is_cityscapes_space(dataset: Any) -> bool:
    """True for data sets labelled with the Cityscapes label ids (their first 34 class names)."""
    names = getattr(dataset, "class_names", None)
    return names is not None and len(names) >= NUM_LABEL_IDS and list(names)[:NUM_LABEL_IDS] == LABEL_NAMES


@dataclass
class SegSpace:
    """The classes mIoU is computed over, and the map from ground-truth labels into them."""

    classes: list[str]
    cityscapes: bool
    ignore_index: int | None = None

    @staticmethod
    def of(dataset: Any) -> "SegSpace":
        if is_cityscapes_space(dataset):
            return SegSpace(list(TRAINID_NAMES), True)
        return SegSpace(list(dataset.class_names), False, getattr(dataset, "ignore_index", None))

    def ground_truth(self, labels: np.ndarray) -> np.ndarray:
        """(H, W) uint8/int64 evaluation ids, 255 where ignored."""
        labels = np.asarray(labels).astype(np.int64)
        if self.cityscapes:
            return ID_TO_TRAINID[np.clip(labels, 0, 255)].astype(np.int64)
        out = labels.copy()
        bad = (labels < 0) | (labels >= len(self.classes))
        if self.ignore_index is not None:
            bad |= labels == self.ignore_index
        out[bad] = IGNORE
        return out

    def prediction_map(self, evaluator_classes: Sequence[str]) -> np.ndarray:
        """Map from evaluator output index to evaluation id (``len(classes)`` = other)."""
        if self.cityscapes and list(evaluator_classes) == list(TRAINID_NAMES):
            return np.arange(len(TRAINID_NAMES), dtype=np.int64)
        return name_map(evaluator_classes, self.classes)


@dataclass
class BoxSpace:
    """The classes detection mAP is computed over."""

    classes: list[str]
    cityscapes: bool

    @staticmethod
    def of(dataset: Any) -> "BoxSpace":
        if is_cityscapes_space(dataset):
            return BoxSpace(list(CITYSCAPES_THINGS), True)
        return BoxSpace(list(dataset.class_names), False)

    def ground_truth(self, boxes: np.ndarray, box_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes and evaluation class indices; boxes of classes outside the space are dropped."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        labels = np.asarray(box_labels).astype(np.int64).reshape(-1)
        if self.cityscapes:
            train = ID_TO_TRAINID[np.clip(labels, 0, 255)].astype(np.int64)
            idx = np.where(train == IGNORE_TRAIN_ID, -1, train - 11)
        else:
            idx = np.where((labels >= 0) & (labels < len(self.classes)), labels, -1)
        keep = (idx >= 0) & (idx < len(self.classes))
        return boxes[keep], idx[keep]

    def prediction_map(self, evaluator_classes: Sequence[str]) -> np.ndarray:
        return name_map(evaluator_classes, self.classes)


__all__ = ["SegSpace", "BoxSpace", "CITYSCAPES_THINGS", "name_map", "normalise_name", "is_cityscapes_space", "IGNORE"]
