"""Where a run's work units execute: this process (``local``) or a Ray cluster (``ray``).

The runner (:mod:`semcom_bench.runner`) decides everything about a run: the cells, the fixed
batch slices, the random streams, the cache keys and what is already cached. It cuts the work
into units and hands them to an executor:

- generation: one :class:`~semcom_bench.runner.BatchUnit` per fixed batch of one cell that has
  an image missing or corrupt, each run by :func:`~semcom_bench.runner.generate_batch`;
- scoring: one :class:`~semcom_bench.runner.ScoreUnit` per (cell, metric), each run by
  :func:`~semcom_bench.runner.score_unit`.

An executor is a context manager (started before the run, stopped after) with three methods:

``resolve_device(device)``
    the device the units run on ("auto" resolved), or a one-line UserError;
``generate(units, cache, tally, advance)``
    runs every unit, calls ``advance(n)`` with each unit's count of written images as it
    finishes, and returns the total written;
``score(units, cache, batch_size, tally, advance)``
    runs every unit, calls ``advance(1)`` as each finishes, and returns each unit's rows, in
    the order of ``units``.

Both add what they found wrong in the cache to ``tally`` (:func:`~semcom_bench.runner.new_tally`).
The local executor is the runner's loop; the Ray one (:mod:`semcom_bench.executors.ray_executor`)
runs the same two functions in Ray tasks. Importing this package never imports Ray.
"""

from __future__ import annotations

from typing import Any, Callable

from semcom_bench.config import RunConfig
from semcom_bench.errors import UserError

#: what the Ray executor needs installed, named in its error message
RAY_EXTRA = "pip install 'semcom-bench[ray]'"


class LocalExecutor:
    """Every unit in this process, one after the other, in the runner's order."""

    name = "local"

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def resolve_device(self, device: str) -> str:
        from semcom_bench.components import resolve_device

        return resolve_device(device)

    def generate(self, units: list[Any], cache: Any, tally: dict[str, int], advance: Callable[[int], None]) -> int:
        from semcom_bench.runner import generate_batch

        written = 0
        for unit in units:
            n = generate_batch(unit, cache, tally)
            written += n
            advance(n)
        return written

    def score(self, units: list[Any], cache: Any, batch_size: int, tally: dict[str, int],
              advance: Callable[[int], None]) -> list[list[dict[str, Any]]]:
        from semcom_bench.runner import score_unit

        out = []
        for unit in units:
            out.append(score_unit(unit, cache, batch_size, tally))
            advance(1)
        return out


def make_executor(config: RunConfig) -> Any:
    """The executor ``config.executor`` names (not started: use it as a context manager).

    ``ray`` without Ray installed is a one-line UserError naming the extra to install.
    """
    if config.executor == "local":
        return LocalExecutor()
    if config.executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UserError(f"--executor ray needs Ray, which is not installed: {RAY_EXTRA}") from None
        from semcom_bench.executors.ray_executor import RayExecutor

        return RayExecutor(config)
    raise UserError(f"unknown executor {config.executor!r}; use local or ray")


__all__ = ["LocalExecutor", "make_executor", "RAY_EXTRA"]
