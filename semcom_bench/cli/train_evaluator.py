"""``semcom-bench train evaluator``: the recipe of the embedded synthetic-streets evaluators."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from semcom_bench.cli import train_options as check
from semcom_bench.cli.common import command, say, writing_to


def register(app: typer.Typer) -> None:
    @command(app, "evaluator", resumes=check.RERUN, epilog="""**Examples**

    semcom-bench train evaluator --task seg --device cuda
    semcom-bench train evaluator --task det --steps 200 --train-size 500 --out /tmp/det
    semcom-bench train evaluator --task depth --arch drn --device cuda
    semcom-bench train evaluator --task depth --validate-only
""")
    def evaluator(
        task: str = typer.Option(..., help="seg (DRN-D segmenter), det (CenterNet detector) or depth (DRN-D or DPT)."),
        arch: Optional[str] = typer.Option(None, help="Architecture, for depth: drn (DRN-D, output stride 1) or dpt. "
                                                      "Default: the shipped one."),
        depth_loss: Optional[str] = typer.Option(None, help="Depth loss: inverse-l1 or log-l1. Default: log-l1 (drn), inverse-l1 (dpt)."),
        steps: Optional[int] = typer.Option(None, help="Training steps. Default: 4000."),
        seed: int = typer.Option(0, help="Seed of the initialisation, batches and augmentation."),
        device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
        batch_size: Optional[int] = typer.Option(None, help="Images per step. Default: 32."),
        lr: Optional[float] = typer.Option(None, help="Peak learning rate. Default: 2e-3 (seg, det, depth drn), 5e-4 (depth dpt)."),
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
        from semcom_bench.evaluators.embedded import ARCHES

        if arch is not None and arch not in ARCHES[task]:
            raise UserError(f"unknown {task} architecture {arch!r}; use one of {', '.join(ARCHES[task])}")
        if depth_loss is not None and (task != "depth" or depth_loss not in training.DEPTH_LOSSES):
            raise UserError(f"--depth-loss is for --task depth: one of {', '.join(training.DEPTH_LOSSES)}")
        # every option is checked before the training scenes are rendered
        check.common(seed, threads, workers)
        check.whole(steps, "--steps")
        check.whole(batch_size, "--batch-size")
        check.whole(train_size, "--train-size")
        check.whole(val_size, "--val-size")
        check.positive(lr, "--lr")
        check.positive(time_budget, "--time-budget")
        from semcom_bench.components import resolve_device

        resolve_device(device)
        target = Path(out or training.ASSET_DIR)
        check.folder(target, "--out")
        check.file_folder(data_cache, "--data-cache")
        writing_to(target, data_cache)
        if threads:
            import torch

            torch.set_num_threads(threads)
        if validate_only:
            validation = training.revalidate(task=task, arch=arch, out=out, val_size=val_size, device=device, workers=workers)
            print(json.dumps(validation, indent=1))
        else:
            training.train_evaluator(task=task, steps=steps, seed=seed, device=device, batch_size=batch_size, lr=lr,
                                     train_size=train_size, val_size=val_size, out=out, data_cache=data_cache, workers=workers,
                                     time_budget=time_budget, arch=arch, depth_loss=depth_loss)
        say(f"wrote {Path(out or training.ASSET_DIR)}")
