"""The ``synthetic-streets`` data set: split, size and seed handling, sample assembly, and its
registration (see :mod:`semcom_bench.data.synthetic_streets` for what a sample holds)."""

from __future__ import annotations

from typing import Any

import numpy as np

from semcom_bench.data.base import IndexedDataset, Sample
from semcom_bench.data.cityscapes_labels import LABEL_NAMES, NUM_LABEL_IDS
from semcom_bench.data.synthetic_streets.layout import _sample_scene, _Scene
from semcom_bench.data.synthetic_streets.render import _render
from semcom_bench.errors import UserError
from semcom_bench.registry import datasets

VERSION = "1"
#: Split name -> code mixed into the random seed.
SPLITS = {"train": 1, "val": 2, "test": 3}
#: Number of samples of a split when ``size`` is not given.
DEFAULT_SIZES = {"train": 10000, "val": 500, "test": 32}


class SyntheticStreets(IndexedDataset):
    """Procedural street scenes in the Cityscapes label-id space (see :mod:`semcom_bench.data.synthetic_streets`).

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``; the splits hold different scenes.
        size: number of samples (default 10000 for train, 500 for val, 32 for test).
        height, width: image size in pixels, positive multiples of 8 (default 64 x 128).
        seed: non-negative integer mixed into every sample's random stream.

    Attributes:
        num_classes: 34, the Cityscapes label ids ``0..33``: one-hot maps have 34 channels.
        class_names: the 34 Cityscapes class names, index = label id.
        ignore_index: 0 (unlabelled; never produced by this data set).
    """

    name = "synthetic-streets"
    version = VERSION
    num_classes = NUM_LABEL_IDS
    class_names = list(LABEL_NAMES)
    ignore_index = 0

    def __init__(self, split: str = "test", size: int | None = None, height: int = 64, width: int = 128,
                 seed: int = 0):
        if split not in SPLITS:
            raise UserError(f"unknown split {split!r} for synthetic-streets; use one of {', '.join(SPLITS)}.")
        for what, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0 or value % 8:
                raise UserError(
                    f"bad {what} {value!r} for synthetic-streets; use a positive multiple of 8 (e.g. 64, 128).")
        if size is None:
            size = DEFAULT_SIZES[split]
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise UserError(f"bad size {size!r} for synthetic-streets; use an integer >= 1 or leave it out.")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UserError(f"bad seed {seed!r} for synthetic-streets; use an integer >= 0.")
        self.split = split
        self.size = int(size)
        self.height = int(height)
        self.width = int(width)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.size

    def sample_at(self, i: int) -> Sample:
        scene = self.scene(i)
        grain = np.random.default_rng([self.seed, SPLITS[self.split], i, self.height, self.width])
        out = _render(scene, self.height, self.width, grain)
        meta = dict(split=self.split, index=i, seed=self.seed, scene=out.pop("meta"))
        return Sample(key=f"{self.split}/{i:05d}", meta=meta, **out)

    def scene(self, index: int) -> _Scene:
        """The scene description of sample ``index`` (metres; independent of the image size)."""
        return _sample_scene(np.random.default_rng([self.seed, SPLITS[self.split], int(index)]))

    def describe(self) -> dict[str, Any]:
        return dict(name=self.name, version=self.version, split=self.split, size=self.size,
                    height=self.height, width=self.width, seed=self.seed)

    def __repr__(self) -> str:
        return (f"SyntheticStreets(split={self.split!r}, size={self.size}, height={self.height}, "
                f"width={self.width}, seed={self.seed})")


@datasets.register(
    "synthetic-streets",
    version=VERSION,
    summary="procedural street scenes, Cityscapes label ids, exact labels/instances/boxes/depth (no download)",
    resolution="64x128",
    label_space="cityscapes-34",
    ground_truth="labels, instances, boxes, depth",
    weights=None,
)
def synthetic_streets(split: str = "test", size: int | None = None, height: int = 64, width: int = 128,
                      seed: int = 0) -> SyntheticStreets:
    """Build the ``synthetic-streets`` data set (see :class:`SyntheticStreets`)."""
    return SyntheticStreets(split=split, size=size, height=height, width=width, seed=seed)
