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

from semcom_bench.data.base import Sample
from semcom_bench.data.files import RESAMPLE, FileDataset, check_root, list_files, positive_int, read_rgb
from semcom_bench.errors import UserError
from semcom_bench.registry import datasets

VERSION = "1"
LAYOUT = "<root>/<category>_<split>/**/*.webp|jpg|png or <root>/<category>/**/*.webp|jpg|png (images exported from the LSUN LMDB)"
EXTENSIONS = (".webp", ".jpg", ".jpeg", ".png")


class Lsun(FileDataset):
    """LSUN images of one category (see the module docstring).

    Args:
        root: folder holding the exported category folder.
        category: LSUN category, e.g. ``church_outdoor`` or ``bedroom``.
        split: ``val`` or ``train`` (only used to find ``<category>_<split>/``).
        size: output side (default 256).
        resample: ``lanczos`` (default) or ``bicubic``.
    """

    name = "lsun"
    version = VERSION
    num_classes = 0
    class_names: list[str] = []
    ignore_index = None

    def __init__(self, root: str | Path, category: str = "church_outdoor", split: str = "val", size: int = 256,
                 resample: str = "lanczos"):
        self.root = check_root(root, "lsun", LAYOUT)
        if resample not in ("lanczos", "bicubic"):
            raise UserError(f"unknown resample {resample!r} for lsun; choose lanczos or bicubic")
        self.size = positive_int(size, "size", "lsun", "256")
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
def lsun(root: str | None = None, category: str = "church_outdoor", split: str = "val", size: int = 256,
         resample: str = "lanczos") -> Lsun:
    """Build the ``lsun`` data set (see :class:`Lsun`)."""
    return Lsun(root, category=category, split=split, size=size, resample=resample)
