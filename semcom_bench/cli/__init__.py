"""The ``semcom-bench`` command line: a thin Typer layer over :mod:`semcom_bench.api`."""

from semcom_bench.cli.main import app, main

__all__ = ["app", "main"]
