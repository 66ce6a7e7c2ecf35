"""Gaussian diffusion with learned variance (DDPM + improved DDPM), as SDM/GESCO train and sample.

Forward process ``x_t = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε`` with a linear β schedule
(1e-4 .. 0.02 for T = 1000, scaled by 1000/T otherwise). The network outputs 6 channels:
ε (3) and ``v`` (3), the learned-range variance ``log Σ = (v+1)/2 · log β_t + (1-(v+1)/2) ·
log β̃_t`` between the posterior variance β̃_t and β_t (improved DDPM).

Losses (first paper, eqs. 8-10):

* ``"hybrid"`` (default, the paper's): ``L = L_simple + λ · L_vlb`` with λ = 0.001,
  ``L_simple = mean ||ε - ε_θ||²`` and ``L_vlb = T · E_t[L_t]`` estimated from the step's own
  ``t``, where ``L_t = KL(q(x_{t-1}|x_t,x_0) || p_θ(x_{t-1}|x_t))`` in bits per dimension (the
  decoder NLL at t = 0). The mean is frozen inside ``L_t``, so the VB term trains only the
  variance channels. For T = 1000 and λ = 0.001 this is exactly the official SDM code's
  ``mse + vb``.
* ``"simple"``: ``L_simple`` only. The official GESCO code drops the VB term although it
  learns sigma; its variance channels then keep their zero initialisation (v = 0: the
  geometric mean of β_t and β̃_t), which only the ancestral sampler uses.

Respacing (:meth:`GaussianDiffusion.respaced`) keeps an evenly spaced subset of the timesteps
and recomputes β from ᾱ of the kept steps, as improved DDPM's ``SpacedDiffusion``; the network
is still called with the original timestep indices (:attr:`timestep_map`).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

LOSSES = ("hybrid", "simple")


def linear_betas(num_timesteps: int) -> np.ndarray:
    """The DDPM linear schedule, 1e-4 .. 0.02 at T = 1000 (scaled by 1000/T), float64."""
    scale = 1000.0 / num_timesteps
    return np.linspace(scale * 1e-4, scale * 0.02, num_timesteps, dtype=np.float64)


def cosine_betas(num_timesteps: int, max_beta: float = 0.999) -> np.ndarray:
    """The improved-DDPM cosine schedule, float64."""
    f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    return np.array([min(1 - f((i + 1) / num_timesteps) / f(i / num_timesteps), max_beta) for i in range(num_timesteps)])


SCHEDULES: dict[str, Callable[[int], np.ndarray]] = {"linear": linear_betas, "cosine": cosine_betas}


def space_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """The ``steps`` timesteps of ``range(num_timesteps)`` that respacing keeps, ascending.

    Matches the official ``space_timesteps`` of improved-diffusion / guided-diffusion
    ``respace.py`` (the same function in SDM's and GESCO's ``guided_diffusion/respace.py``)
    for a single section, i.e. ``--timestep_respacing`` given as one integer such as ``"40"``:
    a fractional stride ``(num_timesteps - 1) / (steps - 1)`` (1 when ``steps == 1``) is
    accumulated in a float, and each kept index is Python's ``round`` (half to even) of the
    running sum. Accumulating the stride, rather than multiplying it, moves single indices by
    one for many odd counts (21 steps keep 499 where ``round(10 · 49.95)`` gives 500): 278 of
    the counts 2..1000 of a 1000-step chain select otherwise than a multiplied stride; 40 does
    not.
    First index 0; last ``num_timesteps - 1`` for ``steps >= 2``. ``steps == 1`` keeps only
    timestep 0, as the official code does (a single step from pure noise at t = 0).
    The official code returns an empty set for 0 steps; here it is an error.
    """
    if not 1 <= steps <= num_timesteps:
        raise ValueError(f"cannot take {steps} steps out of {num_timesteps}")
    stride = 1.0 if steps == 1 else (num_timesteps - 1) / (steps - 1)
    keep, position = [], 0.0
    for _ in range(steps):
        keep.append(round(position))
        position += stride
    return sorted(set(keep))


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)), elementwise, in nats."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Log-likelihood (nats) of 8-bit images ``x`` in [-1, 1] under a Gaussian discretised to 256 bins."""
    centered = x - mean
    inv_std = torch.exp(-log_scale)
    cdf_plus = _std_normal_cdf(inv_std * (centered + 1.0 / 255.0))
    cdf_min = _std_normal_cdf(inv_std * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    cdf_delta = cdf_plus - cdf_min
    return torch.where(
        x < -0.999, log_cdf_plus,
        torch.where(x > 0.999, log_one_minus_cdf_min, torch.log(cdf_delta.clamp(min=1e-12))),
    )


def _mean_flat(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=tuple(range(1, x.ndim)))


class GaussianDiffusion:
    """Schedule arithmetic, training losses and the ancestral step.

    Args:
        betas: (T,) float64 β of the (possibly respaced) chain.
        timestep_map: original timestep index of each step of this chain (default: identity).
    """

    def __init__(self, betas: np.ndarray, timestep_map: list[int] | None = None):
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or not ((betas > 0) & (betas <= 1)).all():
            raise ValueError("betas must be a 1-D array in (0, 1]")
        self.betas = betas
        self.num_timesteps = int(betas.shape[0])
        self.timestep_map = list(range(self.num_timesteps)) if timestep_map is None else list(timestep_map)
        alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(alphas)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1.0)
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        # the posterior variance is 0 at t = 0: its log is clipped to the value at t = 1
        self.posterior_log_variance_clipped = np.log(np.append(self.posterior_variance[1], self.posterior_variance[1:])) \
            if self.num_timesteps > 1 else np.log(np.maximum(self.posterior_variance, 1e-20))
        self.posterior_mean_coef1 = betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)
        self.log_betas = np.log(betas)

    @classmethod
    def from_schedule(cls, num_timesteps: int = 1000, schedule: str = "linear") -> "GaussianDiffusion":
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown noise schedule {schedule!r}; use one of {', '.join(SCHEDULES)}")
        return cls(SCHEDULES[schedule](num_timesteps))

    def respaced(self, steps: int) -> "GaussianDiffusion":
        """The chain restricted to ``steps`` evenly spaced timesteps (improved-DDPM respacing)."""
        if steps == self.num_timesteps:
            return self
        keep = space_timesteps(self.num_timesteps, steps)
        betas, last = [], 1.0
        for i in keep:
            betas.append(1.0 - self.alphas_cumprod[i] / last)
            last = self.alphas_cumprod[i]
        return GaussianDiffusion(np.array(betas), [self.timestep_map[i] for i in keep])

    # ---------------------------------------------------------------------------------------

    @staticmethod
    def _at(arr: np.ndarray, t: torch.Tensor, ndim: int) -> torch.Tensor:
        out = torch.as_tensor(arr, dtype=torch.float64, device=t.device)[t].to(torch.float32)
        return out.reshape(-1, *([1] * (ndim - 1)))

    def model_timesteps(self, t: torch.Tensor) -> torch.Tensor:
        """Original timestep indices the network is called with for chain steps ``t``."""
        return torch.as_tensor(self.timestep_map, device=t.device, dtype=torch.long)[t]

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Sample ``x_t`` given ``x_0`` and the noise ε."""
        return self._at(self.sqrt_alphas_cumprod, t, x0.ndim) * x0 + self._at(self.sqrt_one_minus_alphas_cumprod, t, x0.ndim) * noise

    def q_posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and clipped log-variance of ``q(x_{t-1} | x_t, x_0)``."""
        mean = self._at(self.posterior_mean_coef1, t, xt.ndim) * x0 + self._at(self.posterior_mean_coef2, t, xt.ndim) * xt
        return mean, self._at(self.posterior_log_variance_clipped, t, xt.ndim).expand_as(xt)

    def predict_x0(self, xt: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return self._at(self.sqrt_recip_alphas_cumprod, t, xt.ndim) * xt - self._at(self.sqrt_recipm1_alphas_cumprod, t, xt.ndim) * eps

    def model_log_variance(self, var_values: torch.Tensor | None, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Log Σ from the variance channels ``v`` in [-1, 1] (learned range); fixed-large when None."""
        if var_values is None:
            fixed = np.log(np.append(self.posterior_variance[1], self.betas[1:])) if self.num_timesteps > 1 else self.log_betas
            return self._at(fixed, t, like.ndim).expand_as(like)
        min_log = self._at(self.posterior_log_variance_clipped, t, like.ndim)
        max_log = self._at(self.log_betas, t, like.ndim)
        frac = (var_values.float() + 1.0) / 2.0
        return frac * max_log + (1.0 - frac) * min_log

    def p_mean_variance(self, output: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, clip: bool = True) -> dict[str, torch.Tensor]:
        """Mean, log-variance and x̂_0 of ``p_θ(x_{t-1} | x_t)`` from the network ``output``.

        Args:
            output: (B, 6, H, W) ε and variance channels (or (B, 3, H, W): fixed variance).
            xt: (B, 3, H, W).
            t: (B,) chain step indices.
            clip: clip x̂_0 to [-1, 1] (the official ``clip_denoised``).
        """
        c = xt.shape[1]
        eps = output[:, :c].float()
        var_values = output[:, c:] if output.shape[1] == 2 * c else None
        x0 = self.predict_x0(xt, t, eps)
        if clip:
            x0 = x0.clamp(-1.0, 1.0)
        mean, _ = self.q_posterior(x0, xt, t)
        return {"mean": mean, "log_variance": self.model_log_variance(var_values, t, xt), "pred_x0": x0, "eps": eps}

    def p_sample_step(self, output: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, clip: bool = True) -> dict[str, torch.Tensor]:
        """One ancestral step: ``x_{t-1} = μ + exp(½ log Σ) z`` (no noise at t = 0)."""
        out = self.p_mean_variance(output, xt, t, clip)
        nonzero = (t != 0).float().reshape(-1, *([1] * (xt.ndim - 1)))
        out["sample"] = out["mean"] + nonzero * torch.exp(0.5 * out["log_variance"]) * noise
        return out

    # ---------------------------------------------------------------------------------------

    def vb_term(self, output: torch.Tensor, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """(B,) ``L_t`` in bits per dimension: KL to the true posterior, decoder NLL at t = 0."""
        true_mean, true_logvar = self.q_posterior(x0, xt, t)
        out = self.p_mean_variance(output, xt, t, clip=False)
        kl = _mean_flat(normal_kl(true_mean, true_logvar, out["mean"], out["log_variance"])) / math.log(2.0)
        nll = -_mean_flat(discretized_gaussian_log_likelihood(x0, out["mean"], 0.5 * out["log_variance"])) / math.log(2.0)
        return torch.where(t == 0, nll, kl)

    def training_losses(
        self,
        model: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
        x0: torch.Tensor,
        t: torch.Tensor,
        y: torch.Tensor,
        noise: torch.Tensor,
        loss: str = "hybrid",
        lambda_vlb: float = 1e-3,
    ) -> dict[str, torch.Tensor]:
        """Per-sample losses (B,) for images ``x0`` in [-1, 1] at steps ``t`` with maps ``y``.

        Returns:
            ``{"loss", "mse", "vb"}``; ``vb`` is ``L_t`` in bits (zeros for ``loss="simple"``).
        """
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")
        xt = self.q_sample(x0, t, noise)
        output = model(xt, self.model_timesteps(t), y).float()
        c = x0.shape[1]
        mse = _mean_flat((noise - output[:, :c]) ** 2)
        if output.shape[1] == 2 * c and loss == "hybrid":
            frozen = torch.cat([output[:, :c].detach(), output[:, c:]], dim=1)
            vb = self.vb_term(frozen, x0, xt, t)
            total = mse + lambda_vlb * self.num_timesteps * vb
        else:
            vb = torch.zeros_like(mse)
            total = mse
        return {"loss": total, "mse": mse, "vb": vb}


__all__ = ["GaussianDiffusion", "linear_betas", "cosine_betas", "space_timesteps", "normal_kl",
           "discretized_gaussian_log_likelihood", "LOSSES"]
