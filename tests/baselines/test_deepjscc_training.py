"""DeepJSCC training: reproducible, resumable, a complete JSON beside the weights, and the CLI command."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from semcom_bench.cli.main import app
from semcom_bench.errors import UserError
from semcom_bench.hashing import hash_file
from semcom_bench_baselines.deepjscc.network import load_weights
from semcom_bench_baselines.deepjscc.training import train_deepjscc

TINY = {"data_size": 8, "log_every": 1, "checkpoint_every": 2, "eval_size": 2, "eval_repeats": 1, "lr_drop_step": 2}


def _run(tmp_path, name: str, steps: int = 4, **kw) -> dict:
    return train_deepjscc(ratio="1/12", snr_train=13, steps=steps, batch_size=2, out=tmp_path / name, log=lambda _: None,
                          workers=1, data_cache=tmp_path / "scenes.npz", command="semcom-bench train deepjscc --ratio 1/12",
                          **{**TINY, **kw})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deepjscc")
    return tmp, _run(tmp, "a"), _run(tmp, "b")


def test_same_seed_same_weights_and_a_complete_json(runs):
    _, a, b = runs
    assert a["info"]["weights"]["sha256"] == b["info"]["weights"]["sha256"] == hash_file(a["weights"])
    info = json.loads(a["json"].read_text())
    assert info["options"] == {"channels": 8, "ratio": "1/12", "snr_train": 13.0}
    assert info["provenance"]["steps_done"] == 4 and info["provenance"]["reproduce"].startswith(
        "semcom-bench train deepjscc --steps 4")
    assert set(info["evaluation"]["psnr"]) == {"13 dB", "0 dB", "5 dB", "10 dB", "15 dB", "20 dB", "clean"}
    assert info["weights"]["dtype"] == "float16" and info["train"]["optimizer"]["lr_drop_step"] == 2
    state = torch.load(a["weights"], weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values())
    encoder, _ = load_weights(a["weights"], channels=8)
    assert encoder.channels == 8


def test_resume_continues_exactly_as_an_uninterrupted_run(runs):
    tmp, a, _ = runs
    _run(tmp, "c", steps=2)
    c = _run(tmp, "c", steps=4, resume=True)
    assert c["info"]["weights"]["sha256"] == a["info"]["weights"]["sha256"]
    assert [h["step"] for h in c["history"]] == [1, 2, 3, 4]
    with pytest.raises(UserError, match="other settings"):
        train_deepjscc(ratio="1/6", snr_train=13, steps=5, batch_size=2, out=tmp / "c", resume=True, log=lambda _: None,
                       workers=1, data_cache=tmp / "scenes.npz", **TINY)


def test_the_time_limit_stops_and_records(runs):
    tmp, _, _ = runs
    run = _run(tmp, "d", steps=50, time_limit_s=1e-9)
    assert run["steps"] == 1 and run["stopped_early"]
    assert run["info"]["provenance"]["reproduce"].startswith("semcom-bench train deepjscc --steps 1")


def test_cli_trains_and_refuses_bad_options(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["train", "deepjscc", "--ratio", "1/10", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "c/96 for a whole number of channels" in res.output
    res = runner.invoke(app, ["train", "deepjscc", "--ratio", "1/12", "--steps", "0"])
    assert res.exit_code == 2 and "--steps must be at least 1" in res.output
    res = runner.invoke(app, ["train", "deepjscc", "--ratio", "1/6", "--snr-train", "10", "--steps", "1",
                              "--batch-size", "2", "--workers", "1", "--data-size", "8", "--out", str(tmp_path / "cli"),
                              "--data-cache", str(tmp_path / "scenes.npz")])
    assert res.exit_code == 0, res.output
    info = json.loads((tmp_path / "cli" / "deepjscc-c16-snr10-synthetic-streets.json").read_text())
    assert info["options"]["ratio"] == "1/6" and info["provenance"]["command"].startswith("semcom-bench")
