"""The ``cddm`` method on official-layout files (tiny widths) through :func:`semcom_bench.api.run`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from semcom_bench import api, registry
from semcom_bench.config import build_config
from semcom_bench.errors import UserError
from semcom_bench_baselines.cddm.receiver import pack, unpack
from semcom_bench_baselines.cddm.swin import JsccDecoder, JsccEncoder, SwinJsccConfig
from semcom_bench_baselines.cddm.unet import UNet, UNetConfig

C = 8


def _files(root: Path, channels=("awgn", "rayleigh"), redecoder: bool = True) -> Path:
    """Tiny official-layout files as the official code saves them: CIFAR configuration / 16, C = 8."""
    torch.manual_seed(0)
    cfg = SwinJsccConfig.cifar(C, narrow=16)
    (root / "JSCC").mkdir(parents=True)
    (root / "CDDM").mkdir()
    torch.save(JsccEncoder(cfg).state_dict(), root / "JSCC" / f"encoder_snr13_channel_awgn_C{C}.pt")
    torch.save(JsccDecoder(cfg).state_dict(), root / "JSCC" / f"decoder_snr13_channel_awgn_C{C}.pt")
    if redecoder:
        torch.save(JsccDecoder(cfg).state_dict(), root / "JSCC" / f"redecoder_snr10_channel_awgn_C{C}.pt")
    for ch in channels:
        net = UNet(UNetConfig(input_channel=C, ch=16, groups=8))
        with torch.no_grad():
            net.tail[-1].weight.normal_(0, 0.02)  # a visible noise prediction
        torch.save(net.state_dict(), root / "CDDM" / f"CDDM_snr13_channel_{ch}_C{C}.pt")
    (root / "options.json").write_text(json.dumps({"jscc": {"narrow": 16}, "unet": {"ch": 16, "groups": 8}}))
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return _files(tmp_path_factory.mktemp("cddm-official"))


def _spec(folder: Path, **extra) -> str:
    params = ",".join([f"weights={folder}", f"options={folder / 'options.json'}", *(f"{k}={v}" for k, v in extra.items())])
    return f"cddm({params})"


def _run(tmp_path: Path, methods: str, channels: str = "awgn,rayleigh", values: str = "0,10", tag: str = "a"):
    config = build_config(dataset="synthetic-streets(size=2)", methods=methods, channels=channels, values=values,
                          metrics="psnr,bits", out=tmp_path / f"out-{tag}", cache_dir=tmp_path / f"cache-{tag}", threads=1)
    return api.run(config)["frame"]


def test_official_files_run_end_to_end_reproducibly(folder, tmp_path):
    frames = [_run(tmp_path, _spec(folder), tag=t) for t in ("a", "b")]
    a, b = frames
    psnr = a[a["metric"] == "psnr"]
    assert len(psnr) == 2 * 2 * 2 and psnr["value"].notna().all()
    assert a["value"].tolist() == b["value"].tolist()
    bits = a[a["metric"] == "bandwidth_ratio"]
    assert np.allclose(bits["value"], 1 / 12)  # C/96 for the CIFAR configuration (2 stages)
    pngs = sorted((tmp_path / "cache-a" / "images").rglob("*.png"))
    assert len(pngs) == 8
    method = registry.methods.create("cddm", weights=str(folder), options=str(folder / "options.json"))
    assert method._plan["decoder"].endswith("redecoder_snr10_channel_awgn_C8.pt")  # stage 3's decoder first
    assert method._plan["snr_train"] == 13.0 and method._plan["C"] == C


def test_steps_and_conventions(folder):
    from semcom_bench.channels.awgn import AWGN
    from semcom_bench.methods.base import Delivery

    data = registry.datasets.create("synthetic-streets", size=1)
    outs = {}
    for convention in ("paper", "official"):
        method = registry.methods.create("cddm", weights=str(folder), options=str(folder / "options.json"),
                                         convention=convention)
        calls = []
        handle = method.denoiser("awgn").register_forward_hook(lambda m, i, o: calls.append(int(i[1][0])))
        try:
            payload = method.transmit_batch([data[0]], [torch.Generator()])[0]
            rec = AWGN()(payload.symbols, 10.0, torch.Generator().manual_seed(0))
            outs[convention] = method.receive_batch([Delivery(rec, payload.side)], [torch.Generator()])[0]
        finally:
            handle.remove()
        assert calls == list(range({"paper": 66, "official": 93}[convention] - 1, -1, -1))
        assert payload.channel_uses == C * 16 * 32 // 2
    assert outs["paper"].shape == (64, 128, 3) and outs["paper"].dtype == np.uint8
    assert not np.array_equal(outs["paper"], outs["official"])


def test_a_channel_without_its_denoiser_is_one_line_listing_what_exists(tmp_path):
    only_awgn = _files(tmp_path / "w", channels=("awgn",))
    with pytest.raises(UserError) as err:
        _run(tmp_path, _spec(only_awgn), channels="rayleigh", values="10")
    msg = str(err.value)
    assert "\n" not in msg
    assert "has no CDDM_snr13_channel_rayleigh_C8.pt for symbols received over a fading channel" in msg
    assert "snr13 awgn C8: CDDM/decoder/encoder" in msg
    with pytest.raises(UserError, match=r"cddm\(channel=awgn\) received symbols over a fading channel"):
        _run(tmp_path, _spec(only_awgn, channel="awgn"), channels="rayleigh", values="10", tag="b")


def test_bad_selections_are_one_line_errors(folder, tmp_path):
    opts = str(folder / "options.json")
    with pytest.raises(UserError, match=r"has no CDDM files for ratio=1/6 at snr_train=13 \(their k/n: C8 0.08333\)"):
        registry.methods.create("cddm", weights=str(folder), options=opts, ratio="1/6")
    assert registry.methods.create("cddm", weights=str(folder), options=opts, ratio="1/12")._plan["C"] == C
    with pytest.raises(UserError, match="has no CDDM denoiser for snr_train=10; it holds: snr10 awgn C8: redecoder"):
        registry.methods.create("cddm", weights=str(folder), options=opts, snr_train=10)
    with pytest.raises(UserError, match="applies to official files"):
        registry.methods.create("cddm", options=opts)
    with pytest.raises(UserError, match="has no JSCC|has no encoder_snr13_channel_rayleigh_C8.pt"):
        registry.methods.create("cddm", weights=str(folder), options=opts, channel="rayleigh")
    with pytest.raises(UserError, match="does not exist"):
        registry.methods.create("cddm", weights=str(tmp_path / "nowhere"))
    # the official width is the default: the tiny files do not fit it, in one line
    method = registry.methods.create("cddm", weights=str(folder))
    with pytest.raises(UserError, match=r"^CDDM encoder file .* does not fit the official cifar C=8 layout"):
        method.backbone()


def test_packings_round_trip_and_the_official_one_splits_the_height():
    z = torch.randn(3, 4, 6)
    for packing in ("pairs", "height"):
        symbols, scale = pack(z, packing)
        assert symbols.shape == (36,) and symbols.dtype == torch.complex64
        assert float(symbols.abs().square().mean()) == pytest.approx(1.0, rel=1e-5)
        assert scale == pytest.approx(float((2 * z.square().mean()).sqrt()), rel=1e-5)
        assert torch.allclose(unpack(symbols, scale, (3, 4, 6), packing), z, atol=1e-5)
    symbols, scale = pack(z, "height")
    assert torch.allclose(symbols.reshape(3, 2, 6) * scale, torch.complex(z[:, :2], z[:, 2:]), atol=1e-5)
    symbols, scale = pack(z, "pairs")
    assert torch.allclose(symbols[:3] * scale, torch.complex(z[0, 0, 0:6:2], z[0, 0, 1:6:2]), atol=1e-5)


def test_the_embedded_default_pairs_with_deepjscc_and_runs_over_both_channels(tmp_path, monkeypatch):
    """cddm's embedded default (deepjscc k/n = 1/12 at 13 dB + the shipped denoisers) sends exactly deepjscc's symbols."""
    from semcom_bench_baselines.cddm.receiver import Cddm, shipped_files
    from semcom_bench_baselines.deepjscc.receiver import DeepJscc

    assert {(str(r), ch, s) for r, ch, s in shipped_files()} >= {("1/12", "awgn", 13.0), ("1/12", "rayleigh", 13.0)}
    seen: dict[str, list[torch.Tensor]] = {}
    for cls in (Cddm, DeepJscc):
        original = cls.receive_batch

        def recording(self, deliveries, rngs, original=original):
            seen.setdefault(self.name, []).extend(d.received.symbols.clone() for d in deliveries)
            return original(self, deliveries, rngs)

        monkeypatch.setattr(cls, "receive_batch", recording)
    frame = _run(tmp_path, "cddm,deepjscc(ratio=1/12,snr_train=13)", values="5", tag="embedded")
    assert len(seen["cddm"]) == len(seen["deepjscc"]) == 4  # two scenes, two channels
    for a, b in zip(seen["cddm"], seen["deepjscc"]):
        assert torch.equal(a, b)
    psnr = frame[frame["metric"] == "psnr"]
    assert psnr["value"].between(10, 60).all()
    bits = frame[frame["metric"] == "bits"].groupby(frame["method"].str.split("(").str[0])["value"].unique()
    assert list(bits["cddm"]) == list(bits["deepjscc"])  # the same payload: no scale sent to deepjscc's decoder
    assert np.allclose(frame[frame["metric"] == "bandwidth_ratio"]["value"], 1 / 12)


def test_an_embedded_denoiser_of_another_jscc_is_refused(tmp_path, monkeypatch):
    """A denoiser's JSON names the deepjscc file whose latents it learned; another installed JSCC is a one-line error."""
    import shutil

    from semcom_bench_baselines.cddm import receiver

    src = receiver.ASSETS / "cddm-r1_12-awgn-snr13.pt"
    shutil.copyfile(src, tmp_path / src.name)
    info = json.loads(src.with_suffix(".json").read_text())
    info["jscc"]["sha256"] = "0" * 64
    (tmp_path / src.with_suffix(".json").name).write_text(json.dumps(info))
    monkeypatch.setenv("SEMCOM_WEIGHTS", str(tmp_path))
    receiver._sidecar.cache_clear()
    try:
        with pytest.raises(UserError, match=r"^embedded CDDM denoiser cddm-r1_12-awgn-snr13.pt was trained on another "
                                            r"deepjscc file \(sha256 000000000000…\).*semcom-bench train cddm --ratio 1/12 "
                                            r"--channel awgn --snr-train 13 --export$"):
            registry.methods.create("cddm", channel="awgn")
    finally:
        receiver._sidecar.cache_clear()
