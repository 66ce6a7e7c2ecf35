"""Guidance distillation: the target, the trained layers, resume, the export over its base and sampler=distilled."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from semcom_bench import api
from semcom_bench.config import build_config
from semcom_bench.errors import UserError
from semcom_bench.methods.semantic.gesco import EMBEDDED, load_network
from semcom_bench.nets.semantic_unet import read_state_dict
from semcom_bench.training import latest_ema
from semcom_bench.weights import resolve

DATA = "synthetic-streets(size=4,height=32,width=64)"


def _distiller(tmp_path, **overrides):
    from semcom_bench.diffusion.distill import GuidanceDistiller, distill_config

    data = {"name": "synthetic-streets", "split": "train", "size": 4, "height": 32, "width": 64, "seed": 0}
    cfg = distill_config("gesco-guided", dataset=data, batch_size=2, workers=1, model_downsample=1, **overrides)
    return GuidanceDistiller(cfg, tmp_path / "run", data_cache=tmp_path / "scenes.npz", log=lambda s: None)


def test_the_student_learns_the_guided_output_in_its_spade_layers_only(tmp_path):
    from semcom_bench.diffusion.distill import is_trainable
    from semcom_bench.diffusion.sampling import GuidedModel

    trainer = _distiller(tmp_path)
    teacher = read_state_dict(trainer.init_origin["file"])
    assert all(torch.equal(trainer.teacher.state_dict()[k], v.float()) for k, v in teacher.items())
    # at the start the student is the teacher: its one pass is the conditional output, not the guided one
    x, y = torch.randn(2, 3, 32, 64), torch.zeros(2, 35, 32, 64)
    y[:, 7] = 1.0
    t = torch.tensor([900, 300])
    with torch.no_grad():
        guided = GuidedModel(trainer.teacher, y, 2.0)(x, t)
        cond = trainer.model(x, t, y)
        uncond = trainer.teacher(x, t, torch.zeros_like(y))
    torch.testing.assert_close(guided[:, :3], 2 * cond[:, :3] - uncond[:, :3])
    torch.testing.assert_close(guided[:, 3:], cond[:, 3:])
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    losses = [trainer.train_step() for _ in range(2)]
    assert all(float(row["loss"]) > 0 for row in losses)
    after = trainer.model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(is_trainable(k) for k in moved)
    assert any("in_norm.mlp_shared" in k for k in moved) and any("out_norm.mlp_gamma" in k for k in moved)
    assert all(not p.requires_grad for p in trainer.teacher.parameters())


def test_cli_resume_and_the_export_over_its_base(tmp_path, monkeypatch):
    from semcom_bench.cli.main import app

    monkeypatch.setenv("SEMCOM_CACHE", str(tmp_path / "cache"))
    out, exp = tmp_path / "run", tmp_path / "exp"
    base = ["train", "gesco-guided", "--dataset", DATA, "--batch-size", "2", "--device", "cpu", "--workers", "1",
            "--checkpoint-every", "1", "--log-every", "1", "--out"]
    runner = CliRunner()
    res = runner.invoke(app, [*base, str(out), "--steps", "1"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, [*base, str(out), "--steps", "2", "--resume", "--export", str(exp)])
    assert res.exit_code == 0, res.output
    assert "resumed from step 1" in res.output
    res = runner.invoke(app, [*base, str(tmp_path / "straight"), "--steps", "2"])
    assert res.exit_code == 0, res.output
    a = torch.load(out / "model_000002.pt", weights_only=True)
    b = torch.load(tmp_path / "straight" / "model_000002.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)  # resuming changes nothing

    info = json.loads((exp / "gesco-guided-synthetic-streets.json").read_text())
    assert info["distilled"]["guidance"] == 2.0 and info["base"] == {"init": "gesco", "sha256": EMBEDDED["gesco"].sha256}
    shipped = read_state_dict(exp / "gesco-guided-synthetic-streets.pt")
    deltas = {k: v for k, v in shipped.items() if not k.endswith(".delta_scale")}
    assert deltas and all("_norm." in k and v.dtype == torch.int8 for k, v in deltas.items())
    assert info["weights"]["parameters"] == sum(v.numel() for v in deltas.values())
    # loading rebuilds the student: the base network with the distilled differences over it,
    # each within half a quantisation step of the trained EMA
    model, settings = load_network(str(exp / "gesco-guided-synthetic-streets.pt"), "cpu")
    assert settings["distilled_guidance"] == 2.0
    ema, base = read_state_dict(latest_ema(out)), read_state_dict(resolve(EMBEDDED["gesco"].name))
    state = model.state_dict()
    for k, v in ema.items():
        if k in deltas:
            scale = shipped[k + ".delta_scale"].float().view(-1, *([1] * (v.dim() - 1)))
            assert ((state[k] - v).abs() <= scale * 0.5001 + 1e-7).all(), k
        else:
            assert torch.equal(state[k], base[k].float()), k
    assert any(not torch.equal(state[k], base[k].float()) for k in deltas)
    res = runner.invoke(app, ["train", "sdm-guided", "--init", "gesco", "--export", "assets", "--steps", "1"])
    assert res.exit_code == 2 and "--export assets ships the student of the shipped sdm" in res.output


def test_distilled_sampler_runs_one_pass_per_step_and_refuses_what_it_cannot_do(tmp_path):
    trainer = _distiller(tmp_path)
    trainer.train_step()
    info = trainer.export(tmp_path / "exp", "student", command="semcom-bench train gesco-guided")
    student = tmp_path / "exp" / "student.pt"
    assert info["base"]["init"] == "gesco"

    def run(methods: str):
        cfg = build_config(dataset="synthetic-streets(size=1)", methods=methods, channels="awgn", values="10",
                           metrics="cost", out=tmp_path / "out", cache_dir=tmp_path / "cache", threads=1)
        return api.run(cfg)["frame"]

    frame = run(f"gesco(sampler=distilled,steps=3,weights={student})")
    assert frame[frame.output == "network_passes"]["value"].tolist() == [3.0]
    with pytest.raises(UserError, match="are guidance-distilled"):
        run(f"gesco(steps=3,weights={student})")
    with pytest.raises(UserError, match="not guidance-distilled"):
        run(f"gesco(sampler=distilled,steps=3,weights={trainer.init_origin['file']})")
    with pytest.raises(UserError, match="distilled at guidance 2, not 3"):
        run(f"gesco(sampler=distilled,steps=3,guidance=3,weights={student})")
    for spec, message in (("gesco(sampler=distilled,guidance_from=500)", "drop guidance_from"),
                          ("gesco(sampler=distilled,guidance=3)", "guidance 2 built in"),
                          ("gesco(sampler=distilled,checkpoint=gesco-fds)", "no distilled gesco-fds network"),
                          ("gesco(sampler=dpmpp,variance_scale=0.8)", "sampler=dpmpp adds none")):
        with pytest.raises(UserError, match=message):
            run(spec)
    # a base that is not the one the tensors were trained on
    info["base"]["sha256"] = "0" * 64
    (tmp_path / "exp" / "student.json").write_text(json.dumps(info))
    load_network.cache_clear()
    with pytest.raises(UserError, match="fine-tuned from another version of gesco"):
        run(f"gesco(sampler=distilled,steps=2,weights={student})")
