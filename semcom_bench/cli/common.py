"""Shared CLI plumbing: consoles, and turning user mistakes into one line + exit code 2."""

from __future__ import annotations

import functools
from typing import Any, Callable

import typer
from rich.console import Console

from semcom_bench.errors import UserError

out_console = Console()
err_console = Console(stderr=True)


def say(text: str) -> None:
    """Print a plain line (no markup, no highlighting, never wrapped: paths and log lines stay whole)."""
    out_console.print(text, highlight=False, markup=False, soft_wrap=True)


def print_error(message: str) -> None:
    err_console.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)


def examples(epilog: str) -> str:
    """Epilog text with each indented example line turned into a Markdown list item.

    Typer's Markdown help joins the lines of an indented block into one paragraph; a list
    keeps one example per line.
    """
    lines = []
    for line in epilog.splitlines():
        body = line.strip()
        lines.append(f"* `{body}`" if line.startswith("    ") and body else line)
    return "\n".join(lines)


def command(app: typer.Typer, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Like ``app.command(...)``, but a :class:`UserError` prints one line and exits with code 2,
    and the epilog's indented example lines print one per line."""
    if kwargs.get("epilog"):
        kwargs["epilog"] = examples(kwargs["epilog"])

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*a: Any, **k: Any) -> Any:
            try:
                return func(*a, **k)
            except UserError as exc:
                print_error(str(exc))
                raise typer.Exit(2) from None

        return app.command(*args, **kwargs)(wrapper)

    return decorate
