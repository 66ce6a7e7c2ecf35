"""``semcom-bench train gesco-guided|sdm-guided``: guidance distillation of the shipped diffusion networks.

The student learns the teacher's guided output (s = 2) in one pass per step, so that
``gesco|sdm(sampler=distilled)`` runs the 40-step chain with 40 network passes instead of 80.
The command calls :func:`semcom_bench.diffusion.training.train_recipe`.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

from semcom_bench.cli import train_options as check
from semcom_bench.cli.common import command, say, writing_to
from semcom_bench.errors import UserError

EPILOG = """**Examples**

    semcom-bench train gesco-guided --steps 800 --batch-size 16 --threads 2 --export assets
    semcom-bench train sdm-guided --device cuda --steps 4000 --batch-size 64 --out runs/sdm-guided
    semcom-bench train gesco-guided --init runs/gesco --out runs/gesco-guided --export runs/exported
"""


def register(app: typer.Typer) -> None:
    for recipe, teacher in (("gesco-guided", "gesco"), ("sdm-guided", "sdm")):
        _register_one(app, recipe, teacher)


def _register_one(app: typer.Typer, recipe: str, teacher: str) -> None:
    @command(app, recipe, epilog=EPILOG, resumes=check.TRAIN_RESUMES,
             help=f"Distil {teacher}'s guided output (two passes per step) into one pass: sampler=distilled.")
    def distill(
        dataset: str = typer.Option("synthetic-streets", help="Training data set, with parameters as name(k=v); its train split."),
        steps: Optional[int] = typer.Option(None, help="Optimisation steps. Default: 800 (the shipped students)."),
        batch_size: Optional[int] = typer.Option(None, help="Images per step. Default: 16."),
        seed: int = typer.Option(0, help="Seed of every random draw."),
        device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto (a GPU when there is one)."),
        out: Optional[Path] = typer.Option(None, help=f"Checkpoint folder. Default: semcom-train/{recipe}."),
        resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --out."),
        export: Optional[str] = typer.Option(None, help="Write the distilled tensors (int8 differences to the teacher) + JSON to this folder ('assets': the package's)."),
        init: Optional[str] = typer.Option(None, help=f"The teacher: gesco, gesco-fds, sdm, a weights file or a training folder. Default: {teacher}."),
        lr: Optional[float] = typer.Option(None, help="AdamW learning rate. Default: 1e-4."),
        ema: Optional[float] = typer.Option(None, "--ema", help="EMA decay. Default: 0.99."),
        checkpoint_every: Optional[int] = typer.Option(None, help="Steps between checkpoints. Default: 1000."),
        log_every: Optional[int] = typer.Option(None, help="Steps between progress lines. Default: 100."),
        time_limit: Optional[float] = typer.Option(None, help="Seconds: stop (and save) when reached; the JSON records the steps done."),
        workers: Optional[int] = typer.Option(None, help="Processes rendering the training scenes. Default: one per core."),
        data_cache: Optional[Path] = typer.Option(None, help="An .npz keeping the rendered scenes. Default: under the cache folder."),
        threads: Optional[int] = typer.Option(None, help="Torch CPU threads."),
    ) -> None:
        from semcom_bench.diffusion.distill import distill_config
        from semcom_bench.diffusion.training import train_recipe, training_data_spec
        from semcom_bench.training import default_data_cache

        check.common(seed, threads, workers)
        check.positive(lr, "--lr")
        check.positive(time_limit, "--time-limit")
        check.whole(checkpoint_every, "--checkpoint-every")
        check.whole(log_every, "--log-every")
        data = training_data_spec(dataset)
        distill_config(recipe, dataset=data, steps=steps, batch_size=batch_size, ema_decay=ema, init=init)
        model = check.recipe_network(data)
        check.scene_size(data, model)
        check.init_weights(init or teacher, data, model)
        if export == "assets" and init not in (None, teacher):
            raise UserError(f"--export assets ships the student of the shipped {teacher}; give a folder for "
                                  f"one distilled from --init {init}")
        run_dir = out or Path("semcom-train") / recipe
        check.folder(run_dir, "--out")
        if export is not None and export != "assets":
            check.folder(export, "--export")
        scenes = data_cache or default_data_cache(data)
        check.file_folder(scenes, "--data-cache")
        writing_to(run_dir, export if export != "assets" else None, scenes.parent)
        command_line = " ".join(shlex.quote(a) for a in ["semcom-bench", *sys.argv[1:]])
        train_recipe(recipe, dataset=dataset, out=out, device=device, resume=resume, export=export,
                       data_cache=data_cache, threads=threads, command=command_line, log=say, steps=steps,
                       batch_size=batch_size, seed=seed, lr=lr, ema_decay=ema, init=init,
                       checkpoint_every=checkpoint_every, log_every=log_every, time_limit=time_limit, workers=workers)
