"""DDSC's channel -> diffusion-step mapping against its closed forms, for awgn, rayleigh and mimo.

Closed forms (paper §III; :mod:`semcom_bench_baselines.ddsc.snr_mapping`): a latent ``y`` of mean
square ``P`` received as ``y + σ ε`` is the forward state ``√ᾱ_u·(y + σ ε)`` with
``ᾱ_u = 1/(1 + σ²)``; in this project's units ``σ² = P·σ_u²`` with ``σ_u²`` = N0 (AWGN),
N0/|h|² per element (Rayleigh), N0/σ_i² per stream (MIMO).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semcom_bench import registry
from semcom_bench.channels.mimo import MimoRealisation
from semcom_bench.symbols import from_symbols, to_symbols
from semcom_bench_baselines.ddsc import snr_mapping as sm


def sd2_alphas() -> torch.Tensor:
    """ᾱ of Stable Diffusion 2's training schedule (ldm 'linear' = diffusers scaled_linear, 0.00085-0.012, T = 1000)."""
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, 0)


def sd2_scheduler():
    from diffusers import DDIMScheduler

    from semcom_bench_baselines.ddsc.latent_model import scheduler_for

    # stabilityai/stable-diffusion-2-1-base scheduler_config.json (a PNDM config), read as the method reads it
    config = {"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
              "num_train_timesteps": 1000, "prediction_type": "epsilon", "set_alpha_to_one": False,
              "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None, "clip_sample": False}
    scheduler, _ = scheduler_for(config)
    assert isinstance(scheduler, DDIMScheduler)
    return scheduler


def test_the_official_step_numbers_on_the_official_grids():
    alphas = sd2_alphas()
    grid = sm.Grid.official(alphas, 400)  # the README's --ddim_steps 400
    assert len(grid) == 500 and grid.timesteps[0] == 1 and grid.timesteps[-1] == 999
    assert [sm.official_step(s, grid.alphas, 1.0) for s in (0, 3, 6, 9, 12)] == [177, 127, 85, 52, 30]
    grid50 = sm.Grid.official(alphas, 50)
    assert [sm.official_step(s, grid50.alphas, 1.0) for s in (0, 3, 6, 9, 12)] == [18, 13, 9, 6, 3]
    # the fixed forward process of the paper: 200 steps of that grid, "approximately -1 dB"
    t, a = int(grid.timesteps[200]), float(grid.alphas[200])
    assert t == 401 and a == pytest.approx(0.42288, abs=1e-5)
    assert float(sm.snr_db_from_alpha(a)) == pytest.approx(-1.35, abs=0.01)


def test_diffusers_ddim_with_500_steps_is_the_official_400_step_grid():
    scheduler = sd2_scheduler()
    scheduler.set_timesteps(500)
    grid = sm.Grid.from_scheduler(scheduler)
    official = sm.Grid.official(sd2_alphas(), 400)
    assert torch.equal(grid.timesteps, official.timesteps)
    assert torch.allclose(grid.alphas, official.alphas, rtol=1e-6)
    scheduler.set_timesteps(400)  # the pitfall: diffusers' 400 steps stop at training step 799
    assert int(sm.Grid.from_scheduler(scheduler).timesteps[-1]) == 799


def test_grid_index_is_the_largest_alpha_not_above():
    alphas = sd2_alphas()[sm.official_ddim_timesteps(400)]
    for a_u in (0.999, 0.9, 0.5, 0.1, 0.01):
        k = int(sm.grid_index(a_u, alphas))
        assert alphas[k] <= a_u and (k == 0 or alphas[k - 1] > a_u)
    assert int(sm.grid_index(1e-6, alphas)) == len(alphas) - 1  # noisier than the grid: its last step
    assert sm.grid_index(torch.tensor([0.9, 0.5]), alphas).tolist() == [int(sm.grid_index(0.9, alphas)),
                                                                        int(sm.grid_index(0.5, alphas))]
    grid = sm.Grid.official(sd2_alphas(), 400)
    a = torch.tensor([alphas[10].item() + 1e-9, 0.3])  # cleaner than step 200, noisier than it
    assert sm.start_index(a, grid, "fixed", 200).tolist() == [200, int(sm.grid_index(0.3, alphas))]
    assert sm.start_index(a, grid, "adaptive", 200).tolist() == [10, int(sm.grid_index(0.3, alphas))]


def test_alpha_from_snr_is_one_over_one_plus_the_latent_noise():
    for snr_db, power in ((0.0, 1.0), (6.0, 0.7), (-5.0, 1.3)):
        n0 = 10 ** (-snr_db / 10)
        assert float(sm.alpha_from_snr(snr_db, power)) == pytest.approx(1 / (1 + power * n0), rel=1e-12)
        assert float(sm.snr_db_from_alpha(sm.alpha_from_snr(snr_db, power), power)) == pytest.approx(snr_db, abs=1e-9)


def _send(latent: torch.Tensor, channel: str, snr_db: float, seed: int = 0, **params):
    ch = registry.channels.create(channel, **params)
    symbols, scale = to_symbols(latent)
    gen = torch.Generator().manual_seed(seed)
    return ch(symbols, snr_db, gen), scale


@pytest.fixture()
def latent() -> torch.Tensor:
    torch.manual_seed(0)
    return 0.8 * torch.randn(4, 64, 128)  # mean square P ≈ 0.64, 32768 real values


def test_awgn_state_is_the_forward_process_at_the_mapped_step(latent):
    power = float(latent.square().mean())
    for snr_db in (0.0, 6.0, 12.0):
        received, scale = _send(latent, "awgn", snr_db)
        x_hat, var, common = sm.symbol_noise(received, "mean", power)
        n0 = 10 ** (-snr_db / 10)
        assert torch.allclose(var, torch.full_like(var, n0), rtol=1e-6)
        assert common == pytest.approx(power * n0, rel=1e-6)
        assert common == pytest.approx(sm.symbol_noise(received, "nominal", power)[2], rel=1e-6)
        alpha_u = float(sm.alpha_from_noise_var(common))
        assert alpha_u == pytest.approx(float(sm.alpha_from_snr(snr_db, power)), rel=1e-6)
        s_hat = from_symbols(x_hat, scale, latent.shape)
        assert float((s_hat - latent).square().mean()) == pytest.approx(common, rel=0.03)  # σ² = P·N0 per real value
        # adaptive: the grid step with ᾱ_k <= ᾱ_u, the gap compensated (eq. 14): exactly y_k in law
        alphas = sd2_alphas()[sm.official_ddim_timesteps(400)]
        k = int(sm.grid_index(alpha_u, alphas))
        a_k = float(alphas[k])
        var_real = power * sm.per_real(var, latent.numel()).reshape(latent.shape)
        x_k = math.sqrt(a_k) * sm.to_level(s_hat[None], var_real[None], (1 - a_k) / a_k, [torch.Generator().manual_seed(1)])[0]
        residual = x_k - math.sqrt(a_k) * latent
        assert float(residual.square().mean()) == pytest.approx(1 - a_k, rel=0.03)
        assert abs(float((residual * latent).mean())) < 0.01  # independent of the signal
        # fixed (eq. 14): 200 steps of the 500 grid, more noise than the channel at these SNRs
        a_t = float(alphas[200])
        x_t = math.sqrt(a_t) * sm.to_level(s_hat[None], var_real[None], (1 - a_t) / a_t, [torch.Generator().manual_seed(2)])[0]
        assert float((x_t - math.sqrt(a_t) * latent).square().mean()) == pytest.approx(1 - a_t, rel=0.03)


def test_rayleigh_per_element_alpha_is_the_mmse_gain_and_levels_per_element(latent):
    power = float(latent.square().mean())
    snr_db = 6.0
    n0 = 10 ** (-snr_db / 10)
    received, scale = _send(latent, "rayleigh", snr_db)
    h2 = received.state.realisation.per_symbol().abs().square().double()
    x_hat, var, common = sm.symbol_noise(received, "mean", power)
    assert torch.allclose(var, n0 / h2, rtol=1e-5)  # per element N0/|h|² (eqs. 18-22)
    alpha_i = 1.0 / (1.0 + power * n0 / h2)
    assert float(sm.alpha_from_noise_var(common)) == pytest.approx(float(alpha_i.mean()), rel=1e-6)
    # with P = 1 the per-element ᾱ is the MMSE bias g = |h|²/(|h|² + N0) the channel reports
    _, _, common1 = sm.symbol_noise(received, "mean", 1.0)
    assert float(sm.alpha_from_noise_var(common1)) == pytest.approx(float(received.state.info["gain"].double().mean()),
                                                                   rel=1e-5)
    assert sm.symbol_noise(received, "nominal", power)[2] == pytest.approx(power * n0)  # the paper's |h| = 1
    # every element brought to the common level where it can be; the noisier ones at their own state
    s_hat = from_symbols(x_hat, scale, latent.shape)
    var_real = power * sm.per_real(var, latent.numel()).reshape(latent.shape)
    a_star = float(sm.alpha_from_noise_var(common))
    target = (1 - a_star) / a_star
    x = math.sqrt(a_star) * sm.to_level(s_hat[None], var_real[None], target, [torch.Generator().manual_seed(3)])[0]
    cleaner = var_real <= target
    assert 0.2 < float(cleaner.double().mean()) < 0.95
    res = x - math.sqrt(a_star) * latent
    assert float(res[cleaner].square().mean()) == pytest.approx(1 - a_star, rel=0.05)
    own = (1.0 / (1.0 + var_real[~cleaner])).float()  # noisier elements: √ᾱ_i·(y + σ_i ε), exactly
    assert torch.allclose(x[~cleaner], torch.sqrt(own) * s_hat[~cleaner], rtol=1e-5, atol=1e-6)
    res_own = (x[~cleaner] - torch.sqrt(own) * latent[~cleaner]) / torch.sqrt(1 - own)
    assert float(res_own.square().mean()) == pytest.approx(1.0, rel=0.05)


def test_mimo_per_stream_alpha_and_the_unitary_case_is_awgn(latent):
    power = float(latent.square().mean())
    snr_db = 3.0
    n0 = 10 ** (-snr_db / 10)
    received, scale = _send(latent, "mimo", snr_db)
    gains = received.state.realisation.stream_gains()
    x_hat, var, common = sm.symbol_noise(received, "mean", power)
    assert torch.allclose(var, n0 / gains.square(), rtol=1e-5)  # per stream N0/σ_i² (eqs. 23-29)
    stream = received.state.info["stream"]
    assert float(gains[stream == 0].mean()) > float(gains[stream == 1].mean())
    alpha_i = 1.0 / (1.0 + power * n0 / gains.square())
    assert float(sm.alpha_from_noise_var(common)) == pytest.approx(float(alpha_i.mean()), rel=1e-6)
    # the official code's MIMO: a unitary H (all singular values 1), i.e. exactly the AWGN mapping
    ch = registry.channels.create("mimo")
    symbols, scale = to_symbols(latent)
    q, _ = torch.linalg.qr(torch.randn(2, 2, dtype=torch.complex128))
    real = MimoRealisation.from_matrices(q.unsqueeze(0), block=10 ** 9, num_symbols=symbols.numel())
    rec = ch.apply(symbols, real, snr_db, torch.Generator().manual_seed(4))
    _, var_u, common_u = sm.symbol_noise(rec, "mean", power)
    assert torch.allclose(var_u, torch.full_like(var_u, n0), rtol=1e-5)
    assert float(sm.alpha_from_noise_var(common_u)) == pytest.approx(float(sm.alpha_from_snr(snr_db, power)), rel=1e-5)


def test_jump_adds_exactly_the_missing_forward_noise():
    torch.manual_seed(0)
    y = torch.randn(2, 4, 64, 64)
    a_from, a_to = torch.tensor([0.9, 0.6]), torch.tensor([0.5, 0.6])
    gens = [torch.Generator().manual_seed(s) for s in (5, 6)]
    x = torch.sqrt(a_from).reshape(-1, 1, 1, 1) * y + torch.sqrt(1 - a_from).reshape(-1, 1, 1, 1) * torch.randn_like(y)
    out = sm.jump(x, a_from, a_to, gens)
    res = out[0] - math.sqrt(0.5) * y[0]
    assert float(res.square().mean()) == pytest.approx(0.5, rel=0.03)
    assert torch.allclose(out[1], x[1])  # already at the step: unchanged
    again = sm.jump(x, a_from, a_to, [torch.Generator().manual_seed(s) for s in (5, 6)])
    assert torch.equal(out, again)


def test_to_level_for_a_non_latent_signal_uses_its_power():
    torch.manual_seed(0)
    v = 3.0 * torch.randn(1, 10000)
    var = torch.full_like(v, 4.0)
    out = sm.to_level(v, var, 1.0, None, signal_power=9.0)  # noisier than the target: shrunk
    a_i, a_t = 1 / (1 + 4 / 9), 1 / (1 + 1 / 9)
    assert torch.allclose(out, math.sqrt(a_i / a_t) * v, rtol=1e-6)
    assert np.isfinite(out.numpy()).all()
