"""``semcom-bench train deepjscc``: the recipe of the embedded DeepJSCC models.

One model per bandwidth ratio and training SNR (the paper's single-SNR variant); the command
calls :func:`semcom_bench_baselines.deepjscc.training.train_deepjscc`. Options left out take the
recipe's defaults, which reproduce the shipped checkpoints.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

from semcom_bench.cli import train_options as check
from semcom_bench.cli.common import command, say

EPILOG = """**Examples**

    semcom-bench train deepjscc --ratio 1/12 --snr-train 13 --threads 1 --export
    semcom-bench train deepjscc --ratio 1/6 --snr-train 10 --steps 200 --out runs/deepjscc
    semcom-bench train deepjscc --ratio 1/6 --snr-train 10 --out runs/deepjscc --resume
"""


def register(app: typer.Typer) -> None:
    @command(app, "deepjscc", epilog=EPILOG, resumes=check.TRAIN_RESUMES,
             help="Train an embedded DeepJSCC model (Bourtsoulatze et al. 2019; one model per training SNR) on "
                  "synthetic-streets at 64x128 over AWGN; progress, checkpoints, --resume, --export with provenance.")
    def train_deepjscc(
        ratio: str = typer.Option("1/12", help="Bandwidth ratio k/n = c/96 (c latent channels): 1/12, 1/6, 0.0833..."),
        snr_train: float = typer.Option(13.0, help="Training SNR in dB (Es/N0 per complex symbol, AWGN)."),
        steps: Optional[int] = typer.Option(None, help="Optimisation steps. Default: the recipe's (3000)."),
        batch_size: Optional[int] = typer.Option(None, help="Images per step. Default: 32."),
        seed: int = typer.Option(0, help="Seed of the initialisation and of every random draw."),
        threads: Optional[int] = typer.Option(1, help="Torch CPU threads."),
        time_limit: Optional[float] = typer.Option(None, help="Seconds: stop (and save) when reached; the JSON records the steps done."),
        out: Optional[Path] = typer.Option(None, help="Training folder. Default: semcom-train/deepjscc-c<c>-snr<S>-synthetic-streets."),
        resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --out."),
        export: bool = typer.Option(False, "--export", help="Write the weights and their JSON into the package's assets."),
        lr: Optional[float] = typer.Option(None, help="Adam learning rate before --lr-drop-step. Default: 1e-3."),
        lr_final: Optional[float] = typer.Option(None, help="Learning rate from --lr-drop-step on. Default: 1e-4."),
        lr_drop_step: Optional[int] = typer.Option(None, help="Step at which the learning rate drops to --lr-final. Default: no drop."),
        data_size: Optional[int] = typer.Option(None, help="Training scenes (the first N of the train split). Default: 10000."),
        workers: Optional[int] = typer.Option(None, help="Processes rendering the training scenes. Default: one per core."),
        data_cache: Optional[Path] = typer.Option(None, help="An .npz keeping the rendered scenes. Default: under the cache folder."),
    ) -> None:
        from semcom_bench.bandwidth import parse_ratio

        check.common(seed, threads, workers)
        check.whole(steps, "--steps")
        check.whole(batch_size, "--batch-size")
        check.whole(data_size, "--data-size")
        check.whole(lr_drop_step, "--lr-drop-step", 0)
        check.positive(lr, "--lr")
        check.positive(lr_final, "--lr-final")
        check.positive(time_limit, "--time-limit")
        check.folder(out, "--out")
        from semcom_bench_baselines.deepjscc.network import channels_for_ratio
        from semcom_bench_baselines.deepjscc.training import train_deepjscc as train

        channels_for_ratio(parse_ratio(ratio, "train deepjscc (--ratio)"), "train deepjscc (--ratio)")
        given = {"steps": steps, "batch_size": batch_size, "time_limit_s": time_limit, "workers": workers,
                 "data_cache": data_cache, "lr": lr, "lr_final": lr_final, "lr_drop_step": lr_drop_step, "data_size": data_size}
        command_line = " ".join(shlex.quote(a) for a in ["semcom-bench", *sys.argv[1:]])
        train(ratio=ratio, snr_train=snr_train, seed=seed, threads=threads, out=out, resume=resume, export=export,
              log=say, command=command_line, **{k: v for k, v in given.items() if v is not None})
