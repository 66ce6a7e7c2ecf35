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
    executor = "ray"                       # or "local" (the default); address = "auto" joins a cluster

Flags given on the command line override the file.
"""

from __future__ import annotations

import os
import re
import tempfile
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
#: where a run's work units execute: this process (local) or a Ray cluster (ray)
EXECUTORS = ("local", "ray")


def default_cache_dir() -> Path:
    """``$SEMCOM_CACHE`` or ``$XDG_CACHE_HOME/semcom-bench`` or ``~/.cache/semcom-bench``."""
    if os.environ.get("SEMCOM_CACHE"):
        return Path(os.environ["SEMCOM_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "semcom-bench"


@dataclass
class RunConfig:
    """Everything that defines a run's matrix and where its outputs go.

    Every field is checked when the object is built (:func:`check_field`, the one place the
    run options are checked): a bad one is a one-line :class:`UserError`.
    """

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
    executor: str = "local"
    address: str | None = None

    def __post_init__(self) -> None:
        if self.values is None or len(self.values) == 0:
            self.grid, self.values = resolve_grid(self.grid, None)
        else:
            self.grid, self.values = resolve_grid(self.grid, self.values)
        for key in ("dataset", "methods", "channels", "metrics", "limit", "seeds", "out", "cache_dir", "device",
                    "batch_size", "threads", "executor", "address"):
            setattr(self, key, check_field(key, getattr(self, key), option(key)))
        if self.address is not None and self.executor != "ray":
            raise UserError(f"the address {self.address} (--address) names a Ray cluster, but the executor is "
                            f"{self.executor}: add --executor ray (executor = \"ray\" in a config file), or drop the address")

    def check_outputs(self) -> None:
        """One-line UserErrors unless the results and cache folders can be written (check before any work)."""
        check_writable(self.out, "--out (out)")
        check_writable(self.cache_dir.expanduser(), "--cache-dir (cache_dir)")  # as the cache opens it

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
            "executor": self.executor,
            "address": self.address,
        }


#: the run configs shipped with the package (one per table or figure of the papers)
SHIPPED_CONFIGS = Path(__file__).resolve().parent / "configs"


def shipped_configs() -> dict[str, Path]:
    """Name -> path of every config shipped with the package (``semcom-bench run --config NAME``)."""
    return {p.stem: p for p in sorted(SHIPPED_CONFIGS.glob("*.toml"))}


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a run config file, or a shipped config by name; a missing or malformed file is a one-line UserError."""
    path = Path(path)
    if not path.is_file() and str(path) in shipped_configs():
        path = shipped_configs()[str(path)]
    if not path.is_file():
        names = ", ".join(shipped_configs())
        raise UserError(f"config file {path} does not exist; pass the path of a TOML file or a shipped config: {names}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"config file {path} is not UTF-8 text; save it as a UTF-8 TOML file") from None
    except OSError as exc:
        raise UserError(f"cannot read config file {path} ({exc.strerror or exc}); check the path and its permissions") from None


KNOWN_KEYS = {"dataset", "methods", "channels", "metrics", "grid", "values", "limit", "seeds", "seed", "out", "cache_dir",
              "device", "batch_size", "threads", "executor", "address"}

#: the largest seed (seeds are stored as signed 64-bit integers)
MAX_SEED = 2**63 - 1
#: the largest count any integer option takes (stored as signed 64-bit integers)
MAX_COUNT = 2**63 - 1
#: the most torch CPU threads --threads accepts
MAX_THREADS = 1024
_DEVICE = re.compile(r"^(cpu|auto|cuda(:[0-9]+)?)$")
_KIND = {"methods": "method", "channels": "channel", "metrics": "metric"}
_EXAMPLE = {"methods": ("full-image", '["full-image"]'), "channels": ("awgn", '["awgn"]'),
            "metrics": ("psnr,miou", '["psnr", "miou"]'), "seeds": ("0,1,2", "[0, 1, 2]")}


def option(key: str, from_file: bool = False) -> str:
    """How messages name the run option ``key``: ``--batch-size``, or ``batch_size in the config file``."""
    if from_file:
        return f"{key} in the config file"
    return "--seed" if key in ("seed", "seeds") else "--" + key.replace("_", "-")


def _example(key: str, name: str) -> str:
    """An example of ``key`` written where ``name`` says it was: ``--seed 0,1,2`` or ``seeds = [0, 1, 2]``."""
    flag, toml = _EXAMPLE[key]
    return f"{key} = {toml}" if name.endswith("config file") else f"{option(key)} {flag}"


def _integer(value: Any, name: str, low: int, high: int) -> int:
    """``value`` (an integer, or its decimal text) in [low, high], or a one-line UserError naming ``name``."""
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{name} must be a whole number, got {value!r}")
    if value < low:
        raise UserError(f"{name} must be at least {low}, got {value}")
    if value > high:
        raise UserError(f"{name} must be at most {high}, got {value}")
    return value


def _path(value: Any, name: str) -> Path:
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise UserError(f"{name} must be a folder path, got {value!r}")
    return Path(value)


def _seeds(value: Any, name: str) -> list[int]:
    if isinstance(value, str):
        items: list[Any] = [x for x in value.split(",") if x.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    if not items:
        raise UserError(f"{name} is empty: give one or more seeds, e.g. {_example('seeds', name)}")
    seeds: list[int] = []
    for x in items:
        if isinstance(x, str):
            try:
                x = int(x.strip())
            except ValueError:
                raise UserError(f"bad seed {x.strip()!r} in {name}: give whole numbers, e.g. {_example('seeds', name)}") from None
        if isinstance(x, bool) or not isinstance(x, int):
            raise UserError(f"bad seed {x!r} in {name}: give whole numbers, e.g. {_example('seeds', name)}")
        if not 0 <= x <= MAX_SEED:
            raise UserError(f"seed {x} in {name} is outside [0, 2**63-1]; give a seed from 0 to {MAX_SEED}")
        if x in seeds:
            raise UserError(f"seed {x} is given twice in {name}; give each seed once")
        seeds.append(x)
    return seeds


def _specs(key: str, value: Any, name: str) -> list[Spec]:
    try:
        specs = parse_specs(value)
    except UserError as exc:
        raise UserError(f"{name}: {exc}") from None
    if not specs:
        raise UserError(f"no {_KIND[key]} given in {name}: name at least one, e.g. {_example(key, name)}")
    labels = [s.label for s in specs]
    twice = next((label for i, label in enumerate(labels) if label in labels[:i]), None)
    if twice is not None:
        raise UserError(f"{_KIND[key]} {twice} is given twice in {name}; give each once")
    return specs


def check_field(key: str, value: Any, name: str) -> Any:
    """The run option ``key`` checked and converted, or a one-line UserError naming it as ``name``.

    The one place the run options are checked (grid and values: :func:`semcom_bench.grids.resolve_grid`).
    """
    if key == "dataset":
        try:
            return parse_spec(value)
        except UserError as exc:
            raise UserError(f"{name}: {exc}") from None
    if key in _KIND:
        return _specs(key, value, name)
    if key in ("seeds", "seed"):
        return _seeds(value, name)
    if key in ("out", "cache_dir"):
        return _path(value, name)
    if key == "device":
        if not isinstance(value, str) or not _DEVICE.match(value.strip()):
            raise UserError(f"{name} must be cpu, cuda, cuda:N or auto, got {value!r}")
        return value.strip()
    if key == "limit":
        return None if value is None else _integer(value, name, 1, MAX_COUNT)
    if key == "batch_size":
        return _integer(value, name, 1, MAX_COUNT)
    if key == "threads":
        return None if value is None else _integer(value, name, 1, MAX_THREADS)
    if key == "executor":
        if not isinstance(value, str) or value.strip().lower() not in EXECUTORS:
            raise UserError(f"{name} must be {' or '.join(EXECUTORS)}, got {value!r}")
        return value.strip().lower()
    if key == "address":
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip() or any(c.isspace() or not c.isprintable() for c in value.strip()):
            raise UserError(f"{name} must be a Ray cluster address such as auto, HOST:6379 or ray://HOST:10001, "
                            f"got {value!r}")
        return value.strip()
    raise KeyError(key)


def build_config(file: dict[str, Any] | None = None, **flags: Any) -> RunConfig:
    """Merge a TOML dict and CLI flags (flags that are not None win) into a RunConfig.

    Every value is checked here (:func:`check_field`, :func:`semcom_bench.grids.resolve_grid`);
    a bad one is a one-line UserError that names the flag or the config key.
    """
    if file is not None and not isinstance(file, dict):
        raise UserError(f"a config file must hold keys such as methods = [...], got {file!r}")
    unknown = set(file or {}) - KNOWN_KEYS
    if unknown:
        raise UserError(f"unknown config key(s) {', '.join(sorted(map(repr, unknown)))}; known keys: {', '.join(sorted(KNOWN_KEYS))}")
    bad_flags = set(flags) - KNOWN_KEYS
    if bad_flags:
        raise TypeError(f"build_config() got unknown option(s) {', '.join(sorted(bad_flags))}")
    from_file = {k: v for k, v in (file or {}).items() if v is not None}
    if "seed" in from_file:
        if "seeds" in from_file:
            raise UserError("the config file gives both seed and seeds; keep one of them")
        from_file["seeds"] = from_file.pop("seed")
    given = {("seeds" if k == "seed" else k): v for k, v in flags.items() if v is not None}
    merged = {**from_file, **given}

    def name(key: str) -> str:
        if key == "seeds" and "seeds" not in given and "seed" in (file or {}):
            return option("seed", from_file=True)
        return option(key, from_file=key not in given)

    kwargs: dict[str, Any] = {}
    kwargs["grid"], kwargs["values"] = resolve_grid(merged.get("grid"), merged.get("values"), name("values"), name("grid"))
    for key, value in merged.items():
        if key not in ("grid", "values"):
            kwargs[key] = check_field(key, value, name(key))
    return RunConfig(**kwargs)


def check_writable(path: str | Path, name: str) -> None:
    """A one-line UserError unless a file can be written in the folder ``path`` (made later if missing).

    Nothing is created: the probe file goes into ``path`` or its nearest existing parent and is removed.
    """
    path = Path(path)
    folder = path
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    if not folder.is_dir():
        where = "" if folder == path else f" ({folder} is a file)"
        raise UserError(f"{name} {path} is not a folder{where}; choose a folder path")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".semcom-write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{name} {path} is not writable ({exc.strerror or exc}); choose a writable folder") from None
