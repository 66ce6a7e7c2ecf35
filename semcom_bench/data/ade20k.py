"""``ade20k``: the ADE20K scene-parsing benchmark (ADEChallengeData2016), as SDM/GESCO load it.

Layout (``ADEChallengeData2016.zip``)::

    <root>/images/<split>/ADE_val_00000001.jpg
    <root>/annotations/<split>/ADE_val_00000001.png

The annotation PNGs hold 0 ("other", not evaluated) and 1..150 for the 150 classes.

Label space: ``num_classes = 151`` as the official SDM configuration (``--num_classes 151``,
no instance maps): the official loader subtracts 1 (so class k is k - 1) and maps the
resulting 255 ("other") to 150, which is also ``ignore_index``.

Resizing (``resize``) as :mod:`semcom_bench.data.coco_stuff`: ``"stretch"`` (default, the
official evaluation path: BOX halving, BICUBIC to ``size`` x ``size``, labels NEAREST) or
``"center-crop"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from semcom_bench.components import Annotated, Doc, Literal
from semcom_bench.data.base import Sample
from semcom_bench.data.files import (FileDataset, SquareResize, check_root, list_files, read_index_map, read_rgb,
                                     sdm_square)
from semcom_bench.errors import UserError
from semcom_bench.registry import datasets

VERSION = "1"
LAYOUT = "<root>/images/<split>/*.jpg with <root>/annotations/<split>/<same stem>.png (ADEChallengeData2016)"
OTHER = 150

_NAMES = """wall building sky floor tree ceiling road bed windowpane grass cabinet sidewalk person earth door table
mountain plant curtain chair car water painting sofa shelf house sea mirror rug field armchair seat fence desk rock
wardrobe lamp bathtub railing cushion base box column signboard chest_of_drawers counter sand sink skyscraper
fireplace refrigerator grandstand path stairs runway case pool_table pillow screen_door stairway river bridge
bookcase blind coffee_table toilet flower book hill bench countertop stove palm kitchen_island computer swivel_chair
boat bar arcade_machine hovel bus towel light truck tower chandelier awning streetlight booth television_receiver
airplane dirt_track apparel pole land bannister escalator ottoman bottle buffet poster stage van ship fountain
conveyer_belt canopy washer plaything swimming_pool stool barrel basket waterfall tent bag minibike cradle oven ball
food step tank trade_name microwave pot animal bicycle lake dishwasher screen blanket sculpture hood sconce vase
traffic_light tray ashcan fan pier crt_screen plate monitor bulletin_board shower radiator glass clock flag"""
#: The 150 ADE20K class names (index = shifted label), then "other" (150).
CLASS_NAMES: list[str] = [n.replace("_", " ") for n in _NAMES.split()] + ["other"]
assert len(CLASS_NAMES) == 151


class Ade20k(FileDataset):
    """ADE20K scene parsing (see the module docstring).

    Takes the parameters of :func:`ade20k`, documented in its signature, against which the
    registry checks them (built directly, the class does not check them again).
    """

    name = "ade20k"
    version = VERSION
    num_classes = 151
    class_names = CLASS_NAMES
    ignore_index = OTHER

    def __init__(self, root: str | Path, split: str = "validation", size: int = 256, resize: str = "stretch"):
        self.root = check_root(root, "ade20k", LAYOUT)
        self.resize, self.size = resize, int(size)
        self.split = str(split)
        image_dir = self.root / "images" / self.split
        images = list_files(image_dir, (".jpg", ".jpeg", ".png"), recursive=False)
        if not images:
            raise UserError(f"no ADE20K images in {image_dir}; expected {LAYOUT}")
        self.items = []
        for img in images:
            lab = self.root / "annotations" / self.split / f"{img.stem}.png"
            if not lab.is_file():
                raise UserError(f"missing annotation {lab} for {img.name}; expected {LAYOUT}")
            self.items.append((img, lab))

    def load(self, item: Any) -> Sample:
        img_path, lab_path = item
        maps = [read_index_map(lab_path)]
        image, (raw,) = sdm_square(read_rgb(img_path), maps, self.size, self.resize)
        labels = raw.astype(np.int64) - 1
        labels[(labels < 0) | (labels > OTHER)] = OTHER
        meta = {"image_file": str(img_path.relative_to(self.root)), "label_space": "ade20k-151"}
        return Sample(key=f"{self.split}/{img_path.stem}", image=image, labels=labels.astype(np.uint8), meta=meta)

    def params(self) -> dict[str, Any]:
        return {"split": self.split, "size": self.size, "resize": self.resize}


@datasets.register(
    "ade20k",
    version=VERSION,
    summary="ADE20K (ADEChallengeData2016), 151 classes (label-1, 'other' -> 150), resized as SDM evaluation",
    resolution="256x256",
    label_space="ade20k-151",
    ground_truth="labels",
    layout=LAYOUT,
    weights=None,
)
def ade20k(
    *,
    root: Annotated[Path | None, Doc("the ADEChallengeData2016 folder (required)")] = None,
    split: Annotated[Literal["validation", "training"], Doc("ADE20K split")] = "validation",
    size: Annotated[int, Doc("output side in pixels", low=1)] = 256,
    resize: SquareResize = "stretch",
) -> Ade20k:
    """Build the ``ade20k`` data set (see :class:`Ade20k`)."""
    return Ade20k(root, split=split, size=size, resize=resize)
