"""Training of the embedded OASIS generator on synthetic-streets at 32x64, with OASIS's own objective.

Written from the paper (Schönfeld et al., ICLR 2021) and the facts of boschresearch/OASIS
(``train.py``, ``models/models.py``, ``models/losses.py``, ``config.py``, ``utils/utils.py``):

* **Discriminator**: the segmentation-based U-Net of :mod:`.discriminator` predicting N+1 classes
  per pixel (index 0 "fake", 1..N the semantic classes), scaled down for 32x64.
* **Adversarial loss** (both networks): per-pixel (N+1)-class cross-entropy. A "real" target (the
  real image for D, the generated image for G) is the pixel's class + 1, weighted by the
  class-balancing map of the batch's label map: class c gets
  ``numel(label) / (present classes * N) / occurrences(c)`` and class 0 (the dontcare /
  unlabelled id) gets 0, as the official Cityscapes configuration (``contain_dontcare_label``);
  synthetic-streets never produces id 0. The "fake" target (index 0) is unweighted.
* **LabelMix** (D only): each class of the batch's label map picks real or fake (one fair coin per
  class, drawn from the seeded generator), the mixed image goes through D, and
  ``lambda_labelmix * MSE(mask * D(real) + (1 - mask) * D(fake), D(mixed))`` is added.
* **Step order**: G update (fresh noise), then D update on a new generated batch (fresh noise,
  no gradient to G), then the EMA, as the official ``train.py``.
* **EMA**: every floating entry of the generator's state dict (weights, BN running statistics,
  spectral-norm vectors) is averaged, as ``utils.update_EMA``; before export the batch-norm
  statistics of a copy of the EMA generator are re-collected by forward passes in train mode on
  training batches (official: about 50 batches), as ``update_EMA(force_run_stats=True)`` does
  before saving. The copy draws from its own generator (seeded with ``seed`` and the step), so the
  training checkpoints keep the running EMA and a resumed run equals an uninterrupted one.
* **No VGG loss**: the official ``--add_vgg_loss`` is off by default and the Cityscapes training
  script does not set it, so the OASIS objective is adversarial + LabelMix only.
* **Initialisation**: Xavier-normal (gain 0.02) conv weights and zero biases for G and D, as the
  official ``init_networks``; all draws from ``torch.manual_seed(seed)`` (initialisation) and one
  ``torch.Generator`` seeded with ``seed`` (batches, 3D noise, LabelMix), so a run is reproducible
  on the same device and a run stopped at step k by ``time_limit_s`` equals a run with ``steps=k``.
* **Checkpoints and resume**: every ``checkpoint_every`` steps and at the end, ``out`` gets G, the
  EMA generator, D, both optimisers, the random state and the loss history; ``resume=True``
  continues from the latest one (the official run is ~30,000 iterations: long runs are stopped and
  resumed). ``device`` trains on a GPU (the batches are drawn on the CPU, the noise on the device).

:func:`train_oasis` trains, writes the last checkpoint into ``out`` and, with ``export=True``,
writes ``assets/oasis/oasis-synthetic-streets.pt`` (fp16 EMA generator state dict) and its JSON per
the baselines' contract.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semcom_bench.errors import UserError
from semcom_bench.components import resolve_device
from semcom_bench.training import (default_data_cache, file_record, latest_step, load_checkpoint,
                                   render_training_set, reproduce_command, restore_generator, run_provenance,
                                   save_checkpoint, write_provenance)
from semcom_bench.weight_codecs import INT8, quantise
from semcom_bench_baselines.oasis.discriminator import DiscriminatorOptions, OasisDiscriminator
from semcom_bench_baselines.oasis.network import OASIS_Generator, OasisOptions

METHOD = "oasis"
#: the package's embedded-network folder (``semcom_bench/assets``)
ASSETS = Path(__import__("semcom_bench").__file__).resolve().parent / "assets"
#: the embedded network's size (height, width) and label space
SIZE = (32, 64)
LABEL_NC = 34

#: every recipe setting and its default (what ``**recipe`` may override; all recorded in the JSON)
RECIPE: dict[str, Any] = {
    # optimisation (official Cityscapes configuration: lr_g 4e-4, lr_d 4e-4, betas (0, 0.999), lambda_labelmix 5, EMA 0.999)
    "lr_g": 4e-4,
    "lr_d": 4e-4,
    "betas": [0.0, 0.999],
    "lambda_labelmix": 5.0,
    "ema_decay": 0.999,
    "ema_stats_batches": 50,
    "class_balancing": True,
    "dontcare_class0": True,
    # the generator (official layout, 6 blocks; 32x64 output from a 1x2 start)
    "channels_G": 8,
    "spade_hidden": 32,
    "z_dim": 64,
    "param_free_norm": "syncbatch",
    # the discriminator (official: channels [128,128,256,256,512,512], 6 levels)
    "channels_D": 32,
    "levels_D": 4,
    # data
    "data_size": 10000,
    "data_seed": 0,
}


def _recipe(overrides: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(overrides) - set(RECIPE))
    if unknown:
        raise UserError(f"unknown OASIS recipe setting(s) {', '.join(unknown)}; use some of {', '.join(RECIPE)}")
    recipe = {**RECIPE, **{k: v for k, v in overrides.items() if v is not None}}
    recipe["betas"] = [float(b) for b in recipe["betas"]]
    if not 0.0 <= float(recipe["ema_decay"]) < 1.0:
        raise UserError(f"ema_decay must be in [0, 1), got {recipe['ema_decay']}")
    return recipe


def generator_options(recipe: dict[str, Any]) -> OasisOptions:
    """The embedded generator's options: 34 label channels (no instance edges, as official OASIS), 32x64."""
    return OasisOptions(semantic_nc=LABEL_NC, z_dim=int(recipe["z_dim"]), channels_G=int(recipe["channels_G"]),
                        crop_size=SIZE[1], aspect_ratio=SIZE[1] / SIZE[0], spade_hidden=int(recipe["spade_hidden"]),
                        param_free_norm=str(recipe["param_free_norm"]))


def discriminator_options(recipe: dict[str, Any]) -> DiscriminatorOptions:
    return DiscriminatorOptions(semantic_nc=LABEL_NC, base=int(recipe["channels_D"]), levels=int(recipe["levels_D"]))


def data_spec(recipe: dict[str, Any]) -> dict[str, Any]:
    """The render spec of the training scenes (synthetic-streets train split at 32x64)."""
    return {"name": "synthetic-streets", "split": "train", "size": int(recipe["data_size"]), "height": SIZE[0],
            "width": SIZE[1], "seed": int(recipe["data_seed"])}


def init_weights(net: nn.Module, gain: float = 0.02) -> None:
    """Xavier-normal conv weights (gain 0.02) and zero biases, as the official ``init_networks``."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            weight = m.weight_orig if hasattr(m, "weight_orig") else m.weight
            with torch.no_grad():
                nn.init.xavier_normal_(weight, gain=gain)
                if m.bias is not None:
                    m.bias.zero_()


# --------------------------------------------------------------------------------------------
# the OASIS losses
# --------------------------------------------------------------------------------------------


def class_balancing(label: torch.Tensor, dontcare_class0: bool = True) -> torch.Tensor:
    """(B, H, W) per-pixel weights from the one-hot ``label`` (B, N, H, W) of the batch.

    Class c weighs ``numel(label) / (present classes * N) / occurrences(c)``; with
    ``dontcare_class0`` class 0 weighs 0 and does not count as present.
    """
    occurrence = label.sum(dim=(0, 2, 3))
    if dontcare_class0:
        occurrence[0] = 0
    present = (occurrence > 0).sum().clamp(min=1)
    coefficients = label.numel() / (present * label.shape[1]) / occurrence.clamp(min=1)
    coefficients = torch.where(occurrence > 0, coefficients, torch.zeros_like(coefficients))
    return coefficients[label.argmax(dim=1)]


def n1_loss(logits: torch.Tensor, label: torch.Tensor, real: bool, weights: torch.Tensor | None) -> torch.Tensor:
    """The (N+1)-class cross-entropy: real pixels target class id + 1 (weighted), fake pixels target 0."""
    if real:
        target = label.argmax(dim=1) + 1
        loss = F.cross_entropy(logits, target, reduction="none")
        return (loss * weights).mean() if weights is not None else loss.mean()
    target = torch.zeros(logits.shape[0], *logits.shape[2:], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)


def labelmix(label: torch.Tensor, fake: torch.Tensor, real: torch.Tensor,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(mixed image, mask (B, 1, H, W)): every class present in the batch is real or fake by one coin."""
    ids = label.argmax(dim=1, keepdim=True)
    coins = torch.randint(0, 2, (label.shape[1],), generator=generator, device=generator.device).to(label.device)
    mask = coins[ids].to(real.dtype)
    return mask * real + (1 - mask) * fake, mask


# --------------------------------------------------------------------------------------------
# the trainer
# --------------------------------------------------------------------------------------------


class OasisTrainer:
    """G, D, the EMA generator, their optimisers and the seeded generator of every draw."""

    def __init__(self, recipe: dict[str, Any], data: dict[str, np.ndarray], seed: int, batch_size: int,
                 device: str = "cpu") -> None:
        self.recipe, self.seed, self.batch_size, self.device = recipe, int(seed), int(batch_size), device
        self.images = torch.from_numpy(np.ascontiguousarray(data["images"]))
        self.labels = torch.from_numpy(np.ascontiguousarray(data["labels"])).long()
        if tuple(self.images.shape[1:3]) != SIZE:
            raise UserError(f"training scenes are {tuple(self.images.shape[1:3])}, OASIS trains at {SIZE}")
        torch.manual_seed(self.seed)
        self.g_options, self.d_options = generator_options(recipe), discriminator_options(recipe)
        self.netG = OASIS_Generator(self.g_options)
        self.netD = OasisDiscriminator(self.d_options)
        init_weights(self.netG)
        init_weights(self.netD)
        self.netG.to(device)
        self.netD.to(device)
        self.netEMA = OASIS_Generator(self.g_options).to(device)
        self.netEMA.load_state_dict(self.netG.state_dict())
        self.netEMA.train()  # as the official netEMA (a deepcopy of netG, never set to eval while training)
        for p in self.netEMA.parameters():
            p.requires_grad_(False)
        betas = tuple(recipe["betas"])
        self.opt_g = torch.optim.Adam(self.netG.parameters(), lr=float(recipe["lr_g"]), betas=betas)
        self.opt_d = torch.optim.Adam(self.netD.parameters(), lr=float(recipe["lr_d"]), betas=betas)
        self.gen = torch.Generator(device=device).manual_seed(self.seed)
        self.step = 0

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(images (B, 3, 32, 64) in [-1, 1], one-hot labels (B, 34, 32, 64)) drawn with replacement."""
        idx = torch.randint(self.images.shape[0], (self.batch_size,), generator=self.gen, device=self.device).cpu()
        image = self.images[idx].permute(0, 3, 1, 2).float() / 127.5 - 1.0
        label = F.one_hot(self.labels[idx], LABEL_NC).permute(0, 3, 1, 2).float()
        return image.to(self.device), label.to(self.device)

    def train_step(self) -> dict[str, float]:
        r = self.recipe
        image, label = self.batch()
        weights = class_balancing(label, bool(r["dontcare_class0"])) if r["class_balancing"] else None
        self.netG.train()
        # generator update: make D see the generated image as the real classes
        self.opt_g.zero_grad(set_to_none=True)
        fake = self.netG(label, generator=self.gen)
        loss_g = n1_loss(self.netD(fake), label, True, weights)
        loss_g.backward()
        self.opt_g.step()
        # discriminator update: a new generated batch, the real batch and LabelMix
        self.opt_d.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = self.netG(label, generator=self.gen)
        out_fake, out_real = self.netD(fake), self.netD(image)
        loss_d_fake = n1_loss(out_fake, label, False, None)
        loss_d_real = n1_loss(out_real, label, True, weights)
        loss_d = loss_d_fake + loss_d_real
        loss_lm = torch.zeros(())
        if float(r["lambda_labelmix"]) > 0:
            mixed, mask = labelmix(label, fake, image, self.gen)
            out_mixed = self.netD(mixed)
            loss_lm = float(r["lambda_labelmix"]) * F.mse_loss(mask * out_real + (1 - mask) * out_fake, out_mixed)
            loss_d = loss_d + loss_lm
        loss_d.backward()
        self.opt_d.step()
        self.update_ema()
        self.step += 1
        return {"loss_G": loss_g.item(), "loss_D_fake": loss_d_fake.item(), "loss_D_real": loss_d_real.item(),
                "loss_D_labelmix": loss_lm.item()}

    @torch.no_grad()
    def update_ema(self) -> None:
        decay = float(self.recipe["ema_decay"])
        own = self.netG.state_dict()
        for key, value in self.netEMA.state_dict().items():
            if value.is_floating_point():
                value.mul_(decay).add_(own[key], alpha=1.0 - decay)
            else:
                value.copy_(own[key])

    @torch.no_grad()
    def exported_generator(self) -> nn.Module:
        """A copy of the EMA generator with its batch-norm statistics re-collected on training batches
        (train-mode passes, draws from a generator seeded with seed + step; the trainer is unchanged)."""
        import copy

        net = copy.deepcopy(self.netEMA).train()
        own = torch.Generator(device=self.device).manual_seed(self.seed + self.step)
        for _ in range(int(self.recipe["ema_stats_batches"])):
            idx = torch.randint(self.images.shape[0], (self.batch_size,), generator=own, device=self.device).cpu()
            label = F.one_hot(self.labels[idx], LABEL_NC).permute(0, 3, 1, 2).float().to(self.device)
            net(label, generator=own)
        return net.eval()

    def state(self, history: list[dict[str, float]], seconds: float) -> dict[str, Any]:
        return {"step": self.step, "optimizer_G": self.opt_g.state_dict(), "optimizer_D": self.opt_d.state_dict(),
                "discriminator": self.netD.state_dict(), "generator": self.gen.get_state(),
                "generator_device": str(self.gen.device), "history": history, "seconds": seconds, "recipe": self.recipe}

    def save(self, out: Path, history: list[dict[str, float]], seconds: float) -> None:
        save_checkpoint(out, self.step, float(self.recipe["ema_decay"]), self.netG.state_dict(),
                        self.netEMA.state_dict(), self.state(history, seconds))

    def resume(self, out: Path, log: Callable[[str], None]) -> tuple[list[dict[str, float]], float]:
        """Load the latest checkpoint in ``out`` (none: start at step 0); (history, seconds) so far."""
        step = latest_step(out)
        if step is None:
            log(f"resume: no checkpoint in {out}; starting from step 0")
            return [], 0.0
        model, ema, state = load_checkpoint(out, step, float(self.recipe["ema_decay"]), self.device)
        try:
            if state.get("recipe") != self.recipe:
                raise ValueError("its recipe differs from this run's")
            self.netG.load_state_dict(model)
            self.netEMA.load_state_dict(ema if ema is not None else model)
            self.netD.load_state_dict(state["discriminator"])
            self.opt_g.load_state_dict(state["optimizer_G"])
            self.opt_d.load_state_dict(state["optimizer_D"])
            saved_gen = state["generator"]
        except (KeyError, ValueError, RuntimeError, TypeError, AttributeError) as exc:
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise UserError(f"cannot resume from step {step} in {out}: {detail}; start in another --out") from None
        if not restore_generator(self.gen, saved_gen, state.get("generator_device", "cpu"), self.seed + step):
            log(f"resume: random state saved on {state.get('generator_device')}, reseeded with seed + step")
        self.step = int(state["step"])
        log(f"resumed from step {self.step} in {out}")
        return list(state.get("history", [])), float(state.get("seconds", 0.0))


def compact_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The exported generator's tensors as stored: convolution and linear weights int8 with a float32
    scale per output channel, the rest float16 (:data:`semcom_bench.weight_codecs.INT8`; half the room
    of float16, which the package's 50 MB of assets did not have)."""
    return quantise(model.state_dict(), min_dims=2)


#: optimisation steps of the shipped checkpoint (the default of ``semcom-bench train oasis``)
STEPS = 4500


def train_oasis(*, steps: int = STEPS, batch_size: int = 16, seed: int = 0, threads: int | None = 1,
                time_limit_s: float | None = None, out: str | Path = "semcom-train/oasis", export: bool = False,
                log: Callable[[str], None] = print, workers: int = 0, data_cache: str | Path | None = None,
                command: str | None = None, resume: bool = False, checkpoint_every: int = 500, device: str = "cpu",
                **recipe: Any) -> dict[str, Any]:
    """Train the embedded OASIS generator (CPU); optionally export it into ``assets/oasis``.

    Args:
        steps: G+D update pairs.
        batch_size: images per step.
        seed: seed of the initialisation and of every draw (batches, 3D noise, LabelMix coins).
        threads: torch CPU threads (None: leave as is).
        time_limit_s: stop after this many seconds of training (the result equals a run with the
            steps done).
        out: folder of the last checkpoint (``model_N.pt`` G, ``ema_<decay>_N.pt`` EMA generator,
            ``opt_N.pt`` optimisers, D, random state, history) and ``config.json``.
        export: write ``assets/oasis/oasis-synthetic-streets.pt`` (the EMA generator, :func:`compact_state`)
            and its JSON.
        log: where progress lines go.
        workers: processes that render the training scenes (0: one per core).
        data_cache: ``.npz`` of the rendered scenes (default: under the project cache).
        command: the command line recorded in the JSON (default: this process's).
        resume: continue from the latest checkpoint in ``out``.
        checkpoint_every: steps between checkpoints (and one at the end).
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        recipe: overrides of :data:`RECIPE`.

    Returns:
        ``steps``, ``seconds``, ``seconds_per_step``, ``stopped_early``, ``final`` (the last
        step's losses), ``history`` and, when exported, ``export`` (the JSON written).
    """
    if int(steps) < 1 or int(batch_size) < 1 or int(checkpoint_every) < 1:
        raise UserError(f"steps, batch_size and checkpoint_every must be at least 1, got {steps}, {batch_size} and "
                        f"{checkpoint_every}")
    device = resolve_device(device)
    if threads:
        torch.set_num_threads(int(threads))
    r = _recipe(recipe)
    spec = data_spec(r)
    data = render_training_set(spec, workers, data_cache or default_data_cache(spec), log, fields=("images", "labels"))
    trainer = OasisTrainer(r, data, seed, batch_size, device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    history: list[dict[str, float]] = []
    seconds_before = 0.0
    if resume:
        history, seconds_before = trainer.resume(out, log)
    train = {"seed": int(seed), "steps": int(steps), "batch_size": int(batch_size), "threads": threads,
             "device": device, **r, "losses": {"adversarial": "class-balanced (N+1)-class cross-entropy (G and D)",
                                               "labelmix": f"D, weight {r['lambda_labelmix']}", "vgg": "none"},
             "data": spec, "discriminator": asdict(trainer.d_options)}
    (out / "config.json").write_text(json.dumps({"method": METHOD, "options": asdict(trainer.g_options),
                                                 "train": train}, indent=2) + "\n")
    n_g = sum(p.numel() for p in trainer.netG.parameters())
    n_d = sum(p.numel() for p in trainer.netD.parameters())
    log(f"oasis: G {n_g / 1e6:.2f}M, D {n_d / 1e6:.2f}M parameters, {SIZE[0]}x{SIZE[1]}, batch {batch_size}, "
        f"{torch.get_num_threads()} threads, {device}, steps {trainer.step} -> {steps}")
    start = time.perf_counter()
    start_step = trainer.step
    stopped_early = False
    log_every = max(1, min(100, int(steps) // 10 or 1))
    while trainer.step < int(steps):
        row = trainer.train_step()
        row["step"] = trainer.step
        history.append(row)
        if not all(np.isfinite(v) for v in row.values()):
            raise UserError(f"oasis: a loss is not finite at step {trainer.step}: {row}")
        elapsed = time.perf_counter() - start
        if trainer.step % log_every == 0 or trainer.step == int(steps):
            log(f"oasis step {trainer.step}/{steps} G {row['loss_G']:.3f} D fake {row['loss_D_fake']:.3f} "
                f"real {row['loss_D_real']:.3f} lm {row['loss_D_labelmix']:.3f} | "
                f"{elapsed / (trainer.step - start_step):.2f} s/step")
        if trainer.step % int(checkpoint_every) == 0 and trainer.step < int(steps):
            trainer.save(out, history, seconds_before + elapsed)
        if time_limit_s is not None and elapsed >= float(time_limit_s):
            stopped_early = trainer.step < int(steps)
            log(f"oasis: time limit {float(time_limit_s):.0f} s reached at step {trainer.step}")
            break
    seconds = seconds_before + time.perf_counter() - start
    trainer.save(out, history, seconds)
    summary: dict[str, Any] = {"steps": trainer.step, "seconds": seconds,
                               "seconds_per_step": seconds / max(trainer.step, 1), "stopped_early": stopped_early,
                               "final": history[-1] if history else {}, "history": history}
    if export:
        folder = ASSETS / METHOD
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{METHOD}-{spec['name']}.pt"
        torch.save(compact_state(trainer.exported_generator()), path)
        record = file_record(path)
        command = command or " ".join(shlex.quote(a) for a in ["semcom-bench", *sys.argv[1:]])
        run = run_provenance(device)
        info = {
            "method": METHOD,
            "options": asdict(trainer.g_options),
            "size": list(SIZE),
            "label_space": "synthetic-streets (34 label ids), no instance edges (as official OASIS Cityscapes)",
            "train": {**train, "steps": trainer.step,
                      "notes": "EMA decay 0.999 (official Cityscapes value; 0.9999 elsewhere) fits a short run; "
                               "the exported weights are the EMA generator after re-collecting its batch-norm "
                               "statistics on ema_stats_batches training batches; no VGG loss (off in the "
                               "official configuration)"},
            "provenance": {"command": command, "reproduce": reproduce_command(command, trainer.step),
                           "device": run["device_name"], "git_commit": run["git_commit"], "versions": run["versions"],
                           "date": run["date"], "seconds": round(seconds, 1), "steps_done": trainer.step,
                           "stopped_early": stopped_early, "final_losses": history[-1] if history else {}},
            "weights": {"file": record["file"], "dtype": "int8", "encoding": INT8,
                        "layout": "OASIS_Generator state dict (EMA)",
                        "sha256": record["sha256"], "bytes": record["bytes"],
                        "parameters": sum(p.numel() for p in trainer.netEMA.parameters())},
        }
        write_provenance(path, info)
        log(f"exported {path} (sha256 {record['sha256'][:16]}…)")
        summary["export"] = info
    return summary


__all__ = ["ASSETS", "RECIPE", "OasisTrainer", "class_balancing", "data_spec", "discriminator_options",
           "generator_options", "init_weights", "labelmix", "n1_loss", "train_oasis"]
