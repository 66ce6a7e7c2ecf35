"""Checkpoints of a training folder and resuming from them.

The layout is guided-diffusion's: after step ``N`` (six digits) a folder holds ``model_N.pt``
(weights), ``ema_<decay>_N.pt`` (EMA weights) and ``opt_N.pt`` (optimiser, random state, step
and whatever else the trainer needs to continue).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

_MODEL = re.compile(r"^model_(\d+)\.pt$")


def latest_step(folder: str | Path) -> int | None:
    """The highest step with a ``model_N.pt`` in ``folder`` (None: no checkpoint)."""
    steps = [int(m.group(1)) for p in Path(folder).glob("model_*.pt") if (m := _MODEL.match(p.name))]
    return max(steps) if steps else None


def checkpoint_files(folder: str | Path, step: int, ema_decay: float) -> dict[str, Path]:
    """``{"model", "ema", "opt"}`` -> the files of step ``step``."""
    folder, s = Path(folder), f"{step:06d}"
    return {"model": folder / f"model_{s}.pt", "ema": folder / f"ema_{ema_decay}_{s}.pt", "opt": folder / f"opt_{s}.pt"}


def latest_ema(folder: str | Path) -> Path | None:
    """The EMA weights of the latest step in ``folder`` (the last by name when several decays were kept)."""
    step = latest_step(folder)
    ema = sorted(Path(folder).glob(f"ema_*_{step:06d}.pt")) if step is not None else []
    return ema[-1] if ema else None


def save_checkpoint(folder: str | Path, step: int, ema_decay: float, model: dict[str, torch.Tensor],
                    ema: dict[str, torch.Tensor], state: dict[str, Any]) -> dict[str, Path]:
    """Write the weights ``model``, the EMA weights ``ema`` (both moved to the CPU) and the training ``state``."""
    import torch

    files = checkpoint_files(folder, step, ema_decay)
    torch.save({k: v.cpu() for k, v in model.items()}, files["model"])
    torch.save({k: v.cpu() for k, v in ema.items()}, files["ema"])
    torch.save(state, files["opt"])
    return files


def load_checkpoint(folder: str | Path, step: int, ema_decay: float,
                    device: str | torch.device) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None, dict[str, Any]]:
    """(weights, EMA weights or None when that file is missing, training state) of step ``step``, on ``device``."""
    import torch

    files = checkpoint_files(folder, step, ema_decay)
    model = torch.load(files["model"], map_location=device, weights_only=True)
    ema = torch.load(files["ema"], map_location=device, weights_only=True) if files["ema"].is_file() else None
    state = torch.load(files["opt"], map_location=device, weights_only=False)
    return model, ema, state


def restore_generator(gen: torch.Generator, state: Any, saved_on: str, reseed: int) -> bool:
    """Put the saved random ``state`` (of a generator on ``saved_on``) back into ``gen``.

    A generator's state only fits a generator of the same device type; otherwise ``gen`` is seeded
    with ``reseed``. Returns whether the state was restored.
    """
    if saved_on.split(":")[0] == str(gen.device).split(":")[0]:
        gen.set_state(state.cpu() if hasattr(state, "cpu") else state)
        return True
    gen.manual_seed(reseed)
    return False


__all__ = ["checkpoint_files", "latest_ema", "latest_step", "load_checkpoint", "restore_generator", "save_checkpoint"]
