"""Progress with ETA for long steps: a rich bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import time
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


class _LogBar:
    """Progress for logs (stderr not a terminal): a line at most every ``interval`` seconds
    and at the end, ``description done/total (pct) elapsed ETA``."""

    def __init__(self, description: str, total: int, interval: float = 30.0):
        self.description, self.total, self.interval = description, total, interval
        self.done = 0
        self.start = self.last = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.interval or self.done >= self.total:
            self.last = now
            console.print(self.line(now - self.start), highlight=False, soft_wrap=True)

    def line(self, elapsed: float) -> str:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = elapsed * (self.total - self.done) / self.done if self.done else float("nan")
        return f"{self.description} {self.done}/{self.total} ({pct:.0f}%) elapsed {_clock(elapsed)} ETA {_clock(eta)}"


def _clock(seconds: float) -> str:
    if seconds != seconds:  # NaN: no estimate yet
        return "-:--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@contextmanager
def rich_progress(description: str, total: int) -> Iterator[_Bar | _LogBar]:
    """A progress bar ``description [bar] done/total elapsed ETA``; usable as the runner's factory.

    When stderr is not a terminal (a log file, CI) it prints a plain line every 30 s instead.
    """
    if not console.is_terminal:
        yield _LogBar(description, total)
        return
    progress = Progress(
        TextColumn("[bold]{task.description:<11}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield _Bar(progress, task)
