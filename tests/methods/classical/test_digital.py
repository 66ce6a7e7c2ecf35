"""The digital baseline: exact noiseless round trip, bit accounting, the cliff, robustness."""

import importlib.util
import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from semcom_bench import registry
from semcom_bench.methods.base import Delivery
from semcom_bench.methods.classical.digital import CodedSide
from semcom_bench.channels.awgn import AWGN
from semcom_bench.data.base import Sample
from semcom_bench.errors import UserError

pytestmark = pytest.mark.skipif(importlib.util.find_spec("sionna") is None, reason="sionna-no-rt not installed")


def smooth_image(h: int = 32, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth image (gradients and a few rectangles) that compresses like a photo."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w) + 60], axis=-1)
    for _ in range(4):
        y0, x0 = rng.integers(0, h - 8), rng.integers(0, w - 8)
        img[y0 : y0 + 8, x0 : x0 + 12] = rng.integers(0, 256, 3)
    return img.clip(0, 255).astype(np.uint8)


def sample(seed: int = 0) -> Sample:
    return Sample(key=f"d/{seed}", image=smooth_image(seed=seed))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def codec_decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def send(method, s: Sample, channel, snr_db: float, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    p, = method.transmit_batch([s], [g])
    rx = channel(p.symbols, snr_db, g, payload_scale=p.scale)
    (img, status), = method.receive_with_status([Delivery(rx, p.side)])
    return p, img, status


@pytest.fixture(scope="module")
def jpeg_method():
    return registry.methods.create("digital")


@pytest.mark.parametrize("params", [{}, {"codec": "webp", "quality": 60, "bits_per_symbol": 4},
                                    {"codec": "jpeg2000", "rate": 0.75, "bits_per_symbol": 6, "k": 512}])
def test_noiseless_round_trip_equals_the_codec_decode_and_bits_are_counted(params):
    m = registry.methods.create("digital", **params)
    s = sample()
    data = m.source_encode(s.image)
    p, img, status = send(m, s, AWGN(), math.inf)
    assert status.outcome == "decoded"
    np.testing.assert_array_equal(img, codec_decode(data))
    assert p.source_bits == 8 * len(data)
    assert p.side_bits == 80 and p.side == CodedSide((32, 64, 3), len(data))
    num_cw = math.ceil(8 * len(data) / m.k)
    assert p.channel_uses == num_cw * m.n // m.bits_per_symbol
    assert p.symbols.dtype == torch.complex64
    assert p.symbols.abs().square().mean().item() == pytest.approx(1.0, abs=0.05)  # unit-power QAM


def test_cliff_high_snr_is_the_codec_low_snr_collapses(jpeg_method):
    s = sample(1)
    codec_psnr = psnr(s.image, codec_decode(jpeg_method.source_encode(s.image)))
    # QPSK, rate 1/2: AWGN threshold near 1-2 dB Es/N0; uncoded BER at 4 dB is 1.25e-2
    _, good, st_good = send(jpeg_method, s, AWGN(), 4.0)
    assert st_good.outcome == "decoded" and psnr(s.image, good) == pytest.approx(codec_psnr)
    _, bad, st_bad = send(jpeg_method, s, AWGN(), -4.0)
    assert bad.shape == s.image.shape and bad.dtype == np.uint8  # never crashes
    assert st_bad.outcome in ("damaged", "concealed")
    assert psnr(s.image, bad) < codec_psnr - 8


def test_rayleigh_and_mimo_receivers_use_the_per_symbol_noise(jpeg_method):
    s = sample(2)
    ref = codec_decode(jpeg_method.source_encode(s.image))
    for channel in ("rayleigh", "mimo", "rayleigh(equalizer=zf,block=4)"):
        from semcom_bench.specs import parse_spec

        spec = parse_spec(channel)
        ch = registry.channels.create(spec.name, **spec.params)
        _, img, status = send(jpeg_method, s, ch, 12.0)
        assert status.outcome == "decoded", channel
        np.testing.assert_array_equal(img, ref)


def test_same_generator_same_image_and_sionna_seed_is_irrelevant(jpeg_method):
    from sionna.phy import config

    s = sample(3)
    old = config.seed
    try:
        _, a, _ = send(jpeg_method, s, AWGN(), 0.5, seed=5)
        config.seed = 1234
        _, b, _ = send(jpeg_method, s, AWGN(), 0.5, seed=5)
    finally:
        config.seed = old
    np.testing.assert_array_equal(a, b)


def test_bit_budget_picks_the_highest_quality_that_fits():
    budget = 8 * 900
    m = registry.methods.create("digital", bit_budget=budget)
    s = sample(4)
    q = m.choose_quality(s.image)
    assert 1 <= q < 100
    assert 8 * len(m.source_codec.encode(s.image, q)) <= budget < 8 * len(m.source_codec.encode(s.image, q + 1))
    assert m.transmit(s).source_bits <= budget


def test_bad_parameters_are_user_errors(monkeypatch):
    for bad in ({"codec": "gif"}, {"quality": 0}, {"quality": 50, "bit_budget": 1000}, {"rate": 0.99},
                {"bits_per_symbol": 3}, {"k": 5}, {"codec": "jpeg2000", "quality": 5}):
        with pytest.raises(UserError):
            registry.methods.create("digital", **bad)
    import semcom_bench.methods.classical.digital as digital

    monkeypatch.setattr(digital, "sionna_available", lambda: False)
    with pytest.raises(UserError, match="pip install"):
        registry.methods.create("digital")


def test_damaged_streams_are_decoded_or_concealed():
    from semcom_bench.methods.classical.digital import CODECS, decode_image

    img = smooth_image()
    data = CODECS["jpeg"].encode(img, 75)
    scan = data.index(b"\xff\xda")  # start of the entropy-coded scan, after the tables
    truncated, st = decode_image(data[: scan + (len(data) - scan) // 2], CODECS["jpeg"], img.shape)
    assert st.outcome == "damaged" and truncated.shape == img.shape
    assert np.array_equal(truncated[:8], codec_decode(data)[:8])  # the first block rows survive
    header_cut, st = decode_image(data[: scan // 2], CODECS["jpeg"], img.shape)
    assert st.outcome == "concealed" and np.all(header_cut == 128)
    garbage, st = decode_image(b"\x00" * 100, CODECS["jpeg"], img.shape)
    assert st.outcome == "concealed" and np.all(garbage == 128)
    wrong, st = decode_image(CODECS["jpeg"].encode(smooth_image(16, 16), 75), CODECS["jpeg"], img.shape)
    assert st.outcome == "concealed" and wrong.shape == img.shape
    webp = CODECS["webp"].encode(img, 50)
    clean, st = decode_image(webp, CODECS["webp"], img.shape)
    assert st.outcome == "decoded" and np.array_equal(clean, codec_decode(webp))
    flipped = bytearray(webp)
    flipped[40] ^= 0xFF  # in the frame header partition: the decoder gives up
    out, st = decode_image(bytes(flipped), CODECS["webp"], img.shape)
    assert st.outcome == "concealed" and st.message and np.all(out == 128) and out.shape == img.shape
    late = bytearray(webp)
    late[-5] ^= 0xFF  # in the coefficient data: VP8 has no checksum, a different image comes out
    out, st = decode_image(bytes(late), CODECS["webp"], img.shape)
    assert st.outcome in ("decoded", "damaged") and out.shape == img.shape and out.dtype == np.uint8
    assert not np.array_equal(out, clean) and not np.all(out == 128)


def test_early_termination_decodes_like_the_full_decoder(jpeg_method):
    from sionna.phy.fec.ldpc import LDPC5GDecoder

    chain = jpeg_method._chain()
    full = LDPC5GDecoder(chain.encoder, cn_update="offset-minsum", num_iter=jpeg_method.num_iter, device="cpu")
    g = torch.Generator().manual_seed(0)
    u = torch.randint(0, 2, (24, jpeg_method.k), generator=g).float()
    x = chain.mapper(chain.encoder(u))
    for snr_db in (1.0, 2.0, 5.0):  # failing, marginal, easy
        rx = AWGN()(x.reshape(-1), snr_db, g)
        llr = chain.demapper(rx.symbols, rx.state.effective_noise_var).reshape(24, -1).clamp(-20, 20)
        torch.testing.assert_close(chain.decode(llr), full(llr), rtol=0, atol=0)
