"""``semcom-bench train ddsc``: F_d/F_u of ``ddsc`` with the hybrid loss of the paper's eq. 37.

Calls :func:`semcom_bench_baselines.ddsc.training.train_ddsc`; options left out take the recipe's
defaults (which reproduce the shipped ``ddsc-c28``; ``--c 8`` the shipped ``ddsc-c8``). The
ablation switches and λ/γ give the networks of the paper's Tables VI-VIII.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

from semcom_bench.cli.common import command, say

EPILOG = """**Examples**

    semcom-bench train ddsc --c 28 --time-limit 480 --export
    semcom-bench train ddsc --c 8 --no-guidance --no-kl --out runs/ddsc-mse
    semcom-bench train ddsc --base stabilityai/stable-diffusion-2-1-base --dataset "lsun(root=data/lsun,split=train,size=512)" --data-size 20000 --device cuda --c 28 --out runs/ddsc-sd2
"""


def register(app: typer.Typer) -> None:
    @command(app, "ddsc", epilog=EPILOG,
             help="Train ddsc's F_d (compression) and F_u (VAE up-sampling with the SNR) for C channels on a frozen "
                  "latent diffusion base (default: the embedded one) with the hybrid loss L_MSE + lambda L_KL + gamma "
                  "L_g; --export writes them into the package's assets.")
    def train(
        c: Optional[int] = typer.Option(None, "--c", help="C, compressed channels. Default: 28 (official)."),
        steps: Optional[int] = typer.Option(None, help="Optimiser steps (one training SNR each, in turn). Default: the recipe's."),
        batch_size: Optional[int] = typer.Option(None, help="Scenes per step. Default: 16."),
        seed: Optional[int] = typer.Option(None, help="Seed of the initialisation and every random draw. Default: 0."),
        threads: Optional[int] = typer.Option(None, help="Torch CPU threads. Default: 1."),
        time_limit: Optional[float] = typer.Option(None, help="Seconds: stop when reached (the JSON records the steps done)."),
        base: Optional[str] = typer.Option(None, help="The frozen base: a diffusers folder or org/name in the Hugging Face cache. Default: the embedded one."),
        lambda_kl: Optional[float] = typer.Option(None, help="lambda, weight of L_KL (eq. 35). Default: 0.1."),
        gamma: Optional[float] = typer.Option(None, help="gamma, weight of the guidance L_g (eq. 32). Default: 0.1."),
        domain: Optional[str] = typer.Option(None, help="F_u's target: paper (the received latent y + sigma eps, eq. 37) or code (the forward state, the official code). Default: paper."),
        mse: Optional[str] = typer.Option(None, help="L_MSE on the reparameterised sample (sample, eq. 37) or on mu (mean, the official code). Default: sample."),
        reparameterise: Optional[bool] = typer.Option(None, "--reparameterise/--no-reparameterise", help="The VAE's reparameterisation (Table VI's VAE column). Off needs --no-kl --no-guidance."),
        use_mse: Optional[bool] = typer.Option(None, "--mse-term/--no-mse-term", help="Use L_MSE."),
        use_kl: Optional[bool] = typer.Option(None, "--kl/--no-kl", help="Use L_KL."),
        use_guidance: Optional[bool] = typer.Option(None, "--guidance/--no-guidance", help="Use L_g."),
        lr: Optional[float] = typer.Option(None, help="Adam learning rate. Default: 1e-3."),
        data_size: Optional[int] = typer.Option(None, help="Training scenes. Default: 4000."),
        dataset: Optional[str] = typer.Option(None, help="Training images as a data-set spec, e.g. 'lsun(root=...,split=train,size=512)': the first --data-size samples train, the next 64 are held out. Default: synthetic-streets at 64x128."),
        device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:N or auto. Default: cpu."),
        name: Optional[str] = typer.Option(None, help="File stem of the outputs. Default: ddsc-c<C>."),
        out: Optional[Path] = typer.Option(None, help="Training folder. Default: semcom-train/<name>."),
        export: bool = typer.Option(False, "--export", help="Write F_d/F_u and their JSON into the package's assets (embedded base only)."),
        workers: Optional[int] = typer.Option(None, help="Processes rendering the training scenes. Default: one per core."),
        data_cache: Optional[Path] = typer.Option(None, help="An .npz keeping the rendered scenes. Default: under the cache folder."),
    ) -> None:
        from semcom_bench_baselines.ddsc.training import train_ddsc

        options = {"c": c, "steps": steps, "batch_size": batch_size, "seed": seed, "threads": threads,
                   "time_limit_s": time_limit, "base": base, "lambda_kl": lambda_kl, "gamma": gamma, "domain": domain, "mse": mse,
                   "reparameterise": reparameterise, "use_mse": use_mse, "use_kl": use_kl,
                   "use_guidance": use_guidance, "lr": lr, "data_size": data_size, "workers": workers,
                   "data_cache": data_cache, "dataset": dataset, "device": device}
        given = {k: v for k, v in options.items() if v is not None}
        command_line = " ".join(shlex.quote(a) for a in ["semcom-bench", *sys.argv[1:]])
        folder = out or Path("semcom-train") / (name or f"ddsc-c{c or 28}")
        train_ddsc(out=folder, export=export, log=say, command=command_line, name=name, **given)
