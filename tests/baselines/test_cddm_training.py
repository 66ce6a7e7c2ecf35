"""The recipe of the embedded CDDM denoisers, on a tiny random deepjscc JSCC and eight scenes."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import torch
from typer.testing import CliRunner

from semcom_bench.errors import UserError
from semcom_bench_baselines.cddm.receiver import read_unet
from semcom_bench_baselines.cddm.sampler import Schedule
from semcom_bench_baselines.cddm.training import RECIPE, learning_rate, noisy, train_cddm

TINY = {"data_size": 8, "eval_size": 2, "eval_snrs": (10.0,), "log_every": 2, "checkpoint_every": 2}


@pytest.fixture(scope="module")
def jscc_file(tmp_path_factory):
    from semcom_bench_baselines.deepjscc.network import DeepJsccDecoder, DeepJsccEncoder, state_dict

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("jscc") / "deepjscc-c8.pt"
    torch.save(state_dict(DeepJsccEncoder(8), DeepJsccDecoder(8)), path)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory, jscc_file):
    base = tmp_path_factory.mktemp("cddm-train")
    cache = base / "scenes.npz"
    common = dict(ratio="1/12", batch_size=4, jscc_weights=jscc_file, workers=1, data_cache=cache, log=lambda s: None,
                  **TINY)
    full = train_cddm(channel="rayleigh", steps=4, out=base / "full", **common)
    train_cddm(channel="rayleigh", steps=2, out=base / "part", **common)
    resumed = train_cddm(channel="rayleigh", steps=4, out=base / "part", resume=True, **common)
    awgn = train_cddm(channel="awgn", steps=2, out=base / "awgn", **common)
    return {"full": full, "resumed": resumed, "awgn": awgn}


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_resume_continues_as_an_uninterrupted_run(runs):
    a, b = _state(runs["full"]["weights"]), _state(runs["resumed"]["weights"])
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert runs["full"]["history"][-1]["loss"] == runs["resumed"]["history"][-1]["loss"]
    c = _state(runs["awgn"]["weights"])
    assert not torch.equal(a["head.weight"], c["head.weight"])


def test_the_json_beside_the_weights(runs, jscc_file):
    info = json.loads(runs["full"]["json"].read_text())
    path = runs["full"]["weights"]
    assert path.name == "cddm-r1_12-rayleigh-snr13.pt"
    assert info["weights"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info["weights"]["dtype"] == "float16" and all(v.dtype == torch.float16 for k, v in _state(path).items()
                                                          if v.is_floating_point())
    assert info["unet"] == {"input_channel": 8, "ch": 16, "ch_mult": [1, 2, 2], "attn": [1], "num_res_blocks": 2,
                            "dropout": 0.1, "T": 1000, "groups": 8}
    assert info["jscc"]["sha256"] == hashlib.sha256(jscc_file.read_bytes()).hexdigest()
    assert info["options"] == {"ratio": "1/12", "channel": "rayleigh", "snr_train": 13.0, "convention": "paper"}
    assert "s = 0.1 (paper convention at 10 dB)" in info["train"]["channel"]
    row = info["evaluation"]["mse"]["10"]
    assert set(row) == {"received", "lmmse", "cddm_paper", "cddm_official", "steps_paper", "steps_official"}
    assert (row["steps_paper"], row["steps_official"]) == (66, 93)
    assert info["provenance"]["steps_done"] == 4
    assert info["provenance"]["stopped_early"] is False
    net, sidecar = read_unet(path)  # strict, from the JSON's configuration
    assert sidecar["options"]["channel"] == "rayleigh" and net.config.ch == 16


def test_the_forward_process_of_training():
    sched = Schedule.linear()
    x0 = torch.randn(2, 2, 4, 4)
    t = torch.tensor([0, 500])
    x_t, habs, eps = noisy(x0, t, sched, "awgn", 0.1, torch.Generator().manual_seed(0))
    ab = sched.alphas_bar.float()[t].view(2, 1, 1, 1)
    assert torch.equal(habs, torch.ones_like(x0))
    assert torch.allclose(x_t, ab.sqrt() * x0 + (1 - ab).sqrt() * eps)
    x_t, habs, eps = noisy(x0, t, sched, "rayleigh", 0.1, torch.Generator().manual_seed(0))
    assert torch.equal(habs[:, :, :, 0], habs[:, :, :, 1])  # consecutive values share a complex symbol
    p = habs ** 2
    assert torch.allclose(x_t, ab.sqrt() * p / (p + 0.1) * x0 + (1 - ab).sqrt() * habs / (p + 0.1) * eps)
    assert float(habs.square().mean()) == pytest.approx(1.0, abs=0.5)  # |h|^2 of CN(0, 1)


def test_learning_rate_schedule_depends_on_the_step_only():
    r = {**RECIPE, "lr": 1e-3, "warmup_steps": 10, "schedule_steps": 110}
    assert learning_rate(0, r) == pytest.approx(1e-4)
    assert learning_rate(9, r) == pytest.approx(1e-3)
    assert learning_rate(10, r) == pytest.approx(1e-3)
    assert learning_rate(60, r) == pytest.approx(0.5e-3)
    assert learning_rate(110, r) == 0.0
    assert learning_rate(35, r) == pytest.approx(0.5e-3 * (1 + math.cos(math.pi * 0.25)))


def test_bad_settings_are_one_line(tmp_path, jscc_file):
    with pytest.raises(UserError, match="unknown CDDM recipe settings"):
        train_cddm(out=tmp_path, jscc_weights=jscc_file, wobble=1)
    with pytest.raises(UserError, match="--channel must be awgn or rayleigh"):
        train_cddm(out=tmp_path, channel="mimo", jscc_weights=jscc_file)
    with pytest.raises(UserError, match="groups 8 must divide ch 12"):
        train_cddm(out=tmp_path, ch=12, jscc_weights=jscc_file)
    with pytest.raises(UserError, match=r"c/96 for a whole number of channels"):
        train_cddm(out=tmp_path, ratio="1/7")
    from semcom_bench.cli.main import app

    result = CliRunner().invoke(app, ["train", "cddm", "--channel", "mimo"])
    assert result.exit_code == 2 and "--channel must be awgn or rayleigh" in result.output
