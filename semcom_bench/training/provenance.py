"""Provenance of a trained checkpoint: where, when and how it was made, written beside it.

:func:`run_provenance` collects what every trainer records (git commit, package versions, device
name, date); :func:`file_record` gives a file's name, sha256 and size; :func:`reproduce_command`
turns the command that ran into the one that reproduces the result; :func:`write_provenance`
writes the JSON beside the checkpoint (``<checkpoint stem>.json``, atomically). Each trainer lays
out its own JSON with these pieces (see ``evaluators/training.py`` and ``diffusion/training.py``).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import re
import shlex
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

#: the repository (or installed tree) that holds the package
ROOT = Path(__file__).resolve().parents[2]


def git_commit() -> str:
    """``$SEMCOM_GIT_COMMIT`` when set, else the checked-out commit of the package's repository, else ``unknown``."""
    if os.environ.get("SEMCOM_GIT_COMMIT"):
        return os.environ["SEMCOM_GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit if re.fullmatch(r"[0-9a-f]{40}", commit) else "unknown"


def device_name(device: str) -> str:
    """The GPU's name for ``cuda``/``cuda:N``; ``cpu (<processor>, <torch threads> threads)`` otherwise."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def versions(*packages: str) -> dict[str, str]:
    """``{"torch": ..., <package>: ...}``: the ``__version__`` of torch and of each of ``packages``."""
    return {name: str(importlib.import_module(name).__version__) for name in ("torch", *packages)}


def utc_date() -> str:
    """Now, as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_provenance(device: str, *packages: str) -> dict[str, Any]:
    """What every trainer records about its run.

    Returns:
        ``device_name`` (:func:`device_name`), ``git_commit`` (:func:`git_commit`), ``versions``
        (:func:`versions` of torch and ``packages``) and ``date`` (:func:`utc_date`).
    """
    return {"device_name": device_name(device), "git_commit": git_commit(), "versions": versions(*packages),
            "date": utc_date()}


def file_record(path: str | Path) -> dict[str, Any]:
    """``{"file": name, "sha256": hex digest, "bytes": size}`` of an output file."""
    from semcom_bench.hashing import hash_file

    path = Path(path)
    return {"file": path.name, "sha256": hash_file(path), "bytes": path.stat().st_size}


def reproduce_command(command: str, steps: int) -> str:
    """``command`` with ``--steps`` set to the steps actually done and ``--time-limit`` dropped.

    ``--steps N`` goes right after ``semcom-bench train <recipe>``.
    """
    out, toks, i = [], shlex.split(command), 0
    while i < len(toks):
        tok = toks[i]
        name = tok.split("=", 1)[0]
        if name in ("--steps", "--time-limit"):
            i += 1 if "=" in tok else 2
            continue
        out.append(tok)
        i += 1
    if "train" in out:
        k = out.index("train") + 2
        out[k:k] = ["--steps", str(steps)]
    return " ".join(shlex.quote(t) for t in out)


def training_record(command: str, steps_done: int, stopped_early: bool, seconds: float, run: dict[str, Any],
                    final: dict[str, Any], final_key: str = "final") -> dict[str, Any]:
    """The ``provenance`` block of a shipped checkpoint's JSON: the command and the one reproducing it
    (:func:`reproduce_command`), the steps done, whether a time limit stopped the run, the seconds
    (total and per step), the device, commit, versions and date of ``run`` (:func:`run_provenance`), and
    the last logged losses under ``final_key``."""
    return {"command": command, "reproduce": reproduce_command(command, steps_done), "steps_done": steps_done,
            "stopped_early": stopped_early, "seconds": round(seconds, 1),
            "seconds_per_step": round(seconds / max(steps_done, 1), 4), "device": run["device_name"],
            "git_commit": run["git_commit"], "versions": run["versions"], "date": run["date"], final_key: final}


def provenance_path(checkpoint: str | Path) -> Path:
    """Where the provenance of ``checkpoint`` lives: ``NAME.json`` beside ``NAME.pt`` or ``NAME.pt.xz``."""
    from semcom_bench.weight_codecs import sidecar_path

    return sidecar_path(checkpoint)


def write_provenance(checkpoint: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as indented JSON beside ``checkpoint`` (:func:`provenance_path`), atomically."""
    path = provenance_path(checkpoint)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


__all__ = ["device_name", "file_record", "git_commit", "provenance_path", "reproduce_command", "run_provenance",
           "utc_date", "versions", "write_provenance"]
