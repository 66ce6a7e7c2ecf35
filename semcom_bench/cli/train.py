"""``semcom-bench train ...``: recipes that reproduce every shipped checkpoint.

Each recipe lives in its own module exposing ``register(app: typer.Typer) -> None``, which
adds its command(s) to this group. Importing those modules must stay cheap.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(help="Train the learned components (recipes that reproduce the shipped checkpoints).", no_args_is_help=True)

RECIPES: list[str] = [
    "semcom_bench.cli.train_evaluator",
    "semcom_bench.cli.train_diffusion",
    "semcom_bench.cli.train_distill",
    "semcom_bench.cli.train_baselines",
    "semcom_bench.cli.train_jscc",
    "semcom_bench.cli.train_cddm",
    "semcom_bench.cli.train_ddsc",
]

for _module in RECIPES:
    importlib.import_module(_module).register(app)
