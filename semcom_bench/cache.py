"""Content-addressed, crash-safe cache of reconstructions and metric values.

Layout under the cache directory::

    images/ab/<key>.png     lossless reconstruction (uint8 RGB)
    images/ab/<key>.json    sidecar: bits, channel uses, seconds, peak memory, seed, the key's inputs
    metrics/ab/<key>.json   metric values of one image (or one set) for one metric version

Every file is written to a temporary name in the same folder and renamed into place, so a
reader sees a whole file or none. A reconstruction counts as cached only once its sidecar
exists, and the sidecar is written after the PNG, so a run killed at any moment leaves the
cache consistent: re-running finishes what is missing.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from semcom_bench.errors import UserError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def encode_png(image: np.ndarray) -> bytes:
    """(H, W, 3) uint8 -> PNG bytes (deterministic: fixed compression level, no metadata)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) uint8, got {image.dtype} {image.shape}")
    buf = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def decode_png(data: bytes | Path) -> np.ndarray:
    """PNG bytes or path -> (H, W, 3) uint8."""
    src = io.BytesIO(data) if isinstance(data, bytes) else data
    with Image.open(src) as im:
        return np.asarray(im.convert("RGB")).copy()


class Cache:
    """The on-disk cache rooted at ``root``."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise UserError(f"cache directory {self.root} is not writable ({exc.strerror}); pass --cache-dir with a writable folder") from None

    def _path(self, kind: str, key: str, suffix: str) -> Path:
        return self.root / kind / key[:2] / f"{key}{suffix}"

    # reconstructions -------------------------------------------------------------------
    def has_image(self, key: str) -> bool:
        return self._path("images", key, ".json").exists() and self._path("images", key, ".png").exists()

    def put_image(self, key: str, image: np.ndarray, record: dict[str, Any]) -> None:
        atomic_write_bytes(self._path("images", key, ".png"), encode_png(image))
        atomic_write_bytes(self._path("images", key, ".json"), json.dumps(record, sort_keys=True, indent=1).encode())

    def image_path(self, key: str) -> Path:
        return self._path("images", key, ".png")

    def get_image(self, key: str) -> np.ndarray:
        return decode_png(self._path("images", key, ".png"))

    def get_record(self, key: str) -> dict[str, Any]:
        return json.loads(self._path("images", key, ".json").read_text())

    # metric values ---------------------------------------------------------------------
    def get_values(self, key: str) -> dict[str, float] | None:
        path = self._path("metrics", key, ".json")
        if not path.exists():
            return None
        return {k: float(v) for k, v in json.loads(path.read_text()).items()}

    def put_values(self, key: str, values: dict[str, float]) -> None:
        atomic_write_bytes(self._path("metrics", key, ".json"), json.dumps(values, sort_keys=True).encode())
