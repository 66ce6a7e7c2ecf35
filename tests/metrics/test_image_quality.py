"""PSNR, SSIM and MS-SSIM against scikit-image on structured images.

The originals are photographs shipped with scikit-image (astronaut, chelsea, coffee), cut and
resized to the scene size of synthetic-streets (64 x 128), to odd sizes and to a size with
all five MS-SSIM scales, and synthetic-streets scenes; the reconstructions are noisy,
blurred and JPEG-compressed versions of them.
"""

import io

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.transform import resize

from semcom_bench.data.base import Sample
from semcom_bench.data.synthetic_streets import SyntheticStreets
from semcom_bench.metrics.base import Scored
from semcom_bench.metrics.bits import Bits
from semcom_bench.metrics.image_quality import MSSSIM, PSNR, SSIM

TOL = 1e-4
PHOTOS = ("astronaut", "chelsea", "coffee")
#: synthetic-streets' scene size, odd sizes, and one with all 5 MS-SSIM scales (odd at each)
SIZES = ((64, 128), (77, 131), (45, 23), (201, 177))


def photo(name: str, h: int, w: int) -> np.ndarray:
    """The central part of a scikit-image photograph with aspect ratio w/h, resized to h x w."""
    im = getattr(data, name)()
    H, W = im.shape[:2]
    ch, cw = (H, round(H * w / h)) if H * w / h <= W else (round(W * h / w), W)
    top, left = (H - ch) // 2, (W - cw) // 2
    crop = im[top : top + ch, left : left + cw]
    return (resize(crop, (h, w), anti_aliasing=True) * 255).round().astype(np.uint8)


def streets(n: int = 3, height: int = 64, width: int = 128) -> list[np.ndarray]:
    ds = SyntheticStreets(split="test", size=n, height=height, width=width)
    return [ds[i].image for i in range(n)]


def noisy(im: np.ndarray, sigma: float = 20.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(im + rng.normal(0, sigma, im.shape), 0, 255).round().astype(np.uint8)


def blurred(im: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    return np.clip(gaussian_filter(im.astype(np.float64), (sigma, sigma, 0)), 0, 255).round().astype(np.uint8)


def jpeg(im: np.ndarray, quality: int = 15) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(im).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


DISTORTIONS = {"noise": noisy, "blur": blurred, "jpeg": jpeg}


def scored(ref: np.ndarray, rec: np.ndarray) -> Scored:
    return Scored(Sample("a", ref), rec, {"bits": 100, "channel_uses": 50})


def skimage_ssim(ref: np.ndarray, rec: np.ndarray, **kw) -> float:
    """scikit-image's SSIM with the options of Wang et al. (2004)."""
    return float(structural_similarity(ref, rec, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                       data_range=255, **kw))


def _halve(a: np.ndarray) -> np.ndarray:
    """2 x 2 block mean; an odd last row/column is repeated (MATLAB's symmetric padding)."""
    a = np.pad(a, ((0, a.shape[0] % 2), (0, a.shape[1] % 2)), mode="edge")
    return (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) / 4


def reference_ms_ssim(ref: np.ndarray, rec: np.ndarray, weights: tuple[float, ...]) -> float:
    """MS-SSIM of Wang et al. (2003) per channel, averaged over RGB, each scale by scikit-image.

    The contrast-structure mean cs_j is scikit-image's SSIM with a huge K1: its luminance
    term is then 1 to within 1e-12.
    """
    values = []
    for c in range(ref.shape[2]):
        x, y = ref[..., c].astype(np.float64), rec[..., c].astype(np.float64)
        value = 1.0
        for j, w in enumerate(weights):
            if j < len(weights) - 1:
                value *= max(skimage_ssim(x, y, K1=1e6), 0.0) ** w
                x, y = _halve(x), _halve(y)
            else:
                value *= max(skimage_ssim(x, y), 0.0) ** w
        values.append(value)
    return float(np.mean(values))


def photo_pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for name in PHOTOS:
        for h, w in SIZES:
            ref = photo(name, h, w)
            for kind, distort in DISTORTIONS.items():
                out.append((f"{name}-{h}x{w}-{kind}", ref, distort(ref)))
    return out


def street_pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for size in ((64, 128), (96, 200)):
        for i, ref in enumerate(streets(2, *size)):
            for kind, distort in DISTORTIONS.items():
                out.append((f"streets{i}-{size[0]}x{size[1]}-{kind}", ref, distort(ref)))
    return out


# --------------------------------------------------------------------------------------------
# PSNR
# --------------------------------------------------------------------------------------------


def test_psnr_matches_scikit_image():
    pairs = photo_pairs()[:6] + street_pairs()[:3]
    got = PSNR().score([scored(ref, rec) for _, ref, rec in pairs])
    for (label, ref, rec), g in zip(pairs, got):
        assert g["psnr"] == pytest.approx(peak_signal_noise_ratio(ref, rec, data_range=255), abs=1e-9), label


def test_psnr_of_identical_images_is_inf():
    ref = photo("astronaut", 64, 128)
    assert PSNR().score([scored(ref, ref.copy())])[0]["psnr"] == float("inf")


# --------------------------------------------------------------------------------------------
# SSIM
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["photos", "streets"])
def test_ssim_matches_scikit_image(source):
    pairs = photo_pairs() if source == "photos" else street_pairs()
    got = SSIM().score([scored(ref, rec) for _, ref, rec in pairs])  # sizes mixed in one call
    for (label, ref, rec), g in zip(pairs, got):
        assert g["ssim"] == pytest.approx(skimage_ssim(ref, rec, channel_axis=-1), abs=TOL), label
    values = [g["ssim"] for g in got]
    assert min(values) < 0.8 and max(values) > 0.5  # the distortions are not trivial


def test_ssim_is_one_for_identical_images_and_orders_noise():
    ref = streets(1)[0]
    same, mild, strong = SSIM().score([scored(ref, ref.copy()), scored(ref, noisy(ref, 5)), scored(ref, noisy(ref, 40))])
    assert same["ssim"] == pytest.approx(1.0, abs=1e-12)
    assert 1.0 > mild["ssim"] > strong["ssim"] > 0


def test_ssim_needs_the_window_to_fit():
    ref = photo("coffee", 10, 40)
    with pytest.raises(ValueError, match="at least 11 x 11"):
        SSIM().score([scored(ref, ref)])


# --------------------------------------------------------------------------------------------
# MS-SSIM
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["photos", "streets"])
def test_ms_ssim_matches_the_definition_scale_by_scale(source):
    pairs = photo_pairs() if source == "photos" else street_pairs()
    got = MSSSIM().score([scored(ref, rec) for _, ref, rec in pairs])
    for (label, ref, rec), g in zip(pairs, got):
        weights = MSSSIM.weights_for(min(ref.shape[:2]))
        assert g["ms-ssim"] == pytest.approx(reference_ms_ssim(ref, rec, weights), abs=TOL), label


def test_ms_ssim_scales_and_weights():
    assert MSSSIM.scales_for(64) == 3  # synthetic-streets 64 x 128
    assert [MSSSIM.scales_for(s) for s in (22, 43, 44, 87, 88, 175, 176, 256)] == [2, 2, 3, 3, 4, 4, 5, 5]
    with pytest.raises(ValueError, match="too small"):
        MSSSIM.scales_for(21)
    assert MSSSIM.weights_for(256) == MSSSIM.WEIGHTS  # all five as published
    w3 = MSSSIM.weights_for(64)
    assert len(w3) == 3 and sum(w3) == pytest.approx(1.0) and w3[0] / w3[1] == pytest.approx(0.0448 / 0.2856)


def test_ms_ssim_is_one_for_identical_images_and_orders_distortions():
    ref = photo("astronaut", 64, 128)
    same, mild, strong = MSSSIM().score([scored(ref, ref.copy()), scored(ref, noisy(ref, 5)),
                                         scored(ref, noisy(ref, 60))])
    assert same["ms-ssim"] == pytest.approx(1.0, abs=1e-12)
    assert 1.0 > mild["ms-ssim"] > strong["ms-ssim"] > 0


# --------------------------------------------------------------------------------------------
# bits
# --------------------------------------------------------------------------------------------


def test_bits_reads_the_record():
    it = scored(*street_pairs()[0][1:])
    got = Bits().score([it])[0]
    assert got == {"bits": 100.0, "channel_uses": 50.0, "bandwidth_ratio": 50 / it.sample.image.size}
