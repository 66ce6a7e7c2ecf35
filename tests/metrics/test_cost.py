"""The cost metric reads each image's generation cost from its cache record."""

import math

import pandas as pd

import tests.fake_dataset  # noqa: F401  (registers test-fake)
from semcom_bench import api
from semcom_bench.cache import Cache
from semcom_bench.config import build_config
from semcom_bench.metrics.cost import Cost


def test_cost_comes_from_the_record_of_each_image(tmp_path):
    cfg = build_config(dataset="test-fake", methods="full-image", channels="awgn", values="10", metrics="cost",
                       out=tmp_path / "out", cache_dir=tmp_path / "cache", limit=3)
    summary = api.run(cfg)
    frame = summary["frame"]
    cache = Cache(tmp_path / "cache")
    for _, row in frame[frame.output == "seconds"].iterrows():
        assert row["value"] == cache.get_record(row["image_key"])["seconds"] > 0
    for _, row in frame[frame.output == "peak_memory_mb"].iterrows():
        assert row["value"] == cache.get_record(row["image_key"])["peak_rss_mb"] > 0
    assert bool(frame["lower_better"].all())
    assert frame[frame.output == "network_passes"]["value"].isna().all()  # full-image runs no network


def test_network_passes_are_counted_per_image(tmp_path):
    """3 guided steps: 6 passes; guidance only at t >= 500: 3 + the steps there; the distilled default: 3."""
    cfg = build_config(dataset="synthetic-streets(size=2)",
                       methods="gesco(sampler=respaced,steps=3),gesco(steps=3,guidance_from=500),gesco(steps=3)",
                       channels="awgn", values="10", metrics="cost", out=tmp_path / "out",
                       cache_dir=tmp_path / "cache", threads=1)
    frame = api.run(cfg)["frame"]
    passes = frame[frame.output == "network_passes"].groupby("method")["value"].agg(["min", "max"])
    assert passes.loc["gesco(sampler=respaced,steps=3)"].tolist() == [6.0, 6.0]
    assert passes.loc["gesco(guidance_from=500,steps=3)"].tolist() == [5.0, 5.0]  # t = 999, 500 guided; 0 not
    assert passes.loc["gesco(steps=3)"].tolist() == [3.0, 3.0]  # sampler=distilled: one pass per step


def test_gpu_memory_wins_when_recorded():
    class It:
        record = {"seconds": 0.5, "peak_rss_mb": 900.0, "peak_gpu_mb": 120.0}

    class Old:
        record = {"peak_rss_mb": 800.0, "peak_gpu_mb": None}

    gpu, old = Cost().score([It(), Old()])
    assert gpu["seconds"] == 0.5 and gpu["peak_memory_mb"] == 120.0 and math.isnan(gpu["network_passes"])
    assert math.isnan(old["seconds"]) and old["peak_memory_mb"] == 800.0
    assert isinstance(pd.Series([gpu["seconds"]]).mean(), float)
