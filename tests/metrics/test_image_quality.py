import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from semcom_bench.data.base import Sample
from semcom_bench.metrics.base import Scored
from semcom_bench.metrics.bits import Bits
from semcom_bench.metrics.image_quality import MSSSIM, PSNR, SSIM


def _pair(seed=0, h=64, w=128, noise=20):
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    # smooth the reference so SSIM is meaningful
    ref = ((ref.astype(float) + np.roll(ref, 1, 0) + np.roll(ref, 1, 1)) / 3).astype(np.uint8)
    rec = np.clip(ref + rng.normal(0, noise, ref.shape), 0, 255).astype(np.uint8)
    return Scored(Sample("a", ref), rec, {"bits": 100, "channel_uses": 50})


def test_psnr_matches_scikit_image():
    items = [_pair(s) for s in range(3)]
    got = PSNR().score(items)
    for it, g in zip(items, got):
        assert g["psnr"] == pytest.approx(peak_signal_noise_ratio(it.sample.image, it.recon, data_range=255), abs=1e-9)


def test_psnr_of_identical_images_is_inf():
    it = _pair()
    assert PSNR().score([Scored(it.sample, it.sample.image.copy(), {})])[0]["psnr"] == float("inf")


def test_ssim_matches_scikit_image():
    items = [_pair(s) for s in range(2)]
    got = SSIM().score(items)
    for it, g in zip(items, got):
        ref = structural_similarity(
            it.sample.image, it.recon, data_range=255, channel_axis=2,
            gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        )
        assert g["ssim"] == pytest.approx(ref, abs=2e-3)


def test_ms_ssim_orders_noise_levels_and_is_one_for_identical():
    clean = _pair(noise=5)
    noisy = _pair(noise=60)
    a, b = MSSSIM().score([clean, noisy])
    assert 1.0 >= a["ms-ssim"] > b["ms-ssim"] > 0
    same = MSSSIM().score([Scored(clean.sample, clean.sample.image.copy(), {})])[0]["ms-ssim"]
    assert same == pytest.approx(1.0, abs=1e-6)
    assert MSSSIM.scales_for(256) == (5, 11)
    assert MSSSIM.scales_for(64)[0] >= 2


def test_bits_reads_the_record():
    it = _pair()
    got = Bits().score([it])[0]
    assert got == {"bits": 100.0, "channel_uses": 50.0, "bandwidth_ratio": 50 / it.sample.image.size}
