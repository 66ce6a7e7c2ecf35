"""The embedded latent diffusion model of ``ddsc``, trained on synthetic-streets (:func:`train_ddsc_base`).

The paper runs on Stable Diffusion 2: its VAE as E/D (eqs. 1, 6) and its U-Net, unconditionally
(guidance 0), as the reverse process. This recipe makes a small model of the same kind that fits
the CPU, in the same diffusers layout, so that ``ddsc`` reads it through the same loader as a
Stable Diffusion 2 folder (``base=PATH``):

* **E/D:** a diffusers ``AutoencoderKL``: 3 levels of widths (32, 64, 64), one ResNet per level
  (the decoder has two, diffusers' layout), GroupNorm 32, the mid block's self-attention,
  ``quant_conv``/``post_quant_conv`` as SD; 4 latent channels at a quarter of the size:
  a 64x128 RGB image -> a 4x16x32 latent (SD: 8x down-sampling of 512² to 4x64x64). Trained with
  SD's first-stage loss as far as it runs on the CPU: the pixel-summed L1 reconstruction plus
  ``kl_weight`` (SD: 1e-6) times the posterior's KL to N(0, I) (summed over the latent), both
  divided here by 3·H·W (Adam is invariant to the scale); the latent is a posterior *sample*
  (reparameterised) as in ldm's ``AutoencoderKL``. **Left out:** SD's LPIPS perceptual term and
  its patch-GAN discriminator (LPIPS needs ImageNet VGG weights, not available offline; the GAN
  would not train in the CPU budget), and SD's learned output log-variance (a scalar that only
  rescales the reconstruction term). Adam with SD's betas (0.5, 0.9), constant learning rate,
  horizontal flips. Then, as SD does, ``scaling_factor = 1/std`` of the latents (posterior
  samples of ``scale_images`` training images) is written into the VAE's config (SD: 0.18215);
* **reverse process:** a diffusers ``UNet2DModel`` (unconditional; the official code runs SD
  with ``--scale 0``, i.e. the empty prompt only), widths (48, 64, 96) at 16x32 / 8x16 / 4x8,
  self-attention at the two lower levels, one ResNet per level, ε-prediction, trained with the
  simple loss ``||ε - ε_θ(√ᾱ_t·z0 + √(1-ᾱ_t)·ε, t)||²`` at uniform t on the scaled latents, each
  step a fresh sample ``scaling_factor·(μ + σ·e)`` of the frozen VAE's posterior (ldm's
  ``get_first_stage_encoding``); no flips (the latents are encoded once). AdamW, linear warm-up then
  a constant learning rate, gradient clipping, an EMA of the weights (decay ``min(ema_decay,
  (1+n)/(10+n))`` after n updates, diffusers' ``EMAModel`` warm-up); the EMA weights are exported;
* **schedule:** SD 2's as a diffusers ``DDIMScheduler`` (:data:`SD2_SCHEDULER`: ``scaled_linear``
  0.00085-0.012, 1000 steps, ε, ``set_alpha_to_one=False``, ``steps_offset=1``,
  ``clip_sample=False``), used for training (``add_noise``) and saved with the model.

Files. Training writes into ``out`` (resumable: ``resume=True`` continues each stage from its last
checkpoint; a stage that ended, by steps or by its time limit, is not trained again):

* ``out/vae/``: checkpoints (:mod:`semcom_bench.training.checkpoints`; the VAE keeps no EMA, so
  its "EMA" file holds the weights, decay 0), then ``final/`` (the scaled VAE, float32
  ``save_pretrained``) and ``final.json`` (its steps, time, losses, latent statistics);
* ``out/unet/``: ``latents.pt`` (the posterior mean and std of every training scene, keyed by
  the final VAE's sha256) and the U-Net's checkpoints;
* ``out/ddsc-base/``: the exported model, a diffusers folder with float16 weights::

      vae/config.json, vae/diffusion_pytorch_model.safetensors     AutoencoderKL (scaling_factor set)
      unet/config.json, unet/diffusion_pytorch_model.safetensors   UNet2DModel (EMA weights)
      scheduler/scheduler_config.json                              DDIMScheduler (SD 2's settings)
      ddsc-base.json                                               recipe, provenance, sha256 of each file, quality

  read back with ``AutoencoderKL.from_pretrained(folder, subfolder="vae")`` and so on: loading
  into the float32 models the configs build (diffusers' default, or ``torch_dtype=torch.float32``)
  turns the float16 tensors into float32. ``export=True`` copies it into the package's
  ``semcom_bench/assets/ddsc-base/`` (a README.md there is kept).

:data:`EMBEDDED_PARTS` declares the shipped ``vae/``, ``unet/`` and ``scheduler/`` folders with
their sha256 (:func:`semcom_bench.weights.checksum` of each folder); :func:`embedded_base` returns
the shipped folder after checking them.

Reproducible on the CPU: the networks are built under ``torch.manual_seed`` (inside
``torch.random.fork_rng``), and every batch, flip, posterior sample, timestep and noise is drawn
from one ``torch.Generator`` per stage, seeded from ``seed``; the generators' states are in the
checkpoints, so a resumed run equals an uninterrupted one, and a run stopped by its time limit at
step k equals a run of k steps (nothing depends on the total).
"""

from __future__ import annotations

import json
import math
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from semcom_bench.errors import UserError
from semcom_bench.training import (default_data_cache, latest_step, load_checkpoint, render_training_set, restore_generator,
                                   run_provenance, save_checkpoint)
from semcom_bench.weights import WeightFile, checksum, register_weights, resolve

#: the package's assets folder of the embedded model (a diffusers folder)
ASSETS = Path(__import__("semcom_bench").__file__).resolve().parent / "assets" / "ddsc-base"
#: name of the exported folder and of its JSON
NAME = "ddsc-base"
#: image (height, width) the model is trained at
SIZE = (64, 128)

#: SD 2's sampler settings (``stabilityai/stable-diffusion-2-1-base`` with a DDIMScheduler; ldm's
#: ``linear`` schedule is diffusers' ``scaled_linear``)
SD2_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "clip_sample": False,
}

#: every recipe setting and its default (the embedded recipe); ``train_ddsc_base(**recipe)`` overrides them
RECIPE: dict[str, Any] = {
    # VAE (AutoencoderKL)
    "vae_block_out_channels": (32, 64, 64),
    "vae_layers_per_block": 1,
    "vae_norm_num_groups": 32,
    "latent_channels": 4,
    "vae_lr": 5e-4,
    "vae_betas": (0.5, 0.9),
    "kl_weight": 1e-6,
    "scale_images": 2000,
    # U-Net (UNet2DModel)
    "unet_block_out_channels": (48, 64, 96),
    "unet_attention": (False, True, True),
    "unet_layers_per_block": 1,
    "unet_norm_num_groups": 16,
    "unet_attention_head_dim": 32,
    "unet_lr": 3e-4,
    "unet_warmup": 100,
    "unet_weight_decay": 0.0,
    "grad_clip": 1.0,
    "ema_decay": 0.999,
    # data
    "data_size": 10000,
    "data_seed": 0,
    "flip": True,
    # bookkeeping
    "checkpoint_every": 200,
    "log_every": 50,
}

#: the shipped folders, each declared with the sha256 of its files (:func:`semcom_bench.weights.checksum`)
EMBEDDED_PARTS: dict[str, WeightFile] = {
    part: register_weights(WeightFile(
        name=f"ddsc-base-{part}", filename=config, embedded=f"ddsc-base/{part}", used_by=("ddsc",), sha256=sha256,
        description=f"{what} of the embedded ddsc latent diffusion model (diffusers folder; semcom-bench train ddsc-base)"))
    for part, config, what, sha256 in (
        ("vae", "config.json", "AutoencoderKL (E/D)", "359481bac40b57f925230098dbba0b6b8a79847302fe451d53d53ca59d95c9fc"),
        ("unet", "config.json", "unconditional UNet2DModel (ε, EMA weights)",
         "734bbb3e922f2794cbdb318df58b41f2e9a82c7fc4e757dde57800e0d4700f83"),
        ("scheduler", "scheduler_config.json", "DDIMScheduler config (SD 2's schedule)",
         "2f479c88520142a2f7a0d06e9db0c2114ab14c1cf50be20e97769da79b4c275b"),
    )
}


def embedded_base() -> Path:
    """The shipped diffusers folder ``semcom_bench/assets/ddsc-base``, its three parts checked against their sha256.

    Raises the weights' one-line errors (missing, or another sha256 than declared).
    """
    for weight in EMBEDDED_PARTS.values():
        resolve(weight.name)
    return ASSETS


# --------------------------------------------------------------------------------------------
# networks
# --------------------------------------------------------------------------------------------


def _quiet() -> None:
    import diffusers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()


def build_vae(**recipe: Any) -> Any:
    """The recipe's ``AutoencoderKL`` (random initialisation; scaling_factor 1 until trained)."""
    from diffusers import AutoencoderKL

    r = {**RECIPE, **recipe}
    levels = len(r["vae_block_out_channels"])
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * levels,
                         up_block_types=("UpDecoderBlock2D",) * levels,
                         block_out_channels=tuple(int(c) for c in r["vae_block_out_channels"]),
                         layers_per_block=int(r["vae_layers_per_block"]), act_fn="silu",
                         latent_channels=int(r["latent_channels"]), norm_num_groups=int(r["vae_norm_num_groups"]),
                         sample_size=SIZE[0], scaling_factor=1.0)


def build_unet(latent_size: tuple[int, int], **recipe: Any) -> Any:
    """The recipe's ``UNet2DModel`` on latents of ``latent_size`` (random initialisation)."""
    from diffusers import UNet2DModel

    r = {**RECIPE, **recipe}
    attn = tuple(bool(a) for a in r["unet_attention"])
    widths = tuple(int(c) for c in r["unet_block_out_channels"])
    if len(attn) != len(widths):
        raise UserError(f"unet_attention has {len(attn)} entries, unet_block_out_channels {len(widths)}")
    down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attn)
    up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn))
    return UNet2DModel(sample_size=tuple(int(s) for s in latent_size), in_channels=int(r["latent_channels"]),
                       out_channels=int(r["latent_channels"]), block_out_channels=widths,
                       layers_per_block=int(r["unet_layers_per_block"]), down_block_types=down, up_block_types=up,
                       norm_num_groups=int(r["unet_norm_num_groups"]),
                       attention_head_dim=int(r["unet_attention_head_dim"]))


def build_scheduler() -> Any:
    """SD 2's ``DDIMScheduler`` (:data:`SD2_SCHEDULER`)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(**SD2_SCHEDULER)


def count_parameters(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def data_spec(size: int = 10000, seed: int = 0, split: str = "train") -> dict[str, Any]:
    """The render spec of synthetic-streets' ``split`` at 64x128."""
    return {"name": "synthetic-streets", "split": split, "size": int(size), "height": SIZE[0], "width": SIZE[1],
            "seed": int(seed)}


def to_model_range(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [-1, 1]."""
    x = torch.as_tensor(images)
    return x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) float in [-1, 1] -> (N, H, W, 3) uint8 (rounded, clipped)."""
    return ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)


def psnr_uint8(ref: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB, range 255) of two (N, H, W, 3) uint8 batches, as the ``psnr`` metric."""
    mse = (ref.double() - out.double()).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(255.0**2 / mse)


# --------------------------------------------------------------------------------------------
# the stages
# --------------------------------------------------------------------------------------------


def _ema_decay(decay: float, updates: int) -> float:
    """diffusers ``EMAModel``'s warm-up: ``min(decay, (1 + n)/(10 + n))`` for the n-th update (n from 0)."""
    return min(float(decay), (1.0 + updates) / (10.0 + updates))


def _prune(folder: Path, keep: int) -> None:
    """Remove the checkpoint files of every step before ``keep``."""
    for p in folder.glob("*_*.pt"):
        step = p.stem.rsplit("_", 1)[-1]
        if step.isdigit() and int(step) < keep:
            p.unlink(missing_ok=True)


class _Stage:
    """What both stages share: the step loop with progress, checkpoints, resume and the time limit."""

    name = ""

    def __init__(self, folder: Path, steps: int, time_limit_s: float | None, r: dict[str, Any], seed: int,
                 ema_decay: float, log: Callable[[str], None]):
        self.folder, self.steps, self.time_limit_s, self.r, self.log = folder, int(steps), time_limit_s, r, log
        self.ema_decay = ema_decay
        self.gen = torch.Generator().manual_seed(seed)
        self.seed = seed
        self.step, self.seconds, self.history = 0, 0.0, []
        self.folder.mkdir(parents=True, exist_ok=True)

    # subclasses: self.net, self.opt, self.ema (list of tensors), train_step() -> dict of floats
    def state(self) -> dict[str, Any]:
        return {"optimizer": self.opt.state_dict(), "step": self.step, "generator": self.gen.get_state(),
                "generator_device": "cpu", "history": self.history, "seconds": self.seconds}

    def ema_state(self) -> dict[str, torch.Tensor]:
        state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
        for (n, _), e in zip(self.net.named_parameters(), self.ema):
            state[n] = e.detach().clone()
        return state

    def save(self) -> None:
        save_checkpoint(self.folder, self.step, self.ema_decay, self.net.state_dict(), self.ema_state(), self.state())
        _prune(self.folder, self.step)

    def resume(self) -> None:
        step = latest_step(self.folder)
        if step is None:
            return
        model, ema, state = load_checkpoint(self.folder, step, self.ema_decay, "cpu")
        try:
            self.net.load_state_dict(model)
            ema = ema if ema is not None else model
            self.ema = [ema[n].detach().clone().float() for n, _ in self.net.named_parameters()]
            self.opt.load_state_dict(state["optimizer"])
        except (KeyError, RuntimeError, ValueError) as exc:
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise UserError(f"cannot resume the {self.name} from step {step} in {self.folder}: its checkpoint does not "
                            f"fit this recipe ({detail}); start in another --out") from None
        restore_generator(self.gen, state["generator"], state.get("generator_device", "cpu"), self.seed + step)
        self.step, self.seconds = int(state["step"]), float(state.get("seconds", 0.0))
        self.history = list(state.get("history", []))
        self.log(f"ddsc-base {self.name}: resumed from step {self.step} ({self.seconds:.0f} s trained) in {self.folder}")

    def update_ema(self) -> None:
        if not self.ema_decay:
            return
        d = _ema_decay(self.ema_decay, self.step - 1)
        with torch.no_grad():
            params = [p.detach() for p in self.net.parameters()]
            torch._foreach_mul_(self.ema, d)
            torch._foreach_add_(self.ema, params, alpha=1.0 - d)

    def run(self) -> dict[str, Any]:
        """Train until ``steps`` or the time limit (seconds of training, counted across resumes)."""
        acc: dict[str, float] = {}
        n_acc, start_step, mark = 0, self.step, time.perf_counter()
        stopped = "steps"
        every = int(self.r["log_every"])
        while self.step < self.steps:
            if self.time_limit_s is not None and self.seconds >= float(self.time_limit_s):
                stopped = "time limit"
                self.log(f"ddsc-base {self.name}: time limit {float(self.time_limit_s):.0f} s reached at step {self.step}")
                break
            self.net.train()
            losses = self.train_step()
            self.step += 1
            self.update_ema()
            now = time.perf_counter()
            self.seconds += now - mark
            mark = now
            for k, v in losses.items():
                acc[k] = acc.get(k, 0.0) + v
            n_acc += 1
            if self.step % every == 0 or self.step == self.steps:
                row = {k: v / n_acc for k, v in acc.items()}
                row["step"] = self.step
                self.history.append(row)
                acc, n_acc = {}, 0
                rate = self.seconds / max(self.step, 1)
                left = (self.steps - self.step) * rate
                if self.time_limit_s is not None:
                    left = min(left, max(float(self.time_limit_s) - self.seconds, 0.0))
                self.log(f"ddsc-base {self.name} step {self.step}/{self.steps} "
                         + " ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "step")
                         + f" | {rate:.2f} s/step, {self.seconds / 60:.1f} min, ETA {left / 60:.1f} min")
            if self.step % int(self.r["checkpoint_every"]) == 0:
                self.save()
        if n_acc:
            row = {k: v / n_acc for k, v in acc.items()}
            row["step"] = self.step
            self.history.append(row)
        if self.step > start_step or latest_step(self.folder) != self.step:
            self.save()
        return {"steps": self.step, "seconds": round(self.seconds, 1),
                "seconds_per_step": round(self.seconds / max(self.step, 1), 4), "stopped_by": stopped,
                "final_losses": self.history[-1] if self.history else {}}


class _VaeStage(_Stage):
    name = "vae"

    def __init__(self, images: torch.Tensor, batch_size: int, **kw: Any):
        super().__init__(**kw)
        r = self.r
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net = build_vae(**r)
        self.images, self.batch_size = images, int(batch_size)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=float(r["vae_lr"]), betas=tuple(r["vae_betas"]))
        self.ema = []

    def ema_state(self) -> dict[str, torch.Tensor]:  # no EMA: decay 0, the weights themselves
        return {k: v.detach().clone() for k, v in self.net.state_dict().items()}

    def train_step(self) -> dict[str, float]:
        g = self.gen
        idx = torch.randint(self.images.shape[0], (self.batch_size,), generator=g)
        x = to_model_range(self.images[idx])
        if self.r["flip"]:
            flip = torch.rand(self.batch_size, generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        post = self.net.encode(x).latent_dist
        z = post.sample(generator=g)
        rec = self.net.decode(z).sample
        pixels = x[0].numel()
        l1 = (rec - x).abs().mean()
        kl = post.kl().mean() / pixels  # SD: sum over the latent, per image; here per pixel value
        loss = l1 + float(self.r["kl_weight"]) * kl
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            mse = F.mse_loss(rec.clamp(-1, 1), x)
        return {"loss": float(loss.detach()), "l1": float(l1.detach()), "kl": float(kl.detach() * pixels),
                "psnr": float(10 * torch.log10(4.0 / mse))}


class _UnetStage(_Stage):
    name = "unet"

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, scaling_factor: float, batch_size: int, **kw: Any):
        super().__init__(**kw)
        r = self.r
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net = build_unet(tuple(mean.shape[-2:]), **r)
        self.mean, self.std, self.sf, self.batch_size = mean, std, float(scaling_factor), int(batch_size)
        self.scheduler = build_scheduler()
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=float(r["unet_lr"]),
                                     weight_decay=float(r["unet_weight_decay"]))
        self.ema = [p.detach().clone() for p in self.net.parameters()]

    def train_step(self) -> dict[str, float]:
        g, r = self.gen, self.r
        idx = torch.randint(self.mean.shape[0], (self.batch_size,), generator=g)
        mu, sd = self.mean[idx].float(), self.std[idx].float()
        z0 = self.sf * (mu + sd * torch.randn(mu.shape, generator=g))
        t = torch.randint(self.scheduler.config.num_train_timesteps, (self.batch_size,), generator=g)
        noise = torch.randn(z0.shape, generator=g)
        zt = self.scheduler.add_noise(z0, noise, t)
        warm = int(r["unet_warmup"])
        lr = float(r["unet_lr"]) * (min(1.0, (self.step + 1) / warm) if warm > 0 else 1.0)
        for group in self.opt.param_groups:
            group["lr"] = lr
        loss = F.mse_loss(self.net(zt, t).sample, noise)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), float(r["grad_clip"]))
        self.opt.step()
        return {"loss": float(loss.detach()), "grad_norm": float(gnorm)}


@torch.no_grad()
def latent_statistics(vae: Any, images: torch.Tensor, count: int, seed: int, batch: int = 64) -> dict[str, float]:
    """Mean and std of posterior samples of the first ``count`` images (uint8 (N, H, W, 3)), unscaled."""
    vae.eval()
    g = torch.Generator().manual_seed(seed)
    s = s2 = 0.0
    n = 0
    for a in range(0, min(count, images.shape[0]), batch):
        x = to_model_range(images[a:min(a + batch, count)])
        z = vae.encode(x).latent_dist.sample(generator=g).double()
        s, s2, n = s + float(z.sum()), s2 + float(z.pow(2).sum()), n + z.numel()
    mean = s / n
    return {"mean": mean, "std": math.sqrt(max(s2 / n - mean * mean, 0.0)), "images": min(count, images.shape[0])}


@torch.no_grad()
def encode_posteriors(vae: Any, images: torch.Tensor, batch: int = 64,
                      log: Callable[[str], None] = print) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std), each (N, C, h, w) float16, of the VAE posterior of every image (unscaled)."""
    vae.eval()
    means, stds = [], []
    t0 = time.perf_counter()
    for a in range(0, images.shape[0], batch):
        post = vae.encode(to_model_range(images[a:a + batch])).latent_dist
        means.append(post.mean.half())
        stds.append(post.std.half())
        if (a // batch) % 40 == 0:
            log(f"ddsc-base: encoding the training scenes {a + means[-1].shape[0]}/{images.shape[0]} "
                f"({time.perf_counter() - t0:.0f} s)")
    return torch.cat(means), torch.cat(stds)


# --------------------------------------------------------------------------------------------
# export and evaluation
# --------------------------------------------------------------------------------------------


def save_folder(folder: str | Path, vae: Any, unet: Any, scheduler: Any, dtype: torch.dtype = torch.float16) -> Path:
    """Write ``vae/``, ``unet/`` and ``scheduler/`` into ``folder`` with ``save_pretrained`` (safetensors, ``dtype``)."""
    import copy

    _quiet()  # diffusers' notice on casting a model with .to(dtype)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for sub, net in (("vae", vae), ("unet", unet)):
        shutil.rmtree(folder / sub, ignore_errors=True)
        copy.deepcopy(net).to(dtype).save_pretrained(folder / sub, safe_serialization=True)
    shutil.rmtree(folder / "scheduler", ignore_errors=True)
    scheduler.save_pretrained(folder / "scheduler")
    return folder


def load_folder(folder: str | Path) -> tuple[Any, Any, Any]:
    """(vae, unet, scheduler) of a folder written by :func:`save_folder`, float32, in eval mode."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DModel

    _quiet()
    folder = str(folder)
    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", torch_dtype=torch.float32, local_files_only=True)
    unet = UNet2DModel.from_pretrained(folder, subfolder="unet", torch_dtype=torch.float32, local_files_only=True)
    scheduler = DDIMScheduler.from_pretrained(folder, subfolder="scheduler", local_files_only=True)
    return vae.eval(), unet.eval(), scheduler


def folder_files(folder: str | Path) -> list[dict[str, Any]]:
    """``{"file", "sha256", "bytes"}`` of every file under ``vae/``, ``unet/`` and ``scheduler/``, by path."""
    from semcom_bench.hashing import hash_file

    folder = Path(folder)
    out = []
    for sub in ("vae", "unet", "scheduler"):
        for p in sorted((folder / sub).rglob("*")):
            if p.is_file():
                out.append({"file": p.relative_to(folder).as_posix(), "sha256": hash_file(p), "bytes": p.stat().st_size})
    return out


def ddsc_start_step(alpha: float, timesteps: list[int], alphas_cumprod: torch.Tensor) -> int:
    """The official SNR -> step rule on a sampler grid: the grid step with the largest ``ᾱ_k <= ᾱ_u`` (at least the channel's noise)."""
    ok = [t for t in timesteps if float(alphas_cumprod[t]) <= alpha]
    return min(ok) if ok else max(timesteps)


@torch.no_grad()
def evaluate(vae: Any, unet: Any, scheduler: Any, images: np.ndarray | torch.Tensor, *, seed: int = 0,
             timesteps: tuple[int, ...] = (50, 100, 200, 400, 700), snrs_db: tuple[float, ...] = (0.0, 3.0, 6.0, 9.0, 12.0),
             ddim_steps: int = 50, batch: int = 32) -> dict[str, Any]:
    """Quality of a base model on ``images`` ((N, H, W, 3) uint8), PSNR in dB (mean over images).

    Returns ``{"vae": ..., "denoise": ..., "channel": ...}``:

    * ``vae``: PSNR of ``D(E(x))`` with the posterior mode and with a sample, and the std of the
      unscaled and scaled latents (samples);
    * ``denoise``: per training step t, the one-step x0 estimate ``(z_t - √(1-ᾱ_t)·ε_θ)/√ᾱ_t``
      decoded: its PSNR, and the latent MSE of that estimate, of the noisy ``z_t/√ᾱ_t`` and of
      the linear shrinkage ``√ᾱ_t·z_t`` (the MMSE estimate of a unit-variance Gaussian latent);
    * ``channel``: DDSC on an AWGN channel of the latent: per SNR, ``y = z0 + σ·n`` with
      ``σ² = P/snr`` (``P`` the batch's mean square latent, as the official code), the start step k
      of the ``ddim_steps`` grid (:func:`ddsc_start_step`), the reverse process from ``√ᾱ_u·y`` over
      the grid steps ``<= k`` (η = 0); latent MSE of ``y`` and of the result, and PSNR of each decoded.
    """
    vae.eval()
    unet.eval()
    x_all = to_model_range(images)
    ref_all = torch.as_tensor(images)
    sf = float(vae.config.scaling_factor)
    ac = scheduler.alphas_cumprod.double()
    rows: dict[str, list[torch.Tensor]] = {}

    def add(key: str, value: torch.Tensor) -> None:
        rows.setdefault(key, []).append(value.double().reshape(-1))

    def decode(z: torch.Tensor) -> torch.Tensor:
        return to_uint8(vae.decode(z / sf).sample)

    g = torch.Generator().manual_seed(seed)
    scheduler.set_timesteps(ddim_steps)
    grid = [int(t) for t in scheduler.timesteps]
    for a in range(0, x_all.shape[0], batch):
        x, ref = x_all[a:a + batch], ref_all[a:a + batch]
        post = vae.encode(x).latent_dist
        add("vae_psnr_mode", psnr_uint8(ref, to_uint8(vae.decode(post.mode()).sample)))
        raw = post.sample(generator=g)
        add("latent_raw", raw)
        z0 = sf * raw
        add("latent_scaled", z0)
        rec = decode(z0)
        add("vae_psnr_sample", psnr_uint8(ref, rec))
        for t in timesteps:
            noise = torch.randn(z0.shape, generator=g)
            tt = torch.full((x.shape[0],), int(t), dtype=torch.long)
            zt = scheduler.add_noise(z0, noise, tt)
            at = float(ac[t])
            x0 = (zt - math.sqrt(1 - at) * unet(zt, tt).sample) / math.sqrt(at)
            add(f"t{t}_psnr", psnr_uint8(ref, decode(x0)))
            add(f"t{t}_mse_pred", (x0 - z0).pow(2).flatten(1).mean(1))
            add(f"t{t}_mse_noisy", (zt / math.sqrt(at) - z0).pow(2).flatten(1).mean(1))
            add(f"t{t}_mse_shrink", (zt * math.sqrt(at) - z0).pow(2).flatten(1).mean(1))
        power = float(z0.pow(2).mean())
        for snr_db in snrs_db:
            snr = 10.0 ** (snr_db / 10.0)
            var = power / snr
            y = z0 + math.sqrt(var) * torch.randn(z0.shape, generator=g)
            alpha = 1.0 / (1.0 + var)
            k = ddsc_start_step(alpha, grid, ac)
            lat = math.sqrt(alpha) * y
            for t in [s for s in grid if s <= k]:
                tt = torch.full((x.shape[0],), t, dtype=torch.long)
                lat = scheduler.step(unet(lat, tt).sample, t, lat, eta=0.0).prev_sample
            key = f"{snr_db:g}dB"
            add(f"{key}_k", torch.full((x.shape[0],), float(k)))
            add(f"{key}_mse_received", (y - z0).pow(2).flatten(1).mean(1))
            shrunk = y * power / (power + var)
            add(f"{key}_mse_shrink", (shrunk - z0).pow(2).flatten(1).mean(1))
            add(f"{key}_psnr_shrink", psnr_uint8(ref, decode(shrunk)))
            add(f"{key}_mse_reverse", (lat - z0).pow(2).flatten(1).mean(1))
            add(f"{key}_psnr_received", psnr_uint8(ref, decode(y)))
            add(f"{key}_psnr_reverse", psnr_uint8(ref, decode(lat)))

    def mean(key: str) -> float:
        return round(float(torch.cat(rows[key]).mean()), 4)

    raw, scaled = torch.cat(rows["latent_raw"]), torch.cat(rows["latent_scaled"])
    out: dict[str, Any] = {
        "images": int(x_all.shape[0]),
        "vae": {"psnr_mode": mean("vae_psnr_mode"), "psnr_sample": mean("vae_psnr_sample"),
                "latent_std_raw": round(float(raw.std()), 4), "latent_std_scaled": round(float(scaled.std()), 4),
                "latent_mean_scaled": round(float(scaled.mean()), 4)},
        "denoise": {str(t): {"alpha_bar": round(float(ac[t]), 4), "psnr_one_step": mean(f"t{t}_psnr"),
                             "latent_mse_one_step": mean(f"t{t}_mse_pred"), "latent_mse_noisy": mean(f"t{t}_mse_noisy"),
                             "latent_mse_shrink": mean(f"t{t}_mse_shrink")}
                    for t in timesteps},
        "channel": {"ddim_steps": ddim_steps, "grid": "diffusers DDIM, leading, steps_offset 1",
                    **{f"{s:g}dB": {"start_step": mean(f"{s:g}dB_k"), "latent_mse_received": mean(f"{s:g}dB_mse_received"),
                                    "latent_mse_shrink": mean(f"{s:g}dB_mse_shrink"),
                                    "latent_mse_reverse": mean(f"{s:g}dB_mse_reverse"),
                                    "psnr_received": mean(f"{s:g}dB_psnr_received"),
                                    "psnr_shrink": mean(f"{s:g}dB_psnr_shrink"),
                                    "psnr_reverse": mean(f"{s:g}dB_psnr_reverse")} for s in snrs_db}},
    }
    return out


# --------------------------------------------------------------------------------------------
# the recipe
# --------------------------------------------------------------------------------------------


def _check_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(recipe) - set(RECIPE))
    if unknown:
        raise UserError(f"unknown ddsc-base recipe settings {unknown}; known: {', '.join(RECIPE)}")
    r = {**RECIPE, **{k: v for k, v in recipe.items() if v is not None}}
    if int(r["data_size"]) < 1:
        raise UserError(f"data_size must be at least 1, got {r['data_size']}")
    return r


def reproduce(command: str, vae_steps: int, unet_steps: int) -> str:
    """``command`` with ``--vae-steps``/``--unet-steps`` set to the steps done and the time limits dropped."""
    out, toks, i = [], shlex.split(command), 0
    drop = ("--vae-steps", "--unet-steps", "--vae-time-limit", "--unet-time-limit", "--resume")
    while i < len(toks):
        name = toks[i].split("=", 1)[0]
        if name in drop:
            i += 1 if ("=" in toks[i] or name == "--resume") else 2
            continue
        out.append(toks[i])
        i += 1
    if "train" in out:
        k = out.index("train") + 2
        out[k:k] = ["--vae-steps", str(vae_steps), "--unet-steps", str(unet_steps)]
    return " ".join(shlex.quote(t) for t in out)


def _vae_stage(folder: Path, r: dict[str, Any], images: torch.Tensor, *, steps: int, batch_size: int, seed: int,
               time_limit_s: float | None, resume: bool, log: Callable[[str], None]) -> tuple[Any, dict[str, Any]]:
    """Train (or resume, or read the finished) VAE; (float32 VAE with its scaling_factor, its record)."""
    from diffusers import AutoencoderKL

    final, record_path = folder / "final", folder / "final.json"
    if resume and record_path.is_file() and (final / "config.json").is_file():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        log(f"ddsc-base vae: finished earlier ({record['steps']} steps); using {final}")
        _quiet()
        return AutoencoderKL.from_pretrained(str(final), local_files_only=True).eval(), record
    stage = _VaeStage(images, batch_size, folder=folder, steps=steps, time_limit_s=time_limit_s, r=r, seed=seed,
                      ema_decay=0.0, log=log)
    if resume:
        stage.resume()
    log(f"ddsc-base vae: AutoencoderKL {count_parameters(stage.net) / 1e6:.3f}M parameters, widths "
        f"{tuple(r['vae_block_out_channels'])}, {SIZE[0]}x{SIZE[1]} -> {r['latent_channels']}x{SIZE[0] // 4}x{SIZE[1] // 4}, "
        f"batch {batch_size}, lr {r['vae_lr']:g}, kl weight {r['kl_weight']:g}, {torch.get_num_threads()} threads, "
        f"steps {stage.step} -> {steps}")
    record = stage.run()
    vae = stage.net.eval()
    stats = latent_statistics(vae, images, int(r["scale_images"]), seed + 1)
    vae.register_to_config(scaling_factor=float(1.0 / stats["std"]))
    record.update({"parameters": count_parameters(vae), "latent_mean": stats["mean"], "latent_std": stats["std"],
                   "scale_images": stats["images"], "scaling_factor": float(vae.config.scaling_factor)})
    vae.save_pretrained(final, safe_serialization=True)
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    log(f"ddsc-base vae: {record['steps']} steps in {record['seconds']:.0f} s; latent std {stats['std']:.4f} -> "
        f"scaling_factor {vae.config.scaling_factor:.5f}")
    return vae, record


def _unet_stage(folder: Path, r: dict[str, Any], vae: Any, images: torch.Tensor, *, steps: int, batch_size: int,
                seed: int, time_limit_s: float | None, resume: bool, vae_sha256: str,
                log: Callable[[str], None]) -> tuple[Any, dict[str, Any]]:
    """Train (or resume) the U-Net on the frozen VAE's latents; (U-Net holding the EMA weights, its record)."""
    folder.mkdir(parents=True, exist_ok=True)
    cache = folder / "latents.pt"
    cached = torch.load(cache, weights_only=True) if cache.is_file() else None
    if cached is not None and cached.get("vae_sha256") == vae_sha256 and cached["mean"].shape[0] == images.shape[0]:
        mean, std = cached["mean"], cached["std"]
        log(f"ddsc-base unet: training latents from {cache}")
    else:
        mean, std = encode_posteriors(vae, images, log=log)
        torch.save({"vae_sha256": vae_sha256, "mean": mean, "std": std}, cache)
    stage = _UnetStage(mean, std, float(vae.config.scaling_factor), batch_size, folder=folder, steps=steps,
                       time_limit_s=time_limit_s, r=r, seed=seed + 2, ema_decay=float(r["ema_decay"]), log=log)
    if resume:
        stage.resume()
    log(f"ddsc-base unet: UNet2DModel {count_parameters(stage.net) / 1e6:.3f}M parameters, widths "
        f"{tuple(r['unet_block_out_channels'])}, latents {tuple(mean.shape[1:])} x scaling {vae.config.scaling_factor:.5f}, "
        f"batch {batch_size}, lr {r['unet_lr']:g}, EMA {r['ema_decay']}, steps {stage.step} -> {steps}")
    record = stage.run()
    record["parameters"] = count_parameters(stage.net)
    stage.net.load_state_dict(stage.ema_state())
    return stage.net.eval(), record


#: steps of the shipped run (its time limits stopped it there): the defaults of :func:`train_ddsc_base`
SHIPPED_STEPS = {"vae": 725, "unet": 2895}


def train_ddsc_base(*, vae_steps: int = SHIPPED_STEPS["vae"], unet_steps: int = SHIPPED_STEPS["unet"],
                    vae_batch_size: int = 8, unet_batch_size: int = 32, seed: int = 0, threads: int | None = 1,
                    vae_time_limit_s: float | None = None, unet_time_limit_s: float | None = None,
                    out: str | Path = "semcom-train/ddsc-base", resume: bool = False, export: bool = False,
                    evaluate_images: int = 32, log: Callable[[str], None] = print, workers: int = 0,
                    data_cache: str | Path | None = None, command: str | None = None, **recipe: Any) -> dict[str, Any]:
    """Train the embedded latent diffusion model of ``ddsc`` (module docstring) on the CPU and export it.

    Args:
        vae_steps, unet_steps: optimisation steps of each stage (default: the shipped run's,
            :data:`SHIPPED_STEPS`).
        vae_batch_size, unet_batch_size: images (latents) per step.
        seed: seed of the initialisations and of every random draw.
        threads: torch CPU threads (None: leave torch's setting).
        vae_time_limit_s, unet_time_limit_s: seconds of training after which a stage stops (None:
            no limit); the JSON records the steps done, and the reproduce command names them.
        out: the training folder (checkpoints, the final VAE, the exported model).
        resume: continue from the checkpoints in ``out`` (a finished stage is not trained again).
        export: also copy the exported model into the package's ``assets/ddsc-base``.
        evaluate_images: test-split scenes the exported model is measured on (0: none).
        log: where progress lines go.
        workers: processes rendering the training scenes (0: one per core).
        data_cache: ``.npz`` of the rendered scenes (default: under the project cache).
        command: the command line recorded in the provenance (default: this process's).
        recipe: overrides of :data:`RECIPE`.

    Returns:
        ``{"folder", "json", "info"}`` (``exported``: the assets folder when ``export``).
    """
    r = _check_recipe(recipe)
    for name, value in (("vae_steps", vae_steps), ("unet_steps", unet_steps), ("vae_batch_size", vae_batch_size),
                        ("unet_batch_size", unet_batch_size)):
        if int(value) < 1:
            raise UserError(f"{name} must be at least 1, got {value}")
    seed = int(seed)
    if threads:
        torch.set_num_threads(int(threads))
    out = Path(out)
    if not resume and (latest_step(out / "vae") is not None or latest_step(out / "unet") is not None):
        raise UserError(f"{out} holds checkpoints of an earlier run; pass --resume to continue it, or give another --out")
    spec = data_spec(r["data_size"], r["data_seed"])
    images = torch.from_numpy(render_training_set(spec, workers, data_cache or default_data_cache(spec), log,
                                                  fields=("images",))["images"])
    t_start = time.perf_counter()
    vae, vae_record = _vae_stage(out / "vae", r, images, steps=int(vae_steps), batch_size=int(vae_batch_size),
                                 seed=seed, time_limit_s=vae_time_limit_s, resume=resume, log=log)
    from semcom_bench.hashing import hash_file

    vae_sha = hash_file(out / "vae" / "final" / "diffusion_pytorch_model.safetensors")
    unet, unet_record = _unet_stage(out / "unet", r, vae, images, steps=int(unet_steps), batch_size=int(unet_batch_size),
                                    seed=seed, time_limit_s=unet_time_limit_s, resume=resume, vae_sha256=vae_sha, log=log)
    scheduler = build_scheduler()

    # --- export ------------------------------------------------------------------------------
    folder = save_folder(out / NAME, vae, unet, scheduler, torch.float16)
    quality = None
    if evaluate_images:
        test = render_training_set(data_spec(int(evaluate_images), 0, "test"), 1, None, lambda _: None,
                                   fields=("images",))["images"]
        fvae, funet, fsched = load_folder(folder)  # measured as shipped: the float16 weights read back
        log(f"ddsc-base: measuring the exported model on {len(test)} test scenes")
        quality = evaluate(fvae, funet, fsched, test, seed=seed)
    command = command or " ".join(shlex.quote(a) for a in ["semcom-bench", *sys.argv[1:]])
    run = run_provenance("cpu", "diffusers")
    files = folder_files(folder)
    info = {
        "method": "ddsc",
        "what": "the embedded latent diffusion model of ddsc: AutoencoderKL (E/D) + unconditional UNet2DModel (ε) + "
                "SD 2's DDIM schedule, diffusers layout",
        "layout": {"vae": "AutoencoderKL", "unet": "UNet2DModel (EMA weights)", "scheduler": "DDIMScheduler",
                   "dtype": "float16 (load into the float32 models: diffusers' default or torch_dtype=torch.float32)"},
        "image_size": list(SIZE),
        "latent": {"shape": [int(r["latent_channels"]), SIZE[0] // 4, SIZE[1] // 4],
                   "scaling_factor": float(vae.config.scaling_factor),
                   "std_before_scaling": vae_record["latent_std"], "mean_before_scaling": vae_record["latent_mean"],
                   "measured_on": f"posterior samples of the first {vae_record['scale_images']} training scenes"},
        "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in r.items()},
        "scheduler": SD2_SCHEDULER,
        "train": {
            "seed": seed, "threads": threads, "device": "cpu", "data": {**spec, "image_range": [-1, 1]},
            "vae": {"steps": vae_record["steps"], "batch_size": int(vae_batch_size), "time_limit_s": vae_time_limit_s,
                    **{k: vae_record[k] for k in ("seconds", "seconds_per_step", "stopped_by", "final_losses", "parameters")},
                    "loss": "SD first stage without LPIPS and GAN: L1 (pixel sum) + kl_weight * KL (latent sum), "
                            "both / (3*H*W); posterior sample decoded",
                    "optimizer": {"name": "adam", "lr": r["vae_lr"], "betas": list(r["vae_betas"]),
                                  "schedule": "constant"},
                    "left_out": "LPIPS (needs ImageNet VGG weights, offline) and the patch-GAN discriminator (CPU budget); "
                                "the learned output log-variance"},
            "unet": {"steps": unet_record["steps"], "batch_size": int(unet_batch_size), "time_limit_s": unet_time_limit_s,
                     **{k: unet_record[k] for k in ("seconds", "seconds_per_step", "stopped_by", "final_losses", "parameters")},
                     "loss": "simple ε MSE at uniform t in [0, 999] on scaling_factor * posterior sample",
                     "optimizer": {"name": "adamw", "lr": r["unet_lr"], "warmup_steps": r["unet_warmup"],
                                   "weight_decay": r["unet_weight_decay"], "grad_clip": r["grad_clip"],
                                   "schedule": "linear warm-up, then constant"},
                     "ema": {"decay": r["ema_decay"], "warmup": "min(decay, (1+n)/(10+n))", "exported": True}},
        },
        "provenance": {
            "command": command, "reproduce": reproduce(command, vae_record["steps"], unet_record["steps"]),
            "seconds": round(time.perf_counter() - t_start, 1), "device": run["device_name"],
            "git_commit": run["git_commit"], "versions": run["versions"], "date": run["date"],
        },
        "files": files,
        "folder_sha256": {sub: checksum(folder / sub) for sub in ("vae", "unet", "scheduler")},
        "bytes": sum(f["bytes"] for f in files),
    }
    if quality is not None:
        info["quality"] = {"data": data_spec(int(evaluate_images), 0, "test"), **quality}
    json_path = folder / f"{NAME}.json"
    json_path.write_text(json.dumps(info, indent=2) + "\n")
    log(f"ddsc-base: wrote {folder} ({info['bytes'] / 1e6:.2f} MB; VAE {vae_record['steps']} steps, "
        f"U-Net {unet_record['steps']} steps)")
    summary: dict[str, Any] = {"folder": folder, "json": json_path, "info": info}
    if export:
        ASSETS.mkdir(parents=True, exist_ok=True)
        if ASSETS.resolve() != folder.resolve():
            for sub in ("vae", "unet", "scheduler"):
                shutil.rmtree(ASSETS / sub, ignore_errors=True)
                shutil.copytree(folder / sub, ASSETS / sub)
            shutil.copyfile(json_path, ASSETS / json_path.name)
        summary["exported"] = ASSETS
        log(f"exported {ASSETS}")
    return summary


__all__ = ["RECIPE", "SD2_SCHEDULER", "ASSETS", "NAME", "EMBEDDED_PARTS", "embedded_base", "build_vae", "build_unet",
           "build_scheduler", "data_spec", "save_folder", "load_folder", "folder_files", "evaluate", "latent_statistics",
           "encode_posteriors", "ddsc_start_step", "reproduce", "train_ddsc_base"]
