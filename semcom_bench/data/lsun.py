"""``lsun``: LSUN scene images (church_outdoor, bedroom, ...) exported to a folder; no labels.

LSUN is distributed as LMDB databases; export them to image files first (the LSUN tools'
``export`` command writes ``.webp`` files in nested folders). Layout, searched in this order::

    <root>/<category>_<split>/**/*.{webp,jpg,jpeg,png}     (e.g. church_outdoor_val/)
    <root>/<category>/**/*.{webp,jpg,jpeg,png}

Preprocessing: centre crop to the short side, then resize to ``size`` x ``size`` with
``resample`` (default LANCZOS, as the third paper's Stable-Diffusion-based code resizes its
inputs; ``bicubic`` is the latent-diffusion LSUN loaders' choice). Samples have an image
only: labels, instances, boxes and depth are None, so semantic-map methods cannot run on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from semcom_bench.components import Annotated, Doc, Literal
from semcom_bench.data.base import Sample
from semcom_bench.data.files import RESAMPLE, FileDataset, check_root, list_files, read_rgb
from semcom_bench.errors import UserError
from semcom_bench.registry import datasets

VERSION = "1"
LAYOUT = "<root>/<category>_<split>/**/*.webp|jpg|png or <root>/<category>/**/*.webp|jpg|png (images exported from the LSUN LMDB)"
EXTENSIONS = (".webp", ".jpg", ".jpeg", ".png")


class Lsun(FileDataset):
    """LSUN images of one category (see the module docstring).

    Takes the parameters of :func:`lsun`, documented in its signature, against which the
    registry checks them (built directly, the class does not check them again). ``split`` only
    serves to find ``<category>_<split>/``.
    """

    name = "lsun"
    version = VERSION
    num_classes = 0
    class_names: list[str] = []
    ignore_index = None

    def __init__(self, root: str | Path, category: str = "church_outdoor", split: str = "val", size: int = 256,
                 resample: str = "lanczos"):
        self.root = check_root(root, "lsun", LAYOUT)
        self.size = int(size)
        self.category, self.split, self.resample = str(category), str(split), resample
        candidates = [self.root / f"{self.category}_{self.split}", self.root / self.category]
        self.folder = next((c for c in candidates if c.is_dir()), None)
        files = list_files(self.folder, EXTENSIONS) if self.folder is not None else []
        if not files:
            raise UserError(f"no LSUN {self.category} images in {candidates[0]} or {candidates[1]}; expected {LAYOUT}")
        self.items = files

    def load(self, item: Any) -> Sample:
        path: Path = item
        im = read_rgb(path)
        side = min(im.size)
        left, top = (im.width - side) // 2, (im.height - side) // 2
        im = im.crop((left, top, left + side, top + side))
        if side != self.size:
            im = im.resize((self.size, self.size), resample=RESAMPLE[self.resample])
        key = str(path.relative_to(self.folder).with_suffix("")).replace("\\", "/")
        meta = {"image_file": str(path.relative_to(self.root)), "category": self.category}
        return Sample(key=f"{self.category}/{key}", image=np.asarray(im, dtype=np.uint8), meta=meta)

    def params(self) -> dict[str, Any]:
        return {"category": self.category, "split": self.split, "size": self.size, "resample": self.resample}


@datasets.register(
    "lsun",
    version=VERSION,
    summary="LSUN scene images exported to a folder (church_outdoor, bedroom...), centre crop + LANCZOS, no labels",
    resolution="256x256",
    label_space=None,
    ground_truth="none (images only)",
    layout=LAYOUT,
    weights=None,
)
def lsun(
    *,
    root: Annotated[Path | None, Doc("folder holding the exported category folder (required)")] = None,
    category: Annotated[str, Doc("LSUN category, e.g. church_outdoor or bedroom")] = "church_outdoor",
    split: Annotated[Literal["val", "train"], Doc("LSUN split (finds <category>_<split>/)")] = "val",
    size: Annotated[int, Doc("output side in pixels (after the centre crop to the short side)", low=1)] = 256,
    resample: Annotated[Literal["lanczos", "bicubic"], Doc("resampling filter of the resize")] = "lanczos",
) -> Lsun:
    """Build the ``lsun`` data set (see :class:`Lsun`)."""
    return Lsun(root, category=category, split=split, size=size, resample=resample)
