"""``semcom-bench train evaluator``: the recipe of the embedded synthetic-streets evaluators."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from semcom_bench.cli.common import command, out_console


def register(app: typer.Typer) -> None:
    @command(app, "evaluator", epilog="""**Examples**

    semcom-bench train evaluator --task seg --device cuda
    semcom-bench train evaluator --task det --steps 200 --train-size 500 --out /tmp/det
    semcom-bench train evaluator --task depth --validate-only
""")
    def evaluator(
        task: str = typer.Option(..., help="seg (DRN-D segmenter), det (CenterNet detector) or depth (DPT)."),
        steps: Optional[int] = typer.Option(None, help="Training steps. Default: 4000."),
        seed: int = typer.Option(0, help="Seed of the initialisation, batches and augmentation."),
        device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
        batch_size: Optional[int] = typer.Option(None, help="Images per step. Default: 32."),
        lr: Optional[float] = typer.Option(None, help="Peak learning rate. Default: 2e-3 (seg, det), 5e-4 (depth)."),
        train_size: int = typer.Option(10000, help="Training scenes (synthetic-streets train split, seed 0)."),
        val_size: int = typer.Option(500, help="Validation scenes (val split)."),
        out: Optional[Path] = typer.Option(None, help="Output folder. Default: the package's assets/evaluators."),
        data_cache: Optional[Path] = typer.Option(None, help="An .npz that keeps the rendered training scenes."),
        workers: int = typer.Option(0, help="Rendering processes. Default: one per core."),
        time_budget: Optional[float] = typer.Option(None, help="Seconds: lower --steps (after a timing run) to fit."),
        validate_only: bool = typer.Option(False, help="Only re-validate the file in --out and update its provenance."),
        threads: Optional[int] = typer.Option(None, help="Torch CPU threads."),
    ) -> None:
        """Train an embedded evaluator on synthetic-streets; writes fp16 safetensors + provenance JSON."""
        from semcom_bench.errors import UserError
        from semcom_bench.evaluators import training

        if task not in training.TASKS:
            raise UserError(f"unknown task {task!r}; use one of {', '.join(training.TASKS)}")
        argv = ["--task", task, "--seed", str(seed), "--device", device, "--train-size", str(train_size),
                "--val-size", str(val_size), "--workers", str(workers)]
        for flag, value in (("--steps", steps), ("--batch-size", batch_size), ("--lr", lr), ("--out", out),
                            ("--data-cache", data_cache), ("--time-budget", time_budget), ("--threads", threads)):
            if value is not None:
                argv += [flag, str(value)]
        if validate_only:
            argv.append("--validate-only")
        training.main(argv)
        out_console.print(f"wrote {Path(out or training.ASSET_DIR)}")
