"""The SPADE generator: official key layout, strict loading of its state-dict files, shapes."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from semcom_bench.errors import MissingWeightsError, UserError
from semcom_bench_baselines.spade import (
    ConvEncoder,
    SPADEGenerator,
    SpadeOptions,
    instance_edges,
    load_official,
    load_official_encoder,
    semantic_input,
)

#: a small network in the official layout: 32x64 output from a 2x1 latent
SMALL = SpadeOptions(ngf=8, z_dim=16, crop_size=64, num_upsampling_layers="normal")


def _randomise(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter and buffer (running stats, spectral-norm vectors) a non-default value."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(net.named_parameters()) + list(net.named_buffers()):
            if name.endswith("num_batches_tracked"):
                t.fill_(7)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith(("weight_u", "weight_v")):
                t.copy_(torch.nn.functional.normalize(torch.randn(t.shape, generator=g), dim=0))
            else:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    return net


def _segmap(options: SpadeOptions, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, options.label_nc, (2, 1, h, w), generator=g)
    instance = torch.randint(0, 4, (2, 1, h, w), generator=g)
    return semantic_input(label, instance, options)


def _save(tmp_path, net: torch.nn.Module, name: str = "latest_net_G.pth"):
    path = tmp_path / name
    torch.save(net.state_dict(), path)  # what the official util.save_network writes
    return path


def test_full_width_keys_and_shapes_match_the_official_pattern():
    with torch.device("meta"):
        net = SPADEGenerator(SpadeOptions())
    shapes = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert shapes["fc.weight"] == [1024, 36, 3, 3]
    assert shapes["head_0.norm_0.mlp_shared.0.weight"] == [128, 36, 3, 3]
    assert shapes["head_0.norm_0.mlp_gamma.weight"] == [1024, 128, 3, 3]
    assert shapes["head_0.norm_0.param_free_norm.running_mean"] == [1024]
    assert "head_0.norm_0.param_free_norm.num_batches_tracked" in shapes
    assert not any(k.startswith("head_0.norm_0.param_free_norm.weight") for k in shapes)
    assert {k for k in shapes if k.startswith("head_0.conv_0.")} == {
        "head_0.conv_0.bias", "head_0.conv_0.weight_orig", "head_0.conv_0.weight_u", "head_0.conv_0.weight_v"}
    assert shapes["head_0.conv_0.weight_v"] == [9216]
    assert shapes["head_0.conv_0.weight_u"] == [1024]
    assert shapes["up_0.conv_s.weight_orig"] == [512, 1024, 1, 1]
    assert "up_0.conv_s.bias" not in shapes
    assert shapes["up_3.conv_1.weight_orig"] == [64, 64, 3, 3]
    assert shapes["conv_img.weight"] == [3, 64, 3, 3]
    assert {k.split(".")[0] for k in shapes if ".conv_s." in k} == {"up_0", "up_1", "up_2", "up_3"}
    assert not any(k.startswith("up_4.") for k in shapes)
    assert (net.sh, net.sw) == (4, 8) and SpadeOptions().output_size == (256, 512)
    with torch.device("meta"):
        most = SPADEGenerator(SpadeOptions(num_upsampling_layers="most")).state_dict()
        vae = SPADEGenerator(SpadeOptions(use_vae=True)).state_dict()
        enc = ConvEncoder(SpadeOptions(use_vae=True)).state_dict()
    assert list(most["up_4.conv_s.weight_orig"].shape) == [32, 64, 1, 1]
    assert list(most["conv_img.weight"].shape) == [3, 32, 3, 3]
    assert list(vae["fc.weight"].shape) == [1024 * 4 * 8, 256]
    assert list(enc["layer1.0.weight_orig"].shape) == [64, 3, 3, 3]
    assert "layer1.0.bias" not in enc and "layer6.0.weight_v" in enc
    assert list(enc["fc_mu.weight"].shape) == [256, 8192]


def test_a_saved_state_dict_loads_strictly_and_gives_the_same_output(tmp_path):
    net = _randomise(SPADEGenerator(SMALL)).eval()
    seg = _segmap(SMALL, 32, 64)
    path = _save(tmp_path, net)
    loaded = load_official(path, SMALL)
    assert not loaded.training
    with torch.no_grad():
        want, got = net(seg), loaded(seg)
    assert got.shape == (2, 3, 32, 64)
    assert torch.equal(got, want) and float(want.std()) > 0


def test_the_vae_path_and_its_encoder_load_strictly(tmp_path):
    opts = replace(SMALL, use_vae=True)
    net, enc = _randomise(SPADEGenerator(opts)).eval(), _randomise(ConvEncoder(opts), 1).eval()
    g_path, e_path = _save(tmp_path, net), _save(tmp_path, enc, "latest_net_E.pth")
    image = torch.rand(2, 3, 32, 64) * 2 - 1
    with torch.no_grad():
        mu, logvar = load_official_encoder(e_path, opts)(image)
        want_mu, want_logvar = enc(image)
        assert mu.shape == (2, 16) and torch.equal(mu, want_mu) and torch.equal(logvar, want_logvar)
        seg = _segmap(opts, 32, 64)
        assert torch.equal(load_official(g_path, opts)(seg, z=mu), net(seg, z=mu))


def test_a_renamed_key_fails_with_one_line_naming_it(tmp_path):
    state = _randomise(SPADEGenerator(SMALL)).state_dict()
    state["head_0.norm_0.mlp_shared.0.weight_renamed"] = state.pop("head_0.norm_0.mlp_shared.0.weight")
    path = tmp_path / "latest_net_G.pth"
    torch.save(state, path)
    with pytest.raises(UserError) as err:
        load_official(path, SMALL)
    msg = str(err.value)
    assert "\n" not in msg
    assert "missing head_0.norm_0.mlp_shared.0.weight" in msg
    assert "unexpected head_0.norm_0.mlp_shared.0.weight_renamed" in msg


@pytest.mark.parametrize(("saved", "options", "names"), [
    (replace(SMALL, num_upsampling_layers="most", crop_size=128, aspect_ratio=1.0), SMALL, ["--num_upsampling_layers", "up_4"]),
    (replace(SMALL, use_vae=True), SMALL, ["--use_vae", "Linear"]),
    (replace(SMALL, ngf=16), SMALL, ["--ngf 16"]),
    (replace(SMALL, no_instance=True), SMALL, ["instances True", "semantic_nc 35"]),
    (replace(SMALL, norm_G="spadeinstance3x3"), SMALL, ["--norm_G"]),
])
def test_an_option_mismatch_names_the_option(tmp_path, saved, options, names):
    path = _save(tmp_path, SPADEGenerator(saved))
    with pytest.raises(UserError) as err:
        load_official(path, options)
    msg = str(err.value)
    assert "\n" not in msg
    for name in names:
        assert name in msg, msg


def test_a_file_without_weight_v_loads_through_the_spectral_norm_hook(tmp_path):
    net = _randomise(SPADEGenerator(SMALL)).eval()
    seg = _segmap(SMALL, 32, 64, seed=1)
    with torch.no_grad():
        want = net(seg)  # the eval forward sets each module's weight = weight_orig / sigma
    old = {}
    for name, t in net.state_dict().items():
        if name.endswith(".weight_v"):
            prefix = name[: -len("_v")]
            module = net.get_submodule(prefix.rsplit(".", 1)[0])
            old[prefix] = module.weight.detach().clone()  # the pre-1.0 layout stored weight, not v
        else:
            old[name] = t.clone()
    assert not any(k.endswith("weight_v") for k in old)
    path = tmp_path / "latest_net_G.pth"
    torch.save(old, path)  # a plain dict: no spectral-norm version in the metadata, as in old files
    loaded = load_official(path, SMALL)
    with torch.no_grad():
        got = loaded(seg)
    assert torch.allclose(got, want, atol=1e-5), float((got - want).abs().max())
    torch.save({k: v for k, v in old.items() if not k.endswith("conv_0.weight")}, path)
    with pytest.raises(UserError, match=r"missing .*head_0\.conv_0\.weight_v"):
        load_official(path, SMALL)


def test_output_shape_and_range_at_256x512_with_a_small_width():
    opts = SpadeOptions(ngf=8, z_dim=16)  # Cityscapes: crop 512, aspect 2, more up-sampling
    net = _randomise(SPADEGenerator(opts), 2).eval()
    with torch.no_grad():
        out = net(_segmap(opts, 256, 512)[:1])
    assert out.shape == (1, 3, 256, 512)
    assert torch.isfinite(out).all() and float(out.min()) >= -1 and float(out.max()) <= 1


def test_semantic_input_is_one_hot_then_instance_edges():
    opts = SpadeOptions(label_nc=3)
    label = torch.tensor([[[0, 1], [2, 2]]])
    instance = torch.tensor([[[5, 5], [5, 6]]])
    seg = semantic_input(label, instance, opts)
    assert seg.shape == (1, 4, 2, 2)
    assert torch.equal(seg[0, :3].argmax(0), label[0]) and torch.equal(seg[0, :3].sum(0), torch.ones(2, 2))
    assert torch.equal(seg[0, 3], torch.tensor([[0.0, 1.0], [1.0, 1.0]]))
    assert torch.equal(instance_edges(torch.zeros(1, 1, 3, 3)), torch.zeros(1, 1, 3, 3))
    dontcare = replace(opts, contain_dontcare_label=True, no_instance=True)
    assert semantic_input(torch.full((1, 2, 2), 255), None, dontcare)[0, 3].sum() == 4
    with pytest.raises(ValueError, match="label ids"):
        semantic_input(torch.full((1, 2, 2), 255), instance, opts)


def test_bad_files_and_options_are_user_errors(tmp_path):
    with pytest.raises(MissingWeightsError, match="latest_net_G.pth"):
        load_official(tmp_path / "absent.pth", SMALL)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="not a torch state-dict file"):
        load_official(junk, SMALL)
    torch.save({"epoch": 3}, tmp_path / "dict.pth")
    with pytest.raises(UserError, match="state dict of tensors"):
        load_official(tmp_path / "dict.pth", SMALL)
    with pytest.raises(UserError, match="latent size 0x1"):
        SpadeOptions(crop_size=64)  # more: sw = 64 // 64 = 1, sh = round(0.5) = 0
    with pytest.raises(UserError, match="norm_G"):
        SpadeOptions(norm_G="spectralspadegroup3x3")
    with pytest.raises(UserError, match="num_upsampling_layers"):
        SpadeOptions(num_upsampling_layers="many")
