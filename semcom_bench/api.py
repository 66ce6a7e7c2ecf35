"""The Python API behind the CLI: usable on its own.

>>> from semcom_bench import api
>>> out = api.run(api.build_config(grid="psnr", limit=4))      # doctest: +SKIP
>>> print(api.report(out, "markdown"))                          # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from semcom_bench import results
from semcom_bench.components import default_threads, resolve_device
from semcom_bench.config import RunConfig, build_config, load_toml
from semcom_bench.errors import UserError
from semcom_bench.runner import ProgressFactory, _null_progress, run_matrix


def set_threads(threads: int | None) -> None:
    """Use ``threads`` torch CPU threads (None: ``$SEMCOM_THREADS`` or every core)."""
    import torch

    torch.set_num_threads(threads or default_threads())


def run(config: RunConfig, progress: ProgressFactory = _null_progress) -> dict[str, Any]:
    """Run ``config``'s matrix (resuming from the cache) and save results in ``config.out``.

    The work runs where ``config.executor`` says (:mod:`semcom_bench.executors`): in this
    process (``local``) or as Ray tasks (``ray``, on ``config.address`` or a local instance),
    with identical results. Holds ``config.out``'s lock from start to end
    (:func:`semcom_bench.results.lock`): a second run into the same folder is refused while
    this one lives. Returns the summary dict (rows, counts, integrity, timings, skipped
    metrics, ``out``, ``run_dir``: the folder under ``out/runs/`` holding this run's files).
    """
    import dataclasses
    import datetime

    from semcom_bench.executors import make_executor
    from semcom_bench.runner import build_components

    # every component spec is checked before a cluster starts or the output folder is touched
    build_components(dataclasses.replace(config, device="cpu"))
    started = {"git": results.git_hash(), "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    with make_executor(config) as executor:
        config.device = executor.resolve_device(config.device)
        set_threads(config.threads)
        with results.lock(config.out):
            summary = {**run_matrix(config, progress, executor), **started}
            frame = results.to_frame(summary["rows"], config.dataset.label, config.grid, summary["limited"])
            prov = results.provenance(config.to_dict(), summary)
            summary["run_dir"] = results.save(config.out, frame, prov)
    summary["out"] = config.out
    summary["frame"] = frame
    return summary


def report(out: str | Path, fmt: str = "markdown", metrics: list[str] | None = None, versus: str | None = None) -> str:
    """Render the tables of the run saved in ``out`` as latex, markdown or csv.

    With ``versus`` (a method label exactly as in the results' method column), render the
    paired view instead of the mean ± std tables: per-image differences of every other
    method against ``versus``, mean and 95 % paired bootstrap interval per channel x SNR
    (:mod:`semcom_bench.report.paired`). An unknown label is a UserError listing the methods.
    """
    from semcom_bench.report.tables import render

    if fmt not in ("latex", "markdown", "csv"):
        raise UserError(f"unknown report format {fmt!r}; use latex, markdown or csv")
    frame, prov = results.load(out)
    if metrics:
        unknown = sorted(set(metrics) - set(frame["metric"]) - set(frame["output"]))
        if unknown:
            raise UserError(f"metric(s) {', '.join(unknown)} not in the results of {out}; present: {', '.join(sorted(set(frame['metric'])))}")
    if versus is not None:
        from semcom_bench.report.paired import render_paired

        return render_paired(frame, prov, fmt, versus, metrics)
    return render(frame, prov, fmt, metrics)


__all__ = ["run", "report", "build_config", "load_toml", "resolve_device", "set_threads", "RunConfig"]
