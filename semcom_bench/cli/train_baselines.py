"""``semcom-bench train spade|oasis|smis|cc-fpse``: the recipes of the embedded GAN baselines.

Each command calls the training function of its method in ``semcom_bench_baselines`` (the
package of third-party methods, installed with semcom-bench) with the options given here;
options left out take the recipe's defaults, which reproduce the shipped checkpoint.
"""

from __future__ import annotations

import importlib
import shlex
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from semcom_bench.cli.common import command, say

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
"""


def trainer(method: str) -> Any:
    """The training function of ``method``."""
    module, _, name = TRAINERS[method][0].partition(":")
    return getattr(importlib.import_module(module), name)


def register(app: typer.Typer) -> None:
    for method, (_, what) in TRAINERS.items():
        _register_one(app, method, what)


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
    ) -> None:
        options = {"steps": steps, "batch_size": batch_size, "seed": seed, "threads": threads, "time_limit_s": time_limit,
                   "workers": workers, "data_cache": data_cache}
        given = {k: v for k, v in options.items() if v is not None}
        command_line = " ".join(shlex.quote(a) for a in ["semcom-bench", *sys.argv[1:]])
        trainer(method)(out=out or Path("semcom-train") / method, export=export, log=say, command=command_line, **given)
