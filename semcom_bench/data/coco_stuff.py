"""``coco-stuff``: COCO-Stuff 2017 (things + stuff label maps), preprocessed as SDM/GESCO.

Layout (COCO ``val2017.zip`` + COCO-Stuff ``stuffthingmaps_trainval2017.zip``)::

    <root>/<split>/<image id>.jpg
    <root>/stuffthingmaps_trainval2017/<split>/<image id>.png
    <root>/<instances>/<image id>.png        (optional, e.g. SPADE's val_inst maps)

The label PNGs hold 0..181 (COCO category id - 1: 0..90 things, 91..181 stuff; 11 thing ids
are unused) and 255 for unlabelled pixels.

Label space: ``num_classes = 183`` as the official SDM/GESCO COCO configuration
(``--num_classes 183``): values 0..181 are kept and 255 becomes 182, "unlabeled", which is
also ``ignore_index``. (The official loader does exactly ``label[label == 255] = 182``; no +1
shift.) A one-hot map has 183 channels, 184 with the instance-edge map when instance maps
are given.

Resizing (``resize``):

- ``"stretch"`` (default): the official *evaluation* path (``resize_arr(...,
  keep_aspect=False)``): BOX halving while the short side is at least twice ``size``, then
  BICUBIC straight to ``size`` x ``size``, ignoring the aspect ratio; labels NEAREST.
- ``"center-crop"``: the official ``center_crop_arr``: short side to ``size`` (BICUBIC,
  labels NEAREST), then a centre ``size`` x ``size`` crop (the aspect ratio is kept; the
  borders are lost).
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
LAYOUT = "<root>/<split>/*.jpg with <root>/stuffthingmaps_trainval2017/<split>/<same stem>.png"
UNLABELED = 182

_NAMES = """person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant street_sign
stop_sign parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe hat backpack umbrella shoe
eye_glasses handbag tie suitcase frisbee skis snowboard sports_ball kite baseball_bat baseball_glove skateboard
surfboard tennis_racket bottle plate wine_glass cup fork knife spoon bowl banana apple sandwich orange broccoli
carrot hot_dog pizza donut cake chair couch potted_plant bed mirror dining_table window desk toilet door tv laptop
mouse remote keyboard cell_phone microwave oven toaster sink refrigerator blender book clock vase scissors
teddy_bear hair_drier toothbrush hair_brush banner blanket branch bridge building-other bush cabinet cage cardboard
carpet ceiling-other ceiling-tile cloth clothes clouds counter cupboard curtain desk-stuff dirt door-stuff fence
floor-marble floor-other floor-stone floor-tile floor-wood flower fog food-other fruit furniture-other grass gravel
ground-other hill house leaves light mat metal mirror-stuff moss mountain mud napkin net paper pavement pillow
plant-other plastic platform playingfield railing railroad river road rock roof rug salad sand sea shelf sky-other
skyscraper snow solid-other stairs stone straw structural-other table tent textile-other towel tree vegetable
wall-brick wall-concrete wall-other wall-panel wall-stone wall-tile wall-wood water-other waterdrops window-blind
window-other wood"""
#: The 182 COCO-Stuff class names (index = label value), then "unlabeled" (182).
CLASS_NAMES: list[str] = [n.replace("_", " ") for n in _NAMES.split()] + ["unlabeled"]
assert len(CLASS_NAMES) == 183


class CocoStuff(FileDataset):
    """COCO-Stuff 2017 (see the module docstring).

    Takes the parameters of :func:`coco_stuff`, documented in its signature, against which the
    registry checks them (built directly, the class does not check them again). Instance-id PNGs
    (``instances``) carry the images' stems; their ids are used as stored (any integer per
    instance).
    """

    name = "coco-stuff"
    version = VERSION
    num_classes = 183
    class_names = CLASS_NAMES
    ignore_index = UNLABELED

    def __init__(self, root: str | Path, split: str = "val2017", size: int = 256, resize: str = "stretch",
                 instances: str | None = None):
        self.root = check_root(root, "coco-stuff", LAYOUT)
        self.resize, self.size = resize, int(size)
        self.split, self.instances = str(split), instances
        image_dir = self.root / self.split
        label_dir = self.root / "stuffthingmaps_trainval2017" / self.split
        images = list_files(image_dir, (".jpg", ".jpeg", ".png"), recursive=False)
        if not images:
            raise UserError(f"no COCO images in {image_dir}; expected {LAYOUT}")
        inst_dir = None
        if instances:
            inst_dir = Path(instances) if Path(instances).is_absolute() else self.root / instances
            if not inst_dir.is_dir():
                raise UserError(f"instance folder {inst_dir} does not exist; expected <root>/{instances}/<same stem>.png")
        self.items = []
        for img in images:
            lab = label_dir / f"{img.stem}.png"
            if not lab.is_file():
                raise UserError(f"missing label map {lab} for {img.name}; expected {LAYOUT}")
            inst = None
            if inst_dir is not None:
                inst = inst_dir / f"{img.stem}.png"
                if not inst.is_file():
                    raise UserError(f"missing instance map {inst} for {img.name}; expected <instances>/<same stem>.png")
            self.items.append((img, lab, inst))

    def load(self, item: Any) -> Sample:
        img_path, lab_path, inst_path = item
        maps = [read_index_map(lab_path), read_index_map(inst_path) if inst_path is not None else None]
        image, (labels, inst) = sdm_square(read_rgb(img_path), maps, self.size, self.resize)
        labels = labels.astype(np.int64)
        labels[(labels < 0) | (labels >= UNLABELED)] = UNLABELED
        meta = {"image_file": str(img_path.relative_to(self.root)), "label_space": "coco-stuff-183"}
        return Sample(key=f"{self.split}/{img_path.stem}", image=image, labels=labels.astype(np.uint8),
                      instances=None if inst is None else inst.astype(np.int32), meta=meta)

    def params(self) -> dict[str, Any]:
        return {"split": self.split, "size": self.size, "resize": self.resize, "instances": self.instances}


@datasets.register(
    "coco-stuff",
    version=VERSION,
    summary="COCO-Stuff 2017, 183 classes (255 -> 182 unlabeled), resized as SDM/GESCO evaluation",
    resolution="256x256",
    label_space="coco-stuff-183",
    ground_truth="labels (instances optional)",
    layout=LAYOUT,
    weights=None,
)
def coco_stuff(
    *,
    root: Annotated[Path | None, Doc("folder holding <split>/ and stuffthingmaps_trainval2017/ (required)")] = None,
    split: Annotated[Literal["val2017", "train2017"], Doc("COCO 2017 split")] = "val2017",
    size: Annotated[int, Doc("output side in pixels", low=1)] = 256,
    resize: SquareResize = "stretch",
    instances: Annotated[str | None, Doc("folder of same-stem instance-id PNGs, relative to root or absolute "
                                         "(left out: no instances)")] = None,
) -> CocoStuff:
    """Build the ``coco-stuff`` data set (see :class:`CocoStuff`)."""
    return CocoStuff(root, split=split, size=size, resize=resize, instances=instances)
