"""``folder``: any folder of images with same-stem label PNGs (and optional instance PNGs).

Layout::

    <root>/<images>/**/<stem>.{jpg,jpeg,png,webp}
    <root>/<labels>/**/<stem>.png        (8-bit grey or palette indices; optional: labels=none)
    <root>/<instances>/**/<stem>.png     (optional, 8/16-bit instance ids)

Label files are matched by their path relative to the image folder with the extension
replaced by ``.png``. Values ``>= num_classes`` (e.g. 255) belong to no class; palette PNGs
are read as indices. With ``height`` and ``width`` the images are resized as the official
SDM code does (BOX halving, BICUBIC; labels and instances NEAREST); without them they are kept
as they are, and label maps must have the image's size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from semcom_bench.components import Annotated, Doc
from semcom_bench.data.base import Sample
from semcom_bench.data.files import FileDataset, check_root, list_files, read_index_map, read_rgb, sdm_resize
from semcom_bench.errors import UserError
from semcom_bench.registry import datasets

VERSION = "1"
EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def _layout(images: str, labels: str | None) -> str:
    lab = f" with <root>/{labels}/<same stem>.png" if labels else ""
    return f"<root>/{images}/*.jpg|png|webp{lab}"


class Folder(FileDataset):
    """A generic image (+ label) folder (see the module docstring).

    Takes the parameters of :func:`folder`, documented in its signature, against which the
    registry checks each of them (built directly, the class does not check them again). Checked
    here, because they involve more than one argument: ``num_classes`` is required with labels,
    ``height`` and ``width`` come together, and ``class_names`` (a list, or one string separated
    by ``|``, or by commas outside the command line) has ``num_classes`` names. Without class
    names they are ``class0, class1, ...``.
    """

    name = "folder"
    version = VERSION

    def __init__(self, root: str | Path, images: str = "images", labels: str | None = "labels", instances: str | None = None,
                 num_classes: int | None = None, ignore_index: int | None = 255, height: int | None = None,
                 width: int | None = None, class_names: str | list[str] | None = None):
        labels = None if labels in (None, "", "none", "None") else str(labels)
        layout = _layout(images, labels)
        self.root = check_root(root, "folder", layout)
        if (height is None) != (width is None):
            raise UserError("folder needs both height and width to resize, or neither")
        if labels is not None and not num_classes:
            raise UserError(f"folder with labels needs num_classes=<number of classes>, got {num_classes!r}")
        self.images, self.labels, self.instances = str(images), labels, instances
        self.num_classes = int(num_classes) if num_classes else 0
        self.ignore_index = ignore_index
        self.height, self.width = height, width
        if class_names:
            if isinstance(class_names, (list, tuple)):
                names = [str(n).strip() for n in class_names]
            else:
                sep = "|" if "|" in str(class_names) else ","
                names = [n.strip() for n in str(class_names).split(sep)]
            if len(names) != self.num_classes:
                raise UserError(f"folder got {len(names)} class names for num_classes={self.num_classes}")
            self.class_names = names
        else:
            self.class_names = [f"class{i}" for i in range(self.num_classes)]
        image_dir = self.root / self.images
        files = list_files(image_dir, EXTENSIONS)
        if not files:
            raise UserError(f"no images in {image_dir}; expected {layout}")
        self.items = []
        for img in files:
            rel = img.relative_to(image_dir).with_suffix(".png")
            lab = inst = None
            if labels is not None:
                lab = self.root / labels / rel
                if not lab.is_file():
                    raise UserError(f"missing label map {lab} for {img.name}; expected {layout}")
            if instances:
                inst = self.root / instances / rel
                if not inst.is_file():
                    raise UserError(f"missing instance map {inst} for {img.name}; expected <root>/{instances}/<same stem>.png")
            self.items.append((img, lab, inst, str(rel.with_suffix("")).replace("\\", "/")))

    def load(self, item: Any) -> Sample:
        img_path, lab_path, inst_path, key = item
        image = read_rgb(img_path)
        maps = [read_index_map(p, what) if p is not None else None
                for p, what in ((lab_path, "label map"), (inst_path, "instance map"))]
        if self.height is not None:
            arr, (labels, inst) = sdm_resize(image, maps, int(self.height), int(self.width))
        else:
            arr = np.asarray(image, dtype=np.uint8)
            labels, inst = (None if m is None else np.asarray(m) for m in maps)
            for what, m in (("label", labels), ("instance", inst)):
                if m is not None and m.shape != arr.shape[:2]:
                    raise UserError(f"{what} map of {img_path.name} is {m.shape[1]}x{m.shape[0]}, the image "
                                    f"{arr.shape[1]}x{arr.shape[0]}; give height= and width= to resize both")
        if labels is not None:
            labels = np.clip(labels.astype(np.int64), 0, 255).astype(np.uint8)
        return Sample(key=key, image=arr, labels=labels, instances=None if inst is None else inst.astype(np.int32),
                      meta={"image_file": str(img_path.relative_to(self.root))})

    def params(self) -> dict[str, Any]:
        return {"images": self.images, "labels": self.labels, "instances": self.instances,
                "num_classes": self.num_classes, "ignore_index": self.ignore_index,
                "height": self.height, "width": self.width}


@datasets.register(
    "folder",
    version=VERSION,
    summary="any folder of images with same-stem label PNGs (optional instances), optional SDM-style resize",
    resolution="as stored (or height x width)",
    label_space="user-defined (num_classes=)",
    ground_truth="labels, instances (optional)",
    layout="<root>/images/*.jpg|png + <root>/labels/<stem>.png",
    weights=None,
)
def folder(
    *,
    root: Annotated[Path | None, Doc("the data set folder (required)")] = None,
    images: Annotated[str, Doc("image sub-folder")] = "images",
    labels: Annotated[str | None, Doc("label sub-folder of same-stem PNGs (none: images only)")] = "labels",
    instances: Annotated[str | None, Doc("instance-id sub-folder of same-stem PNGs (left out: no instances)")] = None,
    num_classes: Annotated[int | None, Doc("size of the label space (required with labels)", low=1)] = None,
    ignore_index: Annotated[int | None, Doc("label value that metrics ignore")] = 255,
    height: Annotated[int | None, Doc("resize to this height in pixels, with width (left out: as stored)",
                                      low=1)] = None,
    width: Annotated[int | None, Doc("resize to this width in pixels, with height (left out: as stored)",
                                     low=1)] = None,
    class_names: Annotated[Any, Doc("class names separated by | (a list in a TOML file; "
                                    "left out: class0, class1, ...)")] = None,
) -> Folder:
    """Build the ``folder`` data set (see :class:`Folder`)."""
    return Folder(root, images=images, labels=labels, instances=instances, num_classes=num_classes,
                  ignore_index=ignore_index, height=height, width=width, class_names=class_names)
