"""Training of the embedded CC-FPSE generator: a 2-step run on 8 scenes, reproducible and exportable."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch

from semcom_bench_baselines.ccfpse import training
from semcom_bench_baselines.ccfpse.network import CcfpseOptions, CondConvGenerator
from semcom_bench_baselines.ccfpse.training import NAME, train_ccfpse


def _run(out: Path, cache: Path, **kw):
    return train_ccfpse(steps=2, batch_size=4, seed=3, threads=1, time_limit_s=None, out=out, log=lambda s: None,
                        workers=1, data_cache=cache, data_size=8, log_every=1, **kw)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ccfpse")
    cache = root / "scenes.npz"
    return _run(root / "a", cache), _run(root / "b", cache), root


def test_losses_finite_and_reproducible(two_runs):
    a, b, _ = two_runs
    assert a["steps"] == 2 and not a["stopped_early"]
    for row in a["history"]:  # the embedded recipe trains without the VAE
        assert {"G_GAN", "G_feat", "D_fake", "D_real"} <= set(row) and "G_KLD" not in row
        assert all(math.isfinite(v) for v in row.values())
    assert a["history"] == b["history"]
    assert Path(a["weights"]).read_bytes() == Path(b["weights"]).read_bytes()
    ja, jb = (json.loads(Path(r["json"]).read_text()) for r in (a, b))
    assert ja["weights"]["sha256"] == jb["weights"]["sha256"]
    assert ja["train"] == jb["train"]


def test_json_follows_the_contract(two_runs):
    a, _, _ = two_runs
    info = json.loads(Path(a["json"]).read_text())
    assert info["method"] == "cc-fpse" and info["size"] == [32, 64]
    assert "34 label ids" in info["label_space"] and "instance edges" in info["label_space"]
    opts = CcfpseOptions(**info["options"])
    assert opts.label_nc == 34 and not opts.no_instance and opts.image_size == (32, 64)
    train = info["train"]
    for key in ("seed", "steps", "batch_size", "lr_g", "lr_d", "betas", "losses", "threads", "data"):
        assert key in train
    assert train["seed"] == 3 and train["steps"] == 2 and train["batch_size"] == 4 and train["threads"] == 1
    assert train["losses"]["gan"] == "hinge" and train["losses"]["kld"] is None and train["losses"]["vgg"] is None
    assert train["encoder"] is None and opts.use_vae is False
    assert train["data"] == {"name": "synthetic-streets", "split": "train", "size": 8, "height": 32, "width": 64,
                             "seed": 0}
    prov = info["provenance"]
    for key in ("git_commit", "versions", "device", "date", "seconds", "steps_done", "reproduce"):
        assert key in prov
    assert prov["steps_done"] == 2 and "steps=2" in prov["reproduce"]
    path = Path(a["weights"])
    assert info["weights"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info["weights"]["bytes"] == path.stat().st_size


def test_the_official_vae_path_trains_the_encoder_with_the_kl_term(tmp_path):
    run = _run(tmp_path / "vae", tmp_path / "scenes.npz", use_vae=True)
    assert all("G_KLD" in row and math.isfinite(row["G_KLD"]) for row in run["history"])
    info = json.loads(Path(run["json"]).read_text())
    assert CcfpseOptions(**info["options"]).use_vae is True and info["train"]["losses"]["kld"] == 0.05
    assert info["train"]["encoder"]["shipped"] is False and "N(0, I)" in info["train"]["encoder"]["test_time_z"]


def test_export_loads_strictly_and_is_finite_in_eval(two_runs):
    a, _, _ = two_runs
    info = json.loads(Path(a["json"]).read_text())
    state = torch.load(a["weights"], map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    net = CondConvGenerator(CcfpseOptions(**info["options"]))
    net.load_state_dict(state, strict=True)
    net.eval()
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(34, (2, 32, 64), generator=g)
    seg = torch.cat((torch.nn.functional.one_hot(labels, 34).permute(0, 3, 1, 2).float(),
                     torch.zeros(2, 1, 32, 64)), dim=1)
    with torch.no_grad():
        img = net(seg, generator=torch.Generator().manual_seed(1))
    assert img.shape == (2, 3, 32, 64) and torch.isfinite(img).all()


def test_export_copies_into_the_assets_folder(two_runs, monkeypatch, tmp_path):
    _, _, root = two_runs
    monkeypatch.setattr(training, "ASSETS", tmp_path / "assets" / "cc-fpse")
    r = train_ccfpse(steps=1, batch_size=2, seed=0, threads=1, time_limit_s=None, out=tmp_path / "run", export=True,
                     log=lambda s: None, workers=1, data_cache=root / "scenes.npz", data_size=8)
    assert r["exported"] == str(tmp_path / "assets" / "cc-fpse" / f"{NAME}.pt")
    for suffix in (".pt", ".json"):
        assert (tmp_path / "assets" / "cc-fpse" / f"{NAME}{suffix}").read_bytes() == \
            (tmp_path / "run" / f"{NAME}{suffix}").read_bytes()


def test_unknown_setting_is_a_user_error(tmp_path):
    from semcom_bench.errors import UserError

    with pytest.raises(UserError, match="no setting"):
        train_ccfpse(steps=1, batch_size=2, seed=0, threads=1, time_limit_s=None, out=tmp_path, log=lambda s: None,
                     workers=1, data_cache=None, lambda_foo=1)
