"""OASIS training: a 2-step run on 8 scenes is reproducible and exports per the baselines' contract."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch

from semcom_bench.weight_codecs import INT8, SCALE_SUFFIX, dequantise
from semcom_bench_baselines.oasis import training
from semcom_bench_baselines.oasis.discriminator import DiscriminatorOptions, OasisDiscriminator
from semcom_bench_baselines.oasis.network import OASIS_Generator, OasisOptions

#: a tiny run: 8 scenes, batch 4, 2 steps, one batch-norm refresh pass
TINY = dict(steps=2, batch_size=4, seed=3, threads=1, workers=1, data_size=8, ema_stats_batches=1, log=lambda _: None)


def _run(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch, cache: Path) -> dict:
    monkeypatch.setattr(training, "ASSETS", tmp_path / name / "assets")
    return training.train_oasis(out=tmp_path / name / "out", export=True, data_cache=cache, command="semcom-bench x",
                                **TINY)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    tmp = tmp_path_factory.mktemp("oasis")
    cache = tmp / "scenes.npz"
    with pytest.MonkeyPatch.context() as mp:
        a = _run(tmp, "a", mp, cache)
        b = _run(tmp, "b", mp, cache)
    return tmp, a, b


def _files(tmp: Path, name: str) -> tuple[Path, Path]:
    folder = tmp / name / "assets" / "oasis"
    return folder / "oasis-synthetic-streets.pt", folder / "oasis-synthetic-streets.json"


def test_losses_finite(runs: tuple[Path, dict, dict]) -> None:
    _, a, _ = runs
    assert a["steps"] == 2 and len(a["history"]) == 2
    for row in a["history"]:
        assert all(math.isfinite(v) for v in row.values())


def test_same_seed_same_export(runs: tuple[Path, dict, dict]) -> None:
    tmp, a, b = runs
    assert _files(tmp, "a")[0].read_bytes() == _files(tmp, "b")[0].read_bytes()
    assert a["history"] == b["history"]


def test_json_fields_and_sha256(runs: tuple[Path, dict, dict]) -> None:
    tmp, _, _ = runs
    pt, js = _files(tmp, "a")
    info = json.loads(js.read_text())
    assert info["method"] == "oasis" and info["size"] == [32, 64]
    assert info["options"]["semantic_nc"] == 34 and "label_space" in info
    train = info["train"]
    for key in ("seed", "steps", "batch_size", "lr_g", "lr_d", "betas", "losses", "lambda_labelmix", "ema_decay",
                "threads", "data"):
        assert key in train, key
    assert train["data"] == {"name": "synthetic-streets", "split": "train", "size": 8, "height": 32, "width": 64,
                             "seed": 0}
    assert train["seed"] == 3 and train["steps"] == 2 and train["betas"] == [0.0, 0.999]
    prov = info["provenance"]
    for key in ("git_commit", "versions", "device", "date", "seconds", "steps_done", "reproduce"):
        assert key in prov, key
    assert prov["steps_done"] == 2 and "--steps 2" not in prov["command"]
    data = pt.read_bytes()
    assert info["weights"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert info["weights"]["bytes"] == len(data)


def test_export_loads_strictly(runs: tuple[Path, dict, dict]) -> None:
    tmp, _, _ = runs
    pt, js = _files(tmp, "a")
    options = OasisOptions(**json.loads(js.read_text())["options"])
    assert json.loads(js.read_text())["weights"]["encoding"] == INT8
    state = torch.load(pt, map_location="cpu", weights_only=True)
    model = OASIS_Generator(options)
    shapes = {k: v.dim() for k, v in model.state_dict().items() if v.is_floating_point()}
    # weights of 2+ dims as int8 with a float32 scale per output channel, the rest float16
    assert {k: v.dtype for k, v in state.items() if k in shapes} == {
        k: torch.int8 if d >= 2 else torch.float16 for k, d in shapes.items()}
    assert all(state[k + SCALE_SUFFIX].shape == (state[k].shape[0],) for k, d in shapes.items() if d >= 2)
    model.load_state_dict(dequantise(state), strict=True)
    model.eval()
    label = torch.nn.functional.one_hot(torch.randint(0, 34, (1, 32, 64), generator=torch.Generator().manual_seed(0)),
                                        34).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        img = model(label, generator=torch.Generator().manual_seed(0))
    assert img.shape == (1, 3, 32, 64) and torch.isfinite(img).all()


def test_discriminator_shape() -> None:
    d = OasisDiscriminator(DiscriminatorOptions(semantic_nc=34, base=8, levels=4))
    assert d(torch.zeros(2, 3, 32, 64)).shape == (2, 35, 32, 64)


def test_class_balancing_official_formula() -> None:
    ids = torch.tensor([[[1, 1, 1, 2]]])  # 3 pixels of class 1, 1 of class 2
    label = torch.nn.functional.one_hot(ids, 4).permute(0, 3, 1, 2).float()
    w = training.class_balancing(label)
    # numel 16 / (2 present * 4 channels) = 2; class 1: 2 / 3, class 2: 2 / 1
    assert torch.allclose(w, torch.tensor([[[2 / 3, 2 / 3, 2 / 3, 2.0]]]))


def test_unknown_recipe_setting_refused(tmp_path: Path) -> None:
    from semcom_bench.errors import UserError

    with pytest.raises(UserError, match="lambda_vgg"):
        training.train_oasis(steps=1, out=tmp_path, lambda_vgg=10.0, **{k: v for k, v in TINY.items() if k != "steps"})


def test_resumed_run_equals_the_uninterrupted_one(runs: tuple[Path, dict, dict], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """1 step, then --resume to 2 (checkpoints every step): the same G, EMA, D and export as 2 steps at once."""
    tmp, a, _ = runs
    monkeypatch.setattr(training, "ASSETS", tmp_path / "assets")
    out = tmp_path / "out"
    options = {**TINY, "checkpoint_every": 1}
    training.train_oasis(out=out, data_cache=tmp / "scenes.npz", **{**options, "steps": 1})
    resumed = training.train_oasis(out=out, data_cache=tmp / "scenes.npz", resume=True, export=True,
                                   command="semcom-bench x", **options)
    assert resumed["history"] == a["history"]
    for kind in ("model", "ema_0.999", "opt"):
        mine = torch.load(out / f"{kind}_000002.pt", weights_only=True)
        straight = torch.load(tmp / "a" / "out" / f"{kind}_000002.pt", weights_only=True)
        mine = mine["discriminator"] if kind == "opt" else mine
        straight = straight["discriminator"] if kind == "opt" else straight
        assert all(torch.equal(mine[k], straight[k]) for k in straight), kind
    assert (tmp_path / "assets" / "oasis" / "oasis-synthetic-streets.pt").read_bytes() == _files(tmp, "a")[0].read_bytes()
    from semcom_bench.errors import UserError

    with pytest.raises(UserError, match="recipe differs"):
        training.train_oasis(out=out, data_cache=tmp / "scenes.npz", resume=True, lambda_labelmix=1.0, **options)


def test_resume_and_device_are_oasis_options_only() -> None:
    from typer.testing import CliRunner

    from semcom_bench.cli.main import app

    res = CliRunner().invoke(app, ["train", "spade", "--resume", "--steps", "1"])
    assert res.exit_code == 2 and "--resume is not supported by 'train spade' (only by 'train oasis')" in res.output


@pytest.mark.parametrize("flag", ["--checkpoint-every", "--steps", "--batch-size", "--threads"])
def test_a_count_below_one_names_its_flag(flag: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from semcom_bench.cli.main import app

    res = CliRunner().invoke(app, ["train", "oasis", flag, "0", "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and f"{flag} must be at least 1, got 0" in " ".join(res.output.split())
    assert not (tmp_path / "out").exists()
