"""``ddsc`` end to end on tiny random diffusers bases (base=), its start states, layouts and one-line errors."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from semcom_bench import api, registry
from semcom_bench.config import build_config
from semcom_bench.errors import UserError
from semcom_bench.methods.base import Delivery
from semcom_bench_baselines.ddsc import snr_mapping as sm
from semcom_bench_baselines.ddsc.compression import (DiffusionDe, DiffusionEn, build, checkpoint_dict, load_official,
                                                     read_checkpoint)
from tests.baselines.ddsc_tiny import official_checkpoint, tiny_base


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ddsc")
    return {"unet": tiny_base(root / "uncond"), "cond": tiny_base(root / "cond", conditional=True),
            "pndm": tiny_base(root / "pndm", scheduler_class="PNDMScheduler"),
            "weights": official_checkpoint(root / "logs" / "3_epoch_loss_0.5.pth", c=8)}


def _pngs(cache: Path) -> dict[str, bytes]:
    return {str(p.relative_to(cache)): p.read_bytes() for p in sorted((cache / "images").rglob("*.png"))}


def test_ddsc_runs_end_to_end_on_tiny_diffusers_bases_reproducibly(bases, tmp_path):
    methods = ",".join([
        f"ddsc(base={bases['unet']},c=8,weights={bases['weights']},steps=20)",
        f"ddsc(base={bases['cond']},c=0,steps=20,mode=fixed,fixed_step=8)",
        f"ddsc(base={bases['pndm']},c=0,steps=20,convention=code)",
    ])
    pngs = []
    for i in range(2):
        config = build_config(dataset="synthetic-streets(size=2)", methods=methods, channels="awgn,rayleigh,mimo",
                              values="0,12", metrics="psnr", out=tmp_path / f"out{i}", cache_dir=tmp_path / f"cache{i}",
                              threads=1)
        frame = api.run(config)["frame"]
        pngs.append(_pngs(tmp_path / f"cache{i}"))
    assert len(pngs[0]) == 3 * 3 * 2 * 2  # methods x channels x SNRs x scenes
    assert pngs[0] == pngs[1]  # every draw comes from the per-stage streams
    shape = registry.datasets.create("synthetic-streets", size=2)[0].image.shape
    for blob in list(pngs[0].values())[:6]:
        image = np.asarray(Image.open(io.BytesIO(blob)))
        assert image.shape == shape and image.dtype == np.uint8
    assert frame["value"].notna().all() and len(frame) == 36


def _method(base: Path, **params):
    return registry.methods.create("ddsc", base=str(base), **params)


def _deliveries(method, channel: str, snr_db: float, n: int = 2):
    data = registry.datasets.create("synthetic-streets", size=n)
    samples = [data[i] for i in range(n)]
    payloads = method.transmit_batch(samples, [torch.Generator().manual_seed(10 + i) for i in range(n)])
    ch = registry.channels.create(channel)
    return samples, payloads, [Delivery(ch(p.symbols, snr_db, torch.Generator().manual_seed(20 + i), p.scale), p.side)
                               for i, p in enumerate(payloads)]


def test_uncompressed_start_states_are_the_official_mapping_on_awgn(bases):
    paper = _method(bases["unet"], c=0, steps=500)
    code = _method(bases["unet"], c=0, steps=500, convention="code")
    grid = paper.grid()
    for snr_db in (0.0, 6.0, 12.0):
        _, payloads, deliveries = _deliveries(paper, "awgn", snr_db)
        power = [p.side.latent_power for p in payloads]
        assert payloads[0].channel_uses == 4 * 16 * 32 // 2 and payloads[0].side_bits == 3 * 16 + 64
        x, start, info = paper.start_states(deliveries, [torch.Generator().manual_seed(i) for i in range(2)])
        for i, p in enumerate(power):
            assert float(info["alpha_u"][i]) == pytest.approx(float(sm.alpha_from_snr(snr_db, p)), rel=1e-5)
            k = sm.official_step(snr_db, grid.alphas, p)
            assert int(info["index"][i]) == k and int(start[i]) == k
            assert float(info["snr_in"][i]) == pytest.approx(snr_db, abs=1e-3)
        _, start_code, info_code = code.start_states(deliveries, [torch.Generator().manual_seed(i) for i in range(2)])
        assert torch.equal(start_code, info_code["index"] - 1)  # ldm's decode(t_start=k): k steps
        assert torch.equal(info_code["index"], info["index"])
    fixed = _method(bases["unet"], c=0, steps=500, mode="fixed")
    _, _, deliveries = _deliveries(fixed, "awgn", 6.0)
    assert fixed.start_states(deliveries, [torch.Generator()] * 2)[1].tolist() == [200, 200]
    _, _, deliveries = _deliveries(fixed, "awgn", -5.0)  # noisier than step 200 (-1.35 dB): its own step
    s = fixed.start_states(deliveries, [torch.Generator()] * 2)[1]
    assert (s > 200).all()


def test_rayleigh_and_mimo_map_per_element_and_per_stream(bases):
    method = _method(bases["unet"], c=0, steps=500)
    for channel in ("rayleigh", "mimo"):
        _, payloads, deliveries = _deliveries(method, channel, 6.0)
        _, start, info = method.start_states(deliveries, [torch.Generator().manual_seed(i) for i in range(2)])
        n0 = 10 ** (-0.6)
        for i, (p, d) in enumerate(zip(payloads, deliveries)):
            real = d.received.state.realisation
            gain2 = real.per_symbol().abs().square() if channel == "rayleigh" else real.stream_gains().square()
            expected = (1.0 / (1.0 + p.side.latent_power * n0 / gain2.double())).mean()
            assert float(info["alpha_u"][i]) == pytest.approx(float(expected), rel=1e-5)
        nominal = _method(bases["unet"], c=0, steps=500, aggregate="nominal")
        _, _, info_n = nominal.start_states(deliveries, [torch.Generator()] * 2)
        for i, p in enumerate(payloads):
            assert float(info_n["alpha_u"][i]) == pytest.approx(float(sm.alpha_from_snr(6.0, p.side.latent_power)))


def test_compressed_start_state_is_f_u_at_the_mapped_step(bases, monkeypatch):
    method = _method(bases["unet"], c=8, weights=str(bases["weights"]), steps=500)
    samples, payloads, deliveries = _deliveries(method, "awgn", 3.0)
    assert payloads[0].channel_uses == 8 * 8 * 16 // 2  # C x h/2 x w/2 real values, paired
    assert payloads[0].source_bits == 32 * 8 * 8 * 16
    seen = {}
    original = DiffusionDe.forward

    def recording(self, z, snr_db, generators=None):
        seen["snr"] = snr_db.clone()
        out = original(self, z, snr_db, generators)
        seen["out"] = out
        return out

    monkeypatch.setattr(DiffusionDe, "forward", recording)
    x, start, info = method.start_states(deliveries, [torch.Generator().manual_seed(i) for i in range(2)])
    assert torch.allclose(seen["snr"], torch.full((2,), 3.0), atol=1e-4)  # F_u's SNR plane: the channel's, in dB
    grid = method.grid()
    for i, p in enumerate(payloads):
        assert float(info["alpha_u"][i]) == pytest.approx(float(sm.alpha_from_snr(3.0, p.side.latent_power)), rel=1e-5)
        assert int(start[i]) == sm.official_step(3.0, grid.alphas, p.side.latent_power)
    code = _method(bases["unet"], c=8, weights=str(bases["weights"]), steps=500, convention="code")
    _, start_code, _ = code.start_states(deliveries, [torch.Generator().manual_seed(i) for i in range(2)])
    full = torch.as_tensor(code.model().scheduler.alphas_cumprod, dtype=torch.float64)
    for i, p in enumerate(payloads):  # the official evaluation: k on the 1000-step schedule, k - 1 on the grid
        k_full = sm.official_step(3.0, full, p.side.latent_power)
        assert int(start_code[i]) == k_full - 1 and k_full > 1.8 * int(start[i])
    no_reparam = _method(bases["unet"], c=8, weights=str(bases["weights"]), steps=500, reparameterise=False)
    x2, _, _ = no_reparam.start_states(deliveries, [torch.Generator().manual_seed(i) for i in range(2)])
    assert not torch.allclose(x, x2)


def test_a_batch_equals_its_images_alone(bases):
    method = _method(bases["unet"], c=8, weights=str(bases["weights"]), steps=20)
    _, _, deliveries = _deliveries(method, "rayleigh", 3.0)

    def streams():
        return [torch.Generator().manual_seed(s) for s in (31, 32)]

    batch = method.receive_batch(deliveries, streams())
    alone = [method.receive_batch([deliveries[i]], [streams()[i]])[0] for i in range(2)]
    for b, a in zip(batch, alone):
        assert b.shape == (64, 128, 3) and np.abs(b.astype(int) - a.astype(int)).max() <= 1


def test_the_conditional_unet_sees_the_empty_prompt(bases):
    from semcom_bench_baselines.ddsc.latent_model import load_base

    model = load_base(bases["cond"])
    assert model.conditional and tuple(model.context.shape) == (1, 8, 16)
    from transformers import AutoTokenizer, CLIPTextModel

    tok = AutoTokenizer.from_pretrained(str(bases["cond"] / "tokenizer"))
    enc = CLIPTextModel.from_pretrained(str(bases["cond"] / "text_encoder"))
    ids = tok([""], padding="max_length", max_length=8, return_tensors="pt").input_ids
    assert torch.allclose(model.context, enc(ids)[0], atol=1e-6)
    unconditional = load_base(bases["pndm"])
    assert unconditional.context is None
    assert unconditional.scheduler.config.clip_sample is False and unconditional.scheduler.config.timestep_spacing == "leading"
    assert any("PNDMScheduler" in n for n in unconditional.notes)


# --- the official layout ---------------------------------------------------------------------

OFFICIAL_EN = {
    "downsampling.0.weight": (16, 4, 1, 1), "downsampling.2.weight": (16,), "downsampling.3.weight": (16, 16, 3, 3),
    "downsampling.5.running_var": (16,), "encoder.block1.0.weight": (32, 16, 1, 1), "encoder.block1.2.bias": (32,),
    "encoder.block1.3.weight": (32, 32, 3, 3), "encoder.block1.5.running_mean": (32,),
    "encoder.block1.6.weight": (16, 32, 1, 1), "encoder.block1.8.weight": (16,), "encoder.conv.0.weight": (28, 16, 1, 1),
    "encoder.conv.2.num_batches_tracked": (),
}
OFFICIAL_DE = {
    "decoder.block1.0.weight": (56, 28, 1, 1), "decoder.block1.3.weight": (56, 56, 3, 3),
    "decoder.block1.6.weight": (28, 56, 1, 1), "decoder.block1.8.bias": (28,), "decoder.conv.0.weight": (16, 28, 1, 1),
    "decoder.conv.2.weight": (16,), "upsampling.0.weight": (16, 16, 5, 5), "upsampling.0.bias": (16,),
    "upsampling.2.weight": (4, 16, 1, 1), "upsampling.4.running_mean": (4,), "fc_mu.weight": (4, 4, 1, 1),
    "fc_logvar.weight": (4, 5, 1, 1),
}


def test_the_official_layout_keys_shapes_and_sizes():
    en, de = build()  # the official 4 -> 28 channels, width 16
    en_state, de_state = en.state_dict(), de.state_dict()
    for state, expected in ((en_state, OFFICIAL_EN), (de_state, OFFICIAL_DE)):
        for k, shape in expected.items():
            assert tuple(state[k].shape) == shape, k
    assert len(en_state) == 2 + 2 * 5 + 3 + 3 * 5 + 1 + 5  # convs (no bias) and batch norms (5 entries each)
    assert sum(k.endswith(".bias") and "upsampling.0" in k for k in de_state) == 1  # the only conv bias
    assert not any(k.startswith(("fc_mu.bias", "fc_logvar.bias")) for k in de_state)
    en.eval()
    de.eval()
    with torch.no_grad():
        z = en(torch.randn(1, 4, 64, 64))
        y, mu, std = de(z, 10.0, [torch.Generator().manual_seed(0)])
    assert tuple(z.shape) == (1, 28, 32, 32) and tuple(y.shape) == (1, 4, 64, 64)  # 4x64x64 -> 28x32x32 -> back
    assert torch.allclose(y, mu + std * torch.randn((4, 64, 64), generator=torch.Generator().manual_seed(0)), atol=1e-6)


def test_official_checkpoint_loads_strictly_and_misfits_are_one_line(tmp_path, bases):
    en, de, ckpt = load_official(bases["weights"])
    assert (en.c, de.c, en.latent_channels) == (8, 8, 4) and ckpt["epoch"] == 3 and not en.training
    saved = torch.load(bases["weights"], weights_only=True)
    assert all(torch.equal(v, en.state_dict()[k]) for k, v in saved["en_state_dict"].items())
    with pytest.raises(UserError, match=r"have C = 8 compressed channels, c = 28 was asked"):
        load_official(bases["weights"], c=28)
    with pytest.raises(UserError, match=r"for 4 latent channels, the base has 16"):
        load_official(bases["weights"], latent_channels=16)
    bad = dict(saved)
    bad["de_state_dict"] = {k: v for k, v in saved["de_state_dict"].items() if k != "fc_logvar.weight"}
    bad["de_state_dict"]["fc_logvar.bias"] = torch.zeros(4)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(UserError) as info:
        load_official(tmp_path / "bad.pth")
    message = str(info.value)
    assert "\n" not in message and "missing fc_logvar.weight" in message and "unexpected fc_logvar.bias" in message
    shape = dict(saved)
    shape["de_state_dict"] = dict(saved["de_state_dict"], **{"fc_logvar.weight": torch.zeros(4, 4, 1, 1)})
    torch.save(shape, tmp_path / "shape.pth")
    with pytest.raises(UserError, match=r"shape of fc_logvar.weight \[4, 4, 1, 1\] in the file, \[4, 5, 1, 1\] here"):
        load_official(tmp_path / "shape.pth")
    torch.save(saved["en_state_dict"], tmp_path / "bare.pth")
    with pytest.raises(UserError, match="needs en_state_dict and de_state_dict"):
        read_checkpoint(tmp_path / "bare.pth")
    with pytest.raises(UserError, match="does not exist"):
        read_checkpoint(tmp_path / "none.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(UserError, match="cannot be read"):
        read_checkpoint(tmp_path / "text.pth")
    half = checkpoint_dict(en, de, half=True)
    torch.save(half, tmp_path / "half.pth")
    en2, _, _ = load_official(tmp_path / "half.pth")
    assert en2.state_dict()["encoder.conv.0.weight"].dtype == torch.float32


# --- the base folder ---------------------------------------------------------------------------


def _broken(src: Path, dst: Path, remove: str) -> Path:
    import shutil

    shutil.copytree(src, dst)
    target = dst / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    return dst


@pytest.mark.parametrize("remove,expected", [
    ("vae/config.json", "vae/config.json missing"),
    ("unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.safetensors missing"),
    ("scheduler", "scheduler/scheduler_config.json missing"),
    ("text_encoder", "UNet2DConditionModel but text_encoder/ is missing"),
])
def test_an_incomplete_base_folder_is_one_line_naming_what_is_expected(bases, tmp_path, remove, expected):
    folder = _broken(bases["cond"], tmp_path / "base", remove)
    with pytest.raises(UserError) as info:
        registry.methods.create("ddsc", base=str(folder), c=0)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_other_user_mistakes_are_one_line(bases, tmp_path, monkeypatch):
    with pytest.raises(UserError, match="is not a folder"):
        registry.methods.create("ddsc", base=str(tmp_path / "nowhere"), c=0)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(UserError, match="no Hugging Face cache holds it"):
        registry.methods.create("ddsc", base="stabilityai/stable-diffusion-2-1-base", c=0)
    snap = tmp_path / "hub" / "models--org--tiny" / "snapshots" / "abc"
    import shutil

    shutil.copytree(bases["unet"], snap)
    method = registry.methods.create("ddsc", base="org/tiny", c=0, steps=10)  # found in the cache, offline
    assert method.base_path == snap
    with pytest.raises(UserError, match="needs weights=PATH"):
        registry.methods.create("ddsc", base=str(bases["unet"]), c=28)
    with pytest.raises(UserError, match="fixed_step"):
        registry.methods.create("ddsc", base=str(bases["unet"]), c=0, mode="fixed", steps=50)
    method = registry.methods.create("ddsc", base=str(bases["unet"]), c=0, resize=34)
    data = registry.datasets.create("synthetic-streets", size=1)
    with pytest.raises(UserError, match="multiples of 4"):
        method.transmit_batch([data[0]], [torch.Generator()])
    with pytest.raises(UserError, match="does not exist .*name of a shipped one"):
        registry.methods.create("ddsc", base=str(bases["unet"]), c=8, weights=str(tmp_path / "none.pth"))
    with pytest.raises(UserError, match="belong to the embedded base"):
        registry.methods.create("ddsc", base=str(bases["unet"]), c=8, weights="ddsc-c8")
    with pytest.raises(UserError, match="are for c=8, not c=28"):
        registry.methods.create("ddsc", base=str(bases["unet"]), c=28, weights="ddsc-c8")
    wrong = registry.methods.create("ddsc", base=str(bases["unet"]), c=28, weights=str(bases["weights"]))
    with pytest.raises(UserError, match="c = 28 was asked"):
        wrong.transmit_batch([data[0]], [torch.Generator()])


def test_the_cli_says_a_missing_base_in_one_line(tmp_path):
    from semcom_bench.cli.main import app

    result = CliRunner().invoke(app, ["run", "--dataset", "synthetic-streets(size=2)", "--methods",
                                      f"ddsc(base={tmp_path / 'sd2'},c=0)", "--values", "5", "--metrics", "psnr",
                                      "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 2, result.output
    assert "is not a folder" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_weights_trained_in_the_papers_domain_are_scaled_to_the_state(bases, tmp_path, monkeypatch):
    import json
    import shutil

    paper_file = tmp_path / "paper.pth"
    shutil.copyfile(bases["weights"], paper_file)
    paper_file.with_suffix(".json").write_text(json.dumps({"train": {"domain": "paper", "loss": {"reparameterise": True}}}))
    monkeypatch.setattr(sm, "jump", lambda x, a_from, a_to, gens: x)  # look at the state before the grid gap
    code = _method(bases["unet"], c=8, weights=str(bases["weights"]), steps=500)
    paper = _method(bases["unet"], c=8, weights=str(paper_file), steps=500)
    _, _, deliveries = _deliveries(code, "awgn", 4.0)
    x_code, _, info = code.start_states(deliveries, [torch.Generator().manual_seed(i) for i in range(2)])
    x_paper, _, _ = paper.start_states(deliveries, [torch.Generator().manual_seed(i) for i in range(2)])
    a = info["alpha_u"].float().reshape(-1, 1, 1, 1)
    assert torch.allclose(x_paper, torch.sqrt(a) * x_code, atol=1e-5)  # √ᾱ_u·ŷ (eq. 15)
