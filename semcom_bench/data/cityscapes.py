"""``cityscapes``: the Cityscapes fine annotations, preprocessed as the SDM/GESCO code does.

Layout (the official download, ``leftImg8bit_trainvaltest.zip`` + ``gtFine_trainvaltest.zip``)::

    <root>/leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    <root>/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png
    <root>/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_instanceIds.png   (optional)

Preprocessing (official loaders): the 2048 x 1024 image is halved with BOX filtering while it
is at least twice the target, then BICUBIC-resized to ``width`` x ``height`` (default
512 x 256: two halvings, then an identity resize); labels and instances are NEAREST-resized
from full resolution. Labels stay label ids (``labelIds``, 0..33); instance ids keep the
Cityscapes convention ``class * 1000 + k`` (the 8-bit clipping the official code applies
before taking edges happens in :func:`semcom_bench.semantics.instance_edges`). Boxes are the
extents of the numbered instances at the output resolution, in pixel-edge coordinates.

Label space: ``num_classes = 35`` as in the official SDM/GESCO/SPADE configurations
(``--num_classes 35`` / ``label_nc=35``): the 34 label ids plus the official table's
"license plate" slot (id 34 here), which never occurs in ``labelIds`` files. A one-hot map
has 35 channels, 36 with the instance-edge map. For mIoU use the 19 train ids:
:func:`semcom_bench.data.cityscapes_labels.to_train_ids` (``Cityscapes.to_train_ids``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from semcom_bench.components import Annotated, Doc, Literal
from semcom_bench.data.base import Sample
from semcom_bench.data.cityscapes_labels import LABEL_NAMES, to_train_ids
from semcom_bench.data.files import (FileDataset, boxes_from_instances, check_root, list_files, read_index_map,
                                     read_rgb, sdm_resize)
from semcom_bench.errors import UserError
from semcom_bench.registry import datasets

VERSION = "1"
LAYOUT = ("<root>/leftImg8bit/<split>/<city>/*_leftImg8bit.png with "
          "<root>/gtFine/<split>/<city>/*_gtFine_labelIds.png (and *_gtFine_instanceIds.png)")
IMAGE_SUFFIX = "_leftImg8bit.png"


class Cityscapes(FileDataset):
    """Cityscapes fine annotations (see the module docstring).

    Takes the parameters of :func:`cityscapes`, documented in its signature, against which the
    registry checks them (built directly, the class does not check them again). A frame without
    an ``*_gtFine_instanceIds.png`` file has no instances.

    Attributes:
        num_classes: 35 (label ids 0..33 + the unused license-plate slot 34).
        ignore_index: 0 (unlabeled).
    """

    name = "cityscapes"
    version = VERSION
    num_classes = 35
    class_names = list(LABEL_NAMES) + ["license plate"]
    ignore_index = 0
    to_train_ids = staticmethod(to_train_ids)

    def __init__(self, root: str | Path, split: str = "val", height: int = 256, width: int = 512, instances: bool = True):
        self.root = check_root(root, "cityscapes", LAYOUT)
        self.height, self.width = int(height), int(width)
        self.split, self.with_instances = str(split), bool(instances)
        image_dir = self.root / "leftImg8bit" / self.split
        images = list_files(image_dir, (IMAGE_SUFFIX,))
        if not images:
            raise UserError(f"no Cityscapes images in {image_dir}; expected {LAYOUT}")
        self.items = []
        for img in images:
            city = img.parent.name
            stem = img.name[: -len(IMAGE_SUFFIX)]
            gt = self.root / "gtFine" / self.split / city
            labels = gt / f"{stem}_gtFine_labelIds.png"
            if not labels.is_file():
                raise UserError(f"missing {labels} for {img.name}; expected {LAYOUT}")
            inst = gt / f"{stem}_gtFine_instanceIds.png"
            self.items.append((img, labels, inst if inst.is_file() else None, city, stem))

    def load(self, item: Any) -> Sample:
        img_path, lab_path, inst_path, city, stem = item
        inst = read_index_map(inst_path) if (inst_path is not None and self.with_instances) else None
        image, (labels, instances) = sdm_resize(read_rgb(img_path), [read_index_map(lab_path), inst], self.height, self.width)
        labels = labels.astype(np.uint8)
        boxes = box_labels = None
        if instances is not None:
            instances = instances.astype(np.int32)
            boxes, box_labels = boxes_from_instances(instances)
        meta = {"city": city, "image_file": str(img_path.relative_to(self.root)),
                "label_file": str(lab_path.relative_to(self.root)), "label_space": "cityscapes-labelIds"}
        return Sample(key=f"{self.split}/{stem}", image=image, labels=labels, instances=instances, boxes=boxes,
                      box_labels=box_labels, meta=meta)

    def params(self) -> dict[str, Any]:
        return {"split": self.split, "height": self.height, "width": self.width, "instances": self.with_instances}


@datasets.register(
    "cityscapes",
    version=VERSION,
    summary="Cityscapes gtFine (labelIds + instanceIds), resized as SDM/GESCO (BOX halving + BICUBIC, labels NEAREST)",
    resolution="256x512",
    label_space="cityscapes-35 (labelIds; trainIds for mIoU)",
    ground_truth="labels, instances, boxes",
    layout=LAYOUT,
    weights=None,
)
def cityscapes(
    *,
    root: Annotated[Path | None, Doc("folder holding leftImg8bit/ and gtFine/ (required)")] = None,
    split: Annotated[Literal["train", "val", "test"], Doc("Cityscapes split")] = "val",
    height: Annotated[int, Doc("output height in pixels (256 x 512: the papers' resolution)", low=1)] = 256,
    width: Annotated[int, Doc("output width in pixels", low=1)] = 512,
    instances: Annotated[bool, Doc("load *_gtFine_instanceIds.png (instance edges and boxes)")] = True,
) -> Cityscapes:
    """Build the ``cityscapes`` data set (see :class:`Cityscapes`)."""
    return Cityscapes(root, split=split, height=height, width=width, instances=instances)
