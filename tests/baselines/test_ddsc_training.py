"""``train_ddsc`` / ``semcom-bench train ddsc`` on a tiny random diffusers base: reproducible, the hybrid loss, the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from semcom_bench import registry
from semcom_bench.errors import UserError
from semcom_bench.hashing import hash_file
from semcom_bench_baselines.ddsc.compression import load_official
from semcom_bench_baselines.ddsc.training import RECIPE, hybrid_loss, train_ddsc
from tests.baselines.ddsc_tiny import tiny_base


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tiny_base(tmp_path_factory.mktemp("ddsc-train") / "base")


def _train(base: Path, out: Path, cache: Path, **kw):
    lines: list[str] = []
    params = dict(c=8, steps=3, batch_size=2, base=str(base), out=out, workers=1, data_cache=cache, data_size=6,
                  eval_size=2, log=lines.append, command="semcom-bench train ddsc --c 8 --steps 3")
    params.update(kw)
    return train_ddsc(**params), lines


def test_a_short_run_is_reproducible_and_writes_the_official_format(base, tmp_path):
    cache = tmp_path / "scenes.npz"
    first, lines = _train(base, tmp_path / "a", cache)
    second, _ = _train(base, tmp_path / "b", cache)
    assert first["steps"] == 3 and any("ddsc step 3/3" in ln for ln in lines)
    assert hash_file(first["weights"]) == hash_file(second["weights"])
    ckpt = torch.load(first["weights"], weights_only=True)
    assert set(ckpt) == {"epoch", "en_state_dict", "de_state_dict", "en_optimizer", "de_optimizer"}
    en, de, _ = load_official(first["weights"], latent_channels=4, c=8)  # strict
    info = json.loads(Path(first["json"]).read_text())
    assert info["sizes"] == {"latent_channels": 4, "c": 8, "width": 16, "latent": [4, 16, 16], "sent": [8, 8, 8]}
    assert info["weights"]["sha256"] == hash_file(first["weights"])
    assert info["train"]["domain"] == "paper"
    assert info["train"]["loss"] == {"mse": "sample", "lambda_kl": 0.1, "gamma": 0.1, "reparameterise": True,
                                     "use_mse": True, "use_kl": True, "use_guidance": True}
    assert info["train"]["snrs_db"] == [-5.0, -3.0, -1.0, 1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 13.0]
    assert info["provenance"]["reproduce"] == "semcom-bench train ddsc --steps 3 --c 8"
    assert set(info["evaluation"]["per_snr_db"]) == {"1", "5", "9"}
    # the trained file runs as the method's weights
    method = registry.methods.create("ddsc", base=str(base), c=8, weights=str(first["weights"]), steps=10)
    assert method.use_reparameterisation() is True
    data = registry.datasets.create("synthetic-streets", size=1, height=64, width=64)  # the tiny VAE's sample_size
    payload = method.transmit_batch([data[0]], [torch.Generator()])[0]
    assert payload.channel_uses == 8 * 8 * 8 // 2


def test_ablation_switches_change_the_loss_and_are_recorded(base, tmp_path):
    cache = tmp_path / "scenes.npz"
    mse_only, _ = _train(base, tmp_path / "m", cache, reparameterise=False, use_kl=False, use_guidance=False)
    info = json.loads(Path(mse_only["json"]).read_text())
    assert info["train"]["loss"]["reparameterise"] is False and info["train"]["loss"]["gamma"] == 0.0
    assert set(mse_only["final"]) == {"mse", "total", "step"}
    method = registry.methods.create("ddsc", base=str(base), c=8, weights=str(mse_only["weights"]), steps=10)
    assert method.use_reparameterisation() is False  # as trained, from the JSON beside the file
    with pytest.raises(UserError, match="no variance"):
        _train(base, tmp_path / "x", cache, reparameterise=False)
    with pytest.raises(UserError, match="at least one of"):
        _train(base, tmp_path / "x", cache, use_mse=False, use_kl=False, use_guidance=False)
    with pytest.raises(UserError, match="unknown ddsc recipe"):
        _train(base, tmp_path / "x", cache, lamda1=0.1)


def test_hybrid_loss_terms_are_eq_37_in_both_domains():
    from semcom_bench_baselines.ddsc.training import targets

    torch.manual_seed(0)
    y = torch.randn(2, 4, 3, 3)
    mu, std = torch.randn_like(y), torch.rand_like(y) + 0.5
    alpha = torch.tensor([0.8, 0.5])
    a = alpha.reshape(-1, 1, 1, 1)
    sample, mean, var = targets(y, alpha, "paper", torch.Generator().manual_seed(3))
    eps = torch.randn(y.shape, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(sample, y + torch.sqrt((1 - a) / a) * eps) and torch.equal(mean, y)
    assert torch.allclose(var, ((1 - a) / a).expand_as(y))  # σ² = P/snr when ᾱ = snr/(snr+P)
    code = targets(y, alpha, "code", torch.Generator().manual_seed(3))
    assert torch.allclose(code[0], torch.sqrt(a) * sample)  # the same draw, scaled: the forward state
    assert torch.allclose(code[1], torch.sqrt(a) * y) and torch.allclose(code[2], (1 - a).expand_as(y))
    y_hat = mu + std * torch.randn_like(y)
    terms = hybrid_loss(y_hat, mu, std, sample, mean, var, dict(RECIPE))
    kl = 0.5 * (mu ** 2 + std ** 2 - torch.log(std ** 2) - 1)
    guid = torch.log(std / torch.sqrt(var)) + (var + (mu - y) ** 2) / (2 * std ** 2) - 0.5
    assert float(terms["mse"]) == pytest.approx(float(((y_hat - sample) ** 2).mean()), rel=1e-6)
    assert float(terms["kl"]) == pytest.approx(float(kl.mean()), rel=1e-6)
    assert float(terms["guidance"]) == pytest.approx(float(guid.mean()), rel=1e-6)
    assert float(terms["total"]) == pytest.approx(float(terms["mse"] + 0.1 * terms["kl"] + 0.1 * terms["guidance"]), rel=1e-6)
    # L_g vanishes exactly when N(mu, std^2) is the target's law, and is scale-invariant
    exact = hybrid_loss(y_hat, mean, torch.sqrt(var), sample, mean, var, dict(RECIPE))
    assert abs(float(exact["guidance"])) < 1e-6
    scaled = hybrid_loss(y_hat, torch.sqrt(a) * mu, torch.sqrt(a) * std, code[0], code[1], code[2], dict(RECIPE))
    assert float(scaled["guidance"]) == pytest.approx(float(terms["guidance"]), rel=1e-5)
    on_mean = hybrid_loss(y_hat, mu, std, sample, mean, var, dict(RECIPE, mse="mean"))
    assert float(on_mean["mse"]) == pytest.approx(float(((mu - sample) ** 2).mean()), rel=1e-6)


def test_the_cli_trains_and_names_its_options(base, tmp_path):
    from semcom_bench.cli.main import app

    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["train", "ddsc", "--c", "4", "--steps", "2", "--batch-size", "2", "--base", str(base),
                                      "--data-size", "4", "--workers", "1", "--gamma", "0.5", "--no-kl",
                                      "--data-cache", str(tmp_path / "s.npz"), "--out", str(out), "--name", "ddsc-c4-g"])
    assert result.exit_code == 0, result.output
    info = json.loads((out / "ddsc-c4-g.json").read_text())
    assert info["weights"]["file"] == "ddsc-c4-g.pt"
    assert info["train"]["loss"]["gamma"] == 0.5 and info["train"]["loss"]["use_kl"] is False
    bad = CliRunner().invoke(app, ["train", "ddsc", "--no-reparameterise", "--base", str(base), "--out", str(out)])
    assert bad.exit_code == 2 and "no variance" in bad.output


def test_any_registered_data_set_trains_streamed(base, tmp_path):
    import numpy as np
    from PIL import Image

    folder = tmp_path / "photos" / "images"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    spec = f"folder(root={tmp_path / 'photos'},labels=none)"
    summary, lines = _train(base, tmp_path / "f", tmp_path / "unused.npz", dataset=spec, data_size=4, eval_size=2)
    assert any("encoded 4 samples of folder" in ln for ln in lines)
    assert any("encoded 2 samples of folder" in ln for ln in lines)
    info = summary["info"]
    assert info["train"]["data"]["dataset"] == spec and info["evaluation"]["data"] == {"dataset": spec, "first": 4,
                                                                                        "count": 2}
    with pytest.raises(UserError, match="has 6 samples"):
        _train(base, tmp_path / "g", tmp_path / "unused.npz", dataset=spec, data_size=6, eval_size=2)
