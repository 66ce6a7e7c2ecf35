"""Checks of the ``semcom-bench train`` options, run before any training scene is rendered.

Each check is a one-line :class:`UserError` naming the flag and what it accepts. The
recipe settings that :class:`semcom_bench.diffusion.training.TrainConfig` checks itself
(``--steps``, ``--batch-size``, ``--ema``, ``--drop-rate``, ``--loss``, ``--noise``,
``--power``) are checked there, also before rendering; these are the rest.

Importing this module stays cheap (no torch).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from semcom_bench.config import MAX_SEED, MAX_THREADS, check_writable
from semcom_bench.errors import UserError

#: what is kept when a training command stops on a full disk
TRAIN_RESUMES = "checkpoints written so far are kept; run the same command with --resume to continue"
#: the same for commands that cannot resume (what is cached is reused)
RERUN = "rendered scenes already cached are reused when the command runs again"


def whole(value: int | None, flag: str, low: int = 1, high: int = 2**63 - 1) -> None:
    """``value`` (None: the default) is a whole number in [low, high]."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{flag} must be a whole number, got {value!r}")
    if value < low:
        raise UserError(f"{flag} must be at least {low}, got {value}")
    if value > high:
        raise UserError(f"{flag} must be at most {high}, got {value}")


def positive(value: float | None, flag: str) -> None:
    """``value`` (None: the default) is a finite number above 0."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise UserError(f"{flag} must be a finite number above 0, got {value!r}")


def common(seed: int | None, threads: int | None, workers: int | None) -> None:
    """The options every training command takes."""
    whole(seed, "--seed", 0, MAX_SEED)
    whole(threads, "--threads", 1, MAX_THREADS)
    whole(workers, "--workers", 0, 1024)


def folder(path: str | Path | None, flag: str) -> None:
    """A folder the command writes into (made if missing) can be written."""
    if path is not None:
        check_writable(path, flag)


def file_folder(path: str | Path | None, flag: str) -> None:
    """The folder of a file the command writes can be written, and the path is not a folder."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path} is a folder; give a file path")
    check_writable(path.parent, flag)


def recipe_network(dataset: dict[str, Any]) -> Any:
    """The network the diffusion recipes train for the render spec ``dataset``, built on the CPU.

    Built as the trainer builds it (:func:`embedded_config` with the data set's classes and
    instance edges); its ``config.num_classes`` is the data set's.
    """
    from semcom_bench.nets.semantic_unet import SemanticUNet, embedded_config
    from semcom_bench.training import create_dataset

    return SemanticUNet(embedded_config(num_classes=int(create_dataset(dataset).num_classes), instance_edges=True))


def scene_size(dataset: dict[str, Any], model: Any) -> None:
    """The scenes of ``dataset`` (one is rendered) fit the model grid of the recipes."""
    from semcom_bench.diffusion.training import TrainConfig
    from semcom_bench.training import create_dataset

    h, w = create_dataset(dataset)[0].image.shape[:2]
    f = TrainConfig().model_downsample * model.downsampling
    if h % f or w % f:
        raise UserError(f"--dataset scenes of {h}x{w} do not fit the network: height and width must be multiples of {f}")


def init_weights(init: str, dataset: dict[str, Any], model: Any) -> None:
    """``--init``: the file exists, holds a state dict and fits ``model`` (:func:`recipe_network`)."""
    from semcom_bench.diffusion.training import init_weights_path
    from semcom_bench.methods.semantic.gesco import network_state
    from semcom_bench.nets.semantic_unet import load_weights

    path = init_weights_path(init)
    try:
        state = network_state(path)
    except ValueError as exc:
        raise UserError(f"--init {init}: {exc}; give gesco, gesco-fds, sdm, an exported NAME.pt or a training folder") from None
    try:
        load_weights(model, state)
    except ValueError as exc:
        raise UserError(f"--init {init}: {path} does not fit this recipe's network for {dataset['name']} "
                        f"({model.config.num_classes} classes): {exc}") from None
