"""The Cityscapes label table and small numpy helpers around it.

The table follows the official Cityscapes definition: 34 label ids ``0..33`` (the ``labelIds``
space of the ``*_gtFine_labelIds.png`` files), each with the train id used for the 19-class
benchmark (255 = ignored in evaluation), its category, whether it has instances, and its
colour. The extra ``license plate`` entry of the official table (id ``-1``) is left out:
license plates are labelled as the vehicle they belong to.

So ``NUM_LABEL_IDS = 34``: a one-hot map in the label-id space has 34 channels, channel
``i`` for label id ``i``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Label(NamedTuple):
    """One row of the Cityscapes label table.

    Attributes:
        name: class name.
        id: label id (value in ``labelIds`` maps), ``0..33``.
        train_id: id in the 19-class evaluation space, 255 when ignored.
        category: coarse category name.
        category_id: coarse category id (0 void .. 7 vehicle).
        has_instances: whether objects of this class are separated into instances.
        ignore_in_eval: whether the class is ignored by the official evaluation.
        color: (R, G, B) colour of the official colour maps.
    """

    name: str
    id: int
    train_id: int
    category: str
    category_id: int
    has_instances: bool
    ignore_in_eval: bool
    color: tuple[int, int, int]


LABELS: tuple[Label, ...] = (
    #     name                    id  trainId  category        catId  hasInst ignore  color
    Label("unlabeled",             0, 255, "void",          0, False, True, (0, 0, 0)),
    Label("ego vehicle",           1, 255, "void",          0, False, True, (0, 0, 0)),
    Label("rectification border",  2, 255, "void",          0, False, True, (0, 0, 0)),
    Label("out of roi",            3, 255, "void",          0, False, True, (0, 0, 0)),
    Label("static",                4, 255, "void",          0, False, True, (0, 0, 0)),
    Label("dynamic",               5, 255, "void",          0, False, True, (111, 74, 0)),
    Label("ground",                6, 255, "void",          0, False, True, (81, 0, 81)),
    Label("road",                  7,   0, "flat",          1, False, False, (128, 64, 128)),
    Label("sidewalk",              8,   1, "flat",          1, False, False, (244, 35, 232)),
    Label("parking",               9, 255, "flat",          1, False, True, (250, 170, 160)),
    Label("rail track",           10, 255, "flat",          1, False, True, (230, 150, 140)),
    Label("building",             11,   2, "construction",  2, False, False, (70, 70, 70)),
    Label("wall",                 12,   3, "construction",  2, False, False, (102, 102, 156)),
    Label("fence",                13,   4, "construction",  2, False, False, (190, 153, 153)),
    Label("guard rail",           14, 255, "construction",  2, False, True, (180, 165, 180)),
    Label("bridge",               15, 255, "construction",  2, False, True, (150, 100, 100)),
    Label("tunnel",               16, 255, "construction",  2, False, True, (150, 120, 90)),
    Label("pole",                 17,   5, "object",        3, False, False, (153, 153, 153)),
    Label("polegroup",            18, 255, "object",        3, False, True, (153, 153, 153)),
    Label("traffic light",        19,   6, "object",        3, False, False, (250, 170, 30)),
    Label("traffic sign",         20,   7, "object",        3, False, False, (220, 220, 0)),
    Label("vegetation",           21,   8, "nature",        4, False, False, (107, 142, 35)),
    Label("terrain",              22,   9, "nature",        4, False, False, (152, 251, 152)),
    Label("sky",                  23,  10, "sky",           5, False, False, (70, 130, 180)),
    Label("person",               24,  11, "human",         6, True, False, (220, 20, 60)),
    Label("rider",                25,  12, "human",         6, True, False, (255, 0, 0)),
    Label("car",                  26,  13, "vehicle",       7, True, False, (0, 0, 142)),
    Label("truck",                27,  14, "vehicle",       7, True, False, (0, 0, 70)),
    Label("bus",                  28,  15, "vehicle",       7, True, False, (0, 60, 100)),
    Label("caravan",              29, 255, "vehicle",       7, True, True, (0, 0, 90)),
    Label("trailer",              30, 255, "vehicle",       7, True, True, (0, 0, 110)),
    Label("train",                31,  16, "vehicle",       7, True, False, (0, 80, 100)),
    Label("motorcycle",           32,  17, "vehicle",       7, True, False, (0, 0, 230)),
    Label("bicycle",              33,  18, "vehicle",       7, True, False, (119, 11, 32)),
)

#: Number of label ids (``0..33``); the size of a one-hot map in the label-id space.
NUM_LABEL_IDS = 34
#: Number of train ids (the 19 evaluated classes).
NUM_TRAIN_IDS = 19
#: Train id of ignored label ids.
IGNORE_TRAIN_ID = 255

#: Class name of every label id, index = label id.
LABEL_NAMES: list[str] = [lab.name for lab in LABELS]
#: Label ids whose objects carry instance ids (``label_id * 1000 + k``).
INSTANCE_LABEL_IDS: tuple[int, ...] = tuple(lab.id for lab in LABELS if lab.has_instances)

NAME_TO_ID: dict[str, int] = {lab.name: lab.id for lab in LABELS}

#: (256,) uint8: ``ID_TO_TRAINID[label_id]`` is the train id, 255 for ignored and unknown ids.
ID_TO_TRAINID = np.full(256, IGNORE_TRAIN_ID, dtype=np.uint8)
for _lab in LABELS:
    ID_TO_TRAINID[_lab.id] = _lab.train_id

#: (256,) uint8: ``TRAINID_TO_ID[train_id]`` is the label id, 0 (unlabeled) for 255 and unknown.
TRAINID_TO_ID = np.zeros(256, dtype=np.uint8)
for _lab in LABELS:
    if _lab.train_id != IGNORE_TRAIN_ID:
        TRAINID_TO_ID[_lab.train_id] = _lab.id

#: Names of the 19 train ids, index = train id.
TRAINID_NAMES: list[str] = [
    lab.name for lab in sorted(LABELS, key=lambda lab: lab.train_id) if lab.train_id != IGNORE_TRAIN_ID
]

#: (256, 3) uint8 colour of every label id (black for ids outside the table).
PALETTE = np.zeros((256, 3), dtype=np.uint8)
for _lab in LABELS:
    PALETTE[_lab.id] = _lab.color

#: (256, 3) uint8 colour of every train id (black for 255 and unknown ids).
TRAINID_PALETTE = np.zeros((256, 3), dtype=np.uint8)
for _lab in LABELS:
    if _lab.train_id != IGNORE_TRAIN_ID:
        TRAINID_PALETTE[_lab.train_id] = _lab.color

del _lab

assert len(TRAINID_NAMES) == NUM_TRAIN_IDS and len(LABEL_NAMES) == NUM_LABEL_IDS


def to_train_ids(labels: np.ndarray) -> np.ndarray:
    """Map a label-id map (any shape, integer) to train ids (uint8, 255 = ignore, also for unknown ids)."""
    return ID_TO_TRAINID[np.clip(np.asarray(labels).astype(np.int64), 0, 255)]


def colourise(labels: np.ndarray, train_ids: bool = False) -> np.ndarray:
    """Colour a label map with the official palette.

    Args:
        labels: (H, W) integer label ids (or train ids when ``train_ids`` is true).
        train_ids: read ``labels`` as train ids instead of label ids.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    palette = TRAINID_PALETTE if train_ids else PALETTE
    return palette[np.clip(np.asarray(labels).astype(np.int64), 0, 255)]


colorize = colourise
