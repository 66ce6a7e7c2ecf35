"""CDDM's schedule, SNR -> start step, reverse process and the receiver's scaling (``Diffusion/Diffusion.py``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semcom_bench.channels.equalizers import unbiased_estimate
from semcom_bench.channels.rayleigh import Rayleigh
from semcom_bench.symbols import from_symbols, to_symbols
from semcom_bench_baselines.cddm.sampler import (Schedule, noise_var_per_real, prepare, reverse, start_step,
                                                 target_db)

#: NFE (steps = network calls) of the official sampler: t = argmin|snr_t - SNR| + 1
OFFICIAL = {0: 259, 5: 162, 10: 93, 13: 66, 15: 52, 20: 27}
#: the paper's convention: matched at SNR + 10 log10(2)
PAPER = {0: 197, 5: 117, 10: 66, 15: 35, 20: 18}


def _alphas_bar_numpy() -> np.ndarray:
    out, prod = [], 1.0
    for beta in np.linspace(1e-4, 0.02, 1000):
        prod *= 1.0 - beta
        out.append(prod)
    return np.array(out)


def test_schedule_is_the_linear_ddpm_schedule():
    sched = Schedule.linear()
    assert sched.T == 1000 and sched.alphas_bar.dtype == torch.float64
    np.testing.assert_allclose(sched.alphas_bar.numpy(), _alphas_bar_numpy(), rtol=1e-12)
    snr = sched.snr_db.numpy()
    assert np.all(np.diff(snr) < 0)
    assert snr[0] == pytest.approx(40.0, abs=0.01) and snr[-1] == pytest.approx(-43.94, abs=0.01)


@pytest.mark.parametrize("snr", sorted(OFFICIAL))
def test_official_steps(snr):
    assert start_step(snr, "official") == OFFICIAL[snr]


@pytest.mark.parametrize("snr", sorted(PAPER))
def test_paper_steps_are_the_official_ones_3db_higher(snr):
    assert start_step(snr, "paper") == PAPER[snr]
    assert start_step(snr, "paper") == start_step(snr + 10 * math.log10(2), "official")


@pytest.mark.parametrize("snr", [-3.0, 0.0, 2.5, 7.0, 10.0, 13.0, 18.0, 25.0])
def test_steps_follow_the_closed_form(snr):
    ab = _alphas_bar_numpy()
    snr_t = 10 * np.log10(ab / (1 - ab))
    sigma2 = 10 ** (-snr / 10) / 2  # N0/2 per real value
    # paper: alpha_bar closest (in dB of alpha_bar/(1 - alpha_bar)) to 1/(1 + sigma^2)
    target = 1 / (1 + sigma2)
    assert start_step(snr, "paper") == int(np.argmin(np.abs(snr_t - 10 * np.log10(target / (1 - target))))) + 1
    assert target_db(snr, "paper") == pytest.approx(-10 * math.log10(sigma2))
    # official: matched at the SNR itself, i.e. alpha_bar close to 1/(1 + 2 sigma^2)
    k = start_step(snr, "official") - 1
    assert k == int(np.argmin(np.abs(snr_t - snr)))
    if 0 < k < 999:
        assert abs(ab[k] - 1 / (1 + 2 * sigma2)) <= max(abs(ab[k - 1] - ab[k]), abs(ab[k + 1] - ab[k]))


def test_the_official_tmax_clamp():
    assert start_step(0.0, "official", tmax_db=10.0) == 93
    assert start_step(5.0, "official", tmax_db=10.0) == 93
    assert start_step(20.0, "official", tmax_db=10.0) == 27
    assert start_step(0.0, "paper", tmax_db=10.0) == 66
    with pytest.raises(ValueError, match="unknown CDDM convention"):
        start_step(10.0, "code")


def _oracle(x0: torch.Tensor, gain: torch.Tensor | float, eps_scale: torch.Tensor | float, sched: Schedule, calls: list):
    """The exact noise of x_t = sqrt(ab_t) g x0 + sqrt(1 - ab_t) h_n eps, divided by h_n (the sampler multiplies it back)."""
    sa, s1a = torch.sqrt(sched.alphas_bar).float(), torch.sqrt(1 - sched.alphas_bar).float()

    def model(x, t, cond):
        calls.append(int(t[0]))
        k = t.view(-1, 1, 1, 1)
        return (x - sa[k] * gain * x0) / (s1a[k] * eps_scale)

    return model


def test_with_the_true_noise_the_sampler_recovers_x0_exactly_over_awgn():
    torch.manual_seed(0)
    sched = Schedule.linear()
    x0 = torch.randn(3, 4, 8, 8) * math.sqrt(0.5)
    for snr in (0.0, 10.0, 20.0):
        sigma2 = noise_var_per_real(snr)
        y = x0 + math.sqrt(sigma2) * torch.randn_like(x0)
        x, cond, eps_scale = prepare(y, None, snr, 10 ** (-snr / 10), "paper")
        assert torch.equal(cond, torch.ones_like(y)) and eps_scale == 1.0
        assert torch.allclose(x, y / math.sqrt(1 + sigma2))
        calls: list[int] = []
        steps = start_step(snr, "paper")
        out = reverse(_oracle(x0, 1.0, 1.0, sched, calls), x, cond, eps_scale, steps, sched)
        assert calls == list(range(steps - 1, -1, -1))  # one call per step, t = steps-1 .. 0
        assert torch.allclose(out, x0, atol=2e-4), float((out - x0).abs().max())
        assert float((y - x0).abs().max()) > 0.05  # the input was noisy


def test_with_the_true_noise_the_sampler_ends_at_g_x0_over_fading():
    torch.manual_seed(1)
    sched = Schedule.linear()
    x0 = torch.randn(2, 2, 4, 8) * math.sqrt(0.5)
    habs = torch.rand_like(x0) * 2 + 0.05
    snr = 8.0
    no = 10 ** (-snr / 10)
    for convention, s in (("paper", no), ("official", 10 ** (-(snr + 3) / 10))):
        zf = x0 + math.sqrt(noise_var_per_real(snr)) * torch.randn_like(x0) / habs
        x, cond, eps_scale = prepare(zf, habs, snr, no, convention)
        g = habs ** 2 / (habs ** 2 + s)
        assert torch.allclose(eps_scale, habs / (habs ** 2 + s)) and torch.equal(cond, habs)
        out = reverse(_oracle(x0, g, eps_scale, sched, []), x, cond, eps_scale, start_step(snr, convention), sched)
        assert torch.allclose(out, g * x0, atol=2e-4)


def test_reverse_matches_the_official_update_equations():
    """A linear stand-in network, the official loop written out in float64 numpy."""
    sched = Schedule.linear()
    ab = sched.alphas_bar.numpy()
    x = torch.randn(1, 1, 2, 2, generator=torch.Generator().manual_seed(2))
    h = torch.full_like(x, 0.7)

    def model(xt, t, cond):
        return 0.3 * xt + 0.002 * t.view(-1, 1, 1, 1).float() * cond

    steps = 300
    ref = x.double().numpy()
    for k in reversed(range(steps)):
        eps = (0.3 * ref + 0.002 * k * 0.7) * 0.5
        if k > 0:
            ref = np.sqrt(ab[k - 1]) / np.sqrt(ab[k]) * (ref - np.sqrt(1 - ab[k]) * eps) + np.sqrt(1 - ab[k - 1]) * eps
        else:
            ref = (ref - np.sqrt(1 - ab[0]) * eps) / np.sqrt(ab[0])
    out = reverse(model, x, h, 0.5, steps, sched)
    np.testing.assert_allclose(out.double().numpy(), ref, rtol=1e-4, atol=1e-5)
    assert torch.equal(reverse(model, x, h, 0.5, 0, sched), x)


def test_the_receiver_input_over_the_project_rayleigh_channel():
    """paper: the channel's own MMSE output, scaled; official: the raw y times h*/(|h|^2 + 10^-(SNR+3)/10)."""
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(4, 4, 8, generator=gen)
    symbols, _ = to_symbols(z)
    snr = 6.0
    no = 10 ** (-snr / 10)
    rec = Rayleigh()(symbols, snr, gen)
    h = rec.state.realisation.per_symbol()
    habs = from_symbols(torch.complex(h.abs(), h.abs()), 1.0, (4, 4, 8))
    zf, _ = unbiased_estimate(rec)
    y = from_symbols(zf, 1.0, (4, 4, 8))[None]
    scale = 1 / math.sqrt(1 + noise_var_per_real(snr))
    x, _, _ = prepare(y, habs[None], snr, no, "paper")
    assert torch.allclose(x[0], from_symbols(rec.symbols, 1.0, (4, 4, 8)) * scale, atol=1e-5)
    raw = zf * h  # y = h s + n, back from the zero-forcing estimate
    s = 10 ** (-(snr + 3) / 10)
    official = from_symbols(raw * h.conj() / (h.abs() ** 2 + s), 1.0, (4, 4, 8)) * scale
    x, _, eps_scale = prepare(y, habs[None], snr, no, "official")
    assert torch.allclose(x[0], official, atol=1e-5)
    assert torch.allclose(eps_scale[0], habs / (habs ** 2 + s))
