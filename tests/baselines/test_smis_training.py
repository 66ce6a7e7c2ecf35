"""SMIS training: a 2-step run on a tiny set is reproducible and exports per the GAN contract."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import torch

from semcom_bench.errors import UserError
from semcom_bench_baselines.smis import SmisGenerator
from semcom_bench_baselines.smis.encoder import class_crops
from semcom_bench_baselines.smis.training import EMBEDDED_OPTIONS, NAME, generator_options, train_smis

TINY = {"name": "synthetic-streets", "split": "train", "size": 8, "height": 32, "width": 64, "seed": 0}


def _run(tmp_path, sub: str, **kw):
    return train_smis(steps=2, batch_size=2, seed=3, threads=1, out=tmp_path / sub, export=False, log=lambda _: None,
                      workers=1, data_cache=tmp_path / "scenes.npz", dataset=TINY, **kw)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smis")
    return tmp, _run(tmp, "a"), _run(tmp, "b")


def test_losses_finite_and_steps(runs):
    _, a, _ = runs
    assert a["steps"] == 2 and len(a["history"]) == 2
    for row in a["history"]:
        assert set(row) >= {"G_GAN", "G_feat", "KLD", "D_fake", "D_real"}
        assert all(math.isfinite(v) for v in row.values())


def test_same_seed_identical_export(runs):
    tmp, _, _ = runs
    pa, pb = (tmp / s / f"{NAME}.pt" for s in "ab")
    assert pa.read_bytes() == pb.read_bytes()
    ja, jb = (json.loads((tmp / s / f"{NAME}.json").read_text()) for s in "ab")
    assert ja["weights"]["sha256"] == jb["weights"]["sha256"]
    assert ja["train"] == jb["train"] and ja["options"] == jb["options"]


def test_json_fields_and_sha256(runs):
    tmp, _, _ = runs
    info = json.loads((tmp / "a" / f"{NAME}.json").read_text())
    assert info["method"] == "smis" and info["size"] == [32, 64]
    assert "34 label ids" in info["label_space"]
    assert info["options"]["block_groups"] == list(EMBEDDED_OPTIONS.block_groups)
    assert info["options"]["label_nc"] == 34 and info["options"]["num_upsampling_layers"] == "normal"
    train = info["train"]
    for key in ("seed", "steps", "batch_size", "lr_g", "lr_d", "betas", "losses", "lambda_feat", "lambda_kld", "threads",
                "dataset"):
        assert key in train, key
    assert train["seed"] == 3 and train["steps"] == 2 and train["batch_size"] == 2 and train["dataset"] == TINY
    prov = info["provenance"]
    for key in ("git_commit", "versions", "device", "date", "seconds", "steps_done", "reproduce"):
        assert key in prov, key
    assert prov["steps_done"] == 2 and "train_smis(steps=2" in prov["reproduce"]
    data = (tmp / "a" / f"{NAME}.pt").read_bytes()
    assert info["weights"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert info["weights"]["bytes"] == len(data)


def test_export_loads_strictly(runs):
    tmp, _, _ = runs
    info = json.loads((tmp / "a" / f"{NAME}.json").read_text())
    state = torch.load(tmp / "a" / f"{NAME}.pt", map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    model = SmisGenerator(generator_options(info["options"]))
    model.load_state_dict(state, strict=True)
    model.eval()
    seg = torch.zeros(1, 35, 32, 64)
    seg[:, 7] = 1.0
    out = model(seg, generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 3, 32, 64) and torch.isfinite(out).all()


def test_class_crops_box_resize():
    maps = torch.zeros(1, 3, 4, 4)
    maps[0, 0, :2, :2] = 1.0  # class 0: top-left 2x2 box
    maps[0, 1] = 1.0 - maps[0, 0]
    image = torch.arange(48, dtype=torch.float32).view(1, 3, 4, 4)
    crops = class_crops(maps, image)
    assert crops.shape == (1, 6, 4, 4)
    # class 0's box (rows 0-1, cols 0-1) scaled up by 2, nearest
    expected = image[0, :, :2, :2].repeat_interleave(2, 1).repeat_interleave(2, 2)
    assert torch.equal(crops[0, :3], expected)


def test_unknown_setting_and_vgg_without_weights(tmp_path):
    with pytest.raises(UserError):
        _run(tmp_path, "x", lr_gen=1.0)
    with pytest.raises(UserError):
        _run(tmp_path, "y", lambda_vgg=10.0)
