"""``semcom-bench train cddm``: the recipe of the embedded CDDM denoisers.

One denoiser per bandwidth ratio, channel and JSCC training SNR, trained on the frozen embedded
``deepjscc`` encoder's latents (the official stage 2); the command calls
:func:`semcom_bench_baselines.cddm.training.train_cddm`. Options left out take the recipe's
defaults, which reproduce the shipped checkpoints.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

from semcom_bench.cli import train_options as check
from semcom_bench.cli.common import command, say
from semcom_bench.errors import UserError

EPILOG = """**Examples**

    semcom-bench train cddm --ratio 1/12 --channel awgn --snr-train 13 --threads 1 --export
    semcom-bench train cddm --ratio 1/12 --channel rayleigh --steps 200 --out runs/cddm
    semcom-bench train cddm --ratio 1/12 --channel rayleigh --out runs/cddm --resume
"""


def register(app: typer.Typer) -> None:
    @command(app, "cddm", epilog=EPILOG, resumes=check.TRAIN_RESUMES,
             help="Train an embedded CDDM denoiser (Wu et al. 2024, stage 2) on the frozen deepjscc encoder's "
                  "synthetic-streets latents for AWGN or Rayleigh; progress, checkpoints, --resume, --export with provenance.")
    def train_cddm(
        ratio: str = typer.Option("1/12", help="Bandwidth ratio k/n of the deepjscc JSCC: 1/12 or 1/6."),
        channel: str = typer.Option("awgn", help="Channel of the denoiser: awgn or rayleigh."),
        snr_train: float = typer.Option(13.0, help="Training SNR (dB) of the JSCC; Rayleigh: design point snr_train - 3."),
        steps: Optional[int] = typer.Option(None, help="Optimisation steps. Default: the recipe's (2500)."),
        batch_size: Optional[int] = typer.Option(None, help="Latents per step. Default: 16."),
        seed: int = typer.Option(0, help="Seed of the initialisation and of every random draw."),
        threads: Optional[int] = typer.Option(1, help="Torch CPU threads."),
        time_limit: Optional[float] = typer.Option(None, help="Seconds: stop (and save) when reached; the JSON records the steps done."),
        out: Optional[Path] = typer.Option(None, help="Training folder. Default: semcom-train/cddm-rK_N-CHANNEL-snrS."),
        resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --out."),
        export: bool = typer.Option(False, "--export", help="Write the weights and their JSON into the package's assets."),
        lr: Optional[float] = typer.Option(None, help="AdamW peak learning rate. Default: 1e-3."),
        convention: Optional[str] = typer.Option(None, help="Rayleigh equaliser term of the receiver: paper (default) or official."),
        jscc_weights: Optional[Path] = typer.Option(None, help="A deepjscc weights file instead of the embedded JSCC."),
        workers: Optional[int] = typer.Option(None, help="Processes rendering the training scenes. Default: one per core."),
        data_cache: Optional[Path] = typer.Option(None, help="An .npz keeping the rendered scenes. Default: under the cache folder."),
    ) -> None:
        from semcom_bench.bandwidth import parse_ratio

        check.common(seed, threads, workers)
        check.whole(steps, "--steps")
        check.whole(batch_size, "--batch-size")
        check.positive(lr, "--lr")
        check.positive(time_limit, "--time-limit")
        check.folder(out, "--out")
        if channel not in ("awgn", "rayleigh"):
            raise UserError(f"--channel must be awgn or rayleigh, got {channel!r}")
        if convention is not None and convention not in ("paper", "official"):
            raise UserError(f"--convention must be paper or official, got {convention!r}")
        parse_ratio(ratio, "train cddm (--ratio)")
        from semcom_bench_baselines.cddm.training import train_cddm as train

        given = {"steps": steps, "batch_size": batch_size, "time_limit_s": time_limit, "workers": workers,
                 "data_cache": data_cache, "lr": lr, "convention": convention, "jscc_weights": jscc_weights}
        command_line = " ".join(shlex.quote(a) for a in ["semcom-bench", *sys.argv[1:]])
        train(ratio=ratio, channel=channel, snr_train=snr_train, seed=seed, threads=threads, out=out, resume=resume,
              export=export, log=say, command=command_line, **{k: v for k, v in given.items() if v is not None})
