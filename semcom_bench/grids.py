"""Named SNR grids (dB, Es/N0 per complex symbol; see channels.base for the convention)."""

from __future__ import annotations

from semcom_bench.errors import UserError

#: name -> (values in dB, description). Values are listed in the order the paper's tables use.
GRIDS: dict[str, tuple[tuple[float, ...], str]] = {
    "psnr": ((100.0, 30.0, 20.0, 15.0, 10.0, 5.0, 1.0), "PSNR grid of the first paper (100 = noiseless)"),
    "snr": ((0.0, 3.0, 6.0, 9.0, 12.0), "SNR grid of the third paper (dB)"),
}


def parse_values(text: str) -> tuple[float, ...]:
    """Parse ``"0,5,10"`` or ``"0:20:2"`` (start:stop:step, stop included) into dB values."""
    text = text.strip()
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) != 3 or parts[2] <= 0 or parts[1] < parts[0]:
                raise ValueError
            start, stop, step = parts
            n = int(round((stop - start) / step))
            values = tuple(round(start + i * step, 10) for i in range(n + 1))
        else:
            values = tuple(float(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise UserError(
            f"bad SNR values {text!r}: give dB values as '0,5,10' or 'start:stop:step' such as '0:20:2'"
        ) from None
    if not values:
        raise UserError(f"bad SNR values {text!r}: no value given")
    for v in values:
        if not -50.0 <= v <= 200.0:
            raise UserError(f"SNR value {v} dB is outside [-50, 200] dB; check the --values list")
    return values


def resolve_grid(grid: str | None, values: str | list[float] | None) -> tuple[str, tuple[float, ...]]:
    """Return (grid name, values in dB) from ``--grid`` and/or ``--values``."""
    if values is not None and values != "":
        vals = parse_values(values) if isinstance(values, str) else tuple(float(v) for v in values)
        return (grid or "custom", vals)
    name = grid or "psnr"
    if name not in GRIDS:
        raise UserError(f"unknown grid {name!r}: use one of {', '.join(GRIDS)} or give --values")
    return name, GRIDS[name][0]
