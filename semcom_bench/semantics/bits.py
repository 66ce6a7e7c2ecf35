"""Bits per image: the semantic payload beside the full image.

For each sample:

- ``image_raw``: 8 x H x W x 3, uncompressed RGB (what the ``full-image`` method's
  ``source_bits`` count);
- ``image_png``: the image as a PNG (deflate level 9, optimize), lossless;
- ``image_jpeg``: the image as a JPEG at ``jpeg_quality`` (75 by default), lossy;
- ``maps_<codec>``: the compressed semantic maps (present classes + instance-edge map) with
  each requested map codec, exact bytes x 8;
- ``side``: the semantic side information (present-class list, size, scale);
- ``channel_uses``: complex channel uses of the analog maps (K x H x W / 2), for reference.

The first paper reports 1,464,000 bits for a full 256 x 512 Cityscapes image and 119,000 bits
for its maps (92 % less). The raw size of such an image is 3,145,728 bits, so the paper's
full-image figure is a compressed (lossless, PNG-like) size, and ``image_png`` is the
comparable reference here.
"""

from __future__ import annotations

import io
from typing import Any, Iterable, Sequence

import numpy as np
from PIL import Image

from semcom_bench.semantics.codec import DEFAULT_CODEC


def image_bits(image: np.ndarray, jpeg_quality: int = 75) -> dict[str, int]:
    """Bits of an (H, W, 3) uint8 image: raw, PNG and JPEG (exact encoded sizes x 8)."""
    im = Image.fromarray(np.ascontiguousarray(image), mode="RGB")
    png, jpg = io.BytesIO(), io.BytesIO()
    im.save(png, format="PNG", optimize=True, compress_level=9)
    im.save(jpg, format="JPEG", quality=int(jpeg_quality), optimize=True)
    return {"image_raw": 8 * image.size, "image_png": 8 * len(png.getvalue()), "image_jpeg": 8 * len(jpg.getvalue())}


def sample_bits(
    sample: Any,
    num_classes: int,
    codecs: Sequence[str] = (DEFAULT_CODEC,),
    jpeg_quality: int = 75,
    edges: bool | None = None,
) -> dict[str, int]:
    """Bits of one sample's image and of its semantic payload with every codec in ``codecs``.

    Returns:
        ``{"image_raw", "image_png", "image_jpeg", "maps_<codec>"..., "side", "present",
        "channel_uses"}`` as ints (``present`` = number of present classes).
    """
    from semcom_bench.semantics.payload import encode_semantics

    out: dict[str, int] = dict(image_bits(sample.image, jpeg_quality))
    if sample.labels is None:
        return out
    for codec in codecs:
        p = encode_semantics(sample, num_classes, codec=codec, edges=edges)
        out[f"maps_{p.side.codec}"] = p.map_bits
        out["side"] = p.side_bits
        out["present"] = len(p.side.present)
        out["channel_uses"] = p.channel_uses
    return out


def bits_table(
    samples: Iterable[Any],
    num_classes: int,
    codecs: Sequence[str] = (DEFAULT_CODEC, "g4", "png"),
    jpeg_quality: int = 75,
) -> list[dict[str, Any]]:
    """Per-quantity summary over ``samples``: bits per image and the saving against the image.

    Returns:
        one dict per quantity (``image_raw``, ``image_png``, ``image_jpeg``, each
        ``maps_<codec>``, ``side``, ``maps_<codec>+side`` totals): ``quantity``, ``mean``,
        ``std``, ``min``, ``max`` (bits per image), ``vs_raw`` and ``vs_png`` (1 - mean /
        mean image bits, i.e. the fraction saved; None for the image rows), and ``n``.
    """
    rows: list[dict[str, int]] = [sample_bits(s, num_classes, codecs, jpeg_quality) for s in samples]
    if not rows:
        return []
    images = [k for k in ("image_raw", "image_png", "image_jpeg")]
    maps = [k for k in rows[0] if k.startswith("maps_")]
    totals = [f"{k}+side" for k in maps]
    for k, total in zip(maps, totals):
        for r in rows:
            r[total] = r[k] + r["side"]
    keys = images + maps + (["side"] if maps else []) + totals + [k for k in ("present", "channel_uses") if k in rows[0]]
    raw = float(np.mean([r["image_raw"] for r in rows]))
    png = float(np.mean([r["image_png"] for r in rows]))
    table = []
    for k in keys:
        v = np.array([r[k] for r in rows], dtype=np.float64)
        is_bits = k.startswith("maps_") or k == "side"
        table.append({
            "quantity": k, "mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max()),
            "vs_raw": float(1.0 - v.mean() / raw) if is_bits else None,
            "vs_png": float(1.0 - v.mean() / png) if is_bits else None,
            "n": len(rows),
        })
    return table


def class_frequencies(samples: Iterable[Any], num_classes: int) -> list[dict[str, Any]]:
    """Pixel share and image count of every class in ``[0, num_classes)`` plus the rest.

    Returns:
        one dict per class that occurs: ``id``, ``pixels`` (fraction of all pixels),
        ``images`` (number of samples containing it); label values outside the label space
        are gathered under ``id = -1``.
    """
    pixels = np.zeros(num_classes + 1, dtype=np.int64)
    images = np.zeros(num_classes + 1, dtype=np.int64)
    total = 0
    for s in samples:
        if s.labels is None:
            continue
        lab = np.asarray(s.labels).astype(np.int64).ravel()
        lab = np.where((lab >= 0) & (lab < num_classes), lab, num_classes)
        counts = np.bincount(lab, minlength=num_classes + 1)
        pixels += counts
        images += counts > 0
        total += lab.size
    out = []
    for c in range(num_classes + 1):
        if pixels[c]:
            out.append({"id": c if c < num_classes else -1, "pixels": pixels[c] / total, "images": int(images[c])})
    return out
