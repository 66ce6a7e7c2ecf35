"""The ``deepjscc`` method: k/n and unit power of what it sends, user weights, errors, and the embedded models
end to end through the runner."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from semcom_bench import api, registry
from semcom_bench.config import build_config
from semcom_bench.data.base import Sample
from semcom_bench.errors import UserError
from semcom_bench.weights import find
from semcom_bench_baselines.deepjscc.network import EMBEDDED, DeepJsccDecoder, DeepJsccEncoder, state_dict

#: embedded model -> a floor for its PSNR (dB) on synthetic-streets test at 20 dB AWGN. Measured (32 test images,
#: ``evaluation.psnr`` in the JSON beside each file): 24.08, 24.14, 23.77, 23.91; on the first 4 images through the
#: runner 24.50, 24.57, 24.19, 24.23. The floors leave 1.6 dB or more.
PSNR_FLOOR_20DB = {(16, 10.0): 22.5, (16, 13.0): 22.5, (8, 10.0): 22.0, (8, 13.0): 22.0}

shipped = pytest.mark.skipif(not all(find(e.weights.name) for e in EMBEDDED.values()),
                             reason="the embedded deepjscc models are not in this checkout")


@pytest.fixture
def user_weights(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "deepjscc-c12.pt"
    torch.save(state_dict(DeepJsccEncoder(12), DeepJsccDecoder(12)), path)
    return path


def images(sizes):
    rng = np.random.default_rng(0)
    return [Sample(key=f"t/{i}", image=rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for i, (h, w) in enumerate(sizes)]


def test_payloads_have_k_over_n_c_over_96_and_unit_power_per_image(user_weights):
    method = registry.methods.create("deepjscc", weights=str(user_weights))
    assert method.ratio == "1/8" and method.params()["ratio"] == "1/8"
    sizes = [(64, 128), (32, 64), (36, 52), (64, 128)]
    samples = images(sizes)
    payloads = method.transmit_batch(samples, [torch.Generator() for _ in samples])
    for (h, w), p in zip(sizes, payloads):
        assert p.symbols.dtype == torch.complex64 and p.symbols.ndim == 1
        assert Fraction(p.channel_uses, 3 * h * w) == Fraction(1, 8)
        assert abs(float(p.symbols.abs().square().mean()) - 1.0) < 1e-5
        assert p.source_bits == 8 * 3 * h * w and p.side_bits == 48
    from semcom_bench.channels.base import ChannelState, Received
    from semcom_bench.methods.base import Delivery

    deliveries = [Delivery(Received(p.symbols, ChannelState.uniform(100.0, 0.0, tuple(p.symbols.shape))), p.side)
                  for p in payloads]
    out = method.receive_batch(deliveries, [torch.Generator() for _ in deliveries])
    assert [o.shape for o in out] == [(h, w, 3) for h, w in sizes] and all(o.dtype == np.uint8 for o in out)
    # a batch gives each image what it gets alone
    alone = method.transmit_batch(samples[1:2], [torch.Generator()])[0]
    assert torch.allclose(alone.symbols, payloads[1].symbols, atol=1e-6)


def test_user_weights_fix_the_ratio_and_bad_options_are_one_line_errors(user_weights, tmp_path):
    with pytest.raises(UserError, match=r"ratio=1/6 .* c=12 channels make ratio 1/8"):
        registry.methods.create("deepjscc", weights=str(user_weights), ratio="1/6")
    assert registry.methods.create("deepjscc", weights=str(user_weights), ratio=0.125).ratio == "1/8"
    with pytest.raises(UserError, match="does not exist"):
        registry.methods.create("deepjscc", weights=str(tmp_path / "nope.pt"))
    for params, message in [({"ratio": "1/8"}, "no embedded deepjscc for ratio=1/8 snr_train=10; embedded: ratio "
                                               "1/6 or 1/12 at snr_train 10 or 13 dB"),
                            ({"ratio": "1/12", "snr_train": 7}, "no embedded deepjscc for ratio=1/12 snr_train=7"),
                            ({"ratio": "1/10"}, "c/96 for a whole number of channels"),
                            ({"ratio": "x"}, "such as 1/12")]:
        with pytest.raises(UserError, match=message) as err:
            registry.methods.create("deepjscc", **params)
        assert "\n" not in str(err.value)
    method = registry.methods.create("deepjscc", weights=str(user_weights))
    with pytest.raises(UserError, match="divisible by 4, got 30x64"):
        method.transmit_batch(images([(30, 64)]), [torch.Generator()])


@shipped
@pytest.mark.parametrize("key", sorted(EMBEDDED))
def test_embedded_models_load_with_their_evaluation(key):
    from semcom_bench_baselines.deepjscc.network import load_embedded

    encoder, decoder, info = load_embedded(*key)
    assert encoder.channels == key[0] and not decoder.training
    assert next(encoder.parameters()).dtype == torch.float32
    assert info["options"] == {"channels": key[0], "ratio": str(Fraction(key[0], 96)), "snr_train": key[1]}
    table = info["evaluation"]["psnr"]
    assert table["20 dB"] > PSNR_FLOOR_20DB[key] and table["clean"] >= table["0 dB"]


@shipped
def test_embedded_default_end_to_end_through_the_runner(tmp_path):
    config = build_config(dataset="synthetic-streets(size=4)",
                          methods="deepjscc,deepjscc(ratio=1/12,snr_train=13)", channels="awgn,rayleigh",
                          values="0,20", metrics="psnr,bits", out=tmp_path / "out", cache_dir=tmp_path / "cache",
                          threads=1)
    frame = api.run(config)["frame"]
    ratio = frame[frame.output == "bandwidth_ratio"].groupby("method")["value"].agg(["min", "max"])
    assert ratio.loc["deepjscc"].tolist() == [1 / 6, 1 / 6]
    assert ratio.loc["deepjscc(ratio=1/12,snr_train=13)"].tolist() == [1 / 12, 1 / 12]
    psnr = frame[frame.metric == "psnr"].groupby(["method", "channel", "snr_db"])["value"].mean()
    assert psnr[("deepjscc", "awgn", 20.0)] > PSNR_FLOOR_20DB[(16, 10.0)]
    assert psnr[("deepjscc(ratio=1/12,snr_train=13)", "awgn", 20.0)] > PSNR_FLOOR_20DB[(8, 13.0)]
    for method in ("deepjscc", "deepjscc(ratio=1/12,snr_train=13)"):  # graceful: lower, not collapsed, at 0 dB
        assert 17.0 < psnr[(method, "awgn", 0.0)] < psnr[(method, "awgn", 20.0)]  # measured 21.4 and 19.6
        assert psnr[(method, "rayleigh", 0.0)] < psnr[(method, "rayleigh", 20.0)]
