"""DeepJSCC network: the paper's shapes, k/n = c/96, power normalisation, kaira's key layout and strict loading."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from semcom_bench.errors import UserError
from semcom_bench_baselines.deepjscc.network import (DeepJsccDecoder, DeepJsccEncoder, awgn, channels_for_ratio,
                                                     embedded_entry, load_weights, normalise, ratio_of, state_dict)


def kaira_layout(c: int) -> dict[str, tuple[int, ...]]:
    """The state-dict keys and shapes of kaira 0.2.1's ``DeepJSCCModel`` with ``Bourtsoulatze2019DeepJSCC{Encoder,
    Decoder}(c)`` (``kaira/models/image/bourtsoulatze2019_deepjscc.py``), written out by hand from that source."""
    out: dict[str, tuple[int, ...]] = {}
    for i, (cin, cout) in enumerate([(3, 16), (16, 32), (32, 32), (32, 32), (32, c)]):
        out[f"encoder.model.{i}.conv.weight"] = (cout, cin, 5, 5)
        out[f"encoder.model.{i}.conv.bias"] = (cout,)
        out[f"encoder.model.{i}.prelu.weight"] = (1,)
    for i, (cin, cout) in enumerate([(c, 32), (32, 32), (32, 32), (32, 16), (16, 3)]):
        out[f"decoder.model.{i}.transconv.weight"] = (cin, cout, 5, 5)  # ConvTranspose2d: (in, out, k, k)
        out[f"decoder.model.{i}.transconv.bias"] = (cout,)
        if i < 4:  # the last layer's sigmoid has no weights
            out[f"decoder.model.{i}.activate.weight"] = (1,)
    return out


@pytest.mark.parametrize("c", [8, 16])
def test_state_dict_is_kairas_layout(c):
    ours = {k: tuple(v.shape) for k, v in state_dict(DeepJsccEncoder(c), DeepJsccDecoder(c)).items()}
    assert ours == kaira_layout(c)


@pytest.mark.parametrize("hw", [(32, 64), (64, 128), (36, 52), (128, 256), (4, 4)])
@pytest.mark.parametrize("c", [8, 16])
def test_shapes_and_bandwidth_ratio_at_several_sizes(hw, c):
    h, w = hw
    enc, dec = DeepJsccEncoder(c).eval(), DeepJsccDecoder(c).eval()
    x = torch.rand(2, 3, h, w)
    with torch.no_grad():
        z = enc(x)
        y = dec(z)
    assert z.shape == (2, c, h // 4, w // 4) and z.dtype == torch.float32
    assert y.shape == (2, 3, h, w) and float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    k = z[0].numel() / 2  # complex channel uses
    assert Fraction(int(k), 3 * h * w) == ratio_of(c) == Fraction(c, 96)


def test_input_sizes_not_divisible_by_four_are_refused():
    with pytest.raises(ValueError, match="divisible by 4"):
        DeepJsccEncoder(8)(torch.rand(1, 3, 30, 64))


def test_ratio_to_channels():
    assert channels_for_ratio(Fraction(1, 6)) == 16 and channels_for_ratio(Fraction(1, 12)) == 8
    with pytest.raises(UserError, match=r"c/96 .* got 1/10; nearest: 3/32 or 5/48") as err:
        channels_for_ratio(Fraction(1, 10))
    assert "\n" not in str(err.value)


def test_power_normalisation_is_unit_average_power_per_complex_symbol_per_image():
    z = torch.randn(3, 8, 16, 32) * torch.tensor([0.1, 1.0, 30.0]).view(3, 1, 1, 1)
    zt, scale = normalise(z)
    pairs = torch.complex(zt.flatten(1)[:, 0::2], zt.flatten(1)[:, 1::2])
    assert torch.allclose(pairs.abs().square().mean(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(zt * scale.view(3, 1, 1, 1), z, rtol=1e-5, atol=1e-6)
    # AWGN at 10 dB: N0 = 0.1 per complex symbol, 0.05 per real value
    noise = awgn(torch.zeros(1, 8, 64, 64), 10.0, torch.Generator().manual_seed(0))
    assert abs(float(noise.var()) - 0.05) < 0.002


def test_strict_load_of_a_kaira_layout_file(tmp_path):
    torch.manual_seed(0)
    c = 16
    enc, dec = DeepJsccEncoder(c), DeepJsccDecoder(c)
    state = state_dict(enc, dec)
    flat = tmp_path / "model.pt"
    torch.save({**state, "channel.avg_noise_power": torch.tensor(0.1)}, flat)  # kaira's non-network keys are skipped
    nested = tmp_path / "nested.pt"
    torch.save({"encoder": enc.state_dict(), "decoder": dec.state_dict()}, nested)
    x = torch.rand(1, 3, 32, 64)
    for path in (flat, nested):
        e2, d2 = load_weights(path)
        assert e2.channels == c and not e2.training
        with torch.no_grad():
            assert torch.equal(d2(e2(x)), dec.eval()(enc.eval()(x)))


@pytest.mark.parametrize("damage, message", [
    (lambda s: {(k.replace(".conv.", ".") if k.startswith("encoder.model.0.") else k): v for k, v in s.items()},
     "missing encoder.model.0.conv.weight, encoder.model.0.conv.bias; unexpected encoder.model.0.weight"),
    (lambda s: {k: v for k, v in s.items() if k != "decoder.model.2.activate.weight"},
     "missing decoder.model.2.activate.weight"),
    (lambda s: {**s, "decoder.model.1.transconv.weight": torch.zeros(32, 32, 3, 3)},
     r"shape of decoder.model.1.transconv.weight \[32, 32, 3, 3\] in the file, \[32, 32, 5, 5\] here"),
    (lambda s: {k.replace("encoder.", ""): v for k, v in s.items()}, "have no encoder.model.4.conv.weight"),
])
def test_a_wrong_layout_fails_in_one_line(tmp_path, damage, message):
    path = tmp_path / "bad.pt"
    torch.save(damage(state_dict(DeepJsccEncoder(8), DeepJsccDecoder(8))), path)
    with pytest.raises(UserError, match=message) as err:
        load_weights(path)
    assert "\n" not in str(err.value)


def test_width_mismatch_and_unreadable_files(tmp_path):
    path = tmp_path / "c8.pt"
    torch.save(state_dict(DeepJsccEncoder(8), DeepJsccDecoder(8)), path)
    with pytest.raises(UserError, match=r"c=8 channels \(ratio 1/12\), not c=16"):
        load_weights(path, channels=16)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="cannot be read"):
        load_weights(junk)
    with pytest.raises(UserError, match="does not exist"):
        load_weights(tmp_path / "nope.pt")


def test_a_missing_embedded_combination_lists_what_exists():
    with pytest.raises(UserError) as err:
        embedded_entry(12, 7.0)
    assert str(err.value) == ("no embedded deepjscc for ratio=1/8 snr_train=7; embedded: ratio 1/6 or 1/12 at "
                              "snr_train 10 or 13 dB (or pass weights=PATH)")
