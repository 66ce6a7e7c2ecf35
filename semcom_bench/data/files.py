"""Shared plumbing of the on-disk data sets: file listing, reading, the official resizing.

Resizing follows the SDM/GESCO loaders (guided-diffusion's ``image_datasets.py``):

- images: halve with BOX filtering while the image is at least twice the target size, then
  one BICUBIC resize (``sdm_resize``: straight to the target size; ``sdm_center_crop``: the
  short side to the target, then a centre crop);
- label and instance maps: one NEAREST resize from the original size to the image's final size
  (then the same crop).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from PIL import Image, UnidentifiedImageError

from semcom_bench.components import Annotated, Doc, Literal
from semcom_bench.data.base import IndexedDataset, Sample
from semcom_bench.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")

RESAMPLE = {"bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS, "bilinear": Image.BILINEAR, "box": Image.BOX,
            "nearest": Image.NEAREST}

#: The ``resize`` parameter of the square data sets: the way to a ``size`` x ``size`` sample
#: (:func:`sdm_square`).
SquareResize = Annotated[Literal["stretch", "center-crop"],
                         Doc("to size x size: stretch (official evaluation; aspect ratio lost) or center-crop "
                             "(short side to size; borders cut)")]


def list_files(folder: Path, suffixes: Iterable[str] = IMAGE_EXTENSIONS, recursive: bool = True) -> list[Path]:
    """Sorted files under ``folder`` whose name ends with one of ``suffixes`` (case-insensitive)."""
    if not folder.is_dir():
        return []
    suffixes = tuple(s.lower() for s in suffixes)
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.name.lower().endswith(suffixes))


def check_root(root: Any, what: str, layout: str) -> Path:
    """``root`` as an existing directory, or a one-line :class:`UserError` naming the layout."""
    if root is None or str(root) == "":
        raise UserError(f"{what} needs root=<folder>; expected layout: {layout}")
    path = Path(str(root)).expanduser()
    if not path.is_dir():
        raise UserError(f"{what} root {str(path)!r} is not a folder; expected layout: {layout}")
    return path


#: what PIL raises for a file it cannot decode (unknown format, truncated, corrupt, too large)
UNREADABLE = (OSError, ValueError, SyntaxError, EOFError, zlib.error, struct.error, Image.DecompressionBombError)


def open_image(path: Path, what: str = "image") -> Image.Image:
    """``path`` opened and decoded by PIL; a file it cannot read is a one-line :class:`UserError` naming it.

    The caller closes the image (``with open_image(p) as im: ...``).
    """
    try:
        im = Image.open(path)
    except UNREADABLE as exc:
        raise UserError(_unreadable(path, what, exc)) from None
    try:
        im.load()
    except UNREADABLE as exc:
        im.close()
        raise UserError(_unreadable(path, what, exc)) from None
    return im


def _unreadable(path: Path, what: str, exc: BaseException) -> str:
    if isinstance(exc, UnidentifiedImageError):
        reason = "not an image file PIL can read"
    elif isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror
    else:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0] or type(exc).__name__
    return f"cannot read {what} {path} ({reason}); replace the file or remove it from the data set"


def read_rgb(path: Path) -> Image.Image:
    """An image file as a PIL RGB image (an unreadable file is a one-line UserError naming it)."""
    with open_image(path) as im:
        return im.convert("RGB")


def read_index_map(path: Path, what: str = "label map") -> Image.Image:
    """A label or instance map as stored: 8-bit (L/P) stays 8-bit, 16/32-bit becomes mode I.

    Palette ("P") PNGs keep their indices (they are not converted to grey levels). An
    unreadable file is a one-line UserError naming it.
    """
    with open_image(path, what) as im:
        if im.mode in ("L", "P", "I"):
            return im.copy()
        if im.mode.startswith("I;16") or im.mode == "I;16B":
            return Image.fromarray(np.asarray(im).astype(np.int32))
        if im.mode in ("1",):
            return im.convert("L")
        if im.mode in ("RGB", "RGBA"):
            # a grey-level map saved as RGB: take the first channel
            return Image.fromarray(np.asarray(im)[..., 0])
        raise UserError(f"cannot read {path} as a label map (PIL mode {im.mode}); save it as an 8- or 16-bit PNG")


def box_halve(image: Image.Image, min_width: int, min_height: int) -> Image.Image:
    """Halve with BOX filtering while the image is at least twice ``min_width`` x ``min_height``."""
    while image.width >= 2 * min_width and image.height >= 2 * min_height:
        image = image.resize((image.width // 2, image.height // 2), resample=Image.BOX)
    return image


def sdm_resize(image: Image.Image, maps: list[Image.Image | None], height: int, width: int,
               resample: str = "bicubic") -> tuple[np.ndarray, list[np.ndarray | None]]:
    """Resize to exactly ``height`` x ``width``: BOX halving then ``resample`` for the image,
    NEAREST for ``maps`` (from their original size).

    Returns:
        (H, W, 3) uint8 image and the maps as (H, W) arrays (None stays None).
    """
    if (image.width, image.height) != (width, height):
        image = box_halve(image, width, height)
        image = image.resize((width, height), resample=RESAMPLE[resample])
    out = [None if m is None else np.asarray(m.resize((width, height), resample=Image.NEAREST)) for m in maps]
    return np.asarray(image, dtype=np.uint8), out


def sdm_center_crop(image: Image.Image, maps: list[Image.Image | None], size: int,
                    resample: str = "bicubic") -> tuple[np.ndarray, list[np.ndarray | None]]:
    """Short side to ``size`` (BOX halving, then ``resample``; maps NEAREST), then a centre
    ``size`` x ``size`` crop, as the official ``center_crop_arr``.
    """
    while min(image.size) >= 2 * size:
        image = image.resize((image.width // 2, image.height // 2), resample=Image.BOX)
    scale = size / min(image.size)
    new = (max(size, round(image.width * scale)), max(size, round(image.height * scale)))
    image = image.resize(new, resample=RESAMPLE[resample])
    arr = np.asarray(image, dtype=np.uint8)
    top, left = (arr.shape[0] - size) // 2, (arr.shape[1] - size) // 2
    out = []
    for m in maps:
        if m is None:
            out.append(None)
            continue
        a = np.asarray(m.resize(new, resample=Image.NEAREST))
        out.append(a[top : top + size, left : left + size])
    return arr[top : top + size, left : left + size], out


def sdm_square(image: Image.Image, maps: list[Image.Image | None], size: int,
               mode: str) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """``size`` x ``size`` as the official loaders: ``"stretch"`` (:func:`sdm_resize`, the
    evaluation path) or ``"center-crop"`` (:func:`sdm_center_crop`)."""
    if mode == "stretch":
        return sdm_resize(image, maps, size, size)
    return sdm_center_crop(image, maps, size)


def boxes_from_instances(instances: np.ndarray, min_id: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of the numbered instances (ids >= ``min_id``, Cityscapes ``class * 1000 + k``).

    Returns:
        (N, 4) float32 ``x0, y0, x1, y1`` in pixel-edge coordinates (pixel (r, c) covers
        [c, c+1) x [r, r+1)) and (N,) int64 label ids ``id // 1000``, in increasing id order.
    """
    ids = np.unique(instances)
    ids = ids[ids >= min_id]
    boxes, labels = [], []
    for i in ids:
        rows, cols = np.nonzero(instances == i)
        boxes.append([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
        labels.append(int(i) // 1000)
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4), np.asarray(labels, dtype=np.int64)


class FileDataset(IndexedDataset):
    """Base of the on-disk data sets: a list of items, loaded lazily by :meth:`load`.

    Subclasses set ``name``, ``version``, ``num_classes``, ``class_names``, ``ignore_index``,
    fill ``self.items`` and implement :meth:`load` (item -> :class:`Sample`).
    """

    name = "files"
    version = "1"
    num_classes = 0
    class_names: list[str] = []
    ignore_index: int | None = None

    items: list[Any]
    root: Path

    def __len__(self) -> int:
        return len(self.items)

    def sample_at(self, i: int) -> Sample:
        return self.load(self.items[i])

    def load(self, item: Any) -> Sample:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return {}

    def describe(self) -> dict[str, Any]:
        # ``num_samples`` (files found) is not the image ``size`` parameter some loaders take
        return dict(name=self.name, version=self.version, root=str(self.root.resolve()), num_samples=len(self), **self.params())

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in {"root": str(self.root), **self.params()}.items())
        return f"{type(self).__name__}({inner})"
