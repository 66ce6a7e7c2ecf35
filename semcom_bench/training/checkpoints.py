"""Checkpoints of a training folder and resuming from them.

The layout is guided-diffusion's: after step ``N`` (six digits) a folder holds ``model_N.pt``
(weights), ``ema_<decay>_N.pt`` (EMA weights) and ``opt_N.pt`` (optimiser, random state, step
and whatever else the trainer needs to continue). Every file is written atomically and read with
``torch.load(weights_only=True)``: a checkpoint folder is data, never code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from semcom_bench.errors import UserError

if TYPE_CHECKING:
    import torch

_MODEL = re.compile(r"^model_(\d+)\.pt$")


def float16_state(state: "Mapping[str, torch.Tensor]") -> dict[str, "torch.Tensor"]:
    """``state`` detached on the CPU with its floating tensors in float16 (the shipped checkpoints' format);
    other tensors (integer buffers) keep their dtype."""
    import torch

    return {k: v.detach().to("cpu", torch.float16 if v.is_floating_point() else v.dtype) for k, v in state.items()}


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


def _write_atomic(obj: Any, path: Path) -> None:
    """``torch.save(obj)`` to ``path`` through a temporary file in the same folder and a rename.

    A write that fails (a full disk: an ``OSError`` with its errno) leaves no partial file.
    """
    import io
    import os
    import tempfile

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(folder: str | Path, step: int, ema_decay: float, model: dict[str, torch.Tensor],
                    ema: dict[str, torch.Tensor], state: dict[str, Any]) -> dict[str, Path]:
    """Write the weights ``model``, the EMA weights ``ema`` (both moved to the CPU) and the training ``state``.

    Each file is written atomically, the weights last: a ``model_N.pt`` (what :func:`latest_step`
    looks for) exists only once the step's other files do. ``state`` must load with
    ``torch.load(weights_only=True)`` (tensors, numbers, text, lists and dicts of them; a
    generator's state is a uint8 tensor), as :func:`load_checkpoint` reads it that way.
    """
    files = checkpoint_files(folder, step, ema_decay)
    _write_atomic(state, files["opt"])
    _write_atomic({k: v.cpu() for k, v in ema.items()}, files["ema"])
    _write_atomic({k: v.cpu() for k, v in model.items()}, files["model"])
    return files


def load_checkpoint(folder: str | Path, step: int, ema_decay: float,
                    device: str | torch.device) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None, dict[str, Any]]:
    """(weights, EMA weights or None when that file is missing, training state) of step ``step``, on ``device``.

    Every file is read with ``weights_only=True`` (no code from the file runs); a file that is
    missing or cannot be read is a one-line UserError naming it.
    """
    files = checkpoint_files(folder, step, ema_decay)
    model = _load(files["model"], device)
    ema = _load(files["ema"], device) if files["ema"].is_file() else None
    state = _load(files["opt"], device)
    if not isinstance(state, dict) or "step" not in state:
        raise UserError(f"checkpoint file {files['opt']} holds no training state; remove step {step}'s files "
                        "to resume from the one before")
    return model, ema, state


def _load(path: Path, device: str | torch.device) -> Any:
    import pickle

    import torch

    if not path.is_file():
        raise UserError(f"checkpoint file {path} is missing; remove the other files of its step to resume from the one "
                        "before")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError, TypeError, AttributeError,
            IndexError, UnicodeDecodeError) as exc:
        if isinstance(exc, pickle.UnpicklingError) and "global" in str(exc).lower():
            reason = "it holds objects other than tensors and plain data, and loading those could run code"
        else:
            reason = "not a torch file this version can read"
        raise UserError(f"checkpoint file {path} cannot be read safely ({reason}); remove its step's files to resume "
                        "from the one before") from None


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
