"""SPADE training: a short run is reproducible, its losses finite, its export complete and loadable."""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields

import pytest
import torch

from semcom_bench.errors import UserError
from semcom_bench_baselines.spade import SPADEGenerator, SpadeOptions
from semcom_bench_baselines.spade.discriminator import MultiscaleDiscriminator
from semcom_bench_baselines.spade.training import RECIPE, load_exported, train_spade

TINY = {"data_size": 8, "log_every": 1}


def _run(tmp_path, name: str, seed: int = 0) -> dict:
    return train_spade(steps=2, batch_size=2, seed=seed, threads=1, time_limit_s=None, out=tmp_path / name, export=False,
                       log=lambda _: None, workers=1, data_cache=tmp_path / "scenes.npz", command="semcom-bench train spade",
                       **TINY)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("spade")
    return tmp, _run(tmp, "a"), _run(tmp, "b")


def test_same_seed_same_weights(runs):
    _, a, b = runs
    sa = torch.load(a["weights"], weights_only=True)
    sb = torch.load(b["weights"], weights_only=True)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert a["info"]["weights"]["sha256"] == b["info"]["weights"]["sha256"]


def test_losses_finite(runs):
    _, a, _ = runs
    assert a["steps"] == 2 and len(a["history"]) == 2
    for row in a["history"]:
        assert {"G_GAN", "G_Feat", "D_Fake", "D_real"} <= set(row)
        assert "G_VGG" not in row  # the embedded recipe has no VGG loss
        assert all(torch.isfinite(torch.tensor(v)) for v in row.values())


def test_export_json_fields_and_sha(runs):
    _, a, _ = runs
    info = json.loads(a["json"].read_text())
    assert {"method", "options", "size", "label_space", "train", "provenance", "weights"} <= set(info)
    assert info["method"] == "spade" and info["size"] == [32, 64]
    assert set(info["options"]) == {f.name for f in fields(SpadeOptions)}
    assert info["options"]["label_nc"] == 34 and info["options"]["no_instance"] is False
    assert info["options"]["use_vae"] is False
    train = info["train"]
    for key in ("seed", "steps", "batch_size", "threads", "optimizer", "losses", "data"):
        assert key in train
    assert train["optimizer"]["lr_g"] == pytest.approx(1e-4) and train["optimizer"]["lr_d"] == pytest.approx(4e-4)
    assert train["optimizer"]["betas"] == [0.0, 0.9]
    assert train["losses"]["vgg"]["on"] is False and "offline" in train["losses"]["vgg"]["note"]
    assert train["losses"]["feature_matching"]["weight"] == 10.0
    assert train["data"]["height"] == 32 and train["data"]["width"] == 64 and train["data"]["size"] == 8
    prov = info["provenance"]
    for key in ("git_commit", "versions", "device", "date", "seconds", "steps_done", "reproduce"):
        assert key in prov
    assert prov["steps_done"] == 2 and "--steps 2" in prov["reproduce"]
    data = a["weights"].read_bytes()
    assert info["weights"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert info["weights"]["bytes"] == len(data)
    state = torch.load(a["weights"], weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())


def test_export_loads_strictly(runs):
    _, a, _ = runs
    info = json.loads(a["json"].read_text())
    net = SPADEGenerator(SpadeOptions(**info["options"]))
    state = torch.load(a["weights"], weights_only=True)
    net.load_state_dict(state, strict=True)
    net = load_exported(a["json"])
    seg = torch.zeros(1, 35, 32, 64)
    seg[:, 7] = 1.0
    with torch.no_grad():
        out = net(seg)
    assert out.shape == (1, 3, 32, 64) and torch.isfinite(out).all()


def test_other_seed_other_weights(tmp_path, runs):
    tmp, a, _ = runs
    c = _run(tmp, "c", seed=1)
    assert c["info"]["weights"]["sha256"] != a["info"]["weights"]["sha256"]


def test_discriminator_official_layout():
    d = MultiscaleDiscriminator(38, ndf=16, n_layers_D=3, num_D=2)
    keys = set(d.state_dict())
    assert "discriminator_0.model0.0.weight" in keys and "discriminator_0.model0.0.bias" in keys
    assert "discriminator_1.model1.0.0.weight_orig" in keys and "discriminator_1.model1.0.0.bias" not in keys
    assert "discriminator_0.model3.0.weight" in keys
    outs = d(torch.zeros(2, 38, 32, 64))
    assert len(outs) == 2 and all(len(o) == 4 for o in outs)
    assert outs[0][-1].shape[1] == 1


def test_unknown_setting_refused(tmp_path):
    with pytest.raises(UserError, match="unknown SPADE recipe"):
        train_spade(steps=1, out=tmp_path, log=lambda _: None, no_such_setting=1)
    assert "vgg_weights" in RECIPE and RECIPE["vgg_weights"] is None
