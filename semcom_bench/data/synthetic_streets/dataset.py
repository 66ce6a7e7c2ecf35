"""The ``synthetic-streets`` data set: split, size and seed handling, sample assembly, and its
registration (see :mod:`semcom_bench.data.synthetic_streets` for what a sample holds)."""

from __future__ import annotations

from typing import Any

import numpy as np

from semcom_bench.components import Annotated, Doc, Literal
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

    Takes the parameters of :func:`synthetic_streets`, documented in its signature, against
    which the registry checks them (built directly, the class does not check them again). The
    splits hold different scenes; ``size=None`` takes the split's :data:`DEFAULT_SIZES`. A
    height or width that is not a multiple of 8 is refused here.

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
        for what, value in (("height", height), ("width", width)):
            if value % 8:
                raise UserError(f"parameter {what} of dataset 'synthetic-streets' must be a multiple of 8 "
                                f"(e.g. 64, 128), got {value!r}")
        if size is None:
            size = DEFAULT_SIZES[split]
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
def synthetic_streets(
    *,
    split: Annotated[Literal["train", "val", "test"], Doc("scene split; the splits hold different scenes")] = "test",
    size: Annotated[int | None, Doc("number of samples (left out: 10000 train, 500 val, 32 test)", low=1)] = None,
    height: Annotated[int, Doc("image height in pixels, a multiple of 8", low=8)] = 64,
    width: Annotated[int, Doc("image width in pixels, a multiple of 8", low=8)] = 128,
    seed: Annotated[int, Doc("mixed into every sample's random stream", low=0)] = 0,
) -> SyntheticStreets:
    """Build the ``synthetic-streets`` data set (see :class:`SyntheticStreets`)."""
    return SyntheticStreets(split=split, size=size, height=height, width=width, seed=seed)
