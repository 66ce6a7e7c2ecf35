"""The OASIS generator: official key layout, strict loading of an officially saved file, noise."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from semcom_bench.errors import MissingWeightsError, UserError
from semcom_bench_baselines.oasis import OASIS_Generator, OasisOptions, load_official, official_key_shapes

#: small width in the official layout: channels 32,32,32,16,8,4,2, output 32 x 64
SMALL = OasisOptions(channels_G=2, crop_size=64, spade_hidden=8)


def _labels(options: OasisOptions, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """(B, semantic_nc, H, W) one-hot label maps at the options' output size."""
    h, w = options.output_size
    ids = torch.randint(0, options.semantic_nc, (batch, h // 4, w // 4), generator=torch.Generator().manual_seed(seed))
    onehot = torch.nn.functional.one_hot(ids, options.semantic_nc).permute(0, 3, 1, 2).float()
    return torch.nn.functional.interpolate(onehot, size=(h, w), mode="nearest")


def _trained_like(options: OasisOptions = SMALL, seed: int = 0) -> OASIS_Generator:
    """A generator with small random weights, after a few train-mode passes (BN stats, spectral u/v)."""
    model = OASIS_Generator(options)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        model.train()
        for step in range(3):
            model(_labels(options, seed=step), generator=g)
    return model.eval()


def _save_as_official(model: OASIS_Generator, root: Path) -> Path:
    """Save as boschresearch/OASIS utils/utils.py::save_networks: netEMA.state_dict() to models/best_EMA.pth."""
    path = root / "oasis_cityscapes_pretrained" / "models"
    path.mkdir(parents=True)
    torch.save(model.state_dict(), str(path) + "/%s_EMA.pth" % "best")
    return path / "best_EMA.pth"


def _official_pattern(options: OasisOptions) -> dict[str, tuple[int, ...]]:
    """Keys and shapes in the order of the official OASIS_Generator (models/generator.py, models/norms.py)."""
    ch, cond, hid = options.channels_G, options.semantic_nc + options.z_dim, options.spade_hidden
    channels = [16 * ch, 16 * ch, 16 * ch, 8 * ch, 4 * ch, 2 * ch, ch]
    keys: dict[str, tuple[int, ...]] = {"conv_img.weight": (3, ch, 3, 3), "conv_img.bias": (3,)}

    def sn_conv(name: str, fout: int, fin: int, k: int, bias: bool) -> None:
        if bias:
            keys[f"{name}.bias"] = (fout,)
        keys[f"{name}.weight_orig"] = (fout, fin, k, k)
        keys[f"{name}.weight_u"] = (fout,)
        keys[f"{name}.weight_v"] = (fin * k * k,)

    def spade(name: str, c: int) -> None:
        keys[f"{name}.first_norm.running_mean"] = (c,)
        keys[f"{name}.first_norm.running_var"] = (c,)
        keys[f"{name}.first_norm.num_batches_tracked"] = ()
        keys[f"{name}.mlp_shared.0.weight"] = (hid, cond, 3, 3)
        keys[f"{name}.mlp_shared.0.bias"] = (hid,)
        keys[f"{name}.mlp_gamma.weight"] = (c, hid, 3, 3)
        keys[f"{name}.mlp_gamma.bias"] = (c,)
        keys[f"{name}.mlp_beta.weight"] = (c, hid, 3, 3)
        keys[f"{name}.mlp_beta.bias"] = (c,)

    for i in range(6):
        fin, fout = channels[i], channels[i + 1]
        mid = min(fin, fout)
        sn_conv(f"body.{i}.conv_0", mid, fin, 3, bias=True)
        sn_conv(f"body.{i}.conv_1", fout, mid, 3, bias=True)
        if fin != fout:
            sn_conv(f"body.{i}.conv_s", fout, fin, 1, bias=False)
        spade(f"body.{i}.norm_0", fin)
        spade(f"body.{i}.norm_1", mid)
        if fin != fout:
            spade(f"body.{i}.norm_s", fin)
    keys["fc.weight"] = (16 * ch, cond, 3, 3)
    keys["fc.bias"] = (16 * ch,)
    return keys


def test_full_width_keys_match_the_official_pattern_on_meta():
    options = OasisOptions()
    assert (options.semantic_nc, options.z_dim, options.channels_G, options.num_res_blocks) == (35, 64, 64, 6)
    assert options.init_size == (8, 16) and options.output_size == (256, 512)
    shapes = official_key_shapes(options)
    assert list(shapes.items()) == list(_official_pattern(options).items())
    # facts read from the official code, spelled out
    assert shapes["fc.weight"] == (1024, 99, 3, 3)
    assert shapes["body.2.conv_s.weight_orig"] == (512, 1024, 1, 1)
    assert shapes["body.0.norm_0.first_norm.running_mean"] == (1024,)
    assert shapes["body.0.norm_0.mlp_shared.0.weight"] == (128, 99, 3, 3)
    assert "body.0.conv_s.weight_orig" not in shapes and "body.1.norm_s.first_norm.running_var" not in shapes
    assert "conv_img.weight_orig" not in shapes and "fc.weight_orig" not in shapes  # no spectral norm there


def test_small_width_saved_as_official_loads_strictly_and_reproduces(tmp_path):
    model = _trained_like()
    assert list(official_key_shapes(SMALL)) == list(_official_pattern(SMALL))
    path = _save_as_official(model, tmp_path)
    loaded = load_official(path, SMALL)
    assert not loaded.training
    labels = _labels(SMALL)
    with torch.no_grad():
        expected = model(labels, generator=torch.Generator().manual_seed(7))
        got = loaded(labels, generator=torch.Generator().manual_seed(7))
    assert torch.equal(got, expected)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k


def test_output_shape_range_and_noise_seeds():
    model = _trained_like()
    labels = _labels(SMALL, batch=3)
    with torch.no_grad():
        a = model(labels, generator=torch.Generator().manual_seed(1))
        a2 = model(labels, generator=torch.Generator().manual_seed(1))
        b = model(labels, generator=torch.Generator().manual_seed(2))
        # an explicit noise tensor is the same as drawing it from the generator
        z = model.draw_noise(3, torch.Generator().manual_seed(1))
        a3 = model(labels, z=z)
    assert a.shape == (3, 3, *SMALL.output_size) == (3, 3, 32, 64)
    assert a.min() >= -1 and a.max() <= 1 and a.std() > 0.01
    assert torch.equal(a, a2) and torch.equal(a, a3)
    assert (a - b).abs().mean() > 1e-3
    # the output size is set by the options; the label map is nearest-resized
    half = torch.nn.functional.interpolate(labels, scale_factor=0.5, mode="nearest")
    with torch.no_grad():
        assert model(half, generator=torch.Generator().manual_seed(1)).shape == a.shape


def test_noise_is_required_and_checked():
    model = _trained_like()
    labels = _labels(SMALL, batch=2)
    with pytest.raises(ValueError, match="generator="):
        model(labels)
    with pytest.raises(ValueError, match="z must be"):
        model(labels, z=torch.zeros(2, 8))
    with pytest.raises(ValueError, match="label must be"):
        model(labels[:, :10], generator=torch.Generator())
    no_noise = OASIS_Generator(OasisOptions(channels_G=2, crop_size=64, spade_hidden=8, no_3dnoise=True)).eval()
    assert no_noise.fc.in_channels == 35
    with torch.no_grad():
        assert no_noise(labels).shape == (2, 3, 32, 64)


def _one_line_user_error(path: Path, options: OasisOptions = SMALL) -> str:
    with pytest.raises(UserError) as info:
        load_official(path, options)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_renamed_key_fails_with_one_line_error(tmp_path):
    state = _trained_like().state_dict()
    state["body.0.norm_0.param_free_norm.running_mean"] = state.pop("body.0.norm_0.first_norm.running_mean")
    path = tmp_path / "best_EMA.pth"
    torch.save(state, path)
    message = _one_line_user_error(path)
    assert "missing keys body.0.norm_0.first_norm.running_mean" in message
    assert "unexpected keys body.0.norm_0.param_free_norm.running_mean" in message
    assert "semantic_nc" in message and "channels_G" in message


def test_wrong_options_and_wrapped_files_fail_with_one_line_error(tmp_path):
    path = _save_as_official(_trained_like(), tmp_path)
    wider = _one_line_user_error(path, OasisOptions(channels_G=4, crop_size=64, spade_hidden=8))
    assert "shape mismatch" in wider
    labels_36 = _one_line_user_error(path, OasisOptions(semantic_nc=36, channels_G=2, crop_size=64, spade_hidden=8))
    assert ("shape mismatch body.0.norm_0.mlp_shared.0.weight (8, 99, 3, 3) in the file vs (8, 100, 3, 3) here"
            in labels_36)
    # the official loader takes the bare generator state dict; a prefixed one is not it
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"module.netEMA." + k: v for k, v in torch.load(path, weights_only=True).items()}, wrapped)
    assert "unexpected keys module.netEMA." in _one_line_user_error(wrapped)
    junk = tmp_path / "junk.pth"
    junk.write_text("not a torch file")
    assert "not a readable torch file" in _one_line_user_error(junk)
    with pytest.raises(MissingWeightsError, match="best_EMA.pth"):
        load_official(tmp_path / "absent.pth", SMALL)


def test_options_are_checked():
    with pytest.raises(UserError, match="num_res_blocks"):
        OasisOptions(num_res_blocks=5)
    with pytest.raises(UserError, match="param_free_norm"):
        OasisOptions(param_free_norm="group")
    with pytest.raises(UserError, match="crop_size"):
        OasisOptions(crop_size=100)
    with pytest.raises(Exception):
        SMALL.z_dim = 3  # frozen


def test_file_without_spectral_norm_v_loads_through_torch_hook(tmp_path):
    """A state dict in spectral norm's pre-``weight_v`` format (``weight``, ``weight_orig``, ``weight_u``)."""
    model = _trained_like()
    state = dict(model.state_dict())  # a plain dict: no metadata, so torch treats it as unversioned
    for name, module in model.named_modules():
        if hasattr(module, "weight_orig"):
            state[f"{name}.weight"] = module.weight.detach().clone()
            del state[f"{name}.weight_v"]
    path = tmp_path / "best_EMA.pth"
    torch.save(state, path)
    loaded = load_official(path, SMALL)
    labels = _labels(SMALL)
    with torch.no_grad():
        expected = model(labels, generator=torch.Generator().manual_seed(3))
        got = loaded(labels, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(got, expected, atol=1e-4)
