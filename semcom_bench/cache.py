"""Content-addressed, crash-safe, self-checking cache of reconstructions and metric values.

Layout under the cache directory::

    images/ab/<key>.png     lossless reconstruction (uint8 RGB)
    images/ab/<key>.json    sidecar: bits, channel uses, seconds, peak memory, seed, torch threads,
                            the key's inputs, ``png_sha256`` (the PNG's bytes) and ``record_sha256``
                            (the sidecar's own content)
    metrics/ab/<key>.json   metric values of one image (or one set) for one metric version:
                            ``{"values": {...}, "images_sha256": ..., "sha256": ...}``

Every file is written to a temporary name in the same folder (``.<name>.<random>.tmp``) and
renamed into place, so a reader sees a whole file or none; files get the permissions the umask
allows (``0o666 & ~umask``), so a cache shared by a group stays readable by the group. A
reconstruction counts as cached only once its sidecar exists, and the sidecar is written after
the PNG, so a run killed at any moment leaves the cache consistent: re-running finishes what is
missing.

Every read is checked. A reconstruction is valid when its sidecar parses, matches its
``record_sha256`` and the PNG's bytes match ``png_sha256``; anything else (a truncated or
undecodable PNG, an edited sidecar, a sidecar whose PNG is gone) makes it *corrupt*, and the
runner regenerates it. Metric values carry the sha256 of their own content and the sha256 of the
PNG bytes they were computed from (``images_sha256``): edited values are corrupt, values of an
image whose PNG has changed are *stale*, and both are recomputed. Sidecars written before these
hashes existed are accepted when their PNG decodes, and upgraded in place by a writing run
(:meth:`Cache.check_image` with ``upgrade=True``).

Temporary files of a writer killed mid-write are swept by the next writing :class:`Cache`
(``writable=True``): under ``images/``, ``metrics/`` and the top folder, a ``.*.tmp`` file whose
last change is older than :data:`TMP_MAX_AGE_S` is removed. A live writer holds a temporary file
for one in-memory buffer's write (well under a second), so two runs sharing a cache, even on two
machines, never remove each other's files in flight.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from semcom_bench.errors import UserError

#: A temporary file older than this (seconds since its last change) is an orphan of a killed writer.
TMP_MAX_AGE_S = 15 * 60

#: What :meth:`Cache.check_image` and :meth:`Cache.load_values` report.
OK, MISSING, CORRUPT, STALE = "ok", "missing", "corrupt", "stale"


class CorruptEntry(OSError):
    """A cache file failed its check (hash mismatch, unreadable or undecodable)."""


def umask() -> int:
    """The process umask, read without changing it where the system allows (Linux /proc)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (briefly visible to other threads)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, then rename).

    The file gets ``0o666 & ~umask`` like any file the process creates (``mkstemp`` alone would
    leave it private to the owner).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            try:
                os.fchmod(f.fileno(), 0o666 & ~umask())
            except OSError:  # a file system without permissions (some network or FUSE mounts)
                pass
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file of :func:`atomic_write_bytes`."""
    return name.startswith(".") and name.endswith(".tmp")


def sweep_temp_files(folder: Path, max_age_s: float = TMP_MAX_AGE_S, recursive: bool = True) -> int:
    """Remove temporary files of :func:`atomic_write_bytes` under ``folder`` older than ``max_age_s``.

    Returns how many were removed; files that vanish or cannot be removed (another user's, in a
    shared folder) are left alone.
    """
    now = time.time()
    removed = 0
    folders = [str(folder)]
    while folders:
        try:
            entries = list(os.scandir(folders.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if recursive:
                        folders.append(entry.path)
                elif is_temp_name(entry.name) and now - entry.stat(follow_symlinks=False).st_mtime > max_age_s:
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                pass
    return removed


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(obj: Any) -> bytes:
    """The bytes hashed for a JSON object: sorted keys, no spaces (floats as ``repr``, so exact)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


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


def _decodes(data: bytes) -> bool:
    try:
        decode_png(data)
        return True
    except Exception:  # PIL raises OSError, SyntaxError, ValueError, zlib errors ... for broken files
        return False


def images_sha256(png_hashes: list[str]) -> str:
    """The hash metric values of a set of images are checked against (their PNG hashes, in order)."""
    return png_hashes[0] if len(png_hashes) == 1 else sha256(_canonical(list(png_hashes)))


class Cache:
    """The on-disk cache rooted at ``root``.

    ``Cache(root)`` only reads (``plot`` needs nothing more than read access); a run opens it
    with ``writable=True``, which creates the folder, checks that it can write there (with a
    uniquely named probe, so concurrent runs do not trip over each other) and sweeps orphaned
    temporary files (:func:`sweep_temp_files`; how many in :attr:`swept`).
    """

    def __init__(self, root: str | Path, writable: bool = False):
        self.root = Path(root).expanduser()
        self.swept = 0
        if not writable:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=".write-test.", suffix=".tmp")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise UserError(f"cache directory {self.root} is not writable ({exc.strerror}); pass --cache-dir with a writable folder") from None
        self.swept = sweep_temp_files(self.root, recursive=False)
        for kind in ("images", "metrics"):
            self.swept += sweep_temp_files(self.root / kind)

    def _path(self, kind: str, key: str, suffix: str) -> Path:
        return self.root / kind / key[:2] / f"{key}{suffix}"

    # reconstructions -------------------------------------------------------------------
    def check_image(self, key: str, upgrade: bool = False) -> str:
        """:data:`OK`, :data:`MISSING` (no sidecar: never finished) or :data:`CORRUPT`.

        Reads the PNG and checks its sha256 (a sidecar without hashes, from an older version:
        checks that the PNG decodes, and with ``upgrade`` adds the hashes to the sidecar).
        """
        side = self._path("images", key, ".json")
        try:
            text = side.read_bytes()
        except FileNotFoundError:
            return MISSING
        except OSError:
            return CORRUPT
        try:
            record = self._parse_record(text)
            data = self._path("images", key, ".png").read_bytes()
        except (CorruptEntry, OSError):
            return CORRUPT
        if "png_sha256" in record:
            return OK if sha256(data) == record["png_sha256"] else CORRUPT
        if not _decodes(data):
            return CORRUPT
        if upgrade:
            self._write_record(key, record, sha256(data))
        return OK

    def has_image(self, key: str) -> bool:
        """Whether a valid reconstruction of ``key`` is cached (see :meth:`check_image`)."""
        return self.check_image(key) == OK

    def put_image(self, key: str, image: np.ndarray, record: dict[str, Any]) -> None:
        """Cache ``image`` with its ``record``; the PNG first, then the sidecar (with both hashes)."""
        data = encode_png(image)
        atomic_write_bytes(self._path("images", key, ".png"), data)
        self._write_record(key, record, sha256(data))

    def _write_record(self, key: str, record: dict[str, Any], png_hash: str) -> None:
        body = {k: v for k, v in record.items() if k not in ("png_sha256", "record_sha256")}
        body = json.loads(json.dumps({**body, "png_sha256": png_hash}))  # what a reader will parse
        body["record_sha256"] = sha256(_canonical(body))
        atomic_write_bytes(self._path("images", key, ".json"), json.dumps(body, sort_keys=True, indent=1).encode())

    @staticmethod
    def _parse_record(text: bytes) -> dict[str, Any]:
        try:
            record = json.loads(text)
        except ValueError:
            raise CorruptEntry("sidecar is not JSON") from None
        if not isinstance(record, dict):
            raise CorruptEntry("sidecar is not a JSON object")
        stored = record.pop("record_sha256", None)
        if stored is not None and stored != sha256(_canonical(record)):
            raise CorruptEntry("sidecar does not match its sha256")
        if stored is None and "png_sha256" in record:
            raise CorruptEntry("sidecar lacks its sha256")
        return record

    def image_path(self, key: str) -> Path:
        return self._path("images", key, ".png")

    def get_image(self, key: str) -> np.ndarray:
        """The cached reconstruction; :class:`CorruptEntry` (an ``OSError``) when it fails its check."""
        data = self._path("images", key, ".png").read_bytes()
        try:
            expected = self.get_record(key).get("png_sha256")
        except FileNotFoundError:
            expected = None
        if expected is not None and sha256(data) != expected:
            raise CorruptEntry(f"cached image {key} does not match its sha256")
        try:
            return decode_png(data)
        except Exception as exc:
            raise CorruptEntry(f"cached image {key} does not decode ({exc})") from None

    def get_record(self, key: str) -> dict[str, Any]:
        """The sidecar (with ``png_sha256``); :class:`CorruptEntry` when it fails its check."""
        return self._parse_record(self._path("images", key, ".json").read_bytes())

    # metric values ---------------------------------------------------------------------
    def load_values(self, key: str, images: str | None) -> tuple[str, dict[str, float] | None]:
        """(status, values): :data:`OK` with the values, else :data:`MISSING`, :data:`CORRUPT`
        (unreadable, or not matching its sha256) or :data:`STALE` (computed from other image
        bytes than ``images``, an :func:`images_sha256`; None skips that check; a file from an
        older version without hashes counts as stale)."""
        path = self._path("metrics", key, ".json")
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            return MISSING, None
        except (OSError, ValueError):
            return CORRUPT, None
        if not isinstance(doc, dict):
            return CORRUPT, None
        if "sha256" not in doc:
            return (STALE, None) if "values" not in doc else (CORRUPT, None)
        stored = doc.pop("sha256")
        values = doc.get("values")
        if stored != sha256(_canonical(doc)) or not isinstance(values, dict):
            return CORRUPT, None
        if images is not None and doc.get("images_sha256") != images:
            return STALE, None
        try:
            return OK, {k: float(v) for k, v in values.items()}
        except (TypeError, ValueError):
            return CORRUPT, None

    def get_values(self, key: str, images: str | None = None) -> dict[str, float] | None:
        """The cached values of ``key`` when valid (see :meth:`load_values`), else None."""
        status, values = self.load_values(key, images)
        return values if status == OK else None

    def put_values(self, key: str, values: dict[str, float], images: str | None = None) -> None:
        """Cache ``values`` computed from the images whose :func:`images_sha256` is ``images``."""
        doc = json.loads(json.dumps({"values": {k: float(v) for k, v in values.items()}, "images_sha256": images}))
        doc["sha256"] = sha256(_canonical(doc))
        atomic_write_bytes(self._path("metrics", key, ".json"), json.dumps(doc, sort_keys=True).encode())
