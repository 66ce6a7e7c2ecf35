import json

import tests.fake_dataset  # noqa: F401  (registers test-fake)
from semcom_bench import api
from semcom_bench.config import build_config
from semcom_bench.profiling import Profile, profiling, render, stage


def _config(tmp_path, **kw):
    base = dict(dataset="test-fake", methods="full-image", channels="awgn", values="0,20",
                metrics="psnr,bits", out=tmp_path / "out", cache_dir=tmp_path / "cache", limit=3)
    base.update(kw)
    return build_config(**base)


def test_stage_adds_seconds_and_counts_only_while_profiling():
    with stage("outside", 5):
        pass
    with profiling() as profile:
        with stage("a", 2):
            pass
        with stage("a", 3):
            pass
        with stage("b"):
            sum(range(10000))
    assert profile.counts == {"a": 5, "b": 1}
    assert set(profile.seconds) == {"a", "b"} and all(s >= 0 for s in profile.seconds.values())
    rows = {r["stage"]: r for r in profile.rows()}
    assert rows["a"]["seconds_per_item"] == rows["a"]["seconds"] / 5


def test_profiles_nest_and_restore():
    outer = Profile()
    with profiling(outer):
        with profiling() as inner:
            with stage("x"):
                pass
        with stage("y"):
            pass
    assert set(inner.counts) == {"x"} and set(outer.counts) == {"y"}


def test_run_profiles_every_stage_per_image(tmp_path):
    summary = api.run(_config(tmp_path))
    counts = {s["stage"]: s["count"] for s in summary["profile"]["stages"]}
    # 3 samples x 2 SNR cells
    for name in ("generate/transmit full-image", "generate/channel awgn", "generate/receive full-image",
                 "generate/cache-write", "generate/cache-check", "score/psnr", "score/bits"):
        assert counts[name] == 6, name
    prov = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert prov["profile"]["executor"] == "local"
    assert {s["stage"] for s in prov["profile"]["stages"]} == set(counts)
    table = render(summary["profile"])
    assert "generate/receive full-image" in table and "total profiled" in table

    again = api.run(_config(tmp_path))  # all cached: nothing generated or scored again
    stages = {s["stage"] for s in again["profile"]["stages"]}
    assert "generate/receive full-image" not in stages and "score/psnr" not in stages
    assert "generate/cache-check" in stages
