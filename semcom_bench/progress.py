"""Rich progress bars with ETA for long steps (quiet when not on a terminal)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)


class _Bar:
    def __init__(self, progress: Progress, task: int):
        self._progress, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        self._progress.advance(self._task, n)


@contextmanager
def rich_progress(description: str, total: int) -> Iterator[_Bar]:
    """A progress bar ``description [bar] done/total elapsed ETA``; usable as the runner's factory."""
    progress = Progress(
        TextColumn("[bold]{task.description:<11}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield _Bar(progress, task)
