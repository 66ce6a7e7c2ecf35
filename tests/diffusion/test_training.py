"""Noisy training (the channel on the maps, the official σ variant) and a 2-step CPU training run."""

from __future__ import annotations

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from semcom_bench.channels.awgn import AWGN
from semcom_bench.data.synthetic_streets import SyntheticStreets
from semcom_bench.diffusion.noise import TRAIN_PSNRS, channel_maps, clean_maps, draw_psnr, noisy_training_maps, symbol_scale
from semcom_bench.methods.semantic.gesco import EMBEDDED, network_state
from semcom_bench.training import latest_ema
from semcom_bench.weight_codecs import FP16_XOR, tensors_sha256
from semcom_bench.semantics import decode_semantics, encode_semantics, instance_edges

EMBEDDED_GESCO_SHA = EMBEDDED["gesco"].sha256


def _batch(n: int = 2):
    ds = SyntheticStreets(split="test", size=n, height=32, width=64)
    samples = [ds[i] for i in range(n)]
    labels = torch.stack([torch.from_numpy(s.labels.astype("int64")) for s in samples])
    edges = torch.stack([instance_edges(s.instances) for s in samples])
    return samples, labels, edges


def test_channel_noise_follows_the_sender_channel_receiver_path():
    samples, labels, edges = _batch()
    maps, sent = clean_maps(labels, edges, 34)
    for power in ("average", "peak"):
        scale = symbol_scale(maps, sent, power)
        for i, s in enumerate(samples):
            sem = encode_semantics(s, 34, power=power)
            assert math.isclose(float(scale[i]), sem.side.scale, rel_tol=1e-5)
            # the reference path at 5 dB: same clean part, same noise law
            rx = AWGN()(sem.symbols, 5.0, torch.Generator().manual_seed(i))
            ref = decode_semantics(rx, sem.side, fds=False)
            assert ref.shape == maps[i].shape
            absent = ~sent[i]
            assert torch.count_nonzero(ref[absent]) == 0
            expected_std = sem.side.scale * math.sqrt(10 ** (-0.5) / 2)
            assert abs(float((ref - maps[i])[sent[i]].std()) / expected_std - 1) < 0.03
        ours = channel_maps(maps, sent, torch.full((2,), 5.0), torch.Generator().manual_seed(0), power)
        for i in range(2):
            expected_std = float(scale[i]) * math.sqrt(10 ** (-0.5) / 2)
            assert torch.count_nonzero(ours[i][~sent[i]]) == 0
            assert abs(float((ours[i] - maps[i])[sent[i]].std()) / expected_std - 1) < 0.03
    # peak normalisation: the noise std per map value is the paper's sigma = 10^(-PSNR/20)
    peak = channel_maps(maps, sent, torch.full((2,), 10.0), torch.Generator().manual_seed(0), "peak")
    assert abs(float((peak - maps)[sent[:, :, None, None].expand_as(maps)].std()) - 10 ** (-0.5)) < 0.01


def test_noise_options():
    _, labels, edges = _batch()
    maps, sent = clean_maps(labels, edges, 34)
    g = torch.Generator().manual_seed(0)
    clean, level = noisy_training_maps(maps, sent, "none", g)
    assert torch.equal(clean, maps) and torch.count_nonzero(level) == 0
    # the official code's variant: one (B, 1, H, W) field on every channel, absent classes too
    seen = set()
    for _ in range(30):
        noisy, sigma = noisy_training_maps(maps, sent, "gesco-code", g)
        seen.add(round(float(sigma[0]), 2))
        diff = noisy - maps
        assert torch.allclose(diff, diff[:, :1].expand_as(diff), atol=1e-6)
    assert seen <= {0.6, 0.36, 0.22, 0.13, 0.08, 0.05, 0.0} and len(seen) > 3
    psnr = draw_psnr(9000, torch.Generator().manual_seed(1), "cpu")
    assert set(psnr.tolist()) == set(TRAIN_PSNRS)
    assert abs(float((psnr == 100).float().mean()) - 3 / 9) < 0.02


def test_two_step_cpu_training_with_checkpoint_and_resume(tmp_path, monkeypatch):
    from semcom_bench.cli.main import app

    monkeypatch.setenv("SEMCOM_CACHE", str(tmp_path / "cache"))
    out, exp = tmp_path / "run", tmp_path / "exp"
    base = ["train", "gesco", "--dataset", "synthetic-streets(size=4,height=32,width=64)", "--batch-size", "2",
            "--device", "cpu", "--out", str(out), "--workers", "1", "--checkpoint-every", "1", "--log-every", "1"]
    runner = CliRunner()
    res = runner.invoke(app, base + ["--steps", "1"])
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.glob("*.pt")} == {"model_000001.pt", "ema_0.999_000001.pt", "opt_000001.pt"}
    res = runner.invoke(app, base + ["--steps", "2", "--resume", "--export", str(exp)])
    assert res.exit_code == 0, res.output
    assert "resumed from step 1" in res.output
    straight = tmp_path / "straight"
    res = runner.invoke(app, [*base[:-8], "--out", str(straight), "--workers", "1", "--steps", "2"])
    assert res.exit_code == 0, res.output
    a = torch.load(out / "model_000002.pt", weights_only=True)
    b = torch.load(straight / "model_000002.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)  # resuming changes nothing
    info = json.loads((exp / "gesco-synthetic-streets.json").read_text())
    assert info["provenance"]["steps"] == 2 and info["train"]["noise"] == "channel"
    assert info["weights"]["dtype"] == "float16" and len(info["weights"]["sha256"]) == 64
    assert info["model_size"] == [16, 32]


def _trainer(tmp_path, name, **overrides):
    from semcom_bench.diffusion.training import DiffusionTrainer, recipe_config

    data = {"name": "synthetic-streets", "split": "train", "size": 4, "height": 32, "width": 64, "seed": 0}
    cfg = recipe_config("gesco", dataset=data, batch_size=2, workers=1, **overrides)
    return DiffusionTrainer(cfg, tmp_path / name, data_cache=tmp_path / "scenes.npz", log=lambda s: None)


def test_fds_in_training_filters_the_same_noisy_maps(tmp_path):
    from semcom_bench.semantics.fds import fds

    plain = _trainer(tmp_path, "plain", model_downsample=1)
    filtered = _trainer(tmp_path, "fds", model_downsample=1, fds=True)
    for _ in range(3):  # same seed: same scenes, PSNRs, noise and label drops
        x_a, maps_a, level_a = plain.batch()
        x_b, maps_b, level_b = filtered.batch()
        assert torch.equal(x_a, x_b) and torch.equal(level_a, level_b)
        torch.testing.assert_close(maps_b, fds(maps_a))
        assert not torch.equal(maps_a, maps_b)


def test_init_starts_from_the_shipped_or_exported_weights(tmp_path):
    from semcom_bench.diffusion.training import init_weights_path
    from semcom_bench.errors import UserError
    from semcom_bench.nets.semantic_unet import read_state_dict

    shipped = read_state_dict(init_weights_path("gesco"))
    tuned = _trainer(tmp_path, "tuned", init="gesco")
    state = tuned.model.state_dict()
    assert all(torch.equal(state[k], v.float()) for k, v in shipped.items())
    names = [n for n, _ in tuned.model.named_parameters()]
    assert all(torch.equal(e, state[n]) for n, e in zip(names, tuned.ema))  # the EMA starts there too
    tuned.train_step()
    info = tuned.export(tmp_path / "exp", "tuned", command="semcom-bench train gesco --init gesco")
    assert info["train"]["init"] == "gesco" and info["provenance"]["init"]["sha256"] == EMBEDDED_GESCO_SHA
    again = _trainer(tmp_path, "again", init=str(tmp_path / "exp" / "tuned.pt.xz"))  # stored over gesco
    exported = network_state(tmp_path / "exp" / "tuned.pt.xz")
    assert any(not torch.equal(exported[k], v) for k, v in shipped.items())
    assert all(torch.equal(again.model.state_dict()[k], v.float()) for k, v in exported.items())
    with pytest.raises(UserError, match="no such file"):
        _trainer(tmp_path, "bad", init=str(tmp_path / "missing.pt"))
    with pytest.raises(UserError, match="does not fit"):
        _trainer(tmp_path, "wide", init="gesco", net={"model_channels": 16})
    (tmp_path / "text.pt").write_text("not weights\n")
    with pytest.raises(UserError, match="is not a torch state-dict file"):
        _trainer(tmp_path, "text", init=str(tmp_path / "text.pt"))


def test_a_fine_tune_of_a_network_stored_over_another_exports_and_loads_over_it(tmp_path):
    """--init gesco-fds (itself stored over gesco): the export is stored over gesco-fds and decodes bit for bit."""
    tuned = _trainer(tmp_path, "tuned", init="gesco-fds")
    assert tuned.fine_tunes_shipped()
    tuned.train_step()
    info = tuned.export(tmp_path / "exp", "tuned", command="semcom-bench train gesco --init gesco-fds")
    assert info["base"] == {"init": "gesco-fds", "sha256": EMBEDDED["gesco-fds"].sha256}
    decoded = network_state(tmp_path / "exp" / "tuned.pt.xz")
    assert tensors_sha256(decoded) == info["weights"]["tensors_sha256"]
    assert all(torch.equal(decoded[k], v.half()) for k, v in tuned.ema_state_dict().items())


def test_fds_fine_tuning_from_the_cli_exports_the_gesco_fds_network(tmp_path):
    from semcom_bench.cli.main import app

    exp = tmp_path / "exp"
    res = CliRunner().invoke(app, ["train", "gesco", "--init", "gesco", "--fds", "--steps", "1", "--batch-size", "2",
                                   "--dataset", "synthetic-streets(size=4,height=64,width=128)", "--device", "cpu",
                                   "--workers", "1", "--out", str(tmp_path / "run"), "--export", str(exp)])
    assert res.exit_code == 0, res.output
    info = json.loads((exp / "gesco-fds-synthetic-streets.json").read_text())
    assert info["train"]["fds"] is True and info["provenance"]["init"]["sha256"] == EMBEDDED_GESCO_SHA
    # a fine-tune of a shipped network is stored as its lossless difference to it, and loads bit for bit
    exported = exp / "gesco-fds-synthetic-streets.pt.xz"
    assert info["weights"]["encoding"] == FP16_XOR and info["base"] == {"init": "gesco", "sha256": EMBEDDED_GESCO_SHA}
    assert not (exp / "gesco-fds-synthetic-streets.pt").exists() and info["weights"]["file"] == exported.name
    last = torch.load(latest_ema(tmp_path / "run"), weights_only=True)
    decoded = network_state(exported)
    assert tensors_sha256(decoded) == info["weights"]["tensors_sha256"]
    assert all(torch.equal(decoded[k], last[k].half()) for k in last)
    res = CliRunner().invoke(app, ["train", "gesco", "--init", "nowhere.pt", "--steps", "1", "--out", str(tmp_path / "bad")])
    assert res.exit_code == 2 and "--init nowhere.pt: no such file" in res.output
