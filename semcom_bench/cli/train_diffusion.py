"""``semcom-bench train gesco|sdm``: the recipes of the embedded semantic diffusion networks.

Both recipes train the same network (:func:`semcom_bench.nets.semantic_unet.embedded_config`)
on the data set's training split; ``gesco`` corrupts the maps by the channel at every step
(noisy training), ``sdm`` trains on clean maps. The command calls
:func:`semcom_bench.diffusion.training.train_recipe`.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

from semcom_bench.cli import train_options as check
from semcom_bench.cli.common import command, say, writing_to

EPILOG = """**Examples**

    semcom-bench train gesco --device cuda --steps 6000 --batch-size 128 --out runs/gesco --export assets
    semcom-bench train sdm --dataset "synthetic-streets(size=2000)" --steps 200 --out runs/sdm
    semcom-bench train gesco --out runs/gesco --steps 8000 --resume
    semcom-bench train gesco --init gesco --fds --steps 300 --batch-size 32 --lr 1e-4 --ema 0.99 --out runs/gesco-fds
"""


def register(app: typer.Typer) -> None:
    for recipe, what in (("gesco", "noisy maps (GESCO)"), ("sdm", "clean maps (SDM)")):
        _register_one(app, recipe, what)


def _register_one(app: typer.Typer, recipe: str, what: str) -> None:
    @command(app, recipe, epilog=EPILOG, resumes=check.TRAIN_RESUMES,
             help=f"Train the embedded {recipe} network on {what}: progress, checkpoints, --resume, EMA, --export with provenance.")
    def train_recipe(
        dataset: str = typer.Option("synthetic-streets", help="Training data set, with parameters as name(k=v); its train split."),
        steps: Optional[int] = typer.Option(None, help="Optimisation steps. Default: 6000."),
        batch_size: Optional[int] = typer.Option(None, help="Images per step. Default: 64."),
        seed: int = typer.Option(0, help="Seed of the initialisation and of every random draw."),
        device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto (a GPU when there is one)."),
        out: Optional[Path] = typer.Option(None, help=f"Checkpoint folder. Default: semcom-train/{recipe}."),
        resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --out."),
        export: Optional[str] = typer.Option(None, help="Write the EMA weights + recipe JSON to this folder ('assets': the package's): fp16, a fine-tune of a shipped network as its lossless difference to it (.pt.xz)."),
        lr: Optional[float] = typer.Option(None, help="AdamW learning rate. Default: 2e-4."),
        ema: Optional[float] = typer.Option(None, "--ema", help="EMA decay. Default: 0.999 (the paper: 0.9999 over far longer runs)."),
        drop_rate: Optional[float] = typer.Option(None, help="Null-label probability for guidance. Default: 0.2."),
        loss: Optional[str] = typer.Option(None, help="hybrid (L_simple + 0.001 L_vlb, the paper) or simple (the GESCO code)."),
        noise: Optional[str] = typer.Option(None, help=f"Training noise: channel, gesco-code or none. Default: {'channel' if recipe == 'gesco' else 'none'}."),
        power: Optional[str] = typer.Option(None, help="Power normalisation of the channel noise: peak (the paper's PSNR, default) or average."),
        fds: bool = typer.Option(False, "--fds", help="Pass the noisy training maps through FDS, as the receiver does (not in the paper; off by default)."),
        init: Optional[str] = typer.Option(None, help="Fine-tune: start from gesco, gesco-fds, sdm (the shipped networks), a weights file or a training folder."),
        checkpoint_every: Optional[int] = typer.Option(None, help="Steps between checkpoints. Default: 1000."),
        log_every: Optional[int] = typer.Option(None, help="Steps between progress lines. Default: 100."),
        time_limit: Optional[float] = typer.Option(None, help="Seconds: stop (and save) when reached; the JSON records the steps done."),
        workers: Optional[int] = typer.Option(None, help="Processes rendering the training scenes. Default: one per core."),
        data_cache: Optional[Path] = typer.Option(None, help="An .npz keeping the rendered scenes. Default: under the cache folder."),
        threads: Optional[int] = typer.Option(None, help="Torch CPU threads."),
    ) -> None:
        from semcom_bench.diffusion.training import recipe_config, train_recipe, training_data_spec
        from semcom_bench.training import default_data_cache

        # every option is checked before the training scenes are rendered
        check.common(seed, threads, workers)
        check.positive(lr, "--lr")
        check.positive(time_limit, "--time-limit")
        check.whole(checkpoint_every, "--checkpoint-every")
        check.whole(log_every, "--log-every")
        data = training_data_spec(dataset)
        recipe_config(recipe, dataset=data, steps=steps, batch_size=batch_size, ema_decay=ema, drop_rate=drop_rate,
                      loss=loss, noise=noise, power=power)  # the recipe's own checks
        model = check.recipe_network(data)
        check.scene_size(data, model)
        if init is not None:
            check.init_weights(init, data, model)
        run_dir = out or Path("semcom-train") / recipe
        check.folder(run_dir, "--out")
        if export is not None and export != "assets":
            check.folder(export, "--export")
        scenes = data_cache or default_data_cache(data)
        check.file_folder(scenes, "--data-cache")
        writing_to(run_dir, export if export != "assets" else None, scenes.parent)
        command_line = " ".join(shlex.quote(a) for a in ["semcom-bench", *sys.argv[1:]])
        train_recipe(recipe, dataset=dataset, out=out, device=device, resume=resume, export=export, data_cache=data_cache,
                     threads=threads, command=command_line, log=say,
                     steps=steps, batch_size=batch_size, seed=seed, lr=lr, ema_decay=ema, drop_rate=drop_rate, loss=loss,
                     noise=noise, power=power, fds=fds or None, init=init, checkpoint_every=checkpoint_every,
                     log_every=log_every, time_limit=time_limit, workers=workers)
