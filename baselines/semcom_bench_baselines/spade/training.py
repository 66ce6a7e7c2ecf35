"""Training of the embedded SPADE generator on synthetic-streets at 32x64 (:func:`train_spade`).

SPADE's own objective (NVlabs/SPADE ``pix2pix_model.py``, ``train_options.py``) as far as it runs
offline:

* generator: :class:`~.network.SPADEGenerator` with the official Cityscapes ``norm_G``
  (``spectralspadesyncbatch3x3``; a single process, so the synchronised batch norm is a batch norm),
  instance edges on, no VAE (``z`` unused), narrowed for the CPU (``ngf`` 8: about 5M parameters, a 10 MB float16 file, ~0.9 s per step of
  16 on one thread; ngf 16 makes 11.3M, 22.7 MB and ~2.2 s, as every SPADE keeps its 128 hidden
  channels) and at the embedded size (``crop_size 64``, ``aspect_ratio 2``, ``num_upsampling_layers normal``: a 1x2 latent, 32x64 out);
* discriminator: ``--netD multiscale`` of ``n_layer`` PatchGANs (:mod:`.discriminator`), ``num_D 2``,
  ``n_layers_D 3``, ``norm_D spectralinstance``, width 16; it sees the segmap with the image;
* losses: hinge GAN loss, discriminator feature matching (``lambda_feat 10``); the VGG perceptual
  loss (``lambda_vgg 10``) runs only when ``vgg_weights`` names a local torchvision VGG19 file, so
  the embedded recipe leaves it out (no ImageNet weights offline), and says so in its ``train`` record;
* optimisers: Adam, ``lr 0.0002`` with TTUR (the official default, ``no_TTUR`` off): G at lr/2,
  D at lr*2, betas (0, 0.9); one D step per G step, G first, both on the same batch; constant
  learning rate (no decay: a run stopped at step k equals a run of k steps);
* initialisation: the official ``init_weights('xavier', 0.02)``: xavier-normal with gain 0.02 on
  every conv and linear weight (``weight_orig`` under spectral norm), zero biases;
* data: ``synthetic-streets(split=train, height=32, width=64)`` through
  :func:`semcom_bench.training.render_training_set` (images, labels, edges; cached under the default
  cache folder), the edges those of the data set (what the receiver gets), a random horizontal
  flip per sample (the official ``no_flip`` off), images in [-1, 1].

Reproducible on the CPU: the networks are built under ``torch.manual_seed(seed)`` (inside
``torch.random.fork_rng``, the caller's global state is left as it was), every batch index and flip
is drawn from one ``torch.Generator`` seeded with ``seed``, so the same command gives the same
weights. The result is written as ``<out>/spade-synthetic-streets.pt`` (the generator's state dict,
floating tensors as float16) and ``.json`` beside it (options, recipe, provenance, sha256), and with
``export=True`` also into ``semcom_bench/assets/spade/``.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from semcom_bench.errors import UserError
from semcom_bench.training import (default_data_cache, file_record, float16_state, render_training_set, run_provenance,
                                   training_record, write_provenance)
from semcom_bench_baselines.spade.discriminator import (MultiscaleDiscriminator, VGGLoss, feature_matching_loss,
                                                        hinge_d_loss, hinge_g_loss, split_pred)
from semcom_bench_baselines.spade.network import SPADEGenerator, SpadeOptions

#: the package's assets folder of the embedded SPADE network
ASSETS = Path(__import__("semcom_bench").__file__).resolve().parent / "assets" / "spade"
#: file stem of the embedded network
NAME = "spade-synthetic-streets"
#: synthetic-streets' label ids (0..33)
LABEL_NC = 34
#: generator output (height, width)
SIZE = (32, 64)

#: every recipe setting and its default (the embedded recipe); ``train_spade(**recipe)`` overrides them
RECIPE: dict[str, Any] = {
    # generator (SpadeOptions)
    "ngf": 8,
    "spade_hidden": 32,
    "norm_G": "spectralspadesyncbatch3x3",
    "num_upsampling_layers": "normal",
    "crop_size": 64,
    "aspect_ratio": 2.0,
    # discriminator
    "netD": "multiscale",
    "netD_subarch": "n_layer",
    "num_D": 2,
    "n_layers_D": 3,
    "ndf": 16,
    "norm_D": "spectralinstance",
    # objective
    "gan_mode": "hinge",
    "lambda_feat": 10.0,
    "no_ganFeat_loss": False,
    "lambda_vgg": 10.0,
    "vgg_weights": None,
    # optimisers
    "lr": 0.0002,
    "no_TTUR": False,
    "beta1": 0.0,
    "beta2": 0.9,
    "D_steps_per_G": 1,
    "init_type": "xavier",
    "init_variance": 0.02,
    # data
    "data_size": 10000,
    "data_seed": 0,
    "flip": True,
    # logging
    "log_every": 50,
}


def embedded_options(**recipe: Any) -> SpadeOptions:
    """The generator's :class:`SpadeOptions` of a recipe (label_nc 34 + instance edges, no VAE)."""
    r = {**RECIPE, **recipe}
    return SpadeOptions(label_nc=LABEL_NC, contain_dontcare_label=False, no_instance=False, ngf=int(r["ngf"]),
                        use_vae=False, num_upsampling_layers=r["num_upsampling_layers"], crop_size=int(r["crop_size"]),
                        aspect_ratio=float(r["aspect_ratio"]), norm_G=r["norm_G"], spade_hidden=int(r["spade_hidden"]))


def data_spec(size: int = 10000, seed: int = 0) -> dict[str, Any]:
    """The render spec of the training scenes: synthetic-streets' train split at 32x64."""
    return {"name": "synthetic-streets", "split": "train", "size": int(size), "height": SIZE[0], "width": SIZE[1],
            "seed": int(seed)}


def init_weights(net: nn.Module, init_type: str = "xavier", gain: float = 0.02) -> None:
    """The official ``BaseNetwork.init_weights``: conv/linear weights (``weight_orig`` under spectral norm), zero biases."""
    for m in net.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        w = m.weight_orig if hasattr(m, "weight_orig") else m.weight
        with torch.no_grad():
            if init_type == "normal":
                nn.init.normal_(w, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(w, gain=gain)
            elif init_type == "xavier_uniform":
                nn.init.xavier_uniform_(w, gain=1.0)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(w, a=0, mode="fan_in")
            elif init_type == "orthogonal":
                nn.init.orthogonal_(w, gain=gain)
            elif init_type != "none":
                raise UserError(f"SPADE init_type {init_type!r} is not one of normal, xavier, xavier_uniform, "
                                "kaiming, orthogonal, none")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _check_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(recipe) - set(RECIPE))
    if unknown:
        raise UserError(f"unknown SPADE recipe settings {unknown}; known: {', '.join(RECIPE)}")
    r = {**RECIPE, **{k: v for k, v in recipe.items() if v is not None}}
    if "vgg_weights" in recipe:
        r["vgg_weights"] = recipe["vgg_weights"]
    if r["netD"] != "multiscale" or r["netD_subarch"] != "n_layer":
        raise UserError("only --netD multiscale with n_layer discriminators is implemented")
    if r["gan_mode"] != "hinge":
        raise UserError(f"only gan_mode hinge is implemented, not {r['gan_mode']!r}")
    if int(r["D_steps_per_G"]) != 1:
        raise UserError("only D_steps_per_G 1 is implemented")
    if int(r["data_size"]) < 1:
        raise UserError(f"data_size must be at least 1, got {r['data_size']}")
    return r


def _train_record(r: dict[str, Any], *, steps: int, batch_size: int, seed: int, threads: int | None,
                  time_limit_s: float | None, spec: dict[str, Any], lr_g: float, lr_d: float,
                  betas: tuple[float, float]) -> dict[str, Any]:
    """The ``train`` block of the JSON: every setting of the run."""
    vgg = r["vgg_weights"] is not None
    return {
        "seed": seed, "steps": steps, "batch_size": batch_size, "threads": threads, "time_limit_s": time_limit_s,
        "device": "cpu",
        "generator": {"netG": "spade", "ngf": r["ngf"], "norm_G": r["norm_G"], "use_vae": False,
                      "num_upsampling_layers": r["num_upsampling_layers"], "crop_size": r["crop_size"],
                      "aspect_ratio": r["aspect_ratio"], "init_type": r["init_type"], "init_variance": r["init_variance"],
                      "z": "unused (no VAE, no encoder)"},
        "discriminator": {"netD": r["netD"], "netD_subarch": r["netD_subarch"], "num_D": r["num_D"],
                          "n_layers_D": r["n_layers_D"], "ndf": r["ndf"], "norm_D": r["norm_D"],
                          "input": "segmap (34 one-hot + instance edges) concatenated with the image"},
        "losses": {"gan": {"mode": r["gan_mode"], "weight": 1.0},
                   "feature_matching": {"weight": 0.0 if r["no_ganFeat_loss"] else r["lambda_feat"],
                                        "lambda_feat": r["lambda_feat"], "on": not r["no_ganFeat_loss"]},
                   "vgg": {"weight": r["lambda_vgg"] if vgg else 0.0, "lambda_vgg": r["lambda_vgg"], "on": vgg,
                           "weights": str(r["vgg_weights"]) if vgg else None,
                           **({} if vgg else {"note": "left out: SPADE's VGG19 perceptual loss needs ImageNet VGG19 "
                                                      "weights, which are not available offline; pass vgg_weights=PATH "
                                                      "(torchvision vgg19 state dict) to train with it"})},
                   "kld": {"on": False, "note": "no VAE"}},
        "optimizer": {"name": "adam", "lr": r["lr"], "no_TTUR": r["no_TTUR"], "lr_g": lr_g, "lr_d": lr_d,
                      "betas": list(betas), "D_steps_per_G": r["D_steps_per_G"], "schedule": "constant",
                      "order": "G step then D step on the same batch"},
        "data": {**spec, "fields": ["images", "labels", "edges"], "edges": "the data set's instance edges",
                 "flip": r["flip"], "image_range": [-1, 1]},
        "log_every": r["log_every"],
    }


#: optimisation steps of the shipped checkpoint (the default of ``semcom-bench train spade``)
STEPS = 1903


def train_spade(*, steps: int = STEPS, batch_size: int = 16, seed: int = 0, threads: int | None = 1,
                time_limit_s: float | None = None, out: str | Path = "semcom-train/spade", export: bool = False,
                log: Callable[[str], None] = print, workers: int = 0, data_cache: str | Path | None = None,
                command: str | None = None, **recipe: Any) -> dict[str, Any]:
    """Train the embedded SPADE generator (see the module docstring) on the CPU and write it out.

    Args:
        steps: generator (and discriminator) steps.
        batch_size: scenes per step.
        seed: seed of the initialisation and of every batch and flip draw.
        threads: torch CPU threads (None: leave torch's setting).
        time_limit_s: stop after this many seconds of training (the steps done are recorded, and the
            reproduce command names them).
        out: folder of ``spade-synthetic-streets.pt`` and ``.json``.
        export: also write both files into the package's ``assets/spade``.
        log: where progress lines go.
        workers: processes rendering the training scenes (0: one per core).
        data_cache: ``.npz`` of the rendered scenes (default: under the project cache, keyed by the spec).
        command: the command line recorded in the provenance (default: this process's).
        recipe: overrides of :data:`RECIPE` (e.g. ``ngf``, ``ndf``, ``n_layers_D``, ``lambda_feat``,
            ``vgg_weights``, ``data_size``).

    Returns:
        ``{"steps", "seconds", "seconds_per_step", "history", "final", "weights", "json", "info"}``
        (``exported``: the assets' paths when ``export``).
    """
    r = _check_recipe(recipe)
    if int(steps) < 1 or int(batch_size) < 1:
        raise UserError(f"steps and batch_size must be at least 1, got {steps} and {batch_size}")
    steps, batch_size, seed = int(steps), int(batch_size), int(seed)
    if threads:
        torch.set_num_threads(int(threads))
    spec = data_spec(r["data_size"], r["data_seed"])
    data = render_training_set(spec, workers, data_cache or default_data_cache(spec), log,
                               fields=("images", "labels", "edges"))
    images = torch.from_numpy(data["images"]).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    labels = torch.from_numpy(data["labels"]).long()
    edges = torch.from_numpy(data["edges"]).float()
    if int(labels.max()) >= LABEL_NC:
        raise UserError(f"training labels reach {int(labels.max())}, beyond the {LABEL_NC} label ids")
    options = embedded_options(**r)
    if options.output_size != SIZE:
        raise UserError(f"the recipe's generator makes {options.output_size}, not {SIZE}: crop_size, aspect_ratio "
                        "and num_upsampling_layers must give 32x64")

    if r["no_TTUR"]:
        lr_g = lr_d = float(r["lr"])
        betas = (float(r["beta1"]), float(r["beta2"]))
    else:
        lr_g, lr_d = float(r["lr"]) / 2, float(r["lr"]) * 2
        betas = (0.0, 0.9)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net_g = SPADEGenerator(options)
        init_weights(net_g, r["init_type"], float(r["init_variance"]))
        net_d = MultiscaleDiscriminator(options.semantic_nc + 3, int(r["ndf"]), int(r["n_layers_D"]), int(r["num_D"]),
                                        r["norm_D"])
        init_weights(net_d, r["init_type"], float(r["init_variance"]))
    vgg = VGGLoss(r["vgg_weights"]) if r["vgg_weights"] is not None else None
    opt_g = torch.optim.Adam(net_g.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(net_d.parameters(), lr=lr_d, betas=betas)
    gen = torch.Generator().manual_seed(seed)
    net_g.train()
    net_d.train()

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(images.shape[0], (batch_size,), generator=gen)
        x, lab, edg = images[idx], labels[idx], edges[idx]
        onehot = torch.zeros(batch_size, LABEL_NC, *SIZE).scatter_(1, lab.unsqueeze(1), 1.0)
        seg = torch.cat((onehot, edg.unsqueeze(1)), dim=1)
        if r["flip"]:
            flip = torch.rand(batch_size, generator=gen) < 0.5
            seg = torch.where(flip[:, None, None, None], seg.flip(-1), seg)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return seg, x

    def discriminate(seg: torch.Tensor, fake: torch.Tensor, real: torch.Tensor) -> tuple[list, list]:
        both = torch.cat((torch.cat((seg, fake), 1), torch.cat((seg, real), 1)), 0)  # fake and real in one batch
        return split_pred(net_d(both))

    n_params = sum(p.numel() for p in net_g.parameters())
    log(f"spade: generator {n_params / 1e6:.2f}M parameters, discriminator "
        f"{sum(p.numel() for p in net_d.parameters()) / 1e6:.2f}M, {SIZE[0]}x{SIZE[1]}, batch {batch_size}, "
        f"lr G {lr_g:g} D {lr_d:g}, feature matching {not r['no_ganFeat_loss']}, vgg {vgg is not None}, "
        f"{torch.get_num_threads()} threads, steps {steps}")
    history: list[dict[str, float]] = []
    acc: dict[str, float] = {}
    n_acc, done = 0, 0
    stopped_early = False
    start = time.perf_counter()
    while done < steps:
        seg, real = batch()
        # generator step
        fake = net_g(seg)
        pred_fake, pred_real = discriminate(seg, fake, real)
        losses = {"G_GAN": hinge_g_loss(pred_fake)}
        if not r["no_ganFeat_loss"]:
            losses["G_Feat"] = feature_matching_loss(pred_fake, pred_real, float(r["lambda_feat"]))
        if vgg is not None:
            losses["G_VGG"] = vgg(fake, real) * float(r["lambda_vgg"])
        g_loss = sum(losses.values())
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        # discriminator step
        with torch.no_grad():
            fake = net_g(seg)
        pred_fake, pred_real = discriminate(seg, fake.detach(), real)
        losses["D_Fake"] = hinge_d_loss(pred_fake, real=False)
        losses["D_real"] = hinge_d_loss(pred_real, real=True)
        opt_d.zero_grad(set_to_none=True)
        (losses["D_Fake"] + losses["D_real"]).backward()
        opt_d.step()
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
            log(f"spade step {done}/{steps} " + " ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "step")
                + f" | {elapsed / done:.2f} s/step")
        if time_limit_s is not None and elapsed >= float(time_limit_s):
            stopped_early = done < steps
            log(f"spade: time limit {float(time_limit_s):.0f} s reached at step {done}")
            break
    seconds = time.perf_counter() - start
    if n_acc:
        row = {k: v / n_acc for k, v in acc.items()}
        row["step"] = done
        history.append(row)

    # --- write out ---------------------------------------------------------------------------
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{NAME}.pt"
    torch.save(float16_state(net_g.state_dict()), path)
    command = command or " ".join(shlex.quote(a) for a in ["semcom-bench", *sys.argv[1:]])
    run = run_provenance("cpu")
    record = file_record(path)
    info = {
        "method": "spade",
        "options": asdict(options),
        "size": list(SIZE),
        "label_space": "synthetic-streets (34 label ids) + instance edges (the last channel)",
        "train": _train_record(r, steps=steps, batch_size=batch_size, seed=seed, threads=threads,
                               time_limit_s=time_limit_s, spec=spec, lr_g=lr_g, lr_d=lr_d, betas=betas),
        "provenance": training_record(command, done, stopped_early, seconds, run, history[-1] if history else {},
                                      "final_losses"),
        "weights": {"file": record["file"], "sha256": record["sha256"], "bytes": record["bytes"], "dtype": "float16",
                    "layout": "NVlabs/SPADE SPADEGenerator state dict (latest_net_G.pth keys)",
                    "parameters": n_params},
    }
    json_path = write_provenance(path, info)
    log(f"spade: {done} steps in {seconds:.1f} s ({seconds / max(done, 1):.2f} s/step); wrote {path} "
        f"(sha256 {record['sha256'][:16]}…)")
    summary: dict[str, Any] = {"steps": done, "seconds": seconds, "seconds_per_step": seconds / max(done, 1),
                               "stopped_early": stopped_early, "history": history,
                               "final": history[-1] if history else {}, "weights": path, "json": json_path, "info": info}
    if export:
        ASSETS.mkdir(parents=True, exist_ok=True)
        if ASSETS.resolve() != folder.resolve():
            shutil.copyfile(path, ASSETS / path.name)
            shutil.copyfile(json_path, ASSETS / json_path.name)
        summary["exported"] = [ASSETS / path.name, ASSETS / json_path.name]
        log(f"exported {ASSETS / path.name}")
    return summary


def load_exported(json_path: str | Path) -> SPADEGenerator:
    """The generator of an exported ``.json`` (options from it), its ``.pt`` loaded strictly, in eval mode."""
    json_path = Path(json_path)
    info = json.loads(json_path.read_text(encoding="utf-8"))
    net = SPADEGenerator(SpadeOptions(**info["options"]))
    state = torch.load(json_path.with_name(info["weights"]["file"]), map_location="cpu", weights_only=True)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    return net.eval()


__all__ = ["RECIPE", "ASSETS", "NAME", "embedded_options", "data_spec", "init_weights", "train_spade", "load_exported"]
