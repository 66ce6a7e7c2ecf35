import re

import numpy as np
import pandas as pd
import pytest
import torch

import tests.fake_dataset  # noqa: F401  (registers test-fake)
from semcom_bench import api
from semcom_bench.cache import Cache
from semcom_bench.config import build_config
from semcom_bench.errors import UserError


def _config(tmp_path, **kw):
    base = dict(dataset="test-fake", methods="full-image", channels="awgn", values="0,20,100",
                metrics="psnr,bits", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    base.update(kw)
    return build_config(**base)


def test_run_writes_tidy_results(tmp_path):
    summary = api.run(_config(tmp_path))
    frame = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert summary["counts"] == {"total": 18, "cached": 0, "generated": 18}
    assert len(frame) == 18 * 4  # psnr + bits (3 outputs)
    assert set(frame["output"]) == {"psnr", "bits", "channel_uses", "bandwidth_ratio"}
    assert (frame["snr_definition"].str.contains("Es/N0")).all()
    psnr = frame[frame.output == "psnr"].groupby("snr_db")["value"].mean()
    assert psnr[0.0] < psnr[20.0] < psnr[100.0]
    assert (tmp_path / "out" / "results.csv").exists()
    assert (tmp_path / "out" / "provenance.json").exists()


def test_rerun_uses_cache_and_gives_identical_results(tmp_path):
    first = api.run(_config(tmp_path))
    second = api.run(_config(tmp_path))
    assert second["counts"]["generated"] == 0 and second["counts"]["cached"] == 18
    pd.testing.assert_frame_equal(first["frame"], second["frame"])


def test_same_seed_same_png_bytes_other_seed_differs(tmp_path):
    a = api.run(_config(tmp_path, cache_dir=tmp_path / "a", seeds="3"))
    b = api.run(_config(tmp_path, cache_dir=tmp_path / "b", seeds="3"))
    c = api.run(_config(tmp_path, cache_dir=tmp_path / "c", seeds="4"))
    ka = a["frame"].query("snr_db == 0").image_key.iloc[0]
    kc = c["frame"].query("snr_db == 0").image_key.iloc[0]
    bytes_a = Cache(tmp_path / "a").image_path(ka).read_bytes()
    bytes_b = Cache(tmp_path / "b").image_path(ka).read_bytes()
    assert bytes_a == bytes_b
    assert not np.array_equal(Cache(tmp_path / "a").get_image(ka), Cache(tmp_path / "c").get_image(kc))


def test_adding_a_metric_does_not_regenerate(tmp_path):
    api.run(_config(tmp_path))
    again = api.run(_config(tmp_path, metrics="psnr,bits,ssim"))
    assert again["counts"]["generated"] == 0
    assert "ssim" in set(again["frame"].metric)


def test_limit_marks_results(tmp_path):
    s = api.run(_config(tmp_path, limit=2))
    assert s["frame"]["limited"].all() and s["num_samples"] == 2


def test_unknown_metric_fails_before_any_work(tmp_path):
    with pytest.raises(UserError, match="unknown metric 'psnrr'"):
        api.run(_config(tmp_path, metrics="psnrr"))
    assert not (tmp_path / "cache" / "images").exists()


def test_unwritable_cache_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="not writable"):
        api.run(_config(tmp_path, cache_dir=blocker / "sub"))


def test_one_run_is_a_paired_comparison(tmp_path, monkeypatch):
    """gesco and sdm decode identical received maps, from identical sampler noise, per sample and SNR."""
    from semcom_bench.methods.semantic.gesco import SemanticDiffusion

    seen: dict[tuple[str, float], list[tuple[torch.Tensor, int]]] = {}
    original = SemanticDiffusion.receive_batch

    def first_draw(g: torch.Generator) -> int:
        """The first number the receiver's stream would give, without advancing it."""
        return int(torch.randint(0, 2**31, (1,), generator=torch.Generator().set_state(g.get_state())))

    def recording(self, deliveries, rngs):
        for d, g in zip(deliveries, rngs):
            seen.setdefault((self.name, d.received.state.snr_db), []).append((d.received.symbols.clone(), first_draw(g)))
        return original(self, deliveries, rngs)

    monkeypatch.setattr(SemanticDiffusion, "receive_batch", recording)
    config = build_config(dataset="synthetic-streets(size=2)", methods="gesco(steps=1),sdm(steps=1),gesco(steps=1,fds=false)",
                          channels="awgn", values="10,1", metrics="psnr", out=tmp_path / "out",
                          cache_dir=tmp_path / "cache", threads=1)
    api.run(config)
    paired = api.report(tmp_path / "out", "markdown", versus="sdm(steps=1)")
    assert "paired against sdm(steps=1)" in paired and "95 % bootstrap interval" in paired
    assert re.search(r"\| gesco\(steps=1\) \| \**[−-]?\d+\.\d+ \[[−-]?\d+\.\d+, [−-]?\d+\.\d+\]", paired), paired
    for snr in (10.0, 1.0):
        gesco, sdm = seen[("gesco", snr)], seen[("sdm", snr)]
        assert len(gesco) == 4 and len(sdm) == 2  # two gesco variants, two samples each
        for (sym_g, noise_g), (sym_s, noise_s) in zip(gesco[:2], sdm):
            assert torch.equal(sym_g, sym_s)  # same received symbols
            assert noise_g == noise_s  # the receivers' streams start in the same state
        assert torch.equal(gesco[0][0], gesco[2][0])  # the fds=false variant too
    assert not torch.equal(seen[("gesco", 10.0)][0][0], seen[("gesco", 1.0)][0][0])  # other SNR, other noise


def test_batches_are_fixed_slices_of_the_cell(tmp_path, monkeypatch):
    """A receiver whose output depends on its batch: a run resumed after losing images from
    two batches equals an uninterrupted one (the partly finished batches are regenerated whole)."""
    from semcom_bench.methods.classical.full_image import FullImage

    original = FullImage.receive_batch

    def batch_dependent(self, deliveries, rngs):
        return [np.minimum(img, 200 + len(deliveries)).astype(np.uint8) for img in original(self, deliveries, rngs)]

    monkeypatch.setattr(FullImage, "receive_batch", batch_dependent)
    kw = dict(values="100", metrics="psnr", batch_size=4, threads=1)
    ref = api.run(_config(tmp_path, cache_dir=tmp_path / "ref", out=tmp_path / "ref-out", **kw))
    keys = list(ref["frame"].image_key)  # samples t/0 .. t/5: batches [0..3] and [4, 5]
    first = api.run(_config(tmp_path, **kw))
    cache = Cache(tmp_path / "cache")
    for i in (1, 5):  # as if killed part way through both batches
        cache.image_path(keys[i]).with_suffix(".json").unlink()
    resumed = api.run(_config(tmp_path, **kw))
    assert resumed["counts"] == {"total": 6, "cached": 4, "generated": 2}
    assert resumed["integrity"]["batch_mismatch"] == 0
    pd.testing.assert_frame_equal(first["frame"], resumed["frame"])
    pd.testing.assert_frame_equal(ref["frame"], resumed["frame"])
    for k in keys:
        assert cache.image_path(k).read_bytes() == Cache(tmp_path / "ref").image_path(k).read_bytes()
    record = cache.get_record(keys[5])
    assert record["torch_threads"] == torch.get_num_threads() and record["batch"] == [4, 6]

    # a regeneration that gives other bytes than the cached images of its batch keeps those, and says so
    monkeypatch.setattr(FullImage, "receive_batch", lambda self, d, r: [np.zeros_like(i) for i in original(self, d, r)])
    cache.image_path(keys[0]).with_suffix(".json").unlink()
    again = api.run(_config(tmp_path, **kw))
    assert again["integrity"]["batch_mismatch"] == 3 and again["counts"]["generated"] == 1
    assert cache.image_path(keys[1]).read_bytes() == Cache(tmp_path / "ref").image_path(keys[1]).read_bytes()
