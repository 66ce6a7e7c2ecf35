"""``full-image(ratio=k/n)``: a down-sampled image within the ratio's channel uses, up-sampled back."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from semcom_bench import api, registry
from semcom_bench.bandwidth import parse_ratio
from semcom_bench.config import build_config
from semcom_bench.data.base import Sample
from semcom_bench.errors import UserError
from semcom_bench.methods.base import Delivery
from semcom_bench.methods.classical.full_image import sent_size


@pytest.mark.parametrize("hw", [(64, 128), (32, 64), (256, 512), (37, 53), (8, 8), (1024, 2048)])
@pytest.mark.parametrize("ratio", ["1/2", "1/3", "1/6", "1/12", "1/24", "1/48", "0.2", "7/97"])
def test_sent_size_fits_the_budget_keeps_the_aspect_and_uses_most_of_it(hw, ratio):
    h0, w0 = hw
    r = parse_ratio(ratio, "test")
    budget = math.floor(r * 3 * h0 * w0)
    if budget < 2:
        with pytest.raises(UserError, match="fewer than the 2 one pixel needs"):
            sent_size(h0, w0, r)
        return
    h, w = sent_size(h0, w0, r)
    uses = -(-3 * h * w // 2)
    assert 1 <= h <= h0 and 1 <= w <= w0
    assert uses <= budget  # never above the requested ratio
    if min(h0, w0) >= 32 and r >= Fraction(1, 48):  # at useful sizes the budget is mostly used and the aspect kept
        assert uses >= 0.85 * budget
        assert abs(math.log((w / h) / (w0 / h0))) < 0.1


def test_ratio_one_half_is_the_full_image_and_odd_areas_lose_a_line():
    assert sent_size(64, 128, Fraction(1, 2)) == (64, 128)
    h, w = sent_size(37, 53, Fraction(1, 2))  # 3·37·53 is odd: the full image takes one use more than 1/2
    assert (h, w) in ((36, 53), (37, 52))


@pytest.mark.parametrize("bad, message", [("1/0", "such as 1/12"), ("abc", "such as 1/12"), ("nan", "such as 1/12"),
                                          ("0", r"in \(0, 1/2\]"), ("-1/6", r"in \(0, 1/2\]"),
                                          ("3/4", r"in \(0, 1/2\]"), (True, "must be text or none")])
def test_bad_ratios_are_one_line_user_errors(bad, message):
    with pytest.raises(UserError, match=message) as err:
        registry.methods.create("full-image", ratio=bad)
    assert "\n" not in str(err.value) and "full-image" in str(err.value)


def test_the_default_keeps_the_cache_keys_and_the_symbols():
    plain = registry.methods.create("full-image")
    assert plain.params() == {} and plain.sender.identity() == {"sender": "pixels", "version": "1"}
    with_ratio = registry.methods.create("full-image", ratio=0.0833333)
    assert with_ratio.params() == {"ratio": "1/12"} and with_ratio.sender.settings() == {"ratio": "1/12"}
    assert with_ratio.sender.key() != plain.sender.key()


def test_round_trip_without_noise_is_a_resampled_image():
    yy, xx = np.mgrid[0:64, 0:128]
    image = np.stack([xx * 2, yy * 4, (xx + yy)], -1).clip(0, 255).astype(np.uint8)  # smooth: survives resampling
    method = registry.methods.create("full-image", ratio="1/6")
    (p,) = method.transmit_batch([Sample(key="s/0", image=image)], [torch.Generator()])
    assert p.channel_uses <= 64 * 128 * 3 // 6 and p.source_bits == 8 * 3 * 36 * 73
    assert abs(float(p.symbols.abs().square().mean()) - 1.0) < 1e-5
    from semcom_bench.channels.base import ChannelState, Received

    rx = Received(p.symbols, ChannelState.uniform(100.0, 0.0, tuple(p.symbols.shape)))
    (out,) = method.receive_batch([Delivery(rx, p.side)], [torch.Generator()])
    assert out.shape == image.shape and out.dtype == np.uint8
    err = np.abs(out.astype(int) - image.astype(int))[2:-2, 2:-2]  # away from the borders
    assert err.max() <= 3, err.max()


def test_through_the_runner_the_bits_metric_shows_the_achieved_ratio(tmp_path):
    config = build_config(dataset="synthetic-streets(size=2)", methods="full-image(ratio=1/6),full-image(ratio=1/12)",
                          channels="awgn", values="20", metrics="psnr,bits", out=tmp_path / "out",
                          cache_dir=tmp_path / "cache", threads=1)
    frame = api.run(config)["frame"]
    ratio = frame[frame.output == "bandwidth_ratio"].groupby("method")["value"].agg(["min", "max"])
    for label, requested in (("full-image(ratio=1/6)", 1 / 6), ("full-image(ratio=1/12)", 1 / 12)):
        assert ratio.loc[label, "max"] <= requested and ratio.loc[label, "min"] > 0.9 * requested
    psnr = frame[frame.metric == "psnr"].groupby("method")["value"].mean()
    assert psnr["full-image(ratio=1/6)"] > psnr["full-image(ratio=1/12)"] > 15.0
