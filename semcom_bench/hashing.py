"""Stable content hashes for cache keys."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace; floats keep their repr (exact)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def hash_obj(obj: Any) -> str:
    """SHA-256 hex digest of ``canonical_json(obj)``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def hash_file(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def seed_from_key(key: str) -> int:
    """A 63-bit generator seed derived from a hex key."""
    return int(key[:16], 16) & ((1 << 63) - 1)
