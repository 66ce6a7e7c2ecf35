"""Training of DDSC's F_d and F_u with the hybrid loss of eq. 37 (:func:`train_ddsc`).

What the paper (§IV, §V-A) and the official ``scripts/train_submission.py`` do, and what this
recipe does:

* **frozen:** E, D and the U-Net of the base (the embedded one, or Stable Diffusion 2 with
  ``base=``); only F_d (:class:`~.compression.DiffusionEn`) and F_u (:class:`~.compression.DiffusionDe`)
  learn. The latent is ``scaling_factor · posterior sample`` of E (``get_first_stage_encoding``);
  here the posterior mean and std of every training scene are computed once and a fresh sample is
  drawn at each step (cached in ``<out>/latents-<key>.pt``);
* **SNRs:** the official training list ``-5, -3, ..., 13`` dB: for each batch, one optimiser step
  at each SNR in turn (the official loop); ``steps`` counts optimiser steps;
* **channel:** AWGN in this project's convention: F_d's output power-normalised per image to unit
  power per complex symbol, ``CN(0, N0)`` noise, de-normalised (the official code adds noise of
  power ``mean|s|²/snr`` to the un-normalised signal: the same law);
* **target** (``domain``): what F_u learns to output at SNR ``snr`` for a latent ``y`` of mean square
  ``P`` (per image; official: the batch mean over ``n_samples`` copies of one image), with
  ``σ² = P/snr`` and ``ᾱ_u = 1/(1+σ²) = snr/(snr+P)`` (eqs. 15-16):

  - ``paper`` (default): the received latent of the uncompressed generator, ``ŝ = y + σ·ε``, whose
    law is ``N(y, σ²)`` (eqs. 31-32, 36-37); the receiver starts the reverse process from
    ``√ᾱ_u·ŷ``. The mean target ``y`` does not depend on the SNR, which suits F_u: only its
    ``fc_logvar`` sees the SNR;
  - ``code`` (the official code): the forward state ``x_k = √ᾱ_k·y + √(1-ᾱ_k)·ε`` itself, law
    ``N(√ᾱ_k·y, 1-ᾱ_k)``, fed to the reverse process as it is. Its mean scales with the SNR, which
    ``fc_mu`` cannot see. (The official ``ᾱ_k`` is its DDIM grid step; here the exact ``ᾱ_u``.)

  Both give the same KL terms up to the scale of L_KL's prior; the MSE differs by the factor ᾱ_u;
* **loss** (eq. 37), every term a mean over the latent's elements (as the official code):
  ``L_MSE`` = ``(ŷ - s)²`` with ŷ = μ + σ_y·ε the reparameterised sample (eq. 37's
  ``E[(ŷ - ŝ)²]``; ``mse="mean"`` takes ``(μ - s)²`` as the official code does);
  ``L_KL`` = ``½(μ² + σ_y² - log σ_y² - 1)`` (eq. 35); ``L_g`` = KL(N(m, v) ‖ N(μ, σ_y²))
  = ``log(σ_y/√v) + (v + (μ - m)²)/(2σ_y²) - ½`` (eq. 32) with the target's law ``N(m, v)``; total
  ``L_MSE + λ·L_KL + γ·L_g``, λ = γ = 0.1 (the paper's pick, Tables VII-VIII; the code's
  ``--lamda1``, ``--lamda2``). Ablation switches (Table VI): ``reparameterise`` (the "VAE" column:
  off, F_u gives μ and only L_MSE applies), ``use_mse``, ``use_kl``, ``use_guidance``;
* **optimiser:** Adam, one per network as the official code, lr 1e-3 (the official default and
  command line ``--lr 0.0001``/paper 1e-4 are for days on a GPU; this recipe has minutes on a CPU),
  batch 16 scenes (paper: 4, copies of one image in the code);
* **data:** synthetic-streets' train split at the base's size (64x128 for the embedded base).

Outputs: ``<out>/ddsc-c<C>.pt`` in the official checkpoint format (``{epoch, en_state_dict,
de_state_dict, en_optimizer, de_optimizer}``, float32; the optimiser states are left empty in the
file, which the loaders do not read) and ``.json`` beside it (sizes, recipe, base, provenance,
sha256, a held-out evaluation); ``export=True`` copies both into ``semcom_bench/assets/ddsc/``.

Reproducible on the CPU: networks built under ``torch.manual_seed(seed)`` in ``fork_rng``; every
batch, posterior sample, target noise, channel noise and reparameterisation draw from one
``torch.Generator`` seeded with ``seed``; a run stopped by its time limit at step k equals a run of
k steps.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from semcom_bench.errors import UserError
from semcom_bench.training import (default_data_cache, file_record, render_training_set, run_provenance,
                                   training_record, write_provenance)
from semcom_bench_baselines.ddsc import snr_mapping as sm
from semcom_bench_baselines.ddsc.compression import DiffusionDe, DiffusionEn, build, checkpoint_dict
from semcom_bench_baselines.ddsc.latent_model import EMBEDDED_BASE, load_base, resolve_base

#: the package's assets folder of the embedded F_d/F_u
ASSETS = Path(__import__("semcom_bench").__file__).resolve().parent / "assets" / "ddsc"
#: the official training SNRs (dB)
TRAIN_SNRS = (-5.0, -3.0, -1.0, 1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 13.0)

#: every recipe setting and its default; ``train_ddsc(**recipe)`` overrides them
RECIPE: dict[str, Any] = {
    "width": 16,
    "snrs": TRAIN_SNRS,
    "lr": 1e-3,
    "lambda_kl": 0.1,
    "gamma": 0.1,
    "domain": "paper",
    "mse": "sample",
    "reparameterise": True,
    "use_mse": True,
    "use_kl": True,
    "use_guidance": True,
    "data_size": 4000,
    "data_seed": 0,
    "eval_size": 64,
    "eval_snrs": (1.0, 5.0, 9.0),
    "log_every": 100,
}


def name_for(c: int) -> str:
    return f"ddsc-c{int(c)}"


def data_spec(size: int, seed: int, height: int, width: int, split: str = "train") -> dict[str, Any]:
    return {"name": "synthetic-streets", "split": split, "size": int(size), "height": int(height), "width": int(width),
            "seed": int(seed)}


def _check_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(recipe) - set(RECIPE))
    if unknown:
        raise UserError(f"unknown ddsc recipe settings {unknown}; known: {', '.join(RECIPE)}")
    r = {**RECIPE, **{k: v for k, v in recipe.items() if v is not None}}
    r["snrs"] = tuple(float(s) for s in r["snrs"])
    r["eval_snrs"] = tuple(float(s) for s in r["eval_snrs"])
    if r["domain"] not in ("paper", "code"):
        raise UserError(f"ddsc recipe domain must be paper (F_u outputs y + sigma eps) or code (the forward state), "
                        f"not {r['domain']!r}")
    if r["mse"] not in ("sample", "mean"):
        raise UserError(f"ddsc recipe mse must be sample (eq. 37) or mean (the official code), not {r['mse']!r}")
    if not r["reparameterise"] and (r["use_kl"] or r["use_guidance"]):
        raise UserError("ddsc without reparameterisation (the 'VAE' column of Table VI off) has no variance: "
                        "L_KL and L_g need it; turn them off (--no-kl --no-guidance)")
    if not (r["use_mse"] or r["use_kl"] or r["use_guidance"]):
        raise UserError("ddsc training needs at least one of L_MSE, L_KL, L_g")
    if not r["snrs"]:
        raise UserError("ddsc training needs at least one SNR")
    for key in ("lr", "lambda_kl", "gamma"):
        if float(r[key]) < 0:
            raise UserError(f"ddsc recipe {key} must be >= 0, got {r[key]}")
    if int(r["data_size"]) < 1:
        raise UserError(f"ddsc recipe data_size must be at least 1, got {r['data_size']}")
    return r


def _encode(vae: Any, images: list[np.ndarray] | np.ndarray, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.stack([np.asarray(i) for i in images])).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    dist = vae.encode(x.to(device)).latent_dist
    return dist.mean.float().cpu(), dist.std.float().cpu()


def posteriors(vae: Any, images: np.ndarray, batch: int = 32, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of E's posterior for (N, H, W, 3) uint8 images: (N, latent, h, w) float32 each (unscaled), on the CPU."""
    means, stds = [], []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            m, sd = _encode(vae, images[i:i + batch], device)
            means.append(m)
            stds.append(sd)
    return torch.cat(means), torch.cat(stds)


def _cached(folder: Path, vae_key: str, spec: Any, make: Callable[[], tuple[torch.Tensor, torch.Tensor]]):
    from semcom_bench.hashing import hash_obj

    key = hash_obj({"vae": vae_key, "spec": spec})[:16]
    path = folder / f"latents-{key}.pt"
    if path.is_file():
        blob = torch.load(path, map_location="cpu", weights_only=True)
        return blob["mean"], blob["std"]
    mean, std = make()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"mean": mean, "std": std, "spec": spec, "vae": vae_key}, tmp)
    tmp.replace(path)
    return mean, std


def _latents(model: Any, spec: dict[str, Any], folder: Path, vae_key: str, workers: int,
             data_cache: str | Path | None, log: Callable[[str], None], device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior (mean, std) of the scenes of ``spec`` (rendered through the training-set cache), cached in
    ``folder`` per (VAE, spec)."""

    def make() -> tuple[torch.Tensor, torch.Tensor]:
        data = render_training_set(spec, workers, data_cache or default_data_cache(spec), log, fields=("images",))
        start = time.perf_counter()
        out = posteriors(model.vae, data["images"], device=device)
        log(f"ddsc: encoded {len(out[0])} scenes with E in {time.perf_counter() - start:.0f} s")
        return out

    return _cached(folder, vae_key, spec, make)


def stream_latents(model: Any, dataset: str, first: int, count: int, folder: Path, vae_key: str,
                   log: Callable[[str], None], device: str = "cpu", batch: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior (mean, std) of samples ``first .. first + count - 1`` of any registered data set (e.g.
    ``lsun(root=...,split=train,size=512)``), read one batch at a time (no image array is kept)."""
    from semcom_bench import registry
    from semcom_bench.config import parse_spec

    spec = parse_spec(dataset)

    def make() -> tuple[torch.Tensor, torch.Tensor]:
        ds = registry.datasets.create(spec.name, **spec.params)
        stop = min(len(ds), first + count)
        if stop <= first:
            raise UserError(f"ddsc training data set {dataset} has {len(ds)} samples; samples from {first} are needed")
        means, stds, images = [], [], []
        start = time.perf_counter()
        with torch.no_grad():
            for i in range(first, stop):
                images.append(ds[i].image)
                if len(images) == batch or i == stop - 1:
                    m, sd = _encode(model.vae, images, device)
                    means.append(m)
                    stds.append(sd)
                    images = []
        log(f"ddsc: encoded {stop - first} samples of {dataset} with E in {time.perf_counter() - start:.0f} s")
        return torch.cat(means), torch.cat(stds)

    return _cached(folder, vae_key, {"dataset": dataset, "first": first, "count": count}, make)


def awgn_through(z: torch.Tensor, snr_db: float, gen: torch.Generator) -> torch.Tensor:
    """z (B, C, h, w) through AWGN at ``snr_db`` (Es/N0 per complex symbol after per-image power normalisation)."""
    n0 = 10.0 ** (-snr_db / 10.0)
    power = z.detach().square().mean(dim=(1, 2, 3), keepdim=True)  # per real value = Es/2 after normalisation
    noise = torch.randn(z.shape, generator=gen).to(z) * torch.sqrt(power * n0)  # N0/2 per real at Es = 1, times 2P
    return z + noise


def targets(y: torch.Tensor, alpha: torch.Tensor, domain: str,
            gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(sample, mean, variance) of F_u's target for scaled latents ``y`` (B, ...) at ``ᾱ_u`` (B,).

    ``paper``: ``ŝ = y + σ ε``, ``N(y, σ²)``, ``σ² = (1-ᾱ)/ᾱ``; ``code``: ``√ᾱ y + √(1-ᾱ) ε``, ``N(√ᾱ y, 1-ᾱ)``.
    """
    a = alpha.reshape(-1, *(1,) * (y.ndim - 1)).to(y)
    eps = torch.randn(y.shape, generator=gen).to(y)
    if domain == "paper":
        var = (1.0 - a) / a
        return y + torch.sqrt(var) * eps, y, var.expand_as(y)
    return torch.sqrt(a) * y + torch.sqrt(1.0 - a) * eps, torch.sqrt(a) * y, (1.0 - a).expand_as(y)


def hybrid_loss(y_hat: torch.Tensor, mu: torch.Tensor, std: torch.Tensor, target: torch.Tensor, mean: torch.Tensor,
                var: torch.Tensor, r: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The terms of eq. 37 (means over elements) and their weighted sum ``total``.

    Args:
        y_hat, mu, std: F_u's sample, mean and std, (B, latent, h, w).
        target: a sample of the target (:func:`targets`); mean, var: the target's law ``N(mean, var)``.
    """
    out: dict[str, torch.Tensor] = {}
    total = mu.new_zeros(())
    if r["use_mse"]:
        pred = y_hat if (r["mse"] == "sample" and r["reparameterise"]) else mu
        out["mse"] = (pred - target).square().mean()
        total = total + out["mse"]
    if r["use_kl"]:
        out["kl"] = (0.5 * (mu.square() + std.square() - 2.0 * torch.log(std) - 1.0)).mean()
        total = total + float(r["lambda_kl"]) * out["kl"]
    if r["use_guidance"]:
        out["guidance"] = (0.5 * torch.log(std.square() / var) + (var + (mu - mean).square())
                           / (2.0 * std.square()) - 0.5).mean()
        total = total + float(r["gamma"]) * out["guidance"]
    out["total"] = total
    return out


@torch.no_grad()
def evaluate_latents(en: DiffusionEn, de: DiffusionDe, mean: torch.Tensor, std: torch.Tensor, sf: float,
                     snrs: tuple[float, ...], seed: int, reparameterise: bool, domain: str) -> dict[str, Any]:
    """Held-out check per SNR, on the diffusion state the receiver starts from (``√ᾱ_u·ŷ`` for ``paper``):
    its MSE to the clean state ``√ᾱ_u·y`` (μ alone and the receiver's output) against the state's
    own noise ``1 - ᾱ_u``, and the mean ``σ_y``."""
    en.eval()
    de.eval()
    gen = torch.Generator().manual_seed(seed)
    device = next(en.parameters()).device
    y = (sf * (mean + std * torch.randn(mean.shape, generator=gen))).to(device)
    power = y.square().mean(dim=(1, 2, 3)).cpu()
    rows = {}
    for snr in snrs:
        alpha = sm.alpha_from_snr(snr, power).float()
        a = alpha.reshape(-1, 1, 1, 1).to(device)
        z_hat = awgn_through(en(y), snr, gen)
        y_hat, mu, sd = de(z_hat, torch.full((len(y),), snr, device=device),
                           [torch.Generator().manual_seed(seed + i) for i in range(len(y))])
        scale = torch.sqrt(a) if domain == "paper" else torch.ones_like(a)
        clean = torch.sqrt(a) * y
        x = scale * (y_hat if reparameterise else mu)
        rows[f"{snr:g}"] = {"mse_mu_vs_clean_state": round(float((scale * mu - clean).square().mean()), 5),
                            "output_noise_var": round(float((x - clean).square().mean()), 5),
                            "target_noise_var": round(float((1 - alpha).mean()), 5),
                            "mean_sigma_y_in_state": round(float((scale * sd).mean()), 5)}
    return rows


def train_ddsc(*, c: int = 28, steps: int = 3000, batch_size: int = 16, seed: int = 0, threads: int | None = 1,
               time_limit_s: float | None = None, out: str | Path = "semcom-train/ddsc", export: bool = False,
               base: str | Path | None = None, log: Callable[[str], None] = print, workers: int = 0,
               data_cache: str | Path | None = None, command: str | None = None, name: str | None = None,
               dataset: str | None = None, device: str = "cpu", **recipe: Any) -> dict[str, Any]:
    """Train F_d/F_u for ``c`` compressed channels on a frozen base (see the module docstring).

    Args:
        c: C, F_d's output channels.
        steps: optimiser steps (each one SNR of :data:`TRAIN_SNRS` in turn, a new batch per cycle).
        batch_size: scenes per step.
        seed: seed of the initialisation and every draw.
        threads: torch CPU threads (None: leave torch's setting).
        time_limit_s: stop after this many seconds of training (the steps done are recorded).
        out: folder of ``ddsc-c<C>.pt`` and ``.json`` (and the cached latents).
        export: also copy both into the package's ``assets/ddsc`` (embedded base only).
        base: the latent diffusion base (None: the embedded one).
        log: where progress lines go.
        workers: processes rendering the training scenes (0: one per core).
        data_cache: ``.npz`` of the rendered scenes.
        command: the command line recorded in the provenance.
        name: file stem of the outputs (default ``ddsc-c<C>``; the ablations ship under their own names).
        dataset: the training images as a data-set spec (e.g. ``lsun(root=...,split=train,size=512)``,
            sides multiples of twice the VAE's factor): its first ``data_size`` samples train, the next
            ``eval_size`` are held out. Default: synthetic-streets' train (and val) split at 64x128.
        device: where E, F_d and F_u run (``cuda`` for Stable Diffusion 2).
        recipe: overrides of :data:`RECIPE` (``lambda_kl``, ``gamma``, ``mse``, ``reparameterise``,
            ``use_mse``, ``use_kl``, ``use_guidance``, ``lr``, ``snrs``, ``data_size``, ...).

    Returns:
        ``{"steps", "seconds", "history", "final", "weights", "json", "info", "evaluation"}`` (and
        ``exported``).
    """
    r = _check_recipe(recipe)
    if int(steps) < 1 or int(batch_size) < 1 or int(c) < 1:
        raise UserError(f"steps, batch_size and c must be at least 1, got {steps}, {batch_size} and {c}")
    steps, batch_size, seed, c = int(steps), int(batch_size), int(seed), int(c)
    if threads:
        torch.set_num_threads(int(threads))
    folder = Path(out)
    base_path = resolve_base(base)
    if export and base_path != EMBEDDED_BASE:
        raise UserError("export writes the embedded F_d/F_u, which belong to the embedded base; leave out --base "
                        "or --export")
    from semcom_bench.components import resolve_device

    device = resolve_device(device)
    model = load_base(base_path, device)
    from semcom_bench_baselines.ddsc.receiver import _hash

    base_key = "-".join(_hash(str(base_path / s)) for s in ("vae", "unet", "scheduler") if (base_path / s).is_dir())
    vae_key = _hash(str(base_path / "vae"))
    if dataset is None:
        height = width = None
        sample_size = model.vae.config.sample_size
        if base_path == EMBEDDED_BASE or sample_size is None:
            height, width = 64, 128
        else:
            height, width = (sample_size, sample_size) if isinstance(sample_size, int) else tuple(sample_size)
        unit = 2 * model.factor
        if height % unit or width % unit:
            raise UserError(f"ddsc training images {height}x{width} must be multiples of {unit}")
        spec: Any = data_spec(r["data_size"], r["data_seed"], height, width)
        mean, std = _latents(model, spec, folder, vae_key, workers, data_cache, log, device)
        eval_spec: Any = data_spec(r["eval_size"], r["data_seed"], height, width, split="val")
        eval_cache = None if data_cache is None else Path(data_cache).with_name(Path(data_cache).stem + "-val.npz")
        eval_mean, eval_std = _latents(model, eval_spec, folder, vae_key, workers, eval_cache, log, device)
    else:
        spec = {"dataset": dataset, "first": 0, "count": int(r["data_size"])}
        mean, std = stream_latents(model, dataset, 0, int(r["data_size"]), folder, vae_key, log, device)
        eval_spec = {"dataset": dataset, "first": int(r["data_size"]), "count": int(r["eval_size"])}
        eval_mean, eval_std = stream_latents(model, dataset, int(r["data_size"]), int(r["eval_size"]), folder, vae_key,
                                             log, device)
    if mean.shape[-1] % 2 or mean.shape[-2] % 2:
        raise UserError(f"ddsc training latents {tuple(mean.shape[1:])} need even sides for F_d's stride 2")
    sf = float(model.scaling_factor)
    latent_channels = int(mean.shape[1])

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        en, de = build(latent_channels, c, int(r["width"]))
    en, de = en.to(device), de.to(device)
    opt_en = torch.optim.Adam(en.parameters(), lr=float(r["lr"]))
    opt_de = torch.optim.Adam(de.parameters(), lr=float(r["lr"]))
    gen = torch.Generator().manual_seed(seed)
    en.train()
    de.train()
    snrs = r["snrs"]
    n_params = sum(p.numel() for p in en.parameters()) + sum(p.numel() for p in de.parameters())
    log(f"ddsc: F_d/F_u C={c}, {n_params} parameters, latents {tuple(mean.shape[1:])} (x{sf:g}), batch {batch_size}, "
        f"lr {r['lr']:g}, lambda {r['lambda_kl']:g}, gamma {r['gamma']:g}, terms "
        f"{[k for k in ('use_mse', 'use_kl', 'use_guidance') if r[k]]}, reparameterise {r['reparameterise']}, "
        f"{torch.get_num_threads()} threads, steps {steps}")
    history: list[dict[str, float]] = []
    acc: dict[str, float] = {}
    n_acc, done, stopped_early = 0, 0, False
    start = time.perf_counter()
    y = power = None
    while done < steps:
        snr = snrs[done % len(snrs)]
        if done % len(snrs) == 0:  # a new batch per cycle of SNRs (the official loop)
            idx = torch.randint(len(mean), (batch_size,), generator=gen)
            y = (sf * (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=gen))).to(device)
            power = y.square().mean(dim=(1, 2, 3))
        alpha = sm.alpha_from_snr(snr, power.cpu()).float()
        target, t_mean, t_var = targets(y, alpha, r["domain"], gen)
        z_hat = awgn_through(en(y), snr, gen)
        mu, logvar = de.encode(z_hat, snr)
        sd = torch.exp(0.5 * logvar)
        y_hat = mu + sd * torch.randn(mu.shape, generator=gen).to(sd) if r["reparameterise"] else mu
        losses = hybrid_loss(y_hat, mu, sd, target, t_mean, t_var, r)
        opt_en.zero_grad(set_to_none=True)
        opt_de.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt_en.step()
        opt_de.step()
        done += 1
        for k, v in losses.items():
            acc[k] = acc.get(k, 0.0) + float(v.detach())
        n_acc += 1
        elapsed = time.perf_counter() - start
        if done % int(r["log_every"]) == 0 or done == steps:
            row = {k: v / n_acc for k, v in acc.items()}
            row["step"] = done
            history.append(row)
            acc, n_acc = {}, 0
            log(f"ddsc step {done}/{steps} " + " ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "step")
                + f" | {elapsed / done * 1000:.0f} ms/step")
        if time_limit_s is not None and elapsed >= float(time_limit_s):
            stopped_early = done < steps
            log(f"ddsc: time limit {float(time_limit_s):.0f} s reached at step {done}")
            break
    seconds = time.perf_counter() - start
    if n_acc:
        row = {k: v / n_acc for k, v in acc.items()}
        row["step"] = done
        history.append(row)
    en.eval()
    de.eval()
    evaluation = evaluate_latents(en, de, eval_mean, eval_std, sf, r["eval_snrs"], seed + 1, bool(r["reparameterise"]),
                                  r["domain"])

    # --- write out ---------------------------------------------------------------------------
    folder.mkdir(parents=True, exist_ok=True)
    stem = name or name_for(c)
    if not stem or "/" in stem or stem.startswith("."):
        raise UserError(f"ddsc name {stem!r} must be a plain file stem such as ddsc-c8-vae-mse")
    path = folder / f"{stem}.pt"
    torch.save(checkpoint_dict(en, de, epoch=0), path)
    command = command or " ".join(shlex.quote(a) for a in ["semcom-bench", *sys.argv[1:]])
    run = run_provenance(device, "diffusers")
    record = file_record(path)
    info = {
        "method": "ddsc",
        "sizes": {"latent_channels": latent_channels, "c": c, "width": int(r["width"]),
                  "latent": list(mean.shape[1:]), "sent": [c, int(mean.shape[2]) // 2, int(mean.shape[3]) // 2]},
        "base": {"path": "embedded (semcom_bench/assets/ddsc-base)" if base_path == EMBEDDED_BASE else str(base_path),
                 "sha256": base_key, "scaling_factor": sf},
        "train": {
            "seed": seed, "steps": steps, "batch_size": batch_size, "threads": threads, "time_limit_s": time_limit_s,
            "device": device, "snrs_db": list(snrs), "snr_loop": "one optimiser step per SNR in turn, a new batch per cycle",
            "channel": "awgn, per-image power normalisation (Es/N0 per complex symbol)",
            "domain": r["domain"],
            "target": ("the received latent y + sigma*eps, sigma^2 = P/snr; the receiver starts from sqrt(a)*output"
                       if r["domain"] == "paper" else "the forward state sqrt(a)*y + sqrt(1-a)*eps, fed as it is")
                      + "; a = snr/(snr+P), P = mean(y^2) per image (exact, not a grid step)",
            "loss": {"mse": r["mse"] if r["use_mse"] else None, "lambda_kl": r["lambda_kl"] if r["use_kl"] else 0.0,
                     "gamma": r["gamma"] if r["use_guidance"] else 0.0, "reparameterise": bool(r["reparameterise"]),
                     "use_mse": bool(r["use_mse"]), "use_kl": bool(r["use_kl"]),
                     "use_guidance": bool(r["use_guidance"])},
            "optimizer": {"name": "adam", "lr": r["lr"], "per_network": True, "schedule": "constant"},
            "data": {**spec, "latent": "scaling_factor * posterior sample, redrawn at every batch"},
        },
        "evaluation": {"data": eval_spec, "per_snr_db": evaluation,
                       "note": "F_u's output against the clean forward state sqrt(a)*y on held-out scenes: the "
                               "output's noise should match the target's (1 - a)"},
        "provenance": training_record(command, done, stopped_early, seconds, run, history[-1] if history else {},
                                      "final_losses"),
        "weights": {"file": record["file"], "sha256": record["sha256"], "bytes": record["bytes"], "dtype": "float32",
                    "layout": "official {epoch, en_state_dict, de_state_dict, en_optimizer, de_optimizer} "
                              "(diffusion_en / diffusion_de keys; optimiser states left empty)",
                    "parameters": n_params},
    }
    json_path = write_provenance(path, info)
    log(f"ddsc: {done} steps in {seconds:.1f} s; wrote {path} (sha256 {record['sha256'][:16]}…)")
    for snr, row in evaluation.items():
        log(f"ddsc eval {snr} dB: " + " ".join(f"{k} {v}" for k, v in row.items()))
    summary: dict[str, Any] = {"steps": done, "seconds": seconds, "stopped_early": stopped_early, "history": history,
                               "final": history[-1] if history else {}, "weights": path, "json": json_path,
                               "info": info, "evaluation": evaluation}
    if export:
        ASSETS.mkdir(parents=True, exist_ok=True)
        if ASSETS.resolve() != folder.resolve():
            shutil.copyfile(path, ASSETS / path.name)
            shutil.copyfile(json_path, ASSETS / json_path.name)
        summary["exported"] = [ASSETS / path.name, ASSETS / json_path.name]
        log(f"exported {ASSETS / path.name}")
    return summary


__all__ = ["RECIPE", "TRAIN_SNRS", "ASSETS", "name_for", "data_spec", "posteriors", "awgn_through", "targets", "hybrid_loss",
           "evaluate_latents", "train_ddsc"]
