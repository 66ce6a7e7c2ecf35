"""The embedded latent diffusion model of ddsc: its recipe, its diffusers folder and the shipped copy."""

from __future__ import annotations

import json

import pytest
import torch

from semcom_bench import weights
from semcom_bench.errors import UserError
from semcom_bench.hashing import hash_file
from semcom_bench_baselines.ddsc import base_training as bt

TINY = {"vae_block_out_channels": (8, 16, 16), "vae_norm_num_groups": 8, "unet_block_out_channels": (16, 16, 32),
        "unet_norm_num_groups": 8, "unet_attention_head_dim": 8, "data_size": 4, "scale_images": 4, "log_every": 1,
        "checkpoint_every": 1}
COMMAND = "semcom-bench train ddsc-base --vae-steps 2 --unet-steps 2 --vae-time-limit 5 --out x"


def _train(tmp, name: str, *, vae_steps: int = 2, unet_steps: int = 2, resume: bool = False, evaluate_images: int = 0):
    return bt.train_ddsc_base(vae_steps=vae_steps, unet_steps=unet_steps, vae_batch_size=2, unet_batch_size=3, seed=0,
                              threads=1, out=tmp / name, resume=resume, evaluate_images=evaluate_images,
                              log=lambda _: None, workers=1, data_cache=tmp / "scenes.npz", command=COMMAND, **TINY)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddsc-base")
    return tmp, _train(tmp, "a", evaluate_images=2)


def _tiny_unet(folder):
    cfg = json.loads((folder / "unet" / "config.json").read_text())
    return bt.build_unet(tuple(cfg["sample_size"]), **TINY)


def _ema_weights(unet_folder):
    (path,) = sorted(unet_folder.glob("ema_*.pt"))
    return torch.load(path, weights_only=True)


def test_exported_folder_loads_in_diffusers_with_the_trained_outputs(run):
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DModel

    tmp, summary = run
    folder = summary["folder"]
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "ddsc-base.json", "scheduler/scheduler_config.json", "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors", "vae/config.json", "vae/diffusion_pytorch_model.safetensors"]
    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", local_files_only=True).eval()
    unet = UNet2DModel.from_pretrained(folder, subfolder="unet", local_files_only=True).eval()
    sched = DDIMScheduler.from_pretrained(folder, subfolder="scheduler", local_files_only=True)
    # the float16 files come back as float32 models, as the method's loader (low_cpu_mem_usage=False) reads them too
    slow = AutoencoderKL.from_pretrained(folder, subfolder="vae", local_files_only=True, low_cpu_mem_usage=False)
    assert {p.dtype for p in [*vae.parameters(), *unet.parameters(), *slow.parameters()]} == {torch.float32}

    # the trained networks (float32 in the training folder), rounded to float16 as exported
    trained_vae = AutoencoderKL.from_pretrained(tmp / "a" / "vae" / "final", local_files_only=True).eval()
    trained_vae.to(torch.float16).to(torch.float32)
    trained_unet = _tiny_unet(folder)
    trained_unet.load_state_dict(_ema_weights(tmp / "a" / "unet"))
    trained_unet.to(torch.float16).to(torch.float32).eval()
    assert vae.config.scaling_factor == trained_vae.config.scaling_factor != 1.0

    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 64, 128, generator=g) * 2 - 1
    z = torch.randn(2, 4, 16, 32, generator=g)
    t = torch.tensor([10, 900])
    with torch.no_grad():
        assert torch.equal(vae.encode(x).latent_dist.mean, trained_vae.encode(x).latent_dist.mean)
        assert torch.equal(vae.decode(z).sample, trained_vae.decode(z).sample)
        assert torch.equal(unet(z, t).sample, trained_unet(z, t).sample)
    assert vae.encode(x).latent_dist.mean.shape == (2, 4, 16, 32)
    # the EMA weights are the ones exported, not the last iterate
    last = torch.load(sorted((tmp / "a" / "unet").glob("model_*.pt"))[-1], weights_only=True)
    assert any(not torch.equal(last[k].half(), v.half()) for k, v in _ema_weights(tmp / "a" / "unet").items())
    for key, value in bt.SD2_SCHEDULER.items():
        assert sched.config[key] == value, key


def test_schedule_is_sd2s_and_ddsc_steps_follow_the_official_grid():
    sched = bt.build_scheduler()
    ldm = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2  # ldm's "linear"
    assert torch.allclose(sched.betas.double(), ldm, rtol=1e-6, atol=0)
    sched.set_timesteps(50)
    grid = [int(t) for t in sched.timesteps]
    assert grid[0] == 981 and grid[-1] == 1  # leading spacing + steps_offset 1: range(0, 1000, 20) + 1
    # official S=50 indices 18/13/9/6/3 for 0/3/6/9/12 dB with P = 1 (REFERENCES-BASELINES §6)
    starts = [bt.ddsc_start_step(s / (s + 1.0), grid, sched.alphas_cumprod.double())
              for s in (10 ** (db / 10) for db in (0, 3, 6, 9, 12))]
    assert starts == [18 * 20 + 1, 13 * 20 + 1, 9 * 20 + 1, 6 * 20 + 1, 3 * 20 + 1]


def test_scaling_factor_is_one_over_the_latent_std(run):
    from diffusers import AutoencoderKL

    from semcom_bench.training import render_training_set

    tmp, summary = run
    record = json.loads((tmp / "a" / "vae" / "final.json").read_text())
    final = AutoencoderKL.from_pretrained(tmp / "a" / "vae" / "final", local_files_only=True).eval()
    assert final.config.scaling_factor == pytest.approx(1.0 / record["latent_std"], rel=1e-12)
    images = torch.from_numpy(render_training_set(bt.data_spec(4), 1, tmp / "scenes.npz", lambda _: None,
                                                  fields=("images",))["images"])
    stats = bt.latent_statistics(final, images, 4, seed=1)  # the recipe's draw: seed + 1
    assert stats["std"] == pytest.approx(record["latent_std"], rel=1e-9)
    assert record["scale_images"] == 4
    info = summary["info"]
    assert info["latent"]["scaling_factor"] == final.config.scaling_factor == bt.load_folder(summary["folder"])[0].config.scaling_factor
    assert info["latent"]["shape"] == [4, 16, 32]


def test_json_records_recipe_provenance_files_and_quality(run):
    _, summary = run
    folder, info = summary["folder"], json.loads(summary["json"].read_text())
    assert info["train"]["vae"]["steps"] == 2 and info["train"]["unet"]["steps"] == 2
    assert info["train"]["vae"]["stopped_by"] == "steps"
    assert info["provenance"]["command"] == COMMAND
    assert info["provenance"]["reproduce"] == "semcom-bench train ddsc-base --vae-steps 2 --unet-steps 2 --out x"
    assert info["recipe"]["vae_block_out_channels"] == [8, 16, 16]
    for f in info["files"]:
        assert hash_file(folder / f["file"]) == f["sha256"]
    assert info["folder_sha256"] == {p: weights.checksum(folder / p) for p in ("vae", "unet", "scheduler")}
    q = info["quality"]
    assert q["images"] == 2 and q["data"]["split"] == "test"
    assert set(q["denoise"]) == {"50", "100", "200", "400", "700"}
    assert [q["channel"][f"{s}dB"]["start_step"] for s in (0, 3, 6, 9, 12)] == [361, 261, 181, 121, 61]
    for row in q["channel"].values():
        if isinstance(row, dict):
            assert all(v == v and abs(v) < 1e6 for v in row.values())


def test_resume_continues_to_the_same_weights(tmp_path):
    straight = _train(tmp_path, "straight", vae_steps=2, unet_steps=3)
    _train(tmp_path, "resumed", vae_steps=2, unet_steps=1)
    with pytest.raises(UserError, match="--resume"):
        _train(tmp_path, "resumed", vae_steps=2, unet_steps=3)
    resumed = _train(tmp_path, "resumed", vae_steps=2, unet_steps=3, resume=True)
    for part in ("vae/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.safetensors"):
        assert hash_file(straight["folder"] / part) == hash_file(resumed["folder"] / part), part
    assert resumed["info"]["train"]["unet"]["steps"] == 3


def test_resume_inside_a_stage_restores_the_random_streams(tmp_path):
    from semcom_bench.training import render_training_set

    r = bt._check_recipe(TINY)
    images = torch.from_numpy(render_training_set(bt.data_spec(4), 1, tmp_path / "s.npz", lambda _: None,
                                                  fields=("images",))["images"])

    def stage(folder, steps, resume=False):
        s = bt._VaeStage(images, 2, folder=tmp_path / folder, steps=steps, time_limit_s=None, r=r, seed=0,
                         ema_decay=0.0, log=lambda _: None)
        if resume:
            s.resume()
        s.run()
        return s.net.state_dict()

    whole = stage("whole", 3)
    stage("parts", 1)
    parts = stage("parts", 3, resume=True)
    assert all(torch.equal(whole[k], parts[k]) for k in whole)


def test_reproduce_command_names_the_steps_done():
    cmd = "semcom-bench train ddsc-base --vae-steps 100000 --unet-steps=100000 --vae-time-limit 720 --unet-time-limit 1500 --export --resume"
    assert bt.reproduce(cmd, 812, 3456) == "semcom-bench train ddsc-base --vae-steps 812 --unet-steps 3456 --export"


def test_unknown_recipe_setting_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="unknown ddsc-base recipe settings"):
        bt.train_ddsc_base(out=tmp_path, vae_widths=(1, 2))


# ------------------------------------------------------------------------------ the shipped model


def test_shipped_folder_matches_its_declared_checksums():
    for part, weight in bt.EMBEDDED_PARTS.items():
        assert weight.sha256, f"{weight.name} has no declared sha256"
        assert weights.resolve(weight.name) == weights.ASSETS / "ddsc-base" / part
    assert bt.embedded_base() == bt.ASSETS
    info = json.loads((bt.ASSETS / "ddsc-base.json").read_text())
    for f in info["files"]:
        assert hash_file(bt.ASSETS / f["file"]) == f["sha256"], f["file"]
    assert {p: w.sha256 for p, w in bt.EMBEDDED_PARTS.items()} == info["folder_sha256"]
    shipped = sum(p.stat().st_size for p in bt.ASSETS.rglob("*") if p.is_file())
    assert shipped < 6.5e6


def test_shipped_model_loads_as_float32_with_its_scaling(tmp_path):
    vae, unet, sched = bt.load_folder(bt.ASSETS)
    info = json.loads((bt.ASSETS / "ddsc-base.json").read_text())
    assert vae.config.scaling_factor == info["latent"]["scaling_factor"]
    assert vae.config.scaling_factor == pytest.approx(1.0 / info["latent"]["std_before_scaling"])
    assert vae.config.latent_channels == unet.config.in_channels == 4
    assert {p.dtype for p in [*vae.parameters(), *unet.parameters()]} == {torch.float32}
    assert sched.config.prediction_type == "epsilon" and sched.config.steps_offset == 1
    x = torch.zeros(1, 3, 64, 128)
    with torch.no_grad():
        z = vae.encode(x).latent_dist.mode() * vae.config.scaling_factor
        assert z.shape == (1, 4, 16, 32)
        assert torch.isfinite(unet(z, torch.tensor([100])).sample).all()


def test_cli_runs_the_recipe_and_refuses_bad_options_before_rendering(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from semcom_bench.cli.main import app

    calls = []
    monkeypatch.setattr(bt, "render_training_set", lambda *a, **k: calls.append(a) or {"images": None})
    res = CliRunner().invoke(app, ["train", "ddsc-base", "--vae-steps", "0", "--out", str(tmp_path / "x")],
                             terminal_width=400)
    assert res.exit_code == 2 and not calls, res.output
    assert [ln for ln in res.output.splitlines() if ln.startswith("error:")] == [
        "error: vae_steps must be at least 1, got 0"]
    seen = {}
    monkeypatch.setattr(bt, "train_ddsc_base", lambda **kw: seen.update(kw))
    res = CliRunner().invoke(app, ["train", "ddsc-base", "--unet-time-limit", "60", "--resume", "--out", str(tmp_path / "y")])
    assert res.exit_code == 0, res.output
    assert seen["unet_time_limit_s"] == 60.0 and seen["resume"] is True and seen["out"] == tmp_path / "y"
    assert "vae_steps" not in seen  # left out: the recipe's default, the shipped run's steps
    assert seen["command"].startswith("semcom-bench ")
