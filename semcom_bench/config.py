"""Run configuration: one object built from CLI flags and/or a TOML file.

A TOML file holds a paper's whole matrix::

    dataset = "synthetic-streets"          # or {name = "cityscapes", params = {root = "..."}}
    grid = "psnr"                          # or values = [0, 3, 6]
    methods = ["full-image", "digital(codec=jpeg,quality=50)"]
    channels = ["awgn"]
    metrics = ["psnr", "ssim", "bits", "miou(evaluator=embedded)"]
    limit = 8
    seeds = [0]
    out = "semcom-results"

Flags given on the command line override the file.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semcom_bench.errors import UserError
from semcom_bench.grids import resolve_grid
from semcom_bench.specs import Spec, parse_spec, parse_specs

DEFAULT_METHODS = "gesco,sdm,full-image"
DEFAULT_CHANNELS = "awgn"
DEFAULT_METRICS = "psnr,ssim,ms-ssim,bits,miou,miou-set,detection,depth,fid,kid,lpips,clip"
DEFAULT_OUT = "semcom-results"


def default_cache_dir() -> Path:
    """``$SEMCOM_CACHE`` or ``$XDG_CACHE_HOME/semcom-bench`` or ``~/.cache/semcom-bench``."""
    if os.environ.get("SEMCOM_CACHE"):
        return Path(os.environ["SEMCOM_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "semcom-bench"


@dataclass
class RunConfig:
    """Everything that defines a run's matrix and where its outputs go."""

    dataset: Spec = field(default_factory=lambda: Spec("synthetic-streets"))
    methods: list[Spec] = field(default_factory=lambda: parse_specs(DEFAULT_METHODS))
    channels: list[Spec] = field(default_factory=lambda: parse_specs(DEFAULT_CHANNELS))
    metrics: list[Spec] = field(default_factory=lambda: parse_specs(DEFAULT_METRICS))
    grid: str = "psnr"
    values: tuple[float, ...] = ()
    limit: int | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    out: Path = Path(DEFAULT_OUT)
    cache_dir: Path = field(default_factory=default_cache_dir)
    device: str = "cpu"
    batch_size: int = 8
    threads: int | None = None

    def __post_init__(self) -> None:
        if not self.values:
            self.grid, self.values = resolve_grid(self.grid, None)
        if self.limit is not None and self.limit < 1:
            raise UserError(f"--limit must be at least 1, got {self.limit}")
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not self.methods:
            raise UserError("no method given: pass --methods, e.g. --methods full-image")
        if not self.channels:
            raise UserError("no channel given: pass --channels, e.g. --channels awgn")
        if not self.metrics:
            raise UserError("no metric given: pass --metrics, e.g. --metrics psnr,miou")
        if self.threads is not None and self.threads < 1:
            raise UserError(f"--threads must be at least 1, got {self.threads}")
        self.out = Path(self.out)
        self.cache_dir = Path(self.cache_dir)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able view (recorded with the results)."""
        return {
            "dataset": {"name": self.dataset.name, "params": self.dataset.params},
            "methods": [m.label for m in self.methods],
            "channels": [c.label for c in self.channels],
            "metrics": [m.label for m in self.metrics],
            "grid": self.grid,
            "values": list(self.values),
            "limit": self.limit,
            "seeds": list(self.seeds),
            "out": str(self.out),
            "cache_dir": str(self.cache_dir),
            "device": self.device,
            "batch_size": self.batch_size,
            "threads": self.threads,
        }


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a run config file; a missing or malformed file is a one-line UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist; pass the path of a TOML file")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"config file {path} is not valid TOML: {exc}") from None


KNOWN_KEYS = {"dataset", "methods", "channels", "metrics", "grid", "values", "limit", "seeds", "seed", "out", "cache_dir",
              "device", "batch_size", "threads"}


def build_config(file: dict[str, Any] | None = None, **flags: Any) -> RunConfig:
    """Merge a TOML dict and CLI flags (flags that are not None win) into a RunConfig."""
    merged: dict[str, Any] = dict(file or {})
    unknown = set(merged) - KNOWN_KEYS
    if unknown:
        raise UserError(f"unknown config key(s) {', '.join(sorted(unknown))}; known keys: {', '.join(sorted(KNOWN_KEYS))}")
    merged.update({k: v for k, v in flags.items() if v is not None})
    kwargs: dict[str, Any] = {}
    if "dataset" in merged:
        kwargs["dataset"] = parse_spec(merged["dataset"])
    for key in ("methods", "channels", "metrics"):
        if key in merged:
            kwargs[key] = parse_specs(merged[key])
    grid_name, values = resolve_grid(merged.get("grid"), merged.get("values"))
    kwargs["grid"], kwargs["values"] = grid_name, values
    if "seed" in merged and flags.get("seeds") is None:  # the file's seed = N, unless --seed is given
        merged["seeds"] = [merged["seed"]]
    if "seeds" in merged:
        s = merged["seeds"]
        items = s.split(",") if isinstance(s, str) else s if isinstance(s, list) else [s]
        try:
            kwargs["seeds"] = [int(str(x).strip()) for x in items if str(x).strip()]
        except ValueError:
            raise UserError(f"bad seeds {s!r}: give integers, e.g. --seed 0,1,2") from None
    for key in ("limit", "out", "cache_dir", "device", "batch_size", "threads"):
        if key in merged:
            kwargs[key] = merged[key]
    return RunConfig(**kwargs)
