"""Training of the embedded SMIS generator on synthetic-streets at 32 x 64 (the shared GAN contract).

SMIS's objective as its official Cityscapes recipe sets it (Seanseattle/SMIS
``options/train_options.py``, ``models/smis_model.py``, ``scripts/cityscapes.sh``: ``--use_vae
--netE conv``), as far as it works offline:

* generator (:mod:`.network`) with the per-class latent ``z`` taken at training time from the
  encoder of the real image's per-class crops (:mod:`.encoder`), ``z = mu + exp(logvar/2) eps``,
  and a KL term ``-0.5 * sum(1 + logvar - mu^2 - exp(logvar))`` (summed over the batch, as the
  official ``KLDLoss``) weighted by ``lambda_kld`` 0.05; at test time the receiver draws ``z`` per
  class from N(0, I) from its own stream (``SmisGenerator.sample_latent``), so only the
  generator is exported;
* hinge GAN loss with the multi-scale discriminator (:mod:`.discriminator`: 2 scales, 4 layers,
  spectral instance norm), averaged over the scales;
* discriminator feature matching (L1 of every intermediate layer, ``lambda_feat`` 10 / num_D);
* VGG perceptual loss: in the official recipe (``lambda_vgg`` 10) but it needs ImageNet VGG19
  weights, which are not available offline, so the embedded recipe leaves it out
  (``lambda_vgg`` 0); ``vgg_weights`` (a local torchvision ``vgg19`` state dict) turns it on;
* TTUR Adam (official default, ``--no_TTUR`` unset): betas (0, 0.9), ``lr_g`` = lr / 2 = 1e-4
  (generator and encoder), ``lr_d`` = 2 lr = 4e-4, one discriminator step per generator step,
  generator step first; constant learning rate (the official linear decay over its last
  ``niter_decay`` epochs is left out of a run this short); xavier-normal initialisation with
  gain 0.02 (``--init_type xavier --init_variance 0.02``).

Size: the contract's 32 x 64 needs ``num_upsampling_layers='normal'`` (5 doublings) with
``crop_size`` 64, aspect 2: a 1 x 2 latent grid, and a 5-layer encoder (32 x 64 -> 1 x 2).

Width: ``label_nc`` 34 (synthetic-streets), the edge map as the last input channel (the official
Cityscapes SMIS generator always interleaves it). Every SPADE convolution is grouped by
``semantic_nc`` = 34, so each normalised width (``16, 8, 4, 2, 1`` x ngf) must be a multiple of
34: ``ngf`` 34 is the smallest (the official is 280 for 35 classes). The official later group
counts (20, 14, 10, 4, 1) do not divide these widths; ``block_groups`` (34, 34, 17, 17, 8, 4, 1)
keeps ``head_0``/``G_middle_0`` per class, uses 17 (two classes a group, as the fc's channels are
laid out per class) where the official has 20 and 14, then 8, 4 and 1 like the official 10, 4, 1.

Reproducibility: the initialisation is seeded with ``seed`` (global generator, restored after)
and every training draw (batches, the encoder's ``eps``) comes from one ``torch.Generator``
seeded with ``seed``; on the same device and thread count a run is repeatable bit for bit, and a
run stopped by ``time_limit_s`` at step k equals a run with ``steps=k``.
"""

from __future__ import annotations

from semcom_bench.training.provenance import reproduce_command

import shlex
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import semcom_bench
from semcom_bench.errors import UserError
from semcom_bench.training import (default_data_cache, file_record, float16_state, render_training_set, run_provenance,
                                   write_provenance)
from semcom_bench_baselines.smis.discriminator import MultiscaleDiscriminator
from semcom_bench_baselines.smis.encoder import SmisConvEncoder, class_crops
from semcom_bench_baselines.smis.network import SmisGenerator, SmisOptions

METHOD = "smis"
NAME = "smis-synthetic-streets"
ASSETS = Path(semcom_bench.__file__).resolve().parent / "assets" / METHOD
SIZE = (32, 64)
NUM_CLASSES = 34

#: the embedded generator (see the module docstring for the width and the groups)
EMBEDDED_OPTIONS = SmisOptions(label_nc=NUM_CLASSES, contain_dontcare_label=False, ngf=34, num_upsampling_layers="normal",
                               crop_size=64, aspect_ratio=2.0, norm_G="spectralspadesyncbatch3x3",
                               block_groups=(34, 34, 17, 17, 8, 4, 1))


@dataclass
class SmisRecipe:
    """Every setting of an SMIS training run besides steps, batch size, seed and threads.

    Attributes:
        lr_g, lr_d: Adam learning rates of generator + encoder and of the discriminator (TTUR).
        betas: Adam betas (TTUR: (0, 0.9)).
        lambda_feat, lambda_kld, lambda_vgg: loss weights (official 10, 0.05, 10; VGG off here).
        vgg_weights: a local torchvision ``vgg19`` state dict to enable the VGG loss.
        ndf, n_layers_D, num_D, norm_D: discriminator (official 64, 4, 2, spectralinstance; ndf 32 here, for the CPU).
        nef: encoder width, a multiple of 34 (official 350 = 10 per class; here 4 per class).
        norm_E: encoder norm (official spectralinstance).
        init_gain: xavier-normal gain of every convolution (official 0.02).
        dataset: render spec of the training scenes (synthetic-streets train, 32 x 64).
        options: generator overrides of :data:`EMBEDDED_OPTIONS`.
        device: ``cpu`` or ``cuda``.
        log_every: steps between progress lines.
    """

    lr_g: float = 1e-4
    lr_d: float = 4e-4
    betas: tuple[float, float] = (0.0, 0.9)
    lambda_feat: float = 10.0
    lambda_kld: float = 0.05
    lambda_vgg: float = 0.0
    vgg_weights: str | None = None
    ndf: int = 32
    n_layers_D: int = 4
    num_D: int = 2
    norm_D: str = "spectralinstance"
    nef: int = 136
    norm_E: str = "spectralinstance"
    init_gain: float = 0.02
    dataset: dict[str, Any] = field(default_factory=lambda: {"name": "synthetic-streets", "split": "train", "size": 10000,
                                                              "height": SIZE[0], "width": SIZE[1], "seed": 0})
    options: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    log_every: int = 10

    @classmethod
    def build(cls, **overrides: Any) -> "SmisRecipe":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise UserError(f"unknown SMIS training settings {unknown}; use some of {', '.join(sorted(known))}")
        recipe = cls(**{k: v for k, v in overrides.items() if v is not None})
        recipe.betas = tuple(float(b) for b in recipe.betas)  # type: ignore[assignment]
        if recipe.lambda_vgg > 0 and not recipe.vgg_weights:
            raise UserError("lambda_vgg > 0 needs vgg_weights (a local torchvision vgg19 state dict); no weights are downloaded")
        return recipe


def generator_options(overrides: dict[str, Any] | None = None) -> SmisOptions:
    """:data:`EMBEDDED_OPTIONS` with ``overrides`` (``block_groups`` as a list is accepted, as read from JSON)."""
    values = {**asdict(EMBEDDED_OPTIONS), **(overrides or {})}
    if values.get("block_groups") is not None:
        values["block_groups"] = tuple(int(g) for g in values["block_groups"])
    return SmisOptions(**values)


def options_json(options: SmisOptions) -> dict[str, Any]:
    out = asdict(options)
    out["block_groups"] = list(options.block_groups) if options.block_groups is not None else None
    return out


def _init_weights(module: nn.Module, gain: float) -> None:
    """Xavier-normal (``gain``) weights and zero biases of every convolution (spectral norm: its ``weight_orig``)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            weight = m.weight_orig if hasattr(m, "weight_orig") else m.weight
            nn.init.xavier_normal_(weight.data, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias.data)


class _VGGLoss(nn.Module):
    """The official VGG19 feature loss (relu1_1 ... relu5_1, weights 1/32 ... 1) from a local weights file."""

    def __init__(self, path: str):
        super().__init__()
        import torchvision

        vgg = torchvision.models.vgg19()
        vgg.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        feats = vgg.features.eval()
        for p in feats.parameters():
            p.requires_grad_(False)
        cuts = (2, 7, 12, 21, 30)
        self.slices = nn.ModuleList(feats[a:b] for a, b in zip((0,) + cuts[:-1], cuts))
        self.weights = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = x.new_zeros(())
        for w, s in zip(self.weights, self.slices):
            x, y = s(x), s(y)
            loss = loss + w * F.l1_loss(x, y.detach())
        return loss


def _hinge_d(preds: list[list[torch.Tensor]], real: bool) -> torch.Tensor:
    sign = -1.0 if real else 1.0
    return sum(F.relu(1.0 + sign * p[-1]).mean() for p in preds) / len(preds)  # type: ignore[return-value]


class SmisTrainer:
    """Generator, encoder and discriminator of one run; :meth:`step` does one G step then one D step."""

    def __init__(self, recipe: SmisRecipe, batch_size: int, seed: int, data: dict[str, np.ndarray]):
        self.recipe, self.batch_size, self.seed = recipe, batch_size, seed
        self.device = torch.device(recipe.device)
        self.options = generator_options(recipe.options)
        if self.options.output_size != SIZE or self.options.label_nc != NUM_CLASSES:
            raise UserError(f"SMIS options give {self.options.output_size} images of {self.options.label_nc} classes; "
                            f"the embedded network is {SIZE} with {NUM_CLASSES} classes")
        s = self.options.semantic_nc
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.G = SmisGenerator(self.options)
            self.E = SmisConvEncoder(s, recipe.nef, six_layers=False, norm=recipe.norm_E)
            self.D = MultiscaleDiscriminator(self.options.input_nc + 3, recipe.ndf, recipe.n_layers_D, recipe.num_D,
                                             recipe.norm_D)
            for net in (self.G, self.E, self.D):
                _init_weights(net, recipe.init_gain)
        for net in (self.G, self.E, self.D):
            net.to(self.device).train()
        self.vgg = _VGGLoss(recipe.vgg_weights).to(self.device) if recipe.lambda_vgg > 0 and recipe.vgg_weights else None
        self.opt_g = torch.optim.Adam(list(self.G.parameters()) + list(self.E.parameters()), lr=recipe.lr_g, betas=recipe.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=recipe.lr_d, betas=recipe.betas)
        self.images = torch.from_numpy(np.ascontiguousarray(data["images"])).to(self.device)
        self.labels = torch.from_numpy(np.ascontiguousarray(data["labels"])).to(self.device)
        self.edges = torch.from_numpy(np.ascontiguousarray(data["edges"])).to(self.device)
        if tuple(self.images.shape[1:3]) != SIZE:
            raise UserError(f"training scenes are {tuple(self.images.shape[1:3])}; the SMIS recipe trains at {SIZE}")
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self.step_done = 0

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(maps (B, 35, H, W): one-hot classes then instance edges, images (B, 3, H, W) in [-1, 1])."""
        idx = torch.randint(self.images.shape[0], (self.batch_size,), generator=self.gen, device=self.device)
        lab = self.labels[idx].long()
        valid = lab < NUM_CLASSES
        onehot = F.one_hot(torch.where(valid, lab, 0), NUM_CLASSES).permute(0, 3, 1, 2).float() * valid[:, None]
        maps = torch.cat([onehot, (self.edges[idx] > 0).float()[:, None]], dim=1)
        image = self.images[idx].permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return maps, image

    def generate(self, maps: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(fake image, KL term unweighted) with ``z`` from the encoder of the per-class crops."""
        mu, logvar = self.E(class_crops(maps, image))
        eps = torch.randn(mu.shape, generator=self.gen, device=self.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return self.G(maps, z=z), kld

    def discriminate(self, maps: torch.Tensor, fake: torch.Tensor, real: torch.Tensor):
        out = self.D(torch.cat([torch.cat([maps, fake], 1), torch.cat([maps, real], 1)], 0))
        n = maps.shape[0]
        return [[t[:n] for t in p] for p in out], [[t[n:] for t in p] for p in out]

    def step(self) -> dict[str, float]:
        r = self.recipe
        maps, real = self.batch()
        # generator (+ encoder) step
        fake, kld = self.generate(maps, real)
        pred_fake, pred_real = self.discriminate(maps, fake, real)
        g_gan = -sum(p[-1].mean() for p in pred_fake) / len(pred_fake)
        feat = fake.new_zeros(())
        for pf, pr in zip(pred_fake, pred_real):
            for a, b in zip(pf[:-1], pr[:-1]):
                feat = feat + F.l1_loss(a, b.detach()) * r.lambda_feat / len(pred_fake)
        losses = {"G_GAN": g_gan, "G_feat": feat, "KLD": kld * r.lambda_kld}
        if self.vgg is not None:
            losses["VGG"] = self.vgg(fake, real) * r.lambda_vgg
        g_loss = sum(losses.values())
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        # discriminator step
        with torch.no_grad():
            fake, _ = self.generate(maps, real)
        pred_fake, pred_real = self.discriminate(maps, fake.detach(), real)
        d_fake, d_real = _hinge_d(pred_fake, False), _hinge_d(pred_real, True)
        self.opt_d.zero_grad(set_to_none=True)
        (d_fake + d_real).backward()
        self.opt_d.step()
        self.step_done += 1
        out = {k: float(v.detach()) for k, v in losses.items()}
        out.update(D_fake=float(d_fake.detach()), D_real=float(d_real.detach()))
        return out

    def generator_state(self) -> dict[str, torch.Tensor]:
        """The generator's state dict, floating tensors as float16, on the CPU."""
        return float16_state(self.G.state_dict())


def _recipe_record(recipe: SmisRecipe, steps: int, batch_size: int, seed: int, threads: int | None) -> dict[str, Any]:
    rec = asdict(recipe)
    rec["betas"] = list(recipe.betas)
    rec.update(seed=seed, steps=steps, batch_size=batch_size, threads=threads, optimizer="adam (TTUR)",
               d_steps_per_g=1, gan_mode="hinge", netD="multiscale", netE="conv (per-class crops)", lr_policy="constant",
               losses={"gan": "hinge, multi-scale D", "feat": recipe.lambda_feat, "kld": recipe.lambda_kld,
                       "vgg": recipe.lambda_vgg if recipe.vgg_weights else "off (needs ImageNet VGG19 weights; none offline)"},
               latent="training: z from the encoder of per-class crops (reparameterised); test: z ~ N(0, I) per class "
                      "from the receiver's stream; the encoder is not shipped")
    return rec


def export_generator(trainer: SmisTrainer, folder: str | Path, record: dict[str, Any], provenance: dict[str, Any]) -> dict[str, Any]:
    """Write ``<folder>/smis-synthetic-streets.pt`` (fp16 generator state dict) and its JSON; the JSON written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{NAME}.pt"
    torch.save(trainer.generator_state(), path)
    out = file_record(path)
    info = {"method": METHOD, "options": options_json(trainer.options), "size": list(SIZE),
            "label_space": "synthetic-streets (34 label ids) + instance edges (always: the SMIS Cityscapes generator "
                           "interleaves the last input channel as the edge map)",
            "train": record, "provenance": provenance,
            "weights": {"file": out["file"], "sha256": out["sha256"], "bytes": out["bytes"], "dtype": "float16",
                        "layout": "SmisGenerator state dict (official CityscapesGenerator keys)",
                        "parameters": sum(p.numel() for p in trainer.G.parameters())}}
    write_provenance(path, info)
    return info


#: optimisation steps of the shipped checkpoint (the default of ``semcom-bench train smis``)
STEPS = 919


def train_smis(*, steps: int = STEPS, batch_size: int = 16, seed: int = 0, threads: int | None = 1, time_limit_s: float | None = None,
               out: str | Path = "semcom-train/smis", export: bool = False, log: Callable[[str], None] = print,
               workers: int = 1, data_cache: str | Path | None = None, command: str | None = None, **recipe: Any) -> dict[str, Any]:
    """Train the embedded SMIS generator; write it to ``out`` (and to the package assets when ``export``).

    Args:
        steps: generator steps (each followed by one discriminator step).
        batch_size: scenes per step.
        seed: seed of the initialisation and of every training draw.
        threads: torch CPU threads (None: leave as is).
        time_limit_s: stop after the step that passes this many seconds.
        out: folder for ``smis-synthetic-streets.pt`` / ``.json`` of this run and ``train_state.pt``
            (encoder, discriminator and optimisers, for inspection).
        export: also write the pair to ``semcom_bench/assets/smis/``.
        log: where progress lines go.
        workers: processes that render the training scenes.
        data_cache: ``.npz`` of the rendered scenes (default: under the project cache).
        recipe: :class:`SmisRecipe` settings.

    Returns:
        ``{"steps", "seconds", "seconds_per_step", "final", "json", "export"}``.
    """
    if steps < 1 or batch_size < 1:
        raise UserError(f"steps ({steps}) and batch_size ({batch_size}) must be at least 1")
    if threads:
        torch.set_num_threads(int(threads))
    cfg = SmisRecipe.build(**recipe)
    data = render_training_set(cfg.dataset, workers, data_cache or default_data_cache(cfg.dataset), log,
                               fields=("images", "labels", "edges"))
    trainer = SmisTrainer(cfg, batch_size, seed, data)
    n_g = sum(p.numel() for p in trainer.G.parameters())
    log(f"smis: G {n_g / 1e6:.2f}M, E {sum(p.numel() for p in trainer.E.parameters()) / 1e6:.2f}M, "
        f"D {sum(p.numel() for p in trainer.D.parameters()) / 1e6:.2f}M parameters; batch {batch_size}, {steps} steps")
    start = time.perf_counter()
    history: list[dict[str, float]] = []
    stopped_early = False
    while trainer.step_done < steps:
        row = trainer.step()
        row["step"] = trainer.step_done
        elapsed = time.perf_counter() - start
        if not all(np.isfinite(v) for v in row.values()):
            raise UserError(f"smis: a loss is not finite at step {trainer.step_done}: {row}")
        history.append(row)
        if trainer.step_done % cfg.log_every == 0 or trainer.step_done == steps:
            log(f"smis step {trainer.step_done}/{steps} " + " ".join(f"{k} {v:.3f}" for k, v in row.items() if k != "step")
                + f" | {elapsed / trainer.step_done:.2f} s/step")
        if time_limit_s is not None and elapsed >= time_limit_s:
            stopped_early = trainer.step_done < steps
            log(f"smis: time limit {time_limit_s:.0f} s reached at step {trainer.step_done}")
            break
    seconds = time.perf_counter() - start
    done = trainer.step_done
    record = _recipe_record(cfg, done, batch_size, seed, threads)
    call = (f"train_smis(steps={done}, batch_size={batch_size}, seed={seed}, threads={threads}, export={export}"
            + "".join(f", {k}={v!r}" for k, v in sorted(recipe.items())) + ")")
    run = run_provenance(str(trainer.device))
    provenance = {"git_commit": run["git_commit"], "versions": run["versions"], "device": run["device_name"],
                  "date": run["date"], "seconds": round(seconds, 1), "steps_done": done, "stopped_early": stopped_early,
                  "seconds_per_step": round(seconds / max(done, 1), 3),
                  "reproduce": (reproduce_command(command, done) if command else
                                "python -c " + shlex.quote("from semcom_bench_baselines.smis.training import train_smis; "
                                                           + call)),
                  "final_losses": history[-1] if history else {}}
    out = Path(out)
    export_generator(trainer, out, record, provenance)
    torch.save({"encoder": trainer.E.state_dict(), "discriminator": trainer.D.state_dict(),
                "opt_g": trainer.opt_g.state_dict(), "opt_d": trainer.opt_d.state_dict(), "step": done,
                "generator_rng": trainer.gen.get_state()}, out / "train_state.pt")
    summary: dict[str, Any] = {"steps": done, "seconds": seconds, "seconds_per_step": seconds / max(done, 1),
                               "stopped_early": stopped_early, "final": history[-1] if history else {},
                               "history": history, "json": str(out / f"{NAME}.json")}
    if export:
        summary["export"] = export_generator(trainer, ASSETS, record, provenance)
        log(f"exported {ASSETS / (NAME + '.pt')} (sha256 {summary['export']['weights']['sha256'][:16]}…)")
    return summary


__all__ = ["EMBEDDED_OPTIONS", "SmisRecipe", "SmisTrainer", "export_generator", "generator_options", "options_json",
           "train_smis"]
