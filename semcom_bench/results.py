"""The tidy results table and its provenance.

One row per image x metric output, plus set-level rows (``level == "set"``, ``sample`` empty).
Columns: dataset, method, channel, grid, snr_db, snr_definition, seed, sample, image_key,
metric, output, value, lower_better, level, limited.

A run's output folder holds its results as one unit::

    out/.lock                        held (``flock``) by the run writing here; names its pid
    out/runs/<id>/results.parquet    the table
    out/runs/<id>/results.csv        the same table as CSV
    out/runs/<id>/provenance.json    config, versions, git hash, date, counts, timings, skipped metrics
    out/runs/<id>/manifest.json      the sha256 of each of the three files
    out/latest                       the id of the current run, replaced atomically, last
    out/results.parquet, results.csv, provenance.json
                                     symbolic links into runs/<latest id>/ (copies where the file
                                     system has no links), for tools that read the files directly

A run writes a new ``runs/<id>/`` folder and then swaps ``latest``, so a reader following
``latest`` sees one run's complete set or the previous one, never a mixture, whatever happens
between the writes. :func:`load` is the one reader (report, plot, the paired report): it follows
``latest`` and refuses, in one line, files that do not match the manifest or do not parse. The
newest :data:`KEEP_RUNS` runs are kept. A second run writing into a folder whose lock a live
process holds is refused in one line (:func:`lock`); the lock goes with the process that holds
it, so a killed run leaves none behind. Folders written before this layout (the three files at
the top, no ``latest``) are still read.
"""

from __future__ import annotations

import datetime as _dt
import errno
import io
import json
import os
import platform
import secrets
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, NoReturn

import pandas as pd

from semcom_bench import __version__
from semcom_bench.cache import atomic_write_bytes, is_temp_name, sha256
from semcom_bench.errors import UserError

try:
    import fcntl
except ImportError:  # not a POSIX system: the lock falls back to the pid in the lock file
    fcntl = None  # type: ignore[assignment]

#: The files of one run, in the order they are written.
FILES = ("results.parquet", "results.csv", "provenance.json")
MANIFEST = "manifest.json"
LATEST = "latest"
RUNS = "runs"
LOCK = ".lock"
#: How many runs (the newest) a results folder keeps under runs/.
KEEP_RUNS = 3
#: Columns the readers need; a table without them is refused.
REQUIRED = ("method", "metric", "output", "value")

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


def new_run_id() -> str:
    """A run's folder name: the UTC time it is saved (so names sort by age) and the writer's pid."""
    now = _dt.datetime.now(_dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S.%f}Z-{os.getpid()}"


def save(out: Path, frame: pd.DataFrame, provenance: dict[str, Any]) -> Path:
    """Save one run's results into ``out`` as a unit (see the module docstring); returns its folder.

    Holds ``out``'s lock while writing (:func:`lock`; re-entrant within the process that holds
    it). Until ``latest`` is replaced, readers see the previous run.
    """
    out = Path(out)
    with lock(out):
        run_id = new_run_id()
        folder = out / RUNS / run_id
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        blobs = {
            "results.parquet": buf.getvalue(),
            "results.csv": frame.to_csv(index=False).encode(),
            "provenance.json": json.dumps(provenance, indent=2, sort_keys=True, default=str).encode(),
        }
        manifest = {"run": run_id, "files": {name: sha256(data) for name, data in blobs.items()}, "rows": len(frame)}
        try:
            for name, data in blobs.items():
                atomic_write_bytes(folder / name, data)
            atomic_write_bytes(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
            atomic_write_bytes(out / LATEST, f"{run_id}\n".encode())  # the commit point
        except OSError as exc:
            raise UserError(f"cannot write results into {out} ({exc.strerror or exc}); the previous results there are "
                            f"unchanged; free space or pass --out with a writable folder") from None
        _link_top_level(out, run_id, blobs)
        _prune(out, run_id)
    return folder


def _link_top_level(out: Path, run_id: str, blobs: dict[str, bytes]) -> None:
    """Point out/<file> at runs/<run_id>/<file> (a relative symbolic link; a copy where links fail)."""
    for name, data in blobs.items():
        tmp = out / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            os.symlink(f"{RUNS}/{run_id}/{name}", tmp)
            os.replace(tmp, out / name)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            try:
                atomic_write_bytes(out / name, data)
            except OSError:
                pass  # a convenience copy only: load() reads runs/<latest>


def _prune(out: Path, current: str) -> None:
    """Under the lock: drop runs beyond the newest KEEP_RUNS, unfinished run folders and orphaned
    temporary files (no other process writes here while the lock is held)."""
    runs = out / RUNS
    try:
        names = sorted(p.name for p in runs.iterdir() if p.is_dir())
    except OSError:
        return
    complete = [n for n in names if (runs / n / MANIFEST).exists()]
    keep = set(complete[-KEEP_RUNS:]) | {current}
    for name in names:
        if name not in keep:
            shutil.rmtree(runs / name, ignore_errors=True)
    for folder in (out, runs / current):
        try:
            for entry in os.scandir(folder):
                if is_temp_name(entry.name) and not entry.is_dir(follow_symlinks=False):
                    os.unlink(entry.path)
        except OSError:
            pass


_HELD: dict[str, int] = {}


@contextmanager
def lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s write lock for the block: a UserError, in one line, if a live process holds it.

    The lock is ``flock`` on ``out/.lock``, which also records the holder's pid for the message;
    the system releases it when the holder exits or is killed, so a stale pid in the file is
    ignored. Re-entrant within one process (``run`` holds it, ``save`` inside takes it again).
    Where ``flock`` is unavailable, the pid in the file is checked instead: a live pid holds the
    lock, a dead one is stale.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output folder {out} ({exc.strerror}); pass --out with a writable folder") from None
    ident = os.path.realpath(out)
    if ident in _HELD:
        _HELD[ident] += 1
        try:
            yield
        finally:
            _HELD[ident] -= 1
        return
    path = out / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise UserError(f"cannot write into output folder {out} ({exc.strerror}); pass --out with a writable folder") from None
    try:
        _acquire(fd, path, out)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD[ident] = 1
        try:
            yield
        finally:
            del _HELD[ident]
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
    finally:
        os.close(fd)  # releases the flock


def _acquire(fd: int, path: Path, out: Path) -> None:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                _refuse(path, out)
            # ENOLCK, EOPNOTSUPP ...: a file system without flock; fall back to the pid
    holder = _holder(path)
    if holder is not None and holder != os.getpid() and _alive(holder):
        _refuse(path, out)


def _holder(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _refuse(path: Path, out: Path) -> NoReturn:
    pid = _holder(path)
    who = f"another run (pid {pid})" if pid is not None else "another run"
    raise UserError(f"{who} is writing results into {out}; wait for it to finish, or pass another --out")


def provenance(config: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """The run's provenance; ``git`` and ``started`` are taken from ``summary`` when the run
    recorded them at its start (the code that ran, not the tree at save time)."""
    return {
        "config": config,
        "dataset": summary["dataset"],
        "num_samples": summary["num_samples"],
        "limited": summary["limited"],
        "counts": {**summary["counts"], **summary.get("integrity", {})},
        "timings": summary["timings"],
        "profile": summary.get("profile"),
        "skipped_metrics": summary["skipped"],
        "versions": versions(),
        "git": summary.get("git", git_hash()),
        "started": summary.get("started"),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def load(out: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read the current run's results in ``out``: (table, provenance). Only reads.

    A missing folder, a file that does not match its manifest, a table or provenance that does
    not parse: a one-line UserError.
    """
    out = Path(out)
    try:
        run_id = (out / LATEST).read_text().strip()
    except FileNotFoundError:
        return _load_top_level(out)
    except OSError as exc:
        raise UserError(f"cannot read {out / LATEST} ({exc.strerror}); check the permissions of {out}") from None
    folder = out / RUNS / run_id
    if not run_id or run_id != Path(run_id).name or run_id.startswith(".") or not folder.is_dir():
        _damaged(out, f"{LATEST} names no run folder under {RUNS}/")
    try:
        manifest = json.loads((folder / MANIFEST).read_bytes())
        files = manifest["files"]
        if not isinstance(files, dict) or not {"results.parquet", "provenance.json"} <= set(files):
            raise ValueError("no file list")
    except (OSError, ValueError, KeyError, TypeError):
        _damaged(out, f"{RUNS}/{run_id}/{MANIFEST} is missing or unreadable")
    blobs = {}
    for name, digest in files.items():
        try:
            data = (folder / Path(name).name).read_bytes()
        except OSError:
            _damaged(out, f"{RUNS}/{run_id}/{name} is missing")
        if sha256(data) != digest:
            _damaged(out, f"{RUNS}/{run_id}/{name} does not match the sha256 in its manifest")
        blobs[name] = data
    return _parse_frame(blobs["results.parquet"], folder / "results.parquet", out), \
        _parse_provenance(blobs["provenance.json"], folder / "provenance.json", out)


def _load_top_level(out: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A folder written before runs/ and latest existed: the files at the top, unchecked."""
    path = out / "results.parquet"
    if not path.exists():
        raise UserError(f"no results in {out} (missing results.parquet); run 'semcom-bench run --out {out}' first")
    try:
        frame_bytes = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror}); check its permissions") from None
    frame = _parse_frame(frame_bytes, path, out)
    prov_path = out / "provenance.json"
    try:
        prov_bytes = prov_path.read_bytes()
    except FileNotFoundError:
        return frame, {}
    except OSError as exc:
        raise UserError(f"cannot read {prov_path} ({exc.strerror}); check its permissions") from None
    return frame, _parse_provenance(prov_bytes, prov_path, out)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _damaged(out: Path, what: str) -> NoReturn:
    raise UserError(f"the results in {out} are damaged: {what}; run 'semcom-bench run --out {out}' again")


def _parse_frame(data: bytes, path: Path, out: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises its own types for a damaged file
        raise UserError(f"cannot read the results table {path} ({_first_line(exc)}); "
                        f"run 'semcom-bench run --out {out}' again") from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise UserError(f"the results table {path} lacks the column(s) {', '.join(missing)}; "
                        f"run 'semcom-bench run --out {out}' again")
    return frame


def _parse_provenance(data: bytes, path: Path, out: Path) -> dict[str, Any]:
    try:
        prov = json.loads(data)
    except ValueError as exc:
        raise UserError(f"cannot read the provenance {path} ({_first_line(exc)}); "
                        f"run 'semcom-bench run --out {out}' again") from None
    if not isinstance(prov, dict):
        raise UserError(f"the provenance {path} is not a JSON object; run 'semcom-bench run --out {out}' again")
    return prov
