"""Sampling loops: classifier-free guidance, the ancestral sampler and diffusers' fast samplers.

Model, scheduler and loop are separate. The model function of every sampler is the guided
network of :func:`guided_model`: the batch is doubled with the null label (all-zero maps),
and the two ε estimates are combined on the 3 mean channels only, the learned-variance
channels being taken from the conditional pass (as the official SDM/GESCO code):

    ε̂ = ε(x_t | 0) + s · (ε(x_t | y) − ε(x_t | 0))

``s`` is the official ``--s`` flag (2 for Cityscapes, 2.5 for COCO-Stuff, 1.5 in SDM's
scripts). The paper's eq. 13 writes the same combination as ``ε(y) + s' (ε(y) − ε(0))``, so its
``s'`` equals ``s − 1``; this module uses the code's convention. As in the official code
(``p_mean_variance`` of SDM's and GESCO's ``guided_diffusion/gaussian_diffusion.py`` combines
the two passes only ``if model_kwargs['s'] > 1.0``), guidance applies only for ``s > 1``: any
``s <= 1`` (the official default ``--s 1.0``, but also 0, fractions and negative values) runs
the conditional model alone, one pass per step. ``s = 0`` is therefore not the unconditional
model, and ``0 < s < 1`` does not interpolate towards it.

Guidance interval (not in the papers): with ``guidance_from = t0`` the doubled batch runs only at
training timesteps ``t >= t0`` (the noisy part of the chain, where the layout is decided); below
it the conditional pass alone, which halves the cost of those steps. ``t0 = 0`` guides every step.
The model function counts the network passes each image gets (``fn.passes``; a guided step is 2).

Samplers (:data:`SAMPLERS`):

* ``ancestral``: the paper's sampler, ``x_{t-1} = μ_θ + Σ_θ^{1/2} z`` with the learned variance,
  1000 steps, as the official ``p_sample_loop``.
* ``respaced``: the same ancestral chain on an evenly spaced subset of the timesteps (improved
  DDPM's respacing, the official ``--timestep_respacing``): β recomputed from ᾱ of the kept
  steps, the learned variance interpolating between the respaced β and posterior variance.
  Default 40 steps (80 passes with guidance): on 16 synthetic-streets scenes, paired, the embedded
  ``gesco`` stays within 0.006 mIoU of the 1000-step chain at PSNR 10 and 1, ``sdm`` within 0.016
  and 0.028; 20 steps lose 0.02-0.05 (``--config gesco-samplers``, README).
  Learning the variance is what makes this work with few steps. With a guidance-distilled network
  (:mod:`.distill`) the same chain takes one pass per step: the receivers' ``sampler=distilled``.
* ``ddim``: diffusers ``DDIMScheduler`` (η = 0, x̂_0 clipped to [-1, 1], trailing timesteps).
* ``dpmpp``: diffusers ``DPMSolverMultistepScheduler`` with ``algorithm_type="dpmsolver++"``,
  order 2, x̂_0 clipped to [-1, 1] (thresholding at 1.0), trailing timesteps.

DDIM and DPM-Solver++ are deterministic given x_T and use only the ε channels; the variance
channels matter only to the ancestral samplers. With the small, briefly trained embedded
networks the deterministic samplers are clearly worse than the respaced ancestral one: their ε
at large t is not accurate enough for an ODE solve (x̂_0 = (x_t − σ ε)/α amplifies its error by
1/α ≈ 157 at t = 999). DDIM keeps working at ~10 steps because diffusers' DDIM clips x̂_0 but
steps with the raw ε; updates that stay consistent with the clipped x̂_0 (DPM-Solver++ with
thresholding, which equals DDIM with ``use_clipped_model_output``) leave visible noise, and
unclipped ones diverge. The ancestral samplers re-inject noise and are robust to it.

The ancestral samplers are written here (the official algorithm, bit for bit in float64
schedule arithmetic); their z comes from the per-image generators.

Every image has its own ``torch.Generator`` (x_T and, for the ancestral sampler, every z), so
an image of a batch is reproduced exactly when generated alone.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Sequence

import torch

from semcom_bench.diffusion.gaussian import GaussianDiffusion

SAMPLERS = ("ancestral", "respaced", "ddim", "dpmpp")
#: the samplers that add noise at every step (the learned variance; ``variance_scale`` applies)
ANCESTRAL_SAMPLERS = ("ancestral", "respaced")
#: default number of steps of each sampler
DEFAULT_STEPS = {"ancestral": 1000, "respaced": 40, "ddim": 10, "dpmpp": 10}

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cfg_combine(cond: torch.Tensor, uncond: torch.Tensor, scale: float, eps_channels: int = 3) -> torch.Tensor:
    """Guided network output: ε channels ``uncond + s (cond − uncond)``, the rest from ``cond``.

    The bare formula, for any ``s``; :func:`guided_model` uses it only for ``s > 1``, as the
    official code.

    Args:
        cond, uncond: (B, 2·c or c, H, W) outputs with the maps and with the null label.
        scale: guidance scale ``s`` (official convention, see the module docstring).
        eps_channels: c, the number of ε channels (3).
    """
    eps = uncond[:, :eps_channels] + scale * (cond[:, :eps_channels] - uncond[:, :eps_channels])
    return torch.cat([eps, cond[:, eps_channels:]], dim=1)


class GuidedModel:
    """``fn(x_t, t) -> (B, 6, H, W)``: the network with classifier-free guidance on maps ``y``.

    The null label is ``zeros_like(y)`` (the training drop of :mod:`semcom_bench.diffusion.training`).
    With ``guidance > 1`` (and ``t >= guidance_from``) the network runs on a doubled batch (maps
    and null label) combined by :func:`cfg_combine`; otherwise it runs once on ``y`` and its
    output is used as is, as the official SDM/GESCO sampling (no guidance unless ``s > 1``).
    ``passes`` counts the network passes per image so far.
    """

    def __init__(self, model: torch.nn.Module, y: torch.Tensor, guidance: float, autocast: torch.dtype | None = None,
                 guidance_from: int = 0) -> None:
        self.model, self.y, self.guidance, self.autocast = model, y, float(guidance), autocast
        self.guidance_from = int(guidance_from)
        self.y2 = torch.cat([y, torch.zeros_like(y)])
        self.passes = 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        guided = self.guidance > 1.0 and int(t.min()) >= self.guidance_from
        self.passes += 2 if guided else 1
        with torch.autocast(x.device.type, dtype=self.autocast, enabled=self.autocast is not None):
            if not guided:
                return self.model(x, t, self.y).float()
            out = self.model(torch.cat([x, x]), torch.cat([t, t]), self.y2).float()
        cond, uncond = out.chunk(2)
        return cfg_combine(cond, uncond, self.guidance, x.shape[1])


def guided_model(model: torch.nn.Module, y: torch.Tensor, guidance: float, autocast: torch.dtype | None = None,
                 guidance_from: int = 0) -> GuidedModel:
    """The guided network function (:class:`GuidedModel`)."""
    return GuidedModel(model, y, guidance, autocast, guidance_from)


def per_sample_noise(generators: Sequence[torch.Generator], shape: Sequence[int], device: torch.device | str) -> torch.Tensor:
    """(B, *shape) standard normal, row i drawn from ``generators[i]`` (on the generator's device)."""
    rows = [torch.randn(tuple(shape), generator=g, dtype=torch.float32, device=g.device) for g in generators]
    return torch.stack(rows).to(device)


def _scheduler(name: str, diffusion: GaussianDiffusion, steps: int, device: torch.device | str, clip: bool = True) -> Any:
    try:
        from diffusers import DDIMScheduler, DPMSolverMultistepScheduler
    except ImportError as exc:  # pragma: no cover - diffusers is a dependency
        raise RuntimeError("the ddim and dpmpp samplers need diffusers: pip install diffusers") from exc
    common = dict(num_train_timesteps=diffusion.num_timesteps, trained_betas=diffusion.betas.tolist(),
                  prediction_type="epsilon", timestep_spacing="trailing")
    if name == "ddim":
        sched = DDIMScheduler(**common, clip_sample=clip, clip_sample_range=1.0, set_alpha_to_one=True)
    elif name == "dpmpp":
        sched = DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++", solver_order=2, thresholding=clip,
                                            sample_max_value=1.0, lower_order_final=True)
    else:
        raise ValueError(f"unknown scheduler {name!r}")
    with warnings.catch_warnings():  # numpy-2 copy-keyword notice from inside diffusers
        warnings.simplefilter("ignore", DeprecationWarning)
        sched.set_timesteps(steps, device=device)
    return sched


def sample(
    model_fn: ModelFn,
    diffusion: GaussianDiffusion,
    shape: Sequence[int],
    generators: Sequence[torch.Generator],
    sampler: str = "dpmpp",
    steps: int | None = None,
    device: torch.device | str = "cpu",
    clip: bool = True,
    progress: Callable[[int, int], None] | None = None,
    variance_scale: float = 1.0,
) -> torch.Tensor:
    """Draw one image per generator.

    Args:
        model_fn: ``fn(x_t, t) -> (B, 6, H, W)`` (see :func:`guided_model`); ``t`` holds
            timestep indices of the training chain.
        diffusion: the training chain (T steps).
        shape: (3, H, W) of one image.
        generators: one per image; x_T (and the ancestral z) come from them.
        sampler: ``ancestral``, ``respaced``, ``ddim`` or ``dpmpp``.
        steps: number of steps (default :data:`DEFAULT_STEPS`).
        device: where the network runs.
        clip: clip x̂_0 to [-1, 1] at every step.
        progress: called with (step, steps) after each step.
        variance_scale: factor (linear, not dB) on the variance Σ of every ancestral step: the noise
            ``z`` is scaled by its square root (1: the model's own Σ). Ancestral chains only.

    Returns:
        (B, 3, H, W) float32 images in [-1, 1] on ``device``.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}")
    if variance_scale != 1.0 and sampler not in ANCESTRAL_SAMPLERS:
        raise ValueError(f"variance_scale applies to the ancestral samplers, not {sampler}")
    if not variance_scale > 0.0:
        raise ValueError(f"variance_scale must be positive, got {variance_scale}")
    steps = int(steps or DEFAULT_STEPS[sampler])
    if not 1 <= steps <= diffusion.num_timesteps:
        raise ValueError(f"steps must be in [1, {diffusion.num_timesteps}], got {steps}")
    b = len(generators)
    x = per_sample_noise(generators, shape, device)
    if sampler in ANCESTRAL_SAMPLERS:
        chain = diffusion.respaced(steps)
        noise_std = math.sqrt(variance_scale)
        for k, i in enumerate(reversed(range(chain.num_timesteps))):
            t = torch.full((b,), i, device=x.device, dtype=torch.long)
            out = model_fn(x, chain.model_timesteps(t))
            z = per_sample_noise(generators, shape, device) if i > 0 else torch.zeros_like(x)
            x = chain.p_sample_step(out, x, t, noise_std * z, clip=clip)["sample"]
            if progress:
                progress(k + 1, steps)
        return x.clamp(-1.0, 1.0) if clip else x
    sched = _scheduler(sampler, diffusion, steps, x.device, clip)
    x = x * sched.init_noise_sigma
    for k, t in enumerate(sched.timesteps):
        tt = torch.full((b,), int(t), device=x.device, dtype=torch.long)
        eps = model_fn(x, tt)[:, : shape[0]]
        x = sched.step(eps, t, x).prev_sample
        if progress:
            progress(k + 1, steps)
    return x.clamp(-1.0, 1.0) if clip else x


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8 on the CPU."""
    return ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()


__all__ = ["SAMPLERS", "DEFAULT_STEPS", "GuidedModel", "cfg_combine", "guided_model", "per_sample_noise", "sample",
           "to_uint8"]
