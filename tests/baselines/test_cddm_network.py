"""CDDM's official layouts: the Swin JSCC (``encoder.*``/``decoder.*``) and the denoiser UNet (bare keys).

Facts checked against Wireless3C-SJTU/CDDM-channel-denoising-diffusion-model-for-semantic-communication
(``CDDM/Autoencoder/net/{encoder,decoder,modules}.py``, ``CDDM/Diffusion/Model.py``, ``main.py``): the
official modules, built with these configurations, have exactly these key counts (DIV2K encoder 247,
decoder 246; CIFAR 154, 153; UNet 269), and our state dicts equal theirs key for key and shape for
shape (compared once by instantiating the official code). Full widths are built on the meta device.
"""

from __future__ import annotations

import pytest
import torch

from semcom_bench.errors import UserError
from semcom_bench_baselines.cddm import official
from semcom_bench_baselines.cddm.swin import JsccDecoder, JsccEncoder, SwinJsccConfig, shift_mask
from semcom_bench_baselines.cddm.unet import UNet, UNetConfig


def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def div2k_full():
    with torch.device("meta"):
        cfg = SwinJsccConfig.div2k(36)
        return cfg, _shapes(JsccEncoder(cfg)), _shapes(JsccDecoder(cfg))


def test_div2k_encoder_keys_at_the_official_width(div2k_full):
    cfg, enc, _ = div2k_full
    assert len(enc) == 247
    assert enc["encoder.patch_embed.proj.weight"] == (128, 3, 2, 2)  # 2x2 stride-2 conv, no norm
    assert "encoder.patch_embed.norm.weight" not in enc
    assert enc["encoder.head_list.weight"] == (36, 320, 1, 1)
    assert enc["encoder.norm.weight"] == (320,)
    # PatchMerging from stage 1 on: LN(4d) then Linear(4d -> d', no bias)
    assert not any(k.startswith("encoder.layers.0.downsample") for k in enc)
    assert enc["encoder.layers.1.downsample.norm.weight"] == (512,)
    assert enc["encoder.layers.1.downsample.reduction.weight"] == (192, 512)
    assert "encoder.layers.1.downsample.reduction.bias" not in enc
    assert enc["encoder.layers.3.downsample.reduction.weight"] == (320, 1024)
    # depths [2, 2, 6, 2]
    for stage, depth in enumerate((2, 2, 6, 2)):
        assert f"encoder.layers.{stage}.blocks.{depth - 1}.norm1.weight" in enc
        assert f"encoder.layers.{stage}.blocks.{depth}.norm1.weight" not in enc
    # window 8: a 15x15 bias table per head; the index buffer is saved; masks only in shifted (odd) blocks,
    # sized by the 256x256 build: stage 0 blocks run at 128x128 = 256 windows
    assert enc["encoder.layers.0.blocks.0.attn.relative_position_bias_table"] == (225, 4)
    assert enc["encoder.layers.2.blocks.0.attn.relative_position_bias_table"] == (225, 8)
    assert enc["encoder.layers.0.blocks.0.attn.relative_position_index"] == (64, 64)
    assert "encoder.layers.0.blocks.0.attn_mask" not in enc
    assert enc["encoder.layers.0.blocks.1.attn_mask"] == (256, 64, 64)
    assert enc["encoder.layers.3.blocks.1.attn_mask"] == (4, 64, 64)
    assert enc["encoder.layers.3.blocks.0.attn.qkv.weight"] == (960, 320)
    assert enc["encoder.layers.3.blocks.0.mlp.fc1.weight"] == (1280, 320)
    # WITT's unused SNR modules, saved: M = int(1.5 * 320) = 480
    assert enc["encoder.bm_list.6.fc.0.weight"] == (480, 1)
    assert enc["encoder.bm_list.6.fc.4.weight"] == (480, 480)
    assert "encoder.bm_list.7.fc.0.weight" not in enc
    assert enc["encoder.sm_list.0.weight"] == (480, 320)
    assert enc["encoder.sm_list.6.weight"] == (480, 480)
    assert enc["encoder.sm_list.7.weight"] == (320, 480)
    assert cfg.ratio() == pytest.approx(0.0234375)  # C/1536: the official CBR of C = 36


def test_div2k_decoder_keys_at_the_official_width(div2k_full):
    _, _, dec = div2k_full
    assert len(dec) == 246
    assert dec["decoder.head_list.weight"] == (320, 36, 3, 3)
    assert dec["decoder.layers.0.blocks.1.norm1.weight"] == (320,)
    assert "decoder.layers.0.blocks.2.norm1.weight" not in dec  # depths reversed: [2, 6, 2, 2]
    assert "decoder.layers.1.blocks.5.norm1.weight" in dec
    assert dec["decoder.layers.0.upsample.norm.weight"] == (320,)
    assert dec["decoder.layers.0.upsample.increment.weight"] == (4 * 256, 320)
    assert dec["decoder.layers.3.upsample.increment.weight"] == (12, 128)  # the last stage makes 3 channels
    assert dec["decoder.layers.0.blocks.1.attn_mask"] == (4, 64, 64)  # 16x16 at the latent
    assert dec["decoder.layers.3.blocks.1.attn_mask"] == (256, 64, 64)
    assert dec["decoder.bm_list.0.fc.2.weight"] == (480, 480)  # M = int(1.5 * 320), the decoder's embed[0]
    assert dec["decoder.sm_list.0.weight"] == (480, 320)
    assert dec["decoder.sm_list.7.weight"] == (320, 480)


def test_cifar_layouts():
    with torch.device("meta"):
        cfg = SwinJsccConfig.cifar(16)
        enc, dec = _shapes(JsccEncoder(cfg)), _shapes(JsccDecoder(cfg))
    assert (len(enc), len(dec)) == (154, 153)
    assert enc["encoder.layers.1.downsample.reduction.weight"] == (256, 512)
    assert enc["encoder.layers.1.blocks.3.attn.relative_position_bias_table"] == (9, 8)  # window 2
    assert enc["encoder.layers.0.blocks.1.attn_mask"] == (64, 4, 4)  # 16x16 grid, 2x2 windows
    assert enc["encoder.bm_list.0.fc.0.weight"] == (384, 1)  # int(1.5 * 256)
    assert dec["decoder.bm_list.0.fc.0.weight"] == (384, 1)  # decoder embed[0] = 256
    assert dec["decoder.layers.1.upsample.increment.weight"] == (12, 128)
    assert cfg.ratio() == pytest.approx(16 / 96)


def test_unet_keys_at_the_official_width():
    with torch.device("meta"):
        net = UNet(UNetConfig.official(36))
    sd = _shapes(net)
    assert len(sd) == 269
    assert sd["time_embedding.timembedding.0.weight"] == (1000, 576)  # frozen sinusoid, saved
    assert sd["time_embedding.timembedding.3.weight"] == (2304, 2304)
    assert sd["head.weight"] == (576, 36, 3, 3)
    assert [k for k in sd if k.endswith(".main.weight")] == ["downblocks.2.main.weight", "downblocks.5.main.weight",
                                                             "upblocks.3.main.weight", "upblocks.7.main.weight"]
    attn = sorted({k.split(".attn.")[0] for k in sd if ".attn.proj_q." in k})
    assert attn == ["downblocks.3", "downblocks.4", "middleblocks.0", "upblocks.4", "upblocks.5", "upblocks.6"]
    assert sd["downblocks.3.shortcut.weight"] == (1152, 576, 1, 1)
    assert "downblocks.0.shortcut.weight" not in sd
    assert sd["downblocks.0.block2.3.weight"] == (576, 576, 3, 3)  # GroupNorm, Swish, Dropout, Conv
    assert sd["downblocks.0.temb_proj.1.weight"] == (576, 2304)
    assert sd["upblocks.0.block1.2.weight"] == (1152, 2304, 3, 3)
    assert sd["upblocks.10.block1.2.weight"] == (576, 1152, 3, 3)
    assert sd["tail.2.weight"] == (36, 576, 3, 3)


def _tiny_div2k() -> SwinJsccConfig:
    return SwinJsccConfig.div2k(C=4, narrow=16)  # widths 8..20, two channels per head


def test_tiny_networks_round_trip_strictly_and_keep_shapes(tmp_path):
    torch.manual_seed(0)
    cfg = _tiny_div2k()
    enc, dec = JsccEncoder(cfg).eval(), JsccDecoder(cfg).eval()
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        z = enc(x)
        y = dec(z)
    assert z.shape == (1, 4, 16, 16) and y.shape == (1, 3, 256, 256)
    torch.save(enc.state_dict(), tmp_path / "e.pt")
    enc2 = JsccEncoder(cfg)
    official.load_strict(enc2, official.load_state(tmp_path / "e.pt", "encoder"), "encoder", tmp_path / "e.pt", "div2k")
    with torch.no_grad():
        assert torch.equal(enc2.eval()(x), z)
    # another size: masks are recomputed for it, the saved ones stay
    with torch.no_grad():
        assert enc(torch.rand(1, 3, 128, 384)).shape == (1, 4, 8, 24)
    assert enc.state_dict()["encoder.layers.0.blocks.1.attn_mask"].shape == (256, 64, 64)
    with pytest.raises(ValueError, match="multiple of 128"):
        enc(torch.rand(1, 3, 64, 128))


def test_shift_mask_separates_the_regions_of_the_shifted_grid():
    m = shift_mask(4, 4, 2, 1)
    assert m.shape == (4, 4, 4)
    assert torch.all(m[0] == 0)  # the top-left window lies in one region
    assert set(m[3].unique().tolist()) == {0.0, -100.0}  # the corner window mixes four regions
    assert torch.all(m[3].diagonal() == 0)


def test_unet_conditioning_is_along_the_height_and_the_halves_are_summed():
    torch.manual_seed(0)
    net = UNet(UNetConfig(input_channel=2, ch=8, groups=4)).eval()
    x, h, t = torch.randn(1, 2, 4, 8), torch.rand(1, 2, 4, 8), torch.tensor([5])
    seen = {}
    net.head.register_forward_hook(lambda m, i, o: seen.update({"in": i[0]}))
    with torch.no_grad():
        out = net(x, t, h)
    assert out.shape == (1, 2, 4, 8)
    assert torch.equal(seen["in"], torch.cat((x, h), dim=2))
    net.tail.register_forward_hook(lambda m, i, o: seen.update({"tail": o}))
    with torch.no_grad():
        net(x, t, h)
    tail = seen["tail"]
    assert tail.shape == (1, 2, 8, 8)  # the network runs on (C, 2H, W)
    assert torch.allclose(out, tail[:, :, :4] + tail[:, :, 4:])


def test_a_wrong_layout_is_one_line_naming_the_keys(tmp_path):
    torch.manual_seed(0)
    cfg = _tiny_div2k()
    state = JsccEncoder(cfg).state_dict()
    state["encoder.layers.0.blocks.0.attn.qkv_renamed.weight"] = state.pop("encoder.layers.0.blocks.0.attn.qkv.weight")
    torch.save(state, tmp_path / "encoder_snr13_channel_awgn_C4.pt")
    with pytest.raises(UserError) as err:
        official.load_strict(JsccEncoder(cfg), official.load_state(tmp_path / "encoder_snr13_channel_awgn_C4.pt", "encoder"),
                             "encoder", tmp_path / "encoder_snr13_channel_awgn_C4.pt", "div2k C=4")
    msg = str(err.value)
    assert "\n" not in msg
    assert "missing encoder.layers.0.blocks.0.attn.qkv.weight" in msg and "unexpected encoder.layers.0.blocks.0.attn.qkv_renamed" in msg
    # a CIFAR file into the DIV2K layout: missing stages and mis-shaped keys
    torch.save(JsccEncoder(SwinJsccConfig.cifar(4, narrow=16)).state_dict(), tmp_path / "cifar.pt")
    with pytest.raises(UserError, match=r"^CDDM encoder file .* does not fit the official div2k C=4 layout: missing"):
        official.load_strict(JsccEncoder(cfg), official.load_state(tmp_path / "cifar.pt", "encoder"), "encoder",
                             tmp_path / "cifar.pt", "div2k C=4")
    assert official.infer_arch(JsccEncoder(SwinJsccConfig.cifar(4, narrow=16)).state_dict()) == "cifar"
    assert official.infer_arch(JsccEncoder(cfg).state_dict()) == "div2k"
    # a UNet of another width
    torch.save(UNet(UNetConfig(input_channel=4, ch=32)).state_dict(), tmp_path / "u.pt")
    with pytest.raises(UserError, match=r"shape of time_embedding.timembedding.0.weight \[1000, 32\] in the file, "
                                        r"\[1000, 16\] here \(\+267 more\)"):
        official.load_strict(UNet(UNetConfig(input_channel=4, ch=16, groups=8)), official.load_state(tmp_path / "u.pt", "denoiser"),
                             "denoiser", tmp_path / "u.pt", "UNet ch=16")


def test_files_are_found_by_their_official_names(tmp_path):
    (tmp_path / "JSCC" / "DIV2K" / "MSE" / "SNRs").mkdir(parents=True)
    (tmp_path / "CDDM" / "DIV2K" / "MSE" / "SNRs").mkdir(parents=True)
    for name in ("JSCC/DIV2K/MSE/SNRs/encoder_snr13_channel_awgn_C36.pt", "JSCC/DIV2K/MSE/SNRs/redecoder_snr10_channel_awgn_C36.pt",
                 "CDDM/DIV2K/MSE/SNRs/CDDM_snr13_channel_awgn_C36.pt", "CDDM/DIV2K/MSE/SNRs/notes.pt"):
        (tmp_path / name).write_bytes(b"")
    files = official.discover(tmp_path)
    assert [(f.kind, f.snr, f.channel, f.C) for f in files] == [
        ("CDDM", 13, "awgn", 36), ("encoder", 13, "awgn", 36), ("redecoder", 10, "awgn", 36)]
    assert official.describe(files) == "snr10 awgn C36: redecoder; snr13 awgn C36: CDDM/encoder"
    (tmp_path / "CDDM" / "CIFAR10").mkdir()
    (tmp_path / "CDDM" / "CIFAR10" / "CDDM_snr13_channel_awgn_C36.pt").write_bytes(b"")
    with pytest.raises(UserError, match="holds two CDDM snr13 awgn C36 files"):
        official.discover(tmp_path)
    with pytest.raises(UserError, match="cannot be read as a torch state dict"):
        official.load_state(tmp_path / "CDDM" / "CIFAR10" / "CDDM_snr13_channel_awgn_C36.pt", "denoiser")
