"""The tidy results table and its provenance.

One row per image x metric output, plus set-level rows (``level == "set"``, ``sample`` empty).
Columns: dataset, method, channel, grid, snr_db, snr_definition, seed, sample, image_key,
metric, output, value, lower_better, level, limited.

Saved in the run's output folder as ``results.parquet`` and ``results.csv`` beside
``provenance.json`` (config, versions, git hash, date, counts, timings, skipped metrics).
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from semcom_bench import __version__
from semcom_bench.cache import atomic_write_bytes
from semcom_bench.errors import UserError

COLUMNS = [
    "dataset", "method", "channel", "grid", "snr_db", "snr_definition", "seed", "sample",
    "image_key", "metric", "output", "value", "lower_better", "level", "limited",
]


def git_hash() -> str | None:
    """The source tree's git commit (with ``-dirty`` if modified), or None outside git."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str]:
    import numpy
    import torch

    out = {"semcom-bench": __version__, "python": platform.python_version(), "torch": torch.__version__,
           "numpy": numpy.__version__, "pandas": pd.__version__}
    try:
        import torchmetrics

        out["torchmetrics"] = torchmetrics.__version__
    except ImportError:
        pass
    return out


def to_frame(rows: list[dict[str, Any]], dataset: str, grid: str, limited: bool) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    df["dataset"] = dataset
    df["grid"] = grid
    df["limited"] = limited
    return df[COLUMNS]


def save(out: Path, frame: pd.DataFrame, provenance: dict[str, Any]) -> None:
    """Write results.parquet, results.csv and provenance.json into ``out`` (atomically each)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output folder {out} ({exc.strerror}); pass --out with a writable folder") from None
    import io

    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    atomic_write_bytes(out / "results.parquet", buf.getvalue())
    atomic_write_bytes(out / "results.csv", frame.to_csv(index=False).encode())
    atomic_write_bytes(out / "provenance.json", json.dumps(provenance, indent=2, sort_keys=True, default=str).encode())


def provenance(config: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "config": config,
        "dataset": summary["dataset"],
        "num_samples": summary["num_samples"],
        "limited": summary["limited"],
        "counts": {**summary["counts"], **summary.get("integrity", {})},
        "timings": summary["timings"],
        "skipped_metrics": summary["skipped"],
        "versions": versions(),
        "git": git_hash(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def load(out: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a run's results; a missing folder is a one-line UserError."""
    out = Path(out)
    path = out / "results.parquet"
    if not path.exists():
        raise UserError(f"no results in {out} (missing results.parquet); run 'semcom-bench run --out {out}' first")
    frame = pd.read_parquet(path)
    prov_path = out / "provenance.json"
    prov = json.loads(prov_path.read_text()) if prov_path.exists() else {}
    return frame, prov
