"""CC-FPSE's generator and encoder: official key layout, strict loading, reproducible output."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from semcom_bench.errors import UserError
from semcom_bench_baselines.ccfpse import (
    CcfpseOptions,
    CondConvGenerator,
    ConvEncoder,
    encode_z,
    load_official,
    sample_z,
)
from semcom_bench_baselines.ccfpse.network import DepthConv

# small networks in the official layout: crop 256 keeps the encoder's layer6 (crop >= 256)
SMALL = CcfpseOptions(label_nc=5, ngf=4, z_dim=256, crop_size=256, hidden=16)


# --------------------------------------------------------------------------------------------
# the official key pattern, written out from models/networks/{generator,architecture,condconv,
# normalization,encoder}.py
# --------------------------------------------------------------------------------------------


def _sn(prefix: str, cout: int, cin: int, k: int) -> dict[str, tuple]:
    return {f"{prefix}.weight_orig": (cout, cin, k, k), f"{prefix}.weight_u": (cout,),
            f"{prefix}.weight_v": (cin * k * k,)}


def _bn(prefix: str, c: int, affine: bool = True) -> dict[str, tuple]:
    keys = {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,)} if affine else {}
    keys |= {f"{prefix}.running_mean": (c,), f"{prefix}.running_var": (c,), f"{prefix}.num_batches_tracked": ()}
    return keys


def _conv(prefix: str, cout: int, cin: int, k: int) -> dict[str, tuple]:
    return {f"{prefix}.weight": (cout, cin, k, k), f"{prefix}.bias": (cout,)}


def _block(name: str, fin: int, fout: int, cond: int, hidden: int) -> dict[str, tuple]:
    fmid = min(fin, fout)
    keys: dict[str, tuple] = {}
    for head, cout in (("gen_weights1", fin * 9), ("gen_weights2", fout * 9), ("gen_se_weights1", fmid),
                       ("gen_se_weights2", fout)):
        keys |= _conv(f"{name}.{head}.0", hidden, cond, 3) | _conv(f"{name}.{head}.2", cout, hidden, 3)
    keys |= _bn(f"{name}.conv_0.norm_layer", fin) | _bn(f"{name}.norm_0", fmid)
    keys |= _conv(f"{name}.conv_1", fmid, fin, 1) | _bn(f"{name}.norm_1", fin)
    keys |= _bn(f"{name}.conv_2.norm_layer", fmid) | _bn(f"{name}.norm_2", fmid)
    keys |= _conv(f"{name}.conv_3", fout, fmid, 1)
    if fin != fout:
        keys |= _sn(f"{name}.conv_s", fout, fin, 1) | _bn(f"{name}.norm_s.param_free_norm", fin, affine=False)
        keys |= _conv(f"{name}.norm_s.mlp_shared.0", hidden, cond, 3)
        keys |= _conv(f"{name}.norm_s.mlp_gamma", fin, hidden, 3) | _conv(f"{name}.norm_s.mlp_beta", fin, hidden, 3)
    return keys


def _official_generator_keys(nc=36, nf=64, z=256, sw=8, sh=4, hidden=128, levels=7) -> dict[str, tuple]:
    keys = {"fc.weight": (16 * nf * sw * sh, z), "fc.bias": (16 * nf * sw * sh,)}
    for i in range(1, levels + 1):
        keys |= _sn(f"labelenc{i}.0.0", nf, nc if i == 1 else nf, 3) | _bn(f"labelenc{i}.0.1", nf)
    for i in range(1, levels):
        keys |= _sn(f"labellat{i}.0.0", nf, nf, 1) | _bn(f"labellat{i}.0.1", nf)
        keys |= _sn(f"labeldec{i}.0.0", nf, nf, 3) | _bn(f"labeldec{i}.0.1", nf)
    plan = [("head_0", 16, 16), ("G_middle_0", 16, 16), ("G_middle_1", 16, 16), ("up_0", 16, 8), ("up_1", 8, 4),
            ("up_2", 4, 2), ("up_3", 2, 1)]
    for name, a, b in plan:
        keys |= _block(name, a * nf, b * nf, nc + nf, hidden)
    return keys | _conv("conv_img", 3, nf, 3)


def _official_encoder_keys(ndf=64) -> dict[str, tuple]:
    widths = [3, ndf, 2 * ndf, 4 * ndf, 8 * ndf, 8 * ndf, 8 * ndf]
    keys: dict[str, tuple] = {}
    for i in range(1, 7):
        keys |= _sn(f"layer{i}.0", widths[i], widths[i - 1], 3)
    for fc in ("fc_mu", "fc_var"):
        keys |= {f"{fc}.weight": (256, ndf * 8 * 16), f"{fc}.bias": (256,)}
    return keys


def _shapes(module: torch.nn.Module) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_full_width_keys_match_the_official_pattern_on_meta():
    options = CcfpseOptions()
    assert options.semantic_nc == 36 and options.latent_size == (8, 4) and options.image_size == (256, 512)
    with torch.device("meta"):
        generator = CondConvGenerator(options)
        encoder = ConvEncoder(options)
    assert _shapes(generator) == _official_generator_keys()
    assert _shapes(encoder) == _official_encoder_keys()
    assert _shapes(generator)["fc.weight"] == (32768, 256)
    assert _shapes(encoder)["fc_mu.weight"] == (256, 8192)
    assert "labelenc1.0.0.bias" not in generator.state_dict()  # removed before the batch norm


def test_normal_upsampling_drops_the_seventh_level():
    with torch.device("meta"):
        g = CondConvGenerator(CcfpseOptions(num_upsampling_layers="normal", crop_size=256, aspect_ratio=1.0))
    keys = _shapes(g)
    assert keys == _official_generator_keys(sw=8, sh=8, levels=6)
    assert not any(k.startswith(("labelenc7", "labellat6", "labeldec6")) for k in keys)


# --------------------------------------------------------------------------------------------
# small networks, saved as the official save_network does, loaded strictly
# --------------------------------------------------------------------------------------------


def _randomise(module: torch.nn.Module, seed: int) -> None:
    """Random weights and batch-norm statistics, so that every tensor in the file matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(7)
            elif name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif not name.endswith(("weight_u", "weight_v")):
                t.copy_(torch.randn(t.shape, generator=g) * 0.05)
        # u, v as a trained network holds them: the top singular pair, so sigma is the spectral norm
        state = module.state_dict()
        for name, t in state.items():
            if name.endswith(".weight_orig"):
                conv = name[: -len("weight_orig")]
                u, _, vh = torch.linalg.svd(t.flatten(1), full_matrices=False)
                state[conv + "weight_u"].copy_(u[:, 0])
                state[conv + "weight_v"].copy_(vh[0])


def _seg(options: CcfpseOptions, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """One-hot labels (B, label_nc, H, W) plus the instance-edge channel."""
    h, w = options.image_size
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, options.label_nc, (batch, 1, h // 8, w // 8), generator=g)
    labels = F.interpolate(labels.float(), size=(h, w), mode="nearest").long()
    onehot = torch.zeros(batch, options.label_nc, h, w).scatter_(1, labels, 1.0)
    edges = torch.zeros(batch, 1, h, w)
    edges[:, :, :, 1:] += (labels[:, :, :, 1:] != labels[:, :, :, :-1]).float()
    return torch.cat([onehot, (edges > 0).float()], dim=1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, Path, CondConvGenerator, ConvEncoder]:
    folder = tmp_path_factory.mktemp("cs_best")
    generator, encoder = CondConvGenerator(SMALL), ConvEncoder(SMALL)
    _randomise(generator, 1)
    _randomise(encoder, 2)
    # util/util.py::save_network: torch.save(net.state_dict(), '<epoch>_net_<label>.pth')
    torch.save(generator.state_dict(), folder / "200_net_G.pth")
    torch.save(encoder.state_dict(), folder / "200_net_E.pth")
    return folder / "200_net_G.pth", folder / "200_net_E.pth", generator.eval(), encoder.eval()


def test_strict_load_gives_the_same_output_for_the_same_z_generator(saved):
    g_path, e_path, original, original_e = saved
    generator, encoder = load_official(g_path, e_path, SMALL)
    assert not generator.training and not encoder.training
    for k, v in original.state_dict().items():
        assert torch.equal(generator.state_dict()[k], v), k
    seg = _seg(SMALL)
    with torch.no_grad():
        a = generator(seg, generator=torch.Generator().manual_seed(3))
        b = generator(seg, generator=torch.Generator().manual_seed(3))
        ref = original(seg, generator=torch.Generator().manual_seed(3))
        other = generator(seg, generator=torch.Generator().manual_seed(4))
    assert a.shape == (2, 3, *SMALL.image_size)
    assert torch.equal(a, b) and torch.allclose(a, ref, atol=1e-6)
    assert a.min() >= -1 and a.max() <= 1 and a.std() > 1e-3
    assert (a.abs() < 0.99).float().mean() > 0.5  # not saturated, so the comparisons mean something
    assert not torch.allclose(a, other)  # z matters

    image = torch.rand(2, 3, *SMALL.image_size) * 2 - 1
    with torch.no_grad():
        mu, logvar = encoder(image)
        mu_ref, _ = original_e(image)
        z1 = encode_z(encoder, image, torch.Generator().manual_seed(5))
        z2 = encode_z(encoder, image, torch.Generator().manual_seed(5))
    assert mu.shape == logvar.shape == (2, 256) and torch.allclose(mu, mu_ref, atol=1e-6)
    assert torch.equal(z1, z2)
    with torch.no_grad():
        assert torch.equal(generator(seg, z1), generator(seg, z2))


def test_z_is_drawn_from_the_given_generator_and_required(saved):
    z = sample_z(3, 256, torch.Generator().manual_seed(0))
    assert z.shape == (3, 256) and torch.equal(z, torch.randn(3, 256, generator=torch.Generator().manual_seed(0)))
    generator = saved[2]
    seg = _seg(SMALL, batch=1)
    with torch.no_grad():
        assert torch.equal(generator(seg, generator=torch.Generator().manual_seed(0)),
                           generator(seg, sample_z(1, 256, torch.Generator().manual_seed(0))))
        with pytest.raises(ValueError, match="torch.Generator"):
            generator(seg)


def test_renamed_key_fails_with_one_line(saved, tmp_path):
    g_path, e_path, _, _ = saved
    state = torch.load(g_path, weights_only=True)
    state["labelenc3.0.1.weight_renamed"] = state.pop("labelenc3.0.1.weight")
    bad = tmp_path / "200_net_G.pth"
    torch.save(state, bad)
    with pytest.raises(UserError) as err:
        load_official(bad, e_path, SMALL)
    message = str(err.value)
    assert "\n" not in message
    assert "missing keys labelenc3.0.1.weight" in message and "unexpected keys labelenc3.0.1.weight_renamed" in message
    assert "CcfpseOptions" in message


def test_wrong_options_name_the_option(saved):
    g_path, e_path, _, _ = saved
    with pytest.raises(UserError, match="num_upsampling_layers") as err:
        load_official(g_path, None, CcfpseOptions(label_nc=5, ngf=4, crop_size=256, hidden=16, use_vae=False,
                                                  num_upsampling_layers="normal"))
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="label_nc"):
        load_official(g_path, e_path, CcfpseOptions(label_nc=6, ngf=4, crop_size=256, hidden=16))
    with pytest.raises(UserError, match="shape of .* in the file"):
        load_official(g_path, e_path, CcfpseOptions(label_nc=5, ngf=8, crop_size=256, hidden=16))


def test_encoder_is_required_with_use_vae(saved, tmp_path):
    g_path, e_path, _, _ = saved
    with pytest.raises(UserError, match="net_E") as err:
        load_official(g_path, None, SMALL)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="does not exist"):
        load_official(g_path, tmp_path / "200_net_E.pth", SMALL)
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="not a torch state-dict file"):
        load_official(g_path, tmp_path / "junk.pth", SMALL)


def test_file_from_before_weight_v_is_rebuilt_by_torch(saved, tmp_path):
    """Spectral norm once saved ``<conv>.weight`` (W_orig / sigma) and no ``weight_v``;
    torch's load hook rebuilds ``weight_v`` from it, so such a file loads and gives the same image."""
    g_path, e_path, original, _ = saved
    state = torch.load(g_path, weights_only=True)
    old = type(state)()
    for k, v in state.items():
        if k.endswith(".weight_v"):
            conv = k[: -len("weight_v")]
            w = state[conv + "weight_orig"]
            sigma = torch.dot(state[conv + "weight_u"], w.flatten(1) @ v)
            old[conv + "weight"] = w / sigma
        else:
            old[k] = v
    path = tmp_path / "old_net_G.pth"
    torch.save(old, path)  # a plain dict: no spectral_norm version stamp, as in the old files
    generator, _ = load_official(path, e_path, SMALL)
    seg = _seg(SMALL, batch=1)
    with torch.no_grad():
        a = generator(seg, generator=torch.Generator().manual_seed(0))
        b = original(seg, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(a, b, atol=1e-3)


def test_depth_conv_with_constant_kernels_is_a_grouped_conv():
    """The per-pixel taps are ordered channel-major, 3×3 row-major, as unfold orders them."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 7, generator=g)
    kernel = torch.randn(3, 1, 3, 3, generator=g)
    weights = kernel.reshape(1, 27, 1, 1).expand(2, 27, 5, 7)
    out = DepthConv(3)(x, weights)
    assert torch.allclose(out, F.conv2d(x, kernel, padding=1, groups=3), atol=1e-5)
