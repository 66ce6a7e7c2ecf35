import math

import pytest
import torch

from semcom_bench.channels.awgn import AWGN
from semcom_bench.channels.base import snr_db_to_noise_power
from semcom_bench.symbols import from_symbols, to_symbols


def test_symbols_roundtrip_and_unit_power():
    x = torch.randn(3, 5, 7) * 4 + 1
    s, scale = to_symbols(x)
    assert s.dtype == torch.complex64 and s.numel() == math.ceil(x.numel() / 2)
    assert s.abs().square().mean().item() == pytest.approx(1.0, rel=1e-5)
    torch.testing.assert_close(from_symbols(s, scale, tuple(x.shape)), x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("snr_db", [-3.0, 0.0, 10.0, 20.0])
def test_awgn_noise_power_matches_snr(snr_db):
    n = 200_000
    x = torch.ones(n, dtype=torch.complex64)
    rx = AWGN()(x, snr_db, torch.Generator().manual_seed(1))
    noise = rx.symbols - x
    no = snr_db_to_noise_power(snr_db)
    assert noise.abs().square().mean().item() == pytest.approx(no, rel=0.02)
    # N0/2 per real dimension, circularly symmetric
    assert noise.real.var().item() == pytest.approx(no / 2, rel=0.02)
    assert noise.imag.var().item() == pytest.approx(no / 2, rel=0.02)
    assert torch.allclose(rx.state.effective_noise_var, torch.tensor(no))


def test_awgn_is_deterministic_per_generator():
    x = torch.randn(100, dtype=torch.complex64)
    a = AWGN()(x, 5.0, torch.Generator().manual_seed(7)).symbols
    b = AWGN()(x, 5.0, torch.Generator().manual_seed(7)).symbols
    c = AWGN()(x, 5.0, torch.Generator().manual_seed(8)).symbols
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_awgn_uncoded_bpsk_ber_matches_closed_form():
    # BPSK on the real axis with unit energy: BER = Q(sqrt(2 Es/N0)) = 0.5 erfc(sqrt(Es/N0))
    n, snr_db = 400_000, 4.0
    g = torch.Generator().manual_seed(3)
    bits = torch.randint(0, 2, (n,), generator=g)
    x = (1 - 2 * bits).to(torch.complex64)
    rx = AWGN()(x, snr_db, g).symbols
    ber = ((rx.real < 0).long() != bits).float().mean().item()
    expected = 0.5 * math.erfc(math.sqrt(10 ** (snr_db / 10)))
    assert ber == pytest.approx(expected, rel=0.05)
