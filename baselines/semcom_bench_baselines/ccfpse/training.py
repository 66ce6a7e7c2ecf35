"""Training of the embedded CC-FPSE generator on synthetic-streets at 32×64.

The objective is CC-FPSE's (official code xh-liu/CC-FPSE: ``train.sh``, ``options/*.py``,
``models/pix2pix_model.py``, ``models/networks/{discriminator,loss}.py``,
``trainers/pix2pix_trainer.py``) as far as it works offline:

* generator ``--netG condconv`` (:class:`..network.CondConvGenerator`), ``num_upsampling_layers``
  ``'normal'`` (``'more'`` would leave an empty latent grid at 64 pixels wide), instance edges on
  (the Cityscapes configuration), a narrower width than the official ``ngf=64`` (``ngf``,
  ``hidden`` below);
* discriminator ``--netD fpse`` (:class:`.discriminator.FPSEDiscriminator`) with width ``ndf``;
* ``--gan_mode hinge``: D minimises mean(relu(1 - D(real))) + mean(relu(1 + D(fake))), G
  minimises -mean(D(fake)), each averaged over the three score maps;
* discriminator feature matching (``no_ganFeat_loss`` unset): L1 between the four bottom-up
  features of fake and (detached) real, × ``lambda_feat`` / 4. ``lambda_feat`` is the options'
  default 10; the only shipped training command, ``train.sh``, is for COCO and sets 20;
* ``--use_vae`` (``train.sh`` and ``test_cityscapes.sh``; here ``use_vae=True``, off in the
  embedded recipe, see below): an image encoder gives z by reparameterisation and the KL term
  -0.5·Σ(1 + logvar - mu² - exp(logvar)) × ``lambda_kld`` (0.05), summed over z and averaged over
  the batch (the official code sums over a GPU's batch, which ``train.sh`` sets to 1, and
  averages over GPUs). The encoder (:class:`.encoder.TrainingEncoder`) is the official kind of
  encoder sized for 32×64 images. It is not shipped: at test time the receiver has no image, so it
  draws z ~ N(0, I) from its own per-image stream. **The embedded recipe trains without the VAE**:
  at 32×64 a 256-dimensional z from the real image carries much of the image itself (6,144
  values), the generator learns to reconstruct from z rather than from the layout, and with a KL
  weight of 0.05 over a short run the posterior stays far from the prior the receiver samples: a
  1,382-step run with the VAE scored 0.088 mIoU on clean maps with z ~ N(0, I), below the 0.11 of
  ``full-image`` at PSNR 5. Without the VAE ``fc`` takes the down-sampled map (the official
  non-VAE path), as the embedded SPADE;
* the VGG19 perceptual loss (``lambda_vgg`` 10) needs ImageNet weights that are not available
  offline: it is left out of the embedded recipe and runs only when ``vgg_weights`` names a local
  torchvision ``vgg19`` state dict (features relu1_1 … relu5_1, weights 1/32 … 1, images fed in
  [-1, 1] as the official code does);
* TTUR (``no_TTUR`` unset): Adam betas (0, 0.9), G (with the encoder) at lr/2, D at 2·lr,
  lr = 2e-4; one G step then one D step per iteration, the D step regenerating the fakes without
  gradients as the official trainer does. The learning rate stays constant (the official linear
  decay spans epochs 100-200; a short run has no decay phase, and a run stopped by the time limit
  then equals one with fewer steps);
* initialisation as ``init_weights('xavier', 0.02)``: xavier-normal (gain 0.02) weights and zero
  biases for the convolutions and linear layers without spectral norm (the official call does not
  reach the spectral-norm weights), BatchNorm weights N(1, 0.02);
* random horizontal flips (``no_flip`` unset).

Every random draw (initialisation through the global seed, batches, flips, the encoder's eps)
comes from ``seed``; on the same device and thread count a run is reproducible bit for bit.

Outputs: ``<out>/cc-fpse-synthetic-streets.pt`` (the generator's ``state_dict()``, floating
tensors as float16) and ``.json`` (options, recipe, provenance, sha256; the shared GAN contract);
with ``export=True`` both are copied to ``semcom_bench/assets/cc-fpse/``.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semcom_bench.errors import UserError
from semcom_bench.training import (reproduce_command, create_dataset, default_data_cache, file_record, float16_state,
                                   render_training_set, run_provenance, write_provenance)
from semcom_bench_baselines.ccfpse.discriminator import FPSEDiscriminator
from semcom_bench_baselines.ccfpse.encoder import TrainingEncoder
from semcom_bench_baselines.ccfpse.network import CcfpseOptions, CondConvGenerator

__all__ = ["ASSETS", "METHOD", "NAME", "RECIPE", "SIZE", "embedded_options", "train_ccfpse"]

METHOD = "cc-fpse"
NAME = "cc-fpse-synthetic-streets"
SIZE = (32, 64)
#: where ``export=True`` puts the shipped files
ASSETS = Path(__import__("semcom_bench").__file__).resolve().parent / "assets" / METHOD

#: the embedded recipe; every key may be overridden through ``**recipe``
RECIPE: dict[str, Any] = {
    "ngf": 8,               # generator width (official 64): first block 16·ngf = 128 channels
    "hidden": 16,           # weight-prediction heads and SPADE hidden width (official 128)
    "z_dim": 256,           # official
    "ndf": 16,              # FPSE discriminator width (official 64)
    "nef": 8,               # training encoder width (official: ngf)
    "use_vae": False,       # official True; off here (module docstring: z from the image vs the prior)
    "lr": 2e-4,
    "ttur": True,           # lr_g = lr / 2, lr_d = 2 lr, betas (0, 0.9)
    "beta1": 0.5,           # used only without TTUR (official defaults)
    "beta2": 0.999,
    "gan_mode": "hinge",
    "lambda_feat": 10.0,
    "lambda_kld": 0.05,
    "lambda_vgg": 10.0,
    "vgg_weights": None,    # a local torchvision vgg19 state dict; None leaves the VGG loss out
    "flip": True,
    "data_size": 10000,
    "data_seed": 0,
    "log_every": 50,
}


def embedded_options(ngf: int = 8, hidden: int = 32, z_dim: int = 256, use_vae: bool = True) -> CcfpseOptions:
    """The generator's options at 32×64: 34 synthetic-streets labels + instance edges, 5 upsamplings."""
    return CcfpseOptions(label_nc=34, contain_dontcare_label=False, no_instance=False, ngf=ngf, z_dim=z_dim,
                         crop_size=SIZE[1], aspect_ratio=SIZE[1] / SIZE[0], num_upsampling_layers="normal",
                         use_vae=use_vae, hidden=hidden)


def data_spec(size: int, seed: int) -> dict[str, Any]:
    """The render spec of the training scenes (the contract's 32×64 synthetic-streets train split)."""
    return {"name": "synthetic-streets", "split": "train", "size": int(size), "height": SIZE[0], "width": SIZE[1],
            "seed": int(seed)}


def init_weights(net: nn.Module, gain: float = 0.02) -> None:
    """The official ``init_weights('xavier', 0.02)`` as it acts: spectral-norm weights keep their default."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            if m.weight is not None:
                nn.init.normal_(m.weight, 1.0, gain)
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            if not hasattr(m, "weight_orig"):
                nn.init.xavier_normal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class _VGGLoss(nn.Module):
    """The official VGG19 feature loss on a local torchvision ``vgg19`` state dict."""

    SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))
    WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        import torchvision

        p = Path(path)
        if not p.is_file():
            raise UserError(f"vgg_weights {p} does not exist: give a local torchvision vgg19 state dict or leave it out")
        vgg = torchvision.models.vgg19()
        try:
            vgg.load_state_dict(torch.load(p, map_location="cpu", weights_only=True))
        except Exception as exc:  # a foreign file: many kinds of errors
            raise UserError(f"vgg_weights {p} is not a torchvision vgg19 state dict ({type(exc).__name__})") from None
        feats = vgg.features.eval()
        self.slices = nn.ModuleList(nn.Sequential(*[feats[i] for i in range(a, b)]) for a, b in self.SLICES)
        for q in self.parameters():
            q.requires_grad_(False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = x.new_zeros(())
        for s, w in zip(self.slices, self.WEIGHTS):
            x, y = s(x), s(y)
            loss = loss + w * F.l1_loss(x, y.detach())
        return loss


def _hinge_d(scores: list[torch.Tensor], real: bool) -> torch.Tensor:
    sign = -1.0 if real else 1.0
    return sum(F.relu(1.0 + sign * s).mean() for s in scores) / len(scores)  # type: ignore[return-value]


def _check_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(recipe) - set(RECIPE))
    if unknown:
        raise UserError(f"cc-fpse training has no setting {', '.join(unknown)}; its settings: {', '.join(RECIPE)}")
    r = {**RECIPE, **{k: v for k, v in recipe.items() if v is not None or k == "vgg_weights"}}
    if r["gan_mode"] != "hinge":
        raise UserError(f"cc-fpse training: gan_mode {r['gan_mode']!r} is not supported; the official recipe is hinge")
    for k in ("ngf", "hidden", "z_dim", "ndf", "nef", "data_size", "log_every"):
        if int(r[k]) < 1:
            raise UserError(f"cc-fpse training: {k} must be a positive integer, got {r[k]!r}")
    for k in ("lr", "lambda_feat", "lambda_kld", "lambda_vgg"):
        if not (math.isfinite(float(r[k])) and float(r[k]) >= 0):
            raise UserError(f"cc-fpse training: {k} must be a finite number >= 0, got {r[k]!r}")
    return r


def _batch(images: torch.Tensor, labels: torch.Tensor, edges: torch.Tensor, num_classes: int, batch_size: int,
           flip: bool, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(image (B, 3, 32, 64) in [-1, 1], one-hot labels + edge map (B, num_classes + 1, 32, 64))."""
    idx = torch.randint(images.shape[0], (batch_size,), generator=gen)
    x = images[idx].permute(0, 3, 1, 2).float() / 127.5 - 1.0
    onehot = F.one_hot(labels[idx].long(), num_classes).permute(0, 3, 1, 2).float()
    seg = torch.cat((onehot, edges[idx].float().unsqueeze(1).clamp_(0, 1)), dim=1)
    if flip:
        mask = (torch.rand(batch_size, generator=gen) < 0.5).view(-1, 1, 1, 1)
        x = torch.where(mask, x.flip(3), x)
        seg = torch.where(mask, seg.flip(3), seg)
    return x, seg


#: optimisation steps of the shipped checkpoint (the default of ``semcom-bench train cc-fpse``)
STEPS = 2180


def train_ccfpse(*, steps: int = STEPS, batch_size: int = 16, seed: int = 0, threads: int | None = 1,
                 time_limit_s: float | None = None, out: str | Path, export: bool = False,
                 log: Callable[[str], None] = print, workers: int = 0, data_cache: str | Path | None = None,
                 command: str | None = None, **recipe: Any) -> dict[str, Any]:
    """Train the embedded CC-FPSE generator; write its fp16 weights and JSON to ``out`` (and the assets).

    Args:
        steps: iterations (one G step + one D step each).
        batch_size: images per step.
        seed: seed of the initialisation and of every random draw.
        threads: torch CPU threads (None: leave torch's setting).
        time_limit_s: stop after this many seconds of training (None: no limit).
        out: folder for ``cc-fpse-synthetic-streets.pt`` / ``.json``.
        export: also copy both files to ``semcom_bench/assets/cc-fpse/``.
        log: where progress lines go.
        workers: processes that render the training scenes (0: one per core).
        data_cache: ``.npz`` of the rendered scenes (default: under the project cache).
        recipe: overrides of :data:`RECIPE`.

    Returns:
        ``{"steps", "seconds", "seconds_per_step", "stopped_early", "final", "history", "weights",
        "json", "exported"}``.
    """
    if int(steps) < 1 or int(batch_size) < 1:
        raise UserError(f"cc-fpse training needs steps >= 1 and batch_size >= 1, got {steps} and {batch_size}")
    r = _check_recipe(recipe)
    if threads:
        torch.set_num_threads(int(threads))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = data_spec(r["data_size"], r["data_seed"])
    data = render_training_set(spec, workers, data_cache or default_data_cache(spec), log,
                               fields=("images", "labels", "edges"))
    num_classes = int(create_dataset(spec).num_classes)
    options = embedded_options(int(r["ngf"]), int(r["hidden"]), int(r["z_dim"]), bool(r["use_vae"]))
    if num_classes != options.label_nc:
        raise UserError(f"synthetic-streets has {num_classes} classes; the embedded CC-FPSE expects {options.label_nc}")
    images = torch.from_numpy(np.ascontiguousarray(data["images"]))
    labels = torch.from_numpy(np.ascontiguousarray(data["labels"]))
    edges = torch.from_numpy(np.ascontiguousarray(data["edges"]))
    if tuple(images.shape[1:3]) != SIZE:
        raise UserError(f"training scenes are {tuple(images.shape[1:3])}, the embedded CC-FPSE needs {SIZE}")

    torch.manual_seed(int(seed))
    netG = CondConvGenerator(options)
    netD = FPSEDiscriminator(options.semantic_nc, int(r["ndf"]))
    netE = TrainingEncoder(SIZE, int(r["nef"]), options.z_dim) if options.use_vae else None
    for net in (netG, netD, netE):
        if net is not None:
            init_weights(net)
    vgg = _VGGLoss(r["vgg_weights"]) if r["vgg_weights"] else None
    if r["ttur"]:
        betas, lr_g, lr_d = (0.0, 0.9), r["lr"] / 2, r["lr"] * 2
    else:
        betas, lr_g, lr_d = (float(r["beta1"]), float(r["beta2"])), r["lr"], r["lr"]
    g_params = list(netG.parameters()) + (list(netE.parameters()) if netE is not None else [])
    opt_g = torch.optim.Adam(g_params, lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(netD.parameters(), lr=lr_d, betas=betas)
    gen = torch.Generator().manual_seed(int(seed))
    for net in (netG, netD, netE):
        if net is not None:
            net.train()

    def generate(x: torch.Tensor, seg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if netE is None:
            return netG(seg), None
        mu, logvar = netE(x)
        eps = torch.randn(mu.shape, generator=gen)
        z = mu + eps * torch.exp(0.5 * logvar)
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / x.shape[0]
        return netG(seg, z), kld

    n_params = sum(p.numel() for p in netG.parameters())
    log(f"cc-fpse: generator {n_params / 1e6:.2f}M parameters (ngf {r['ngf']}, hidden {r['hidden']}), "
        f"D ndf {r['ndf']}, {SIZE[0]}x{SIZE[1]}, batch {batch_size}, {steps} steps, "
        f"{torch.get_num_threads()} threads")
    history: list[dict[str, float]] = []
    acc: dict[str, float] = {}
    n_acc, step, stopped_early = 0, 0, False
    start = time.perf_counter()
    while step < steps:
        x, seg = _batch(images, labels, edges, num_classes, batch_size, bool(r["flip"]), gen)
        # generator step
        fake, kld = generate(x, seg)
        for q in netD.parameters():
            q.requires_grad_(False)
        feats, scores = netD(torch.cat((fake, x)), torch.cat((seg, seg)))
        for q in netD.parameters():
            q.requires_grad_(True)
        b = x.shape[0]
        losses: dict[str, torch.Tensor] = {"G_GAN": -sum(s[:b].mean() for s in scores) / len(scores)}  # type: ignore[dict-item]
        if r["lambda_feat"] > 0:
            losses["G_feat"] = sum(F.l1_loss(f[:b], f[b:].detach()) for f in feats) * (r["lambda_feat"] / len(feats))  # type: ignore[assignment]
        if kld is not None:
            losses["G_KLD"] = kld * r["lambda_kld"]
        if vgg is not None:
            losses["G_VGG"] = vgg(fake, x) * r["lambda_vgg"]
        opt_g.zero_grad(set_to_none=True)
        sum(losses.values()).backward()  # type: ignore[union-attr]
        opt_g.step()
        # discriminator step: fakes regenerated without gradients, as the official trainer does
        with torch.no_grad():
            fake, _ = generate(x, seg)
        _, scores = netD(torch.cat((fake, x)), torch.cat((seg, seg)))
        losses["D_fake"] = _hinge_d([s[:b] for s in scores], real=False)
        losses["D_real"] = _hinge_d([s[b:] for s in scores], real=True)
        opt_d.zero_grad(set_to_none=True)
        (losses["D_fake"] + losses["D_real"]).backward()
        opt_d.step()
        step += 1
        for k, v in losses.items():
            acc[k] = acc.get(k, 0.0) + float(v.detach())
        n_acc += 1
        elapsed = time.perf_counter() - start
        if step % int(r["log_every"]) == 0 or step == steps:
            row = {k: v / n_acc for k, v in acc.items()}
            row["step"] = step
            history.append(row)
            acc, n_acc = {}, 0
            log(f"cc-fpse step {step}/{steps} " + " ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "step")
                + f" | {elapsed / step:.2f} s/step")
        if time_limit_s is not None and elapsed >= time_limit_s and step < steps:
            stopped_early = True
            log(f"cc-fpse: time limit {time_limit_s:.0f} s reached at step {step}")
            break
    seconds = time.perf_counter() - start
    if n_acc:
        row = {k: v / n_acc for k, v in acc.items()}
        row["step"] = step
        history.append(row)

    netG.eval()
    check = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        probe = netG(_batch(images, labels, edges, num_classes, min(4, images.shape[0]), False, check)[1],
                     generator=check)
    if not torch.isfinite(probe).all():
        raise UserError("cc-fpse: the trained generator gives non-finite output in eval mode; train longer or "
                        "lower the learning rate")

    weights = out / f"{NAME}.pt"
    torch.save(float16_state(netG.state_dict()), weights)
    rec = file_record(weights)
    run = run_provenance("cpu")
    train_info = {
        "seed": int(seed), "steps": int(steps), "batch_size": int(batch_size), "threads": torch.get_num_threads(),
        "time_limit_s": time_limit_s, "lr": r["lr"], "lr_g": lr_g, "lr_d": lr_d, "betas": list(betas),
        "ttur": bool(r["ttur"]), "lr_schedule": "constant",
        "losses": {"gan": "hinge", "gan_feat": float(r["lambda_feat"]),
                   "kld": float(r["lambda_kld"]) if options.use_vae else None,
                   "vgg": float(r["lambda_vgg"]) if vgg is not None else None},
        "vgg": ("local vgg19 weights " + str(r["vgg_weights"])) if vgg is not None
        else "left out: VGG19 needs ImageNet weights, not available offline",
        "discriminator": {"net": "fpse", "ndf": int(r["ndf"]), "norm": "spectralinstance"},
        "encoder": ({"nef": int(r["nef"]), "kind": "spectralinstance convs, 32x64 input (not the official 256x256 "
                     "resize)", "shipped": False,
                     "test_time_z": "the receiver has no image: z ~ N(0, I) from the receiver's per-image stream"}
                    if options.use_vae else None),
        "flip": bool(r["flip"]), "init": "xavier normal, gain 0.02 (spectral-norm weights: torch default)",
        "data": spec, "recipe": r,
    }
    info = {
        "method": METHOD, "options": asdict(options), "size": list(SIZE),
        "label_space": "synthetic-streets (34 label ids) + instance edges (last channel)",
        "train": train_info,
        "provenance": {
            "git_commit": run["git_commit"], "versions": run["versions"], "device": run["device_name"],
            "date": run["date"], "seconds": round(seconds, 1), "seconds_per_step": round(seconds / max(step, 1), 3),
            "steps_done": step, "stopped_early": stopped_early,
            "final_losses": history[-1] if history else {},
            "reproduce": (reproduce_command(command, step) if command
                          else _reproduce(step, batch_size, seed, threads, recipe)),
        },
        "weights": {"file": rec["file"], "dtype": "float16", "layout": "CondConvGenerator state_dict (official keys)",
                    "sha256": rec["sha256"], "bytes": rec["bytes"], "parameters": n_params},
    }
    js = write_provenance(weights, info)
    log(f"cc-fpse: {step} steps in {seconds:.0f} s; wrote {weights} (sha256 {rec['sha256'][:16]}…)")
    exported = None
    if export:
        ASSETS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(weights, ASSETS / weights.name)
        shutil.copyfile(js, ASSETS / js.name)
        exported = str(ASSETS / weights.name)
        log(f"cc-fpse: exported to {ASSETS}")
    return {"steps": step, "seconds": seconds, "seconds_per_step": seconds / max(step, 1),
            "stopped_early": stopped_early, "final": history[-1] if history else {}, "history": history,
            "weights": str(weights), "json": str(js), "exported": exported}


def _reproduce(steps: int, batch_size: int, seed: int, threads: int | None, recipe: dict[str, Any]) -> str:
    args = ", ".join([f"steps={steps}", f"batch_size={batch_size}", f"seed={seed}", f"threads={threads!r}",
                      "out='semcom-train/cc-fpse'", "export=True",
                      *(f"{k}={v!r}" for k, v in sorted(recipe.items()))])
    return ("PYTHONPATH=baselines python -c \"from semcom_bench_baselines.ccfpse.training import train_ccfpse; "
            f"train_ccfpse({args})\"")
