"""The cache checks what it reads; orphaned temporary files are swept; files honour the umask."""

import json
import os
import time

import numpy as np
import pytest

from semcom_bench.cache import CORRUPT, MISSING, OK, STALE, Cache, atomic_write_bytes


def test_image_entry_states(tmp_path):
    cache = Cache(tmp_path)
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert cache.check_image("ab12") == MISSING
    cache.put_image("ab12", image, {"bits": 7})
    png, side = cache.image_path("ab12"), tmp_path / "images" / "ab" / "ab12.json"
    assert cache.check_image("ab12") == OK and np.array_equal(cache.get_image("ab12"), image)
    good_png, good_side = png.read_bytes(), side.read_text()
    record = json.loads(good_side)
    assert record["bits"] == 7 and len(record["png_sha256"]) == len(record["record_sha256"]) == 64
    png.write_bytes(good_png[:-10])  # truncated
    assert cache.check_image("ab12") == CORRUPT
    png.write_bytes(good_png)
    side.write_text(good_side.replace('"bits": 7', '"bits": 8'))  # edited
    assert cache.check_image("ab12") == CORRUPT
    side.write_text(good_side)
    png.unlink()  # a sidecar without its image
    assert cache.check_image("ab12") == CORRUPT
    # an older version's sidecar (no hashes): checked by decoding, and upgraded when asked
    png.write_bytes(good_png)
    side.write_text(json.dumps({"bits": 7}))
    assert cache.check_image("ab12") == OK and "png_sha256" not in json.loads(side.read_text())
    assert cache.check_image("ab12", upgrade=True) == OK and json.loads(side.read_text())["png_sha256"] == record["png_sha256"]
    png.write_bytes(b"not a png")
    side.write_text(json.dumps({"bits": 7}))
    assert cache.check_image("ab12") == CORRUPT


def test_value_file_states(tmp_path):
    cache = Cache(tmp_path)
    assert cache.load_values("ab12", "h1") == (MISSING, None)
    cache.put_values("ab12", {"psnr": float("inf"), "x": 1.5}, "h1")
    assert cache.load_values("ab12", "h1") == (OK, {"psnr": float("inf"), "x": 1.5})
    assert cache.load_values("ab12", "h2") == (STALE, None)
    path = tmp_path / "metrics" / "ab" / "ab12.json"
    path.write_text(json.dumps({"psnr": 3.0}))  # an older version's file
    assert cache.load_values("ab12", "h1") == (STALE, None)
    path.write_text("{not json")
    assert cache.load_values("ab12", "h1") == (CORRUPT, None)


def test_orphaned_temporary_files_are_swept(tmp_path):
    root = tmp_path / "cache"
    old = [root / "images" / "ab" / ".abc.png.x1.tmp", root / "metrics" / "cd" / ".cd.json.x2.tmp", root / ".write-test.x3.tmp"]
    fresh = root / "images" / "ab" / ".abd.png.x4.tmp"  # being written by a live run
    other = root / "fid-reference" / "ef" / ".ef.npz.x5.tmp"  # not the cache's own folders
    for p in (*old, fresh, other):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"partial")
    hour_ago = time.time() - 3600
    for p in (*old, other):
        os.utime(p, (hour_ago, hour_ago))
    assert Cache(root).swept == 0 and all(p.exists() for p in old)  # reading never removes anything
    cache = Cache(root, writable=True)
    assert cache.swept == 3
    assert not any(p.exists() for p in old) and fresh.exists() and other.exists()


def test_write_probe_has_a_unique_name(tmp_path):
    root = tmp_path / "cache"
    (root / ".write-test").mkdir(parents=True)  # the old fixed name, taken
    Cache(root, writable=True)
    assert sorted(p.name for p in root.iterdir()) == [".write-test"]


@pytest.mark.parametrize("mask, mode", [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_files_honour_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic_write_bytes(tmp_path / "a" / "f.bin", b"x")
        cache = Cache(tmp_path / "c", writable=True)
        cache.put_image("ab12", np.zeros((2, 2, 3), np.uint8), {"bits": 0})
        cache.put_values("cd34", {"psnr": 1.0}, "h")
    finally:
        os.umask(old)
    for p in (tmp_path / "a" / "f.bin", cache.image_path("ab12"), tmp_path / "c" / "images" / "ab" / "ab12.json",
              tmp_path / "c" / "metrics" / "cd" / "cd34.json"):
        assert p.stat().st_mode & 0o777 == mode, p
