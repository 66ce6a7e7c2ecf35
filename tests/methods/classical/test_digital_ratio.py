"""``digital(ratio=k/n)``: the codec's bit budget fits the ratio's channel uses at the fixed rate and QAM order."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from semcom_bench import api, registry
from semcom_bench.config import build_config
from semcom_bench.errors import UserError
from semcom_bench.training.scenes import create_dataset

pytestmark = pytest.mark.skipif(importlib.util.find_spec("sionna") is None, reason="sionna-no-rt not installed")


def scenes(n: int = 3):
    ds = create_dataset({"name": "synthetic-streets", "split": "test", "height": 64, "width": 128, "seed": 0})
    return [ds[i] for i in range(n)]


@pytest.mark.parametrize("params", [{"codec": "jpeg2000", "ratio": "1/6"}, {"codec": "jpeg2000", "ratio": "1/12"},
                                    {"codec": "webp", "ratio": "1/6", "rate": 0.75, "bits_per_symbol": 4},
                                    {"codec": "jpeg", "ratio": "1/3", "bits_per_symbol": 4, "k": 512}])
def test_the_achieved_ratio_never_exceeds_the_requested_one_and_uses_most_of_it(params):
    method = registry.methods.create("digital", **params)
    budget_uses = math.floor(method.k_n * 3 * 64 * 128)
    per_codeword = method.n // method.bits_per_symbol
    assert method.ratio_budget(64, 128) == (budget_uses // per_codeword) * method.k
    for p in method.transmit_batch(scenes(), [torch.Generator() for _ in range(3)]):
        assert p.source_bits <= method.ratio_budget(64, 128)
        assert p.channel_uses <= budget_uses
        assert p.channel_uses >= budget_uses - 3 * per_codeword  # the bisection leaves at most a few codewords free


def test_the_default_keeps_the_cache_keys():
    plain = registry.methods.create("digital")
    assert "ratio" not in plain.params() and "ratio" not in plain.sender.settings()
    assert registry.methods.create("digital", codec="jpeg2000", ratio=1 / 12).params()["ratio"] == "1/12"


def test_bad_combinations_are_one_line_errors():
    with pytest.raises(UserError, match="one of quality, bit_budget and ratio, not quality and ratio"):
        registry.methods.create("digital", quality=50, ratio="1/6")
    with pytest.raises(UserError, match="such as 1/12"):
        registry.methods.create("digital", ratio="one sixth")
    method = registry.methods.create("digital", ratio="1/12")  # jpeg: its headers alone exceed 256 bytes
    with pytest.raises(UserError) as err:
        method.transmit_batch(scenes(1), [torch.Generator()])
    msg = str(err.value)
    assert "\n" not in msg and "smallest jpeg stream" in msg and "above the ratio's 2048" in msg and "jpeg2000" in msg


def test_through_the_runner_the_bits_metric_shows_the_achieved_ratio(tmp_path):
    config = build_config(dataset="synthetic-streets(size=2)", methods="digital(codec=jpeg2000,ratio=1/6)",
                          channels="awgn", values="20", metrics="psnr,bits", out=tmp_path / "out",
                          cache_dir=tmp_path / "cache", threads=1)
    frame = api.run(config)["frame"]
    ratio = frame[frame.output == "bandwidth_ratio"]["value"]
    assert ratio.max() <= 1 / 6 and ratio.min() > 0.8 / 6
    assert frame[frame.metric == "psnr"]["value"].mean() > 20.0  # 20 dB is far above QPSK rate 1/2's threshold
