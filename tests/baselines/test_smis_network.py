"""The SMIS Cityscapes generator: official key layout, strict loading, reproducible per-class noise."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch

from semcom_bench.errors import MissingWeightsError, UserError
from semcom_bench_baselines.smis import SmisGenerator, SmisOptions, interleave_edges, load_official

#: a small generator in the official layout: groups follow label_nc as at full width
SMALL = SmisOptions(label_nc=4, ngf=8, crop_size=128, block_groups=(4, 4, 4, 2, 2, 2, 1))


def official_pattern(label_nc: int = 35, ngf: int = 280) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the official ``CityscapesGenerator`` state dict, written out from
    Seanseattle/SMIS generator.py, architecture.py (SPADEV2ResnetBlock) and normalization.py
    (GROUP_SPADE, cityscapes mode), with spectral norm's weight_orig/_u/_v."""
    s = label_nc
    keys: dict[str, tuple[int, ...]] = {"fc.weight": (16 * ngf, 8, 3, 3), "fc.bias": (16 * ngf,)}
    blocks = [("head_0", 16, 16, s), ("G_middle_0", 16, 16, s), ("G_middle_1", 16, 16, 20),
              ("up_0", 16, 8, 14), ("up_1", 8, 4, 10), ("up_2", 4, 2, 4), ("up_3", 2, 1, 1)]
    for name, a, b, g in blocks:
        fin, fout = a * ngf, b * ngf
        mid = min(fin, fout)
        convs = [("conv_0", fin, mid, 3, True), ("conv_1", mid, fout, 3, True)]
        norms = [("norm_0", fin), ("norm_1", mid)]
        if fin != fout:
            convs.append(("conv_s", fin, fout, 1, False))
            norms.append(("norm_s", fin))
        for conv, cin, cout, k, bias in convs:
            keys[f"{name}.{conv}.weight_orig"] = (cout, cin // g, k, k)
            keys[f"{name}.{conv}.weight_u"] = (cout,)
            keys[f"{name}.{conv}.weight_v"] = (cin // g * k * k,)
            if bias:
                keys[f"{name}.{conv}.bias"] = (cout,)
        for norm, nc in norms:
            p = f"{name}.{norm}"
            keys[f"{p}.param_free_norm.running_mean"] = (nc,)
            keys[f"{p}.param_free_norm.running_var"] = (nc,)
            keys[f"{p}.param_free_norm.num_batches_tracked"] = ()
            keys[f"{p}.mlp_shared.0.weight"] = (s * g, 2, 3, 3)
            keys[f"{p}.mlp_shared.0.bias"] = (s * g,)
            for mlp in ("mlp_gamma", "mlp_beta"):
                keys[f"{p}.{mlp}.weight"] = (nc, g, 3, 3)
                keys[f"{p}.{mlp}.bias"] = (nc,)
    keys["conv_img.weight"] = (3, ngf, 3, 3)
    keys["conv_img.bias"] = (3,)
    return keys


def segmap(options: SmisOptions, batch: int = 2, seed: int = 1) -> torch.Tensor:
    """A one-hot label map with its instance-edge channel last, at the output size."""
    h, w = options.output_size
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, options.semantic_nc, (batch, h // 8, w // 8), generator=g)
    labels = labels.repeat_interleave(8, 1).repeat_interleave(8, 2)
    onehot = torch.nn.functional.one_hot(labels, options.semantic_nc).permute(0, 3, 1, 2).float()
    edge = torch.zeros(batch, 1, h, w)
    edge[:, :, :, 1:] += (labels[:, None, :, 1:] != labels[:, None, :, :-1]).float()
    edge[:, :, 1:, :] += (labels[:, None, 1:, :] != labels[:, None, :-1, :]).float()
    return torch.cat([onehot, edge.clamp(max=1)], dim=1)


@pytest.fixture
def trained_like(tmp_path):
    """A small generator with non-trivial running stats and spectral-norm vectors, saved as the
    official ``util.save_network`` saves it: ``torch.save(net.cpu().state_dict(), 'latest_net_G.pth')``."""
    net = SmisGenerator(SMALL)
    net.train()
    with torch.no_grad():
        for _ in range(2):  # moves running stats and the power-iteration vectors away from init
            net(segmap(SMALL), generator=torch.Generator().manual_seed(5))
    net.eval()
    path = tmp_path / "latest_net_G.pth"
    torch.save(net.cpu().state_dict(), path)
    return net, path


def test_full_width_state_dict_matches_the_official_pattern_on_meta():
    with torch.device("meta"):
        net = SmisGenerator(SmisOptions())
    got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert got == official_pattern()
    # spot checks, as written out in the baseline notes
    assert got["fc.weight"] == (4480, 8, 3, 3)
    assert got["head_0.conv_0.weight_orig"] == (4480, 128, 3, 3)
    assert got["head_0.norm_0.mlp_shared.0.weight"] == (1225, 2, 3, 3)
    assert got["head_0.norm_0.mlp_gamma.weight"] == (4480, 35, 3, 3)
    assert got["up_0.conv_0.weight_orig"] == (2240, 320, 3, 3)
    assert got["up_0.conv_s.weight_orig"] == (2240, 320, 1, 1)
    assert got["up_3.norm_1.mlp_gamma.weight"] == (280, 1, 3, 3)
    assert "up_3.conv_s.bias" not in got


def test_full_width_options_and_output_shape_on_meta():
    opts = SmisOptions()
    assert (opts.semantic_nc, opts.input_nc, opts.latent_channels) == (35, 36, 280)
    assert opts.latent_size == (4, 8) and opts.output_size == (256, 512)
    assert opts.groups == (35, 35, 20, 14, 10, 4, 1)
    with torch.device("meta"):
        net = SmisGenerator(opts).eval()
        out = net(torch.zeros(1, 36, 256, 512), z=torch.zeros(1, 280, 4, 8))
    assert tuple(out.shape) == (1, 3, 256, 512)


def test_small_generator_follows_the_same_pattern():
    got = {k: tuple(v.shape) for k, v in SmisGenerator(SMALL).state_dict().items()}
    want = official_pattern(label_nc=4, ngf=8)
    groups = dict(zip(["head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3"], SMALL.groups))
    assert got.keys() == want.keys()
    assert got["head_0.conv_0.weight_orig"] == (128, 128 // groups["head_0"], 3, 3)
    assert got["up_0.norm_0.mlp_gamma.weight"] == (128, 2, 3, 3)  # nhidden / groups=label_nc


def test_strict_load_round_trip_gives_the_same_output(trained_like):
    net, path = trained_like
    loaded = load_official(path, SMALL)
    assert not loaded.training
    seg = segmap(SMALL)
    with torch.no_grad():
        a = net(seg, generator=torch.Generator().manual_seed(3))
        b = loaded(seg, generator=torch.Generator().manual_seed(3))
        c = loaded(seg, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and torch.equal(b, c)
    assert tuple(a.shape) == (2, 3, *SMALL.output_size) == (2, 3, 64, 128)
    assert a.min() >= -1 and a.max() <= 1 and torch.isfinite(a).all()


def test_different_noise_gives_different_images(trained_like):
    _, path = trained_like
    net = load_official(path, SMALL)
    seg = segmap(SMALL)
    with torch.no_grad():
        a = net(seg, generator=torch.Generator().manual_seed(3))
        b = net(seg, generator=torch.Generator().manual_seed(4))
    assert not torch.allclose(a, b)


def test_renamed_key_fails_with_one_line_error(trained_like, tmp_path):
    _, path = trained_like
    state = torch.load(path, weights_only=True)
    renamed = OrderedDict((k.replace("head_0.conv_0.", "head_0.conv0.") if k.startswith("head_0.conv_0.") else k, v)
                          for k, v in state.items())
    bad = tmp_path / "renamed_net_G.pth"
    torch.save(renamed, bad)
    with pytest.raises(UserError) as info:
        load_official(bad, SMALL)
    message = str(info.value)
    assert "\n" not in message
    assert "head_0.conv_0." in message and "head_0.conv0." in message
    assert "ngf" in message and "label_nc" in message


def test_wrong_width_fails_with_one_line_error(trained_like):
    _, path = trained_like
    with pytest.raises(UserError) as info:
        load_official(path, SmisOptions(label_nc=4, ngf=16, crop_size=128, block_groups=SMALL.block_groups))
    message = str(info.value)
    assert "\n" not in message and "size mismatch" in message and "ngf=16" in message


def test_missing_file_and_non_checkpoint(tmp_path):
    with pytest.raises(MissingWeightsError):
        load_official(tmp_path / "latest_net_G.pth", SMALL)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a torch state-dict file"):
        load_official(junk, SMALL)


def test_old_spectral_norm_files_without_weight_v_load(trained_like, tmp_path):
    """Files from PyTorch before spectral-norm version 1 hold ``weight`` instead of ``weight_v``;
    spectral norm's own load hook rebuilds ``weight_v`` from it."""
    net, path = trained_like
    state = torch.load(path, weights_only=True)
    old = {}
    for k, v in state.items():
        if k.endswith(".weight_v"):
            module = net.get_submodule(k.rsplit(".", 1)[0])
            old[k[:-2]] = module.weight.detach().clone()  # the normalised weight of the eval forward
        else:
            old[k] = v
    bad = tmp_path / "old_net_G.pth"
    torch.save(old, bad)  # a plain dict: no spectral-norm version metadata
    loaded = load_official(bad, SMALL)
    seg = segmap(SMALL)
    with torch.no_grad():
        a = net(seg, generator=torch.Generator().manual_seed(3))
        b = loaded(seg, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(a, b, atol=1e-3)


def test_per_class_noise_layout_and_resampling():
    net = SmisGenerator(SMALL)
    z = net.sample_latent(2, torch.Generator().manual_seed(9))
    official = torch.randn(2, 4, 8, 1 * 2, generator=torch.Generator().manual_seed(9))
    assert torch.equal(z, official.view(2, 32, 1, 2))
    z2 = net.resample_class(z, 2, torch.Generator().manual_seed(10))
    changed = (z2 != z).flatten(2).any(-1).any(0)
    assert changed[16:24].all() and not changed[:16].any() and not changed[24:].any()


def test_noise_must_be_explicit():
    net = SmisGenerator(SMALL)
    with pytest.raises(ValueError, match="torch.Generator"):
        net(segmap(SMALL))
    with pytest.raises(ValueError, match="z must be"):
        net(segmap(SMALL), z=torch.zeros(2, 32, 4, 8))
    with pytest.raises(ValueError, match="segmap must be"):
        net(segmap(SMALL)[:, :-1], generator=torch.Generator())


def test_edges_are_interleaved_after_every_class():
    seg = torch.arange(4.0).view(1, 4, 1, 1)  # classes 0, 1, 2 then the edge (3)
    assert interleave_edges(seg).flatten().tolist() == [0.0, 3.0, 1.0, 3.0, 2.0, 3.0]


def test_options_reject_shapes_the_official_code_cannot_build():
    with pytest.raises(UserError, match="num_upsampling_layers"):
        SmisOptions(num_upsampling_layers="most")
    with pytest.raises(UserError, match="divisible"):
        SmisOptions(ngf=64)  # 16 * 64 is not a multiple of 35
    with pytest.raises(UserError, match="norm_G"):
        SmisOptions(norm_G="spectralinstance")
