"""Named SNR grids (dB, Es/N0 per complex symbol; see channels.base for the convention)."""

from __future__ import annotations

import math
from typing import Any

from semcom_bench.errors import UserError

#: name -> (values in dB, description). Values are listed in the order the paper's tables use.
GRIDS: dict[str, tuple[tuple[float, ...], str]] = {
    "psnr": ((100.0, 30.0, 20.0, 15.0, 10.0, 5.0, 1.0), "PSNR grid of the first paper (100 = noiseless)"),
    "snr": ((0.0, 3.0, 6.0, 9.0, 12.0), "SNR grid of the third paper (dB)"),
    "jscc": ((0.0, 5.0, 10.0, 15.0, 20.0), "SNR grid of the JSCC comparisons, DeepJSCC and CDDM (dB)"),
}

#: the range every SNR value must lie in (dB)
LOWEST_DB, HIGHEST_DB = -50.0, 200.0
#: the most values a grid may have
MAX_VALUES = 1000


def check_values(values: Any, option: str = "--values") -> tuple[float, ...]:
    """``values`` as a tuple of dB values, or a one-line UserError naming ``option``.

    Every value is a finite number in [-50, 200] dB, given once; there is at least one and at
    most :data:`MAX_VALUES`.
    """
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise UserError(f"{option} must be a list of SNR values in dB such as [0, 5, 10], got {values!r}")
    values = list(values)
    if not values:
        raise UserError(f"{option} is empty: give at least one SNR value in dB, e.g. 0,5,10")
    if len(values) > MAX_VALUES:
        raise UserError(f"{option} has {len(values)} SNR values; give at most {MAX_VALUES}")
    out: list[float] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise UserError(f"{option} must hold numbers (dB), got {v!r}")
        try:
            f = float(v)
        except OverflowError:
            f = math.inf
        if not math.isfinite(f):
            raise UserError(f"SNR value {v} in {option} is not a finite number; give dB values in "
                            f"[{LOWEST_DB:g}, {HIGHEST_DB:g}]")
        if not LOWEST_DB <= f <= HIGHEST_DB:
            raise UserError(f"SNR value {v:g} dB in {option} is outside [{LOWEST_DB:g}, {HIGHEST_DB:g}] dB; "
                            "give values in that range")
        if f in out:
            raise UserError(f"SNR value {f:g} dB is given twice in {option}; give each value once")
        out.append(f)
    return tuple(out)


def parse_values(text: str, option: str = "--values") -> tuple[float, ...]:
    """Parse ``"0,5,10"`` or ``"0:20:2"`` (start:stop:step, stop included) into dB values."""
    text = text.strip()
    if not text:
        raise UserError(f"{option} is empty: give dB values as '0,5,10' or 'start:stop:step' such as '0:20:2'")
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) != 3 or not all(math.isfinite(p) for p in parts) or parts[2] <= 0 or parts[1] < parts[0]:
                raise ValueError
            start, stop, step = parts
            n = int(round((stop - start) / step))
            if n + 1 > MAX_VALUES:
                raise UserError(f"{option} {text!r} makes {n + 1} SNR values; give at most {MAX_VALUES}")
            values = tuple(round(start + i * step, 10) for i in range(n + 1))
        else:
            values = tuple(float(p) for p in text.split(",") if p.strip())
    except (ValueError, OverflowError):
        raise UserError(
            f"bad SNR values {text!r} in {option}: give dB values as '0,5,10' or 'start:stop:step' such as '0:20:2'"
        ) from None
    return check_values(values, option)


def resolve_grid(grid: Any, values: Any, option: str = "--values", grid_option: str = "--grid") -> tuple[str, tuple[float, ...]]:
    """Return (grid name, values in dB) from ``--grid`` and/or ``--values`` (text or a list).

    Given values (even empty ones) win over the grid's; ``option`` and ``grid_option`` name
    them in messages.
    """
    if grid is not None and not isinstance(grid, str):
        raise UserError(f"{grid_option} must be a grid name ({', '.join(GRIDS)}), got {grid!r}")
    if values is not None:
        vals = parse_values(values, option) if isinstance(values, str) else check_values(values, option)
        return (grid or "custom", vals)
    name = grid or "psnr"
    if name not in GRIDS:
        raise UserError(f"unknown grid {name!r} in {grid_option}: use one of {', '.join(GRIDS)} or give --values")
    return name, GRIDS[name][0]
