"""Diffusion arithmetic of the GESCO/SDM receivers: guidance, learned variance, samplers, losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcom_bench.diffusion.gaussian import GaussianDiffusion, linear_betas, space_timesteps
from semcom_bench.diffusion.sampling import cfg_combine, guided_model, per_sample_noise, sample

DIFF = GaussianDiffusion.from_schedule(1000)


class ToyModel(torch.nn.Module):
    """ε channels = mean of the maps per pixel + x; variance channels = 0.5 (or ``var``)."""

    def __init__(self, var: float = 0.5):
        super().__init__()
        self.var = var
        self.calls: list[int] = []

    def forward(self, x, t, y):
        self.calls.append(x.shape[0])
        eps = x + y.mean(dim=1, keepdim=True)
        return torch.cat([eps, torch.full_like(x, self.var) + y[:, :1]], dim=1)


def test_cfg_formula_on_a_toy_model():
    model = ToyModel()
    x = torch.randn(2, 3, 4, 4)
    y = torch.rand(2, 5, 4, 4)
    t = torch.tensor([3, 7])
    cond, uncond = model(x, t, y), model(x, t, torch.zeros_like(y))
    model.calls.clear()
    for s in (2.0, 2.5, 1.5):
        out = guided_model(model, y, s)(x, t)
        assert torch.allclose(out[:, :3], uncond[:, :3] + s * (cond[:, :3] - uncond[:, :3]), atol=1e-6)
        assert torch.equal(out[:, 3:], cond[:, 3:])  # learned variance from the conditional pass
    assert model.calls == [4, 4, 4]  # one doubled batch per call
    model.calls.clear()
    # as the official code, no guidance unless s > 1: one conditional pass, its output as is
    for s in (1.0, 0.5, 0.0, -1.0):
        assert torch.equal(guided_model(model, y, s)(x, t), cond)
    assert model.calls == [2, 2, 2, 2]
    assert not torch.equal(cond, uncond)  # so s = 0 did not run the unconditional model
    # the paper's eq. 13 with s' is the code's form with s = s' + 1
    s_paper = 2.0
    eq13 = cond[:, :3] + s_paper * (cond[:, :3] - uncond[:, :3])
    assert torch.allclose(cfg_combine(cond, uncond, s_paper + 1.0)[:, :3], eq13, atol=1e-6)


def test_guidance_interval_and_the_pass_count():
    """guidance_from guides only t >= t0; a guided step counts two passes per image, a plain one one."""
    model = ToyModel()
    x = torch.randn(2, 3, 4, 4)
    y = torch.rand(2, 5, 4, 4)
    fn = guided_model(model, y, 2.0, guidance_from=500)
    late, early = torch.tensor([700, 700]), torch.tensor([499, 499])
    assert torch.equal(fn(x, early), model(x, early, y))  # below t0: the conditional pass alone
    full = guided_model(model, y, 2.0)(x, late)
    assert torch.equal(fn(x, late), full)  # from t0 on: as guided every step
    assert fn.passes == 3
    plain = guided_model(model, y, 1.0)
    plain(x, late)
    assert plain.passes == 1
    # a whole respaced chain: 10 steps, the noisiest k of them at t >= t0 -> 10 + k passes
    counted = guided_model(model, y, 2.0, guidance_from=500)
    sample(counted, DIFF, (3, 4, 4), [torch.Generator().manual_seed(i) for i in range(2)], "respaced", 10)
    timesteps = DIFF.respaced(10).model_timesteps(torch.arange(10))
    assert counted.passes == 10 + int((timesteps >= 500).sum()) and 10 < counted.passes < 20


def test_learned_range_variance():
    x = torch.randn(3, 3, 2, 2)
    t = torch.tensor([0, 10, 999])
    lo = DIFF.model_log_variance(torch.full_like(x, -1.0), t, x)
    hi = DIFF.model_log_variance(torch.full_like(x, 1.0), t, x)
    post = np.log(np.append(DIFF.posterior_variance[1], DIFF.posterior_variance[1:]))
    assert torch.allclose(lo[:, 0, 0, 0], torch.tensor(post[[0, 10, 999]], dtype=torch.float32))
    assert torch.allclose(hi[:, 0, 0, 0], torch.tensor(np.log(DIFF.betas[[0, 10, 999]]), dtype=torch.float32))
    mid = DIFF.model_log_variance(torch.zeros_like(x), t, x)
    assert torch.allclose(mid, (lo + hi) / 2)
    # the hybrid loss: the VB term reaches only the variance channels
    out = torch.randn(3, 6, 2, 2, requires_grad=True)
    x0 = torch.rand(3, 3, 2, 2) * 2 - 1
    noise = torch.randn_like(x0)
    losses = DIFF.training_losses(lambda a, b, c: out, x0, t, None, noise, "hybrid", 1e-3)
    losses["vb"].sum().backward()
    assert torch.count_nonzero(out.grad[:, :3]) == 0 and torch.count_nonzero(out.grad[:, 3:]) > 0
    mse = ((noise - out[:, :3]) ** 2).mean(dim=(1, 2, 3))
    assert torch.allclose(losses["loss"], mse + 1e-3 * 1000 * losses["vb"])
    simple = DIFF.training_losses(lambda a, b, c: out, x0, t, None, noise, "simple")
    assert torch.allclose(simple["loss"], mse) and torch.count_nonzero(simple["vb"]) == 0


def test_schedule_and_respacing():
    betas = linear_betas(1000)
    assert betas[0] == pytest.approx(1e-4) and betas[-1] == pytest.approx(0.02)
    keep = space_timesteps(1000, 10)
    assert keep[0] == 0 and keep[-1] == 999 and len(keep) == 10
    r = DIFF.respaced(10)
    assert r.timestep_map == keep
    assert np.allclose(r.alphas_cumprod, DIFF.alphas_cumprod[keep])


def _official_single_section(num_timesteps: int, count: int) -> set[int]:
    """improved-diffusion's ``space_timesteps(num_timesteps, str(count))``, from its description:
    the stride (size - 1) / (count - 1) (1 for count <= 1) summed in a float, each index rounded
    with Python's round."""
    step = (num_timesteps - 1) / (count - 1) if count > 1 else 1
    taken, at = set(), 0.0
    for _ in range(count):
        taken.add(round(at))
        at = at + step
    return taken


def test_respacing_keeps_the_official_timesteps():
    differs = []
    for count in range(1, 1001):
        keep = space_timesteps(1000, count)
        assert keep == sorted(_official_single_section(1000, count)), count
        assert len(keep) == count and keep[0] == 0
        if count > 1 and keep != sorted({round(i * (999 / (count - 1))) for i in range(count)}):
            differs.append(count)  # a multiplied stride would select otherwise
    # known selections where the summed stride and the multiplied one part
    assert space_timesteps(1000, 1) == [0]
    assert space_timesteps(1000, 21)[10] == 499 and 500 not in space_timesteps(1000, 21)
    assert space_timesteps(1000, 23)[11] == 499 and 500 not in space_timesteps(1000, 23)
    assert 500 in space_timesteps(1000, 31) and 499 not in space_timesteps(1000, 31)
    assert len(differs) == 278 and differs[:3] == [21, 23, 31] and 40 not in differs
    assert space_timesteps(1000, 40)[-1] == 999 and space_timesteps(1000, 2) == [0, 999]
    with pytest.raises(ValueError):
        space_timesteps(1000, 0)
    with pytest.raises(ValueError):
        space_timesteps(1000, 1001)
    one = DIFF.respaced(1)
    assert one.timestep_map == [0] and np.allclose(one.betas, DIFF.betas[:1])


def _perfect_denoiser(target: torch.Tensor, var: float):
    """The exact ε of a data distribution concentrated on ``target``; variance channels = ``var``."""
    ab = torch.tensor(DIFF.alphas_cumprod, dtype=torch.float32)

    def fn(x, t):
        a = ab[t].reshape(-1, 1, 1, 1)
        eps = (x - a.sqrt() * target) / (1 - a).sqrt()
        return torch.cat([eps, torch.full_like(x, var)], dim=1)

    return fn


@pytest.mark.parametrize("sampler,steps", [("dpmpp", 10), ("ddim", 10), ("ancestral", 1000), ("ancestral", 50)])
def test_samplers_recover_the_data_point(sampler, steps):
    target = torch.linspace(-0.8, 0.8, 3 * 4 * 4).reshape(1, 3, 4, 4).repeat(2, 1, 1, 1)
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    x = sample(_perfect_denoiser(target, 0.3), DIFF, (3, 4, 4), gens, sampler, steps)
    assert x.shape == (2, 3, 4, 4)
    assert (x - target).abs().max() < 2e-2


def test_fast_samplers_use_only_eps_and_ancestral_uses_the_variance():
    torch.manual_seed(0)
    target = torch.rand(1, 3, 4, 4) * 1.6 - 0.8

    def noisy_model(var):
        base = _perfect_denoiser(target, var)
        return lambda x, t: base(x, t) + torch.cat([0.3 * torch.sin(3 * x), torch.zeros_like(x)], 1)

    def run(s, var, steps):
        return sample(noisy_model(var), DIFF, (3, 4, 4), [torch.Generator().manual_seed(5)], s, steps)

    for s in ("dpmpp", "ddim"):
        assert torch.equal(run(s, -1.0, 8), run(s, 1.0, 8))
    assert not torch.equal(run("ancestral", -1.0, 20), run("ancestral", 1.0, 20))


def test_one_generator_per_image():
    model = lambda x, t: torch.cat([0.5 * x, torch.zeros_like(x)], 1)  # noqa: E731
    gens = lambda seeds: [torch.Generator().manual_seed(s) for s in seeds]  # noqa: E731
    for s, steps in (("ancestral", 20), ("dpmpp", 5)):
        batch = sample(model, DIFF, (3, 4, 4), gens([1, 2, 3]), s, steps)
        assert torch.isfinite(batch).all()
        for row, seed in enumerate([1, 2, 3]):  # every image is the one its generator draws alone
            alone = sample(model, DIFF, (3, 4, 4), gens([seed]), s, steps)
            assert torch.allclose(batch[row:row + 1], alone, atol=1e-6)
        assert not torch.allclose(batch[0], batch[1])
        # the images follow their generators, not their place in the batch
        swapped = sample(model, DIFF, (3, 4, 4), gens([3, 1, 2]), s, steps)
        assert torch.allclose(swapped, batch[[2, 0, 1]], atol=1e-6)


def test_variance_scale_multiplies_the_variance_of_every_ancestral_step():
    """The chain with Σ scaled by s is the hand-written loop whose step noise is √s z."""
    model = lambda x, t: torch.cat([0.5 * x, torch.full_like(x, 0.3)], 1)  # noqa: E731
    shape = (3, 4, 4)
    chain = DIFF.respaced(10)

    def by_hand(scale):
        gen = torch.Generator().manual_seed(7)
        x = per_sample_noise([gen], shape, "cpu")
        for i in reversed(range(chain.num_timesteps)):
            t = torch.full((1,), i, dtype=torch.long)
            z = per_sample_noise([gen], shape, "cpu") if i > 0 else torch.zeros_like(x)
            x = chain.p_sample_step(model(x, chain.model_timesteps(t)), x, t, scale ** 0.5 * z)["sample"]
        return x.clamp(-1, 1)

    def drawn(**kw):
        return sample(model, DIFF, shape, [torch.Generator().manual_seed(7)], "respaced", 10, **kw)

    assert torch.equal(drawn(), drawn(variance_scale=1.0))  # the default is the model's own Σ, bit for bit
    for scale in (1.0, 0.5):
        assert torch.allclose(drawn(variance_scale=scale), by_hand(scale), atol=1e-6)
    assert not torch.allclose(drawn(variance_scale=0.5), drawn(), atol=1e-3)
    for bad, match in ((("dpmpp", 0.8), "ancestral samplers, not dpmpp"), (("respaced", 0.0), "must be positive")):
        with pytest.raises(ValueError, match=match):
            sample(model, DIFF, shape, [torch.Generator().manual_seed(7)], bad[0], 10, variance_scale=bad[1])
