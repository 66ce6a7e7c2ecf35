"""Shared CLI plumbing: consoles, and turning user mistakes into one line + exit code 2."""

from __future__ import annotations

import errno
import functools
import os
from pathlib import Path
from typing import Any, Callable

import typer
from rich.console import Console
from rich.markup import escape

from semcom_bench.errors import UserError

out_console = Console()
err_console = Console(stderr=True)


def say(text: str) -> None:
    """Print a plain line (no markup, no highlighting, never wrapped: paths and log lines stay whole)."""
    out_console.print(text, highlight=False, markup=False, soft_wrap=True)


def print_error(message: str) -> None:
    """``error: message`` on stderr; the message is printed as is (``[evaluators]`` stays)."""
    err_console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True, markup=True)


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


#: errno values of a full disk (anywhere) and of an output or cache folder that cannot be written
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
UNWRITABLE = (errno.EROFS, errno.EACCES)
#: what a failed write leaves behind: for ``run``, and for any other command
RESUMES = "finished work is cached and running the same command again resumes"
RETRY = "then run the command again"

_writing: list[Path] = []


def writing_to(*folders: str | Path | None) -> None:
    """Declare the folders the running command writes into (outputs, cache).

    A failed write is named by its file when the error carries one, else by these folders; an
    unwritable-path error (EROFS, EACCES) counts as the user's only on a path under them.
    """
    _writing[:] = [Path(f).expanduser() for f in folders if f is not None]


def _under(path: Path, folders: list[Path]) -> bool:
    path = Path(os.path.abspath(path))
    return any(path == f or f in path.parents for f in (Path(os.path.abspath(f)) for f in folders))


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError that ``exc`` is or was raised from (following ``__cause__``/``__context__``)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


def disk_error_message(exc: BaseException, resumes: str = RETRY) -> str | None:
    """One line for a full disk (ENOSPC, EDQUOT, anywhere) or an unwritable output or cache folder
    (EROFS, EACCES, on a path under :func:`writing_to`'s folders); None for anything else.

    The line names the file (or the folders written to), what happened and the fix, and says
    ``resumes`` (what is kept and how to go on).
    """
    err = _os_error(exc)
    if err is None or err.errno not in (*DISK_FULL, *UNWRITABLE):
        return None
    filename = err.filename if isinstance(err.filename, (str, os.PathLike)) else None
    if err.errno in UNWRITABLE and not (filename is not None and _under(Path(filename), _writing)):
        return None
    where = str(filename) if filename is not None else " or ".join(str(f) for f in _writing) or "the output folder"
    reason = os.strerror(err.errno).lower()
    if err.errno in DISK_FULL:
        fix = "free some space there (or choose another --out / --cache-dir)"
    else:
        fix = "make it writable (or choose another --out / --cache-dir)"
    return f"{reason} ({errno.errorcode[err.errno]}) writing {where}; {fix}; {resumes}"


def command(app: typer.Typer, *args: Any, resumes: str = RETRY,
            **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Like ``app.command(...)``, but a :class:`UserError` prints one line and exits with code 2,
    and the epilog's indented example lines print one per line.

    So does a full disk or an unwritable output folder (:func:`disk_error_message`; ``resumes``
    says what is kept and how to go on); any other error keeps its traceback.
    """
    if kwargs.get("epilog"):
        kwargs["epilog"] = examples(kwargs["epilog"])

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*a: Any, **k: Any) -> Any:
            writing_to()
            try:
                return func(*a, **k)
            except UserError as exc:
                print_error(str(exc))
                raise typer.Exit(2) from None
            except Exception as exc:
                message = disk_error_message(exc, resumes)
                if message is None:
                    raise
                print_error(message)
                raise typer.Exit(2) from None

        return app.command(*args, **kwargs)(wrapper)

    return decorate
