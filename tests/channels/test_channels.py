"""Rayleigh, MIMO and gesco-code channels: statistics, closed forms, exactness, determinism.

Tolerances are statistical: sample sizes are chosen so that the checked quantity has a
relative standard error of about 1 % or less, and the bound is 4-5 standard errors.
"""

import importlib.util
import math

import numpy as np
import pytest
import torch

import tests.fake_dataset  # noqa: F401  (registers test-fake)
from semcom_bench import api, registry
from semcom_bench.channels.awgn import AWGN
from semcom_bench.channels.base import SNR_DEFINITION, complex_normal, snr_db_to_noise_power
from semcom_bench.channels.equalizers import mmse_equalize, unbiased_estimate, zf_equalize
from semcom_bench.channels.gesco_code import GESCO_SIGMA, GescoCode, gesco_sigma
from semcom_bench.channels.mimo import Mimo, MimoRealisation
from semcom_bench.channels.rayleigh import Rayleigh
from semcom_bench.channels.ber import MODULATIONS, closed_form_ber, demodulate, modulate, simulate_ber
from semcom_bench.config import build_config
from semcom_bench.errors import UserError

needs_sionna = pytest.mark.skipif(importlib.util.find_spec("sionna") is None, reason="sionna-no-rt not installed")


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def qpsk(n: int, seed: int = 0) -> torch.Tensor:
    g = gen(seed)
    b = torch.randint(0, 2, (n, 2), generator=g).float()
    return torch.complex(1 - 2 * b[:, 0], 1 - 2 * b[:, 1]) / math.sqrt(2)


# -- registry and parameters ---------------------------------------------------------------


def test_channels_are_registered_with_parameters():
    names = registry.channels.names()
    assert {"awgn", "rayleigh", "mimo", "gesco-code"} <= set(names)
    assert registry.channels.create("rayleigh", block=4, equalizer="zf").params() == {"block": 4, "equalizer": "zf"}
    assert registry.channels.create("mimo").params() == {"antennas": 2, "block": 1, "equalizer": "mmse"}
    for bad in ({"block": 0}, {"block": 1.5}, {"equalizer": "ml"}):
        with pytest.raises(UserError):
            registry.channels.create("rayleigh", **bad)
    with pytest.raises(UserError):
        registry.channels.create("mimo", antennas=0)


# -- Rayleigh ------------------------------------------------------------------------------


def test_rayleigh_gains_are_unit_power_circular_and_exponential():
    r = Rayleigh().realise(400_000, 10.0, gen(0))
    h = r.gains
    p = h.abs().square()
    assert p.mean().item() == pytest.approx(1.0, abs=0.01)  # E|h|^2 = 1
    assert abs(h.mean().item()) < 0.01 and abs((h * h).mean().item()) < 0.01  # zero mean, circular
    assert (p < 1).float().mean().item() == pytest.approx(1 - math.exp(-1), abs=0.005)  # |h|^2 ~ Exp(1)


def test_rayleigh_block_coherence():
    r = Rayleigh(block=5).realise(23, 0.0, gen(1))
    assert r.gains.numel() == 5
    per = r.per_symbol()
    assert per.numel() == 23
    for b in range(5):
        assert torch.all(per[b * 5 : (b + 1) * 5] == r.gains[b])


@pytest.mark.parametrize("snr_db", [0.0, 10.0])
def test_rayleigh_noise_power_before_equalisation(snr_db):
    n = 200_000
    x = qpsk(n)
    rx = Rayleigh(equalizer="zf")(x, snr_db, gen(2))
    h = rx.state.realisation.per_symbol()
    noise = (rx.symbols - x) * h  # ZF: x̂ - x = n / h
    no = snr_db_to_noise_power(snr_db)
    assert noise.abs().square().mean().item() == pytest.approx(no, rel=0.02)
    assert noise.real.var().item() == pytest.approx(no / 2, rel=0.02)
    torch.testing.assert_close(rx.state.effective_noise_var, no / h.abs().square())


@pytest.mark.parametrize("channel", ["rayleigh", "rayleigh(block=16)", "mimo", "mimo(antennas=3,equalizer=zf)"])
def test_effective_noise_var_matches_empirical(channel):
    from semcom_bench.specs import parse_spec

    spec = parse_spec(channel)
    ch = registry.channels.create(spec.name, **spec.params)
    x = qpsk(120_000)
    rx = ch(x, 5.0, gen(3))
    # the returned symbols' error variance (MMSE: the MSE, ZF: the noise variance)
    err = (rx.symbols - x).abs().square()
    if rx.state.info["equalizer"] == "mmse":
        assert err.mean().item() == pytest.approx(rx.state.effective_noise_var.mean().item(), rel=0.02)
    # unbiased view: e / σ_u is unit-variance complex Gaussian per symbol
    x_hat, var = unbiased_estimate(rx)
    z = (x_hat - x) / var.sqrt()
    assert z.abs().square().mean().item() == pytest.approx(1.0, rel=0.02)
    assert abs(z.real.mean().item()) < 0.01
    # the bias is exactly g = 1 / (1 + σ_u²) for MMSE, 1 for ZF
    g = rx.state.info["gain"]
    if rx.state.info["equalizer"] == "mmse":
        torch.testing.assert_close(g, 1 / (1 + rx.state.info["unbiased_noise_var"]))
        torch.testing.assert_close(rx.state.effective_noise_var, 1 - g)
    else:
        assert torch.all(g == 1)


def test_mmse_equalizer_formulas():
    h = torch.tensor([1 + 1j, 0.1 - 0.2j, 2j], dtype=torch.complex64)
    y = torch.tensor([0.5 - 1j, 0.3 + 0.1j, -1 + 0j], dtype=torch.complex64)
    no = 0.25
    x_t, mse, gain, unb = mmse_equalize(y, h, no)
    p = h.abs().square()
    torch.testing.assert_close(x_t, y * h.conj() / (p + no))
    torch.testing.assert_close(mse, no / (p + no))
    torch.testing.assert_close(gain, p / (p + no))
    torch.testing.assert_close(unb, no / p)
    x_z, var = zf_equalize(y, h, no)
    torch.testing.assert_close(x_z, y / h)
    torch.testing.assert_close(x_t / gain, x_z)  # unbiased MMSE = ZF for a scalar channel


# -- MIMO ----------------------------------------------------------------------------------


def test_mimo_svd_decouples_exactly_without_noise():
    x = qpsk(4001, seed=4)  # odd length: zero padding of the last vector
    for ch in (Mimo(), Mimo(antennas=4, block=3, equalizer="zf")):
        rx = ch(x, math.inf, gen(5))
        torch.testing.assert_close(rx.symbols, x, rtol=0, atol=1e-5)
        r = rx.state.realisation
        sigma = torch.diag_embed(r.singular_values.to(torch.complex128))
        torch.testing.assert_close(r.u.mH @ r.matrices.to(torch.complex128) @ r.vh.mH, sigma, rtol=0, atol=1e-5)
        assert torch.all(r.singular_values[:, :-1] >= r.singular_values[:, 1:])
        assert rx.state.info["stream"][: 2 * ch.antennas].tolist() == list(range(ch.antennas)) * 2


def test_mimo_entries_unit_power_and_block_coherence():
    r = Mimo(antennas=2).realise(100_000, 0.0, gen(6))
    assert r.matrices.shape == (50_000, 2, 2)
    assert r.matrices.abs().square().mean().item() == pytest.approx(1.0, abs=0.01)
    # E[σ_i²] averages M (E‖H‖_F² = M²)
    assert r.singular_values.square().mean().item() == pytest.approx(2.0, rel=0.01)
    rb = Mimo(antennas=2, block=4).realise(17, 0.0, gen(6))  # 9 channel uses -> 3 blocks
    assert rb.matrices.shape == (3, 2, 2)
    assert rb.block_index().tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2]


def test_mimo_with_unitary_matrix_is_awgn():
    """Power convention: a unitary H gives M parallel AWGN channels at the same Es/N0."""
    n, snr = 100_000, 3.0
    x = qpsk(n, seed=7)
    q, _ = torch.linalg.qr(complex_normal((n // 2, 2, 2), 1.0, gen(8)))
    r = MimoRealisation.from_matrices(q, block=1, num_symbols=n)
    rx = Mimo(equalizer="zf").apply(x, r, snr, gen(9))
    no = snr_db_to_noise_power(snr)
    torch.testing.assert_close(rx.state.effective_noise_var, torch.full((n,), no), rtol=1e-4, atol=0)
    assert (rx.symbols - x).abs().square().mean().item() == pytest.approx(no, rel=0.02)


# -- closed forms --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "channel,modulation,snr_db",
    [
        ("awgn", "bpsk", 4.0),
        ("awgn", "qpsk", 6.0),
        ("awgn", "16qam", 12.0),
        ("rayleigh", "bpsk", 10.0),
        ("rayleigh", "qpsk", 10.0),
        ("rayleigh(equalizer=zf,block=8)", "qpsk", 4.0),
        ("rayleigh", "16qam", 14.0),
        ("mimo", "qpsk", 10.0),
        ("mimo(antennas=3,equalizer=zf)", "bpsk", 6.0),
    ],
)
def test_uncoded_ber_matches_closed_form(channel, modulation, snr_db):
    (row,) = simulate_ber(channel, modulation, (snr_db,), 300_000, seed=11)
    ref = row["closed_form"]
    # errors are correlated within a symbol / fading block: allow for that with a 2x variance factor
    std = math.sqrt(2 * ref * (1 - ref) / row["bits"])
    assert abs(row["simulated"] - ref) < 4.5 * std, row
    assert abs(row["given_csi"] - ref) < 0.1 * ref


def test_awgn_qpsk_ber_uses_es_n0_per_symbol():
    """QPSK at Es/N0 = γ has BER Q(√γ) = Q(√(2 Eb/N0)): 3 dB worse than BPSK at the same Es/N0."""
    (b,) = simulate_ber("awgn", "bpsk", (7.0,), 200_000, seed=1)
    (q,) = simulate_ber("awgn", "qpsk", (7.0,), 200_000, seed=1)
    (q10,) = simulate_ber("awgn", "qpsk", (10.0,), 200_000, seed=1)
    assert q["closed_form"] == pytest.approx(0.5 * math.erfc(math.sqrt(10 ** 0.7 / 2)))
    assert q["simulated"] > 3 * b["simulated"]
    assert q10["closed_form"] == pytest.approx(b["closed_form"], rel=0.12)  # +3.01 dB Es/N0 ≈ same BER


def test_gray_mapping_round_trips_with_unit_energy():
    for modulation, m in MODULATIONS.items():
        bits = torch.randint(0, 2, (4000 * m,), generator=gen(3))
        x = modulate(bits, modulation)
        assert x.shape == (4000,) and x.dtype == torch.complex64
        assert abs(float(x.abs().square().mean()) - 1.0) < 0.03
        assert torch.equal(demodulate(x, modulation), bits)


def test_closed_forms_agree_across_channels():
    g = 10.0  # linear Es/N0
    assert closed_form_ber("awgn", "bpsk", g) == pytest.approx(0.5 * math.erfc(math.sqrt(g)))
    assert closed_form_ber("rayleigh", "bpsk", g) == pytest.approx(0.5 * (1 - math.sqrt(g / (1 + g))))
    for modulation in MODULATIONS:  # a 1x1 MIMO link is the Rayleigh channel
        assert closed_form_ber("mimo", modulation, g, 1) == pytest.approx(closed_form_ber("rayleigh", modulation, g))
    assert closed_form_ber("mimo", "qpsk", g, 9) is None and closed_form_ber("gesco-code", "qpsk", g) is None


# -- determinism ---------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["rayleigh", "mimo", "gesco-code"])
def test_same_seed_same_received_symbols(channel):
    ch = registry.channels.create(channel)
    x = qpsk(1000)
    a = ch(x, 10.0, gen(7), payload_scale=2.0).symbols
    b = ch(x, 10.0, gen(7), payload_scale=2.0).symbols
    c = ch(x, 10.0, gen(8), payload_scale=2.0).symbols
    assert torch.equal(a, b) and not torch.equal(a, c)


# -- gesco-code ----------------------------------------------------------------------------


def test_gesco_sigma_table_and_unknown_values():
    assert GESCO_SIGMA == {100: 0.0, 30: 0.05, 25: 0.08, 20: 0.13, 15: 0.22, 10: 0.36, 5: 0.6, 1: 0.9}
    assert gesco_sigma(30.0) == 0.05 and gesco_sigma(1) == 0.9
    with pytest.raises(UserError, match="gesco-code"):
        gesco_sigma(12.0)
    with pytest.raises(UserError):
        GescoCode()(qpsk(10), 0.0, gen(0))
    psnr = [10 * math.log10(1 / s**2) for k, s in GESCO_SIGMA.items() if s > 0]
    assert [round(p, 1) for p in psnr] == [26.0, 21.9, 17.7, 13.2, 8.9, 4.4, 0.9]


@pytest.mark.parametrize("key", [30, 10, 1])
def test_gesco_noise_is_sigma_on_the_raw_payload(key):
    values = torch.rand(200_000, generator=gen(1))  # e.g. one-hot-like values in [0, 1]
    from semcom_bench.symbols import from_symbols, to_symbols

    s, scale = to_symbols(values)
    rx = GescoCode()(s, float(key), gen(2), payload_scale=scale)
    noise = from_symbols(rx.symbols, scale, tuple(values.shape)) - values
    sigma = GESCO_SIGMA[key]
    assert noise.std().item() == pytest.approx(sigma, rel=0.01)  # no power normalisation
    assert rx.state.effective_noise_var[0].item() == pytest.approx(2 * sigma**2 / scale**2, rel=1e-6)
    assert rx.state.info["es_n0_db"] == pytest.approx(10 * math.log10(scale**2 / (2 * sigma**2)))


def test_gesco_100_is_noiseless_and_default_scale_is_one():
    x = qpsk(100)
    assert torch.equal(GescoCode()(x, 100.0, gen(0), payload_scale=3.0).symbols, x)
    rx = GescoCode()(x, 5.0, gen(0))
    assert (rx.symbols - x).real.std().item() == pytest.approx(0.6, rel=0.2)
    assert rx.state.info["payload_scale"] is None


def test_runner_passes_payload_scale_and_records_snr_definition(tmp_path):
    cfg = build_config(dataset="test-fake", methods="full-image", channels="gesco-code,awgn", values="100,10",
                       metrics="psnr", limit=2, out=tmp_path / "out", cache_dir=tmp_path / "cache")
    frame = api.run(cfg)["frame"]
    by = frame.groupby("channel")["snr_definition"].first()
    assert by["awgn"] == SNR_DEFINITION and "GESCO" in by["gesco-code"]
    psnr = frame[frame.metric == "psnr"].groupby(["channel", "snr_db"])["value"].mean()
    # σ = 0.36 on pixels in [-1, 1]: ~20*log10(2/0.36) ≈ 15 dB before clipping, whatever the payload power
    assert 13.0 < psnr[("gesco-code", 10.0)] < 20.0
    assert psnr[("gesco-code", 100.0)] > 60


# -- cross-checks with Sionna --------------------------------------------------------------


@needs_sionna
def test_rayleigh_matches_sionna_lmmse_and_zf_equalizers():
    from sionna.phy.mimo import lmmse_equalizer, zf_equalizer

    n, snr = 2000, 4.0
    no = snr_db_to_noise_power(snr)
    x = qpsk(n, seed=3)
    for eq in ("mmse", "zf"):
        rx = Rayleigh(equalizer=eq)(x, snr, gen(12))
        # replay the channel's draws: first the gains, then the noise
        g = gen(12)
        h = complex_normal((n,), 1.0, g)
        y = h * x + complex_normal((n,), no, g)
        s = torch.full((n, 1, 1), no, dtype=torch.complex64)
        fn = lmmse_equalizer if eq == "mmse" else zf_equalizer
        x_s, no_s = fn(y.reshape(n, 1), h.reshape(n, 1, 1), s)
        x_hat, var = unbiased_estimate(rx)
        torch.testing.assert_close(x_hat, x_s.reshape(n), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(var, no_s.reshape(n).float(), rtol=1e-4, atol=1e-6)


@needs_sionna
def test_mimo_matches_sionna_lmmse_on_the_precoded_channel():
    from sionna.phy.mimo import lmmse_equalizer

    n, m, snr = 2000, 2, 6.0
    no = snr_db_to_noise_power(snr)
    x = qpsk(n, seed=4)
    rx = Mimo(antennas=m)(x, snr, gen(13))
    g = gen(13)
    h = complex_normal((n // m, m, m), 1.0, g)
    noise = complex_normal((n // m, m, 1), no, g)
    r = rx.state.realisation
    torch.testing.assert_close(r.matrices, h)
    hv = (h.to(torch.complex128) @ r.vh.mH).to(torch.complex64)  # effective channel H V = U Σ
    y = (hv @ x.reshape(-1, m, 1) + noise).squeeze(-1)
    s = (no * torch.eye(m, dtype=torch.complex64)).expand(n // m, m, m)
    x_s, no_s = lmmse_equalizer(y, hv, s)
    x_hat, var = unbiased_estimate(rx)
    torch.testing.assert_close(x_hat, x_s.reshape(n), rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(var, no_s.reshape(n).float(), rtol=1e-3, atol=1e-5)


@pytest.fixture
def seeded_sionna():
    """Seed sionna's generators for one test; its setter also reseeds torch's global generator,
    so that state is put back afterwards."""
    import sionna.phy

    state = torch.get_rng_state()
    sionna.phy.config.seed = 7
    yield
    sionna.phy.config.seed = None
    torch.set_rng_state(state)


@needs_sionna
def test_noise_and_fading_statistics_agree_with_sionna(seeded_sionna):
    """Both generators, each seeded, match the closed forms within five standard errors.

    |h|² of CN(0, 1) is Exp(1): quantile q_p = -ln(1 - p), and the sample quantile of n draws has
    standard error sqrt(p (1 - p) / n) / f(q_p) with f(q_p) = 1 - p.
    """
    from sionna.phy.channel import AWGN as SionnaAWGN
    from sionna.phy.channel import GenerateFlatFadingChannel

    n, snr = 200_000, 3.0
    no = snr_db_to_noise_power(snr)
    x = torch.zeros(n, dtype=torch.complex64)
    ours = AWGN()(x, snr, gen(0)).symbols
    theirs = SionnaAWGN(device="cpu")(x, no)
    for a in (ours, theirs):  # the sample variance of n Gaussians has relative s.e. sqrt(2 / n)
        assert a.real.var().item() == pytest.approx(no / 2, rel=5 * math.sqrt(2 / n))
        assert a.imag.var().item() == pytest.approx(no / 2, rel=5 * math.sqrt(2 / n))
    p = np.array([0.1, 0.5, 0.9])
    exact = -np.log1p(-p)
    tol = 5 * np.sqrt(p * (1 - p) / n) / (1 - p)
    h_ours = Rayleigh().realise(n, snr, gen(1)).gains.abs().square().numpy()
    h_theirs = GenerateFlatFadingChannel(1, 1, device="cpu")(n).reshape(-1).abs().square().numpy()
    for h in (h_ours, h_theirs):
        assert np.all(np.abs(np.quantile(h, p) - exact) < tol), (np.quantile(h, p), exact, tol)
    sv = lambda hm: torch.linalg.svdvals(hm).square().mean(0).numpy()  # noqa: E731
    m_ours = Mimo().realise(2 * 50_000, snr, gen(2)).matrices
    m_theirs = GenerateFlatFadingChannel(2, 2, device="cpu")(50_000)
    np.testing.assert_allclose(sv(m_ours), sv(m_theirs), rtol=0.03)
