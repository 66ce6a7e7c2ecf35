"""The cache checks what it reads: corrupt entries are regenerated or recomputed, counted, and the
results equal those of an undamaged cache; orphaned temporary files are swept; files honour
the umask; plot and report only read."""

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tests.fake_dataset  # noqa: F401  (registers test-fake)
from semcom_bench import api
from semcom_bench.cache import CORRUPT, MISSING, OK, STALE, Cache, CorruptEntry, atomic_write_bytes, encode_png
from semcom_bench.cli.main import main
from semcom_bench.config import build_config


def _config(tmp_path, **kw):
    base = dict(dataset="test-fake", methods="full-image", channels="awgn", values="5,20", metrics="psnr",
                out=tmp_path / "out", cache_dir=tmp_path / "cache", threads=1)
    base.update(kw)
    return build_config(**base)


def _keys(summary) -> list[str]:
    return list(summary["frame"].image_key.dropna().unique())


def _png(cache_dir: Path, key: str) -> Path:
    return cache_dir / "images" / key[:2] / f"{key}.png"


def _sidecar(cache_dir: Path, key: str) -> Path:
    return cache_dir / "images" / key[:2] / f"{key}.json"


def _value_files(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "metrics").rglob("*.json"))


def _prov_counts(out: Path) -> dict:
    return json.loads((out / "provenance.json").read_text())["counts"]


@pytest.fixture()
def clean(tmp_path):
    """An undamaged run: (summary, PNG bytes by key)."""
    summary = api.run(_config(tmp_path))
    assert summary["integrity"] == {"corrupt": 0, "corrupt_values": 0, "temp_removed": 0, "batch_mismatch": 0}
    return summary, {k: _png(tmp_path / "cache", k).read_bytes() for k in _keys(summary)}


def test_truncated_png_and_edited_values_are_redone(tmp_path, clean):
    first, pngs = clean
    cache = tmp_path / "cache"
    keys = _keys(first)
    png = _png(cache, keys[3])
    png.write_bytes(pngs[keys[3]][: len(pngs[keys[3]]) // 2])  # truncated
    edited = _value_files(cache)[0]
    doc = json.loads(edited.read_text())
    doc["values"]["psnr"] = 99.0
    edited.write_text(json.dumps(doc))
    assert Cache(cache).check_image(keys[3]) == CORRUPT

    again = api.run(_config(tmp_path))
    pd.testing.assert_frame_equal(first["frame"], again["frame"])
    assert again["counts"] == {"total": 12, "cached": 11, "generated": 1}
    assert again["integrity"]["corrupt"] == 1 and again["integrity"]["corrupt_values"] == 1
    counts = _prov_counts(tmp_path / "out")
    assert counts["corrupt"] == 1 and counts["corrupt_values"] == 1
    assert png.read_bytes() == pngs[keys[3]]
    assert json.loads(edited.read_text())["values"]["psnr"] != 99.0


def test_undecodable_png_is_regenerated(tmp_path, clean):
    first, pngs = clean
    cache = tmp_path / "cache"
    key = _keys(first)[5]
    _png(cache, key).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(CorruptEntry):  # an OSError: plot draws a "missing" panel
        Cache(cache).get_image(key)
    again = api.run(_config(tmp_path))
    pd.testing.assert_frame_equal(first["frame"], again["frame"])
    assert again["integrity"]["corrupt"] == 1 and again["integrity"]["corrupt_values"] == 0
    assert _png(cache, key).read_bytes() == pngs[key]


def test_edited_sidecar_and_missing_png_are_regenerated(tmp_path):
    first = api.run(_config(tmp_path, metrics="psnr,bits"))
    cache = tmp_path / "cache"
    k1, k2 = _keys(first)[:2]
    record = json.loads(_sidecar(cache, k1).read_text())
    record["bits"] = 1
    _sidecar(cache, k1).write_text(json.dumps(record))
    _png(cache, k2).unlink()
    assert Cache(cache).check_image(k1) == CORRUPT and Cache(cache).check_image(k2) == CORRUPT

    again = api.run(_config(tmp_path, metrics="psnr,bits"))
    pd.testing.assert_frame_equal(first["frame"], again["frame"])
    assert again["integrity"]["corrupt"] == 2
    assert Cache(cache).get_record(k1)["bits"] != 1


def test_an_image_that_changed_gets_new_metric_values(tmp_path, clean):
    """Values are checked against the PNG they were computed from: a valid entry with other bytes
    (e.g. regenerated on another machine) is scored again, not reported with the old values."""
    first, _ = clean
    cache = Cache(tmp_path / "cache")
    key = _keys(first)[0]
    record = cache.get_record(key)
    cache.put_image(key, np.zeros_like(cache.get_image(key)), record)
    again = api.run(_config(tmp_path))
    assert again["integrity"]["corrupt"] == 0 and again["integrity"]["corrupt_values"] == 0  # stale, not corrupt
    psnr = again["frame"].set_index("image_key")["value"]
    assert psnr[key] != first["frame"].set_index("image_key")["value"][key]
    assert psnr.drop(key).equals(first["frame"].set_index("image_key")["value"].drop(key))


def test_sidecars_of_older_versions_are_checked_by_decoding_and_upgraded(tmp_path, clean):
    first, pngs = clean
    cache = tmp_path / "cache"
    keys = _keys(first)
    for k in keys:  # as an older version wrote them: no hashes
        record = json.loads(_sidecar(cache, k).read_text())
        del record["png_sha256"], record["record_sha256"]
        _sidecar(cache, k).write_text(json.dumps(record))
    _png(cache, keys[2]).write_bytes(b"garbage")
    again = api.run(_config(tmp_path))
    pd.testing.assert_frame_equal(first["frame"], again["frame"])
    assert again["counts"]["generated"] == 1 and again["integrity"]["corrupt"] == 1
    assert all("record_sha256" in json.loads(_sidecar(cache, k).read_text()) for k in keys)


def test_the_run_says_so_once(tmp_path, clean, capsys):
    first, _ = clean
    cache = tmp_path / "cache"
    _png(cache, _keys(first)[1]).write_bytes(b"")
    code = main(["run", "--dataset", "test-fake", "--methods", "full-image", "--values", "5,20", "--metrics", "psnr",
                 "--threads", "1", "--cache-dir", str(cache), "--out", str(tmp_path / "out")])
    assert code == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "corrupt" in line]
    assert lines == ["warning: cache: 1 corrupt entry(ies) found and redone: 1 image(s) regenerated, 0 metric value "
                     "file(s) recomputed (missing or undecodable file, or content not matching its sha256)"], err


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
    old[0].write_bytes(b"partial")
    os.utime(old[0], (hour_ago, hour_ago))
    summary = api.run(_config(tmp_path, cache_dir=root))  # a run sweeps, and counts it in provenance
    assert summary["integrity"]["temp_removed"] == 1 and not old[0].exists() and fresh.exists()
    assert _prov_counts(tmp_path / "out")["temp_removed"] == 1


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


def _snapshot(*folders: Path) -> dict:
    return {str(p): (p.lstat().st_mtime_ns, p.lstat().st_size, p.lstat().st_mode)
            for folder in folders for p in [folder, *folder.rglob("*")]}


def test_plot_and_report_only_read_the_cache_and_the_results(tmp_path, clean):
    cache, out, plots = tmp_path / "cache", tmp_path / "out", tmp_path / "plots"
    before = _snapshot(cache, out)
    modes = {p: p.stat().st_mode for p in [cache, out, *cache.rglob("*"), *out.rglob("*")] if not p.is_symlink()}
    try:
        for p in modes:  # read-only (binding for anyone but root; the snapshot checks for everyone)
            p.chmod(p.stat().st_mode & ~0o222)
        assert main(["report", "--out", str(out)]) == 0
        assert main(["report", "--out", str(out), "--format", "latex"]) == 0
        assert main(["plot", "--out", str(out), "--plots-dir", str(plots), "--samples", "2"]) == 0
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert _snapshot(cache, out) == before
    assert any(plots.glob("*.png"))
