"""``semcom-bench train spade|oasis|smis|cc-fpse``: the recipes of the embedded GAN baselines.

Each command calls the training function of its method in ``semcom_bench_baselines`` (the
package of third-party methods, installed with semcom-bench) with the options given here;
options left out take the recipe's defaults, which reproduce the shipped checkpoint.
"""

from __future__ import annotations

import importlib
import inspect
import shlex
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from semcom_bench.cli import train_options as check
from semcom_bench.cli.common import command, say
from semcom_bench.errors import UserError

#: method -> (module:function, what it trains)
TRAINERS: dict[str, tuple[str, str]] = {
    "spade": ("semcom_bench_baselines.spade.training:train_spade", "SPADE (hinge GAN, multi-scale D, feature matching)"),
    "oasis": ("semcom_bench_baselines.oasis.training:train_oasis", "OASIS (segmentation-based D, LabelMix, 3D noise)"),
    "smis": ("semcom_bench_baselines.smis.training:train_smis", "SMIS (group-convolution generator, per-class latents)"),
    "cc-fpse": ("semcom_bench_baselines.ccfpse.training:train_ccfpse", "CC-FPSE (conditional convolutions, FPSE D)"),
}

EPILOG = """**Examples**

    semcom-bench train spade --threads 1 --export
    semcom-bench train oasis --steps 200 --out runs/oasis
    semcom-bench train oasis --device cuda --steps 30000 --out runs/oasis --resume --export
"""


def trainer(method: str) -> Any:
    """The training function of ``method``."""
    module, _, name = TRAINERS[method][0].partition(":")
    return getattr(importlib.import_module(module), name)


def register(app: typer.Typer) -> None:
    for method, (_, what) in TRAINERS.items():
        _register_one(app, method, what)
    _register_ddsc_base(app)


def _register_one(app: typer.Typer, method: str, what: str) -> None:
    @command(app, method, epilog=EPILOG,
             help=f"Train the embedded {what} generator on synthetic-streets at 32x64; --export writes it with its recipe and provenance.")
    def train(
        steps: Optional[int] = typer.Option(None, help="Optimisation steps. Default: the recipe's."),
        batch_size: Optional[int] = typer.Option(None, help="Images per step. Default: the recipe's."),
        seed: Optional[int] = typer.Option(None, help="Seed of the initialisation and every random draw. Default: the recipe's."),
        threads: Optional[int] = typer.Option(None, help="Torch CPU threads. Default: the recipe's."),
        time_limit: Optional[float] = typer.Option(None, help="Seconds: stop when reached (the JSON records the steps done)."),
        out: Optional[Path] = typer.Option(None, help=f"Training folder. Default: semcom-train/{method}."),
        export: bool = typer.Option(False, "--export", help="Write the generator and its JSON into the package's assets."),
        workers: Optional[int] = typer.Option(None, help="Processes rendering the training scenes. Default: one per core."),
        data_cache: Optional[Path] = typer.Option(None, help="An .npz keeping the rendered scenes. Default: under the cache folder."),
        resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --out (oasis)."),
        checkpoint_every: Optional[int] = typer.Option(None, help="Steps between checkpoints (oasis). Default: 500."),
        device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:N or auto (oasis). Default: cpu."),
    ) -> None:
        options = {"steps": steps, "batch_size": batch_size, "seed": seed, "threads": threads, "time_limit_s": time_limit,
                   "workers": workers, "data_cache": data_cache, "resume": resume or None,
                   "checkpoint_every": checkpoint_every, "device": device}
        check.common(seed, threads, workers)
        check.whole(steps, "--steps")
        check.whole(batch_size, "--batch-size")
        check.whole(checkpoint_every, "--checkpoint-every")
        check.positive(time_limit, "--time-limit")
        given = {k: v for k, v in options.items() if v is not None}
        accepted = inspect.signature(trainer(method)).parameters
        unsupported = [k for k in given if k not in accepted]
        if unsupported:
            flag = "--" + unsupported[0].removesuffix("_s").replace("_", "-")
            raise UserError(f"{flag} is not supported by 'train {method}' (only by 'train oasis'); drop it")
        command_line = " ".join(shlex.quote(a) for a in ["semcom-bench", *sys.argv[1:]])
        trainer(method)(out=out or Path("semcom-train") / method, export=export, log=say, command=command_line, **given)


DDSC_BASE_EPILOG = """**Examples**

    semcom-bench train ddsc-base --vae-steps 100000 --unet-steps 100000 --vae-time-limit 720 --unet-time-limit 1500 --export
    semcom-bench train ddsc-base --vae-steps 200 --unet-steps 200 --out runs/ddsc-base
    semcom-bench train ddsc-base --resume --out runs/ddsc-base
"""


def _register_ddsc_base(app: typer.Typer) -> None:
    @command(app, "ddsc-base", epilog=DDSC_BASE_EPILOG,
             help="Train the embedded latent diffusion model of ddsc on synthetic-streets at 64x128 (an AutoencoderKL, "
                  "then an unconditional UNet2DModel on its latents) and write it as a diffusers folder; --export "
                  "copies it into the package's assets.")
    def train(
        vae_steps: Optional[int] = typer.Option(None, help="VAE steps. Default: the shipped run's."),
        unet_steps: Optional[int] = typer.Option(None, help="U-Net steps. Default: the shipped run's."),
        vae_batch_size: Optional[int] = typer.Option(None, help="Images per VAE step. Default: the recipe's."),
        unet_batch_size: Optional[int] = typer.Option(None, help="Latents per U-Net step. Default: the recipe's."),
        seed: Optional[int] = typer.Option(None, help="Seed of the initialisations and every random draw. Default: the recipe's."),
        threads: Optional[int] = typer.Option(None, help="Torch CPU threads. Default: the recipe's (1)."),
        vae_time_limit: Optional[float] = typer.Option(None, help="Seconds of VAE training after which it stops (the JSON records the steps done)."),
        unet_time_limit: Optional[float] = typer.Option(None, help="Seconds of U-Net training after which it stops."),
        resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoints in --out (a finished stage is kept)."),
        out: Optional[Path] = typer.Option(None, help="Training folder. Default: semcom-train/ddsc-base."),
        export: bool = typer.Option(False, "--export", help="Copy the model folder into the package's assets (assets/ddsc-base)."),
        evaluate_images: Optional[int] = typer.Option(None, help="Test scenes the exported model is measured on (0: none). Default: 32."),
        workers: Optional[int] = typer.Option(None, help="Processes rendering the training scenes. Default: one per core."),
        data_cache: Optional[Path] = typer.Option(None, help="An .npz keeping the rendered scenes. Default: under the cache folder."),
    ) -> None:
        from semcom_bench_baselines.ddsc.base_training import train_ddsc_base

        options = {"vae_steps": vae_steps, "unet_steps": unet_steps, "vae_batch_size": vae_batch_size,
                   "unet_batch_size": unet_batch_size, "seed": seed, "threads": threads,
                   "vae_time_limit_s": vae_time_limit, "unet_time_limit_s": unet_time_limit,
                   "evaluate_images": evaluate_images, "workers": workers, "data_cache": data_cache}
        given = {k: v for k, v in options.items() if v is not None}
        command_line = " ".join(shlex.quote(a) for a in ["semcom-bench", *sys.argv[1:]])
        train_ddsc_base(out=out or Path("semcom-train") / "ddsc-base", resume=resume, export=export, log=say,
                        command=command_line, **given)
