"""Seconds spent per stage of a run, in this process (``semcom-bench run --profile``).

The runner wraps each stage of its work units in :func:`stage`; while a :class:`Profile` is
active (:func:`profiling`), each wrapped stage adds its wall-clock seconds and its count of
images (or batches) to the profile. Without an active profile :func:`stage` does nothing but
read the clock twice.

Stage names are ``"<phase>/<what>"``:

- ``generate/cache-check``: checking which images are cached (hashing PNGs and sidecars);
- ``generate/transmit <method>``: the method's sender, per image;
- ``generate/channel <channel>``: the channel, per image;
- ``generate/receive <method>``: the method's receiver, per image;
- ``generate/cache-write``: encoding and writing PNGs and their sidecars, per image;
- ``score/<metric>``: computing a metric (cached values are not recomputed), per image;
- ``score/cache-read``: reading cached images and metric values.

Only work done in this process is seen: with ``--executor ray`` the units run in Ray workers,
so only the driver's stages appear.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator


@dataclass
class Profile:
    """Seconds and counts per stage name (``"generate/receive gesco"``...)."""

    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, seconds: float, count: int) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + float(seconds)
        self.counts[name] = self.counts.get(name, 0) + int(count)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per stage in first-seen order: stage, seconds, count, seconds per item, items per second."""
        out = []
        for name, seconds in self.seconds.items():
            count = self.counts[name]
            out.append({"stage": name, "seconds": seconds, "count": count,
                        "seconds_per_item": seconds / count if count else None,
                        "items_per_second": count / seconds if seconds > 0 else None})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"stages": self.rows(), "total_s": sum(self.seconds.values())}


_ACTIVE: Profile | None = None


@contextmanager
def profiling(profile: Profile | None = None) -> Iterator[Profile]:
    """Make ``profile`` (a new one by default) the active profile for the duration of the block."""
    global _ACTIVE
    previous, _ACTIVE = _ACTIVE, profile if profile is not None else Profile()
    try:
        yield _ACTIVE
    finally:
        _ACTIVE = previous


@contextmanager
def stage(name: str, count: int = 1) -> Iterator[None]:
    """Add the block's wall-clock seconds and ``count`` items to the active profile's stage ``name``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        if _ACTIVE is not None:
            _ACTIVE.add(name, time.perf_counter() - start, count)


def render(profile: dict[str, Any], num_images: int | None = None) -> str:
    """A plain-text table of ``profile`` (:meth:`Profile.to_dict`): one line per stage with
    seconds, share of the profiled total, count, milliseconds per item and items per second."""
    stages, total = profile["stages"], profile["total_s"] or 1e-12
    width = max([len("stage")] + [len(s["stage"]) for s in stages])
    lines = [f"{'stage':<{width}}  {'seconds':>8}  {'share':>6}  {'count':>6}  {'ms/item':>9}  {'items/s':>8}"]
    for s in stages:
        per = f"{1000 * s['seconds_per_item']:.1f}" if s["seconds_per_item"] is not None else "-"
        rate = f"{s['items_per_second']:.1f}" if s["items_per_second"] is not None else "-"
        lines.append(f"{s['stage']:<{width}}  {s['seconds']:8.2f}  {100 * s['seconds'] / total:5.1f}%  {s['count']:6d}  "
                     f"{per:>9}  {rate:>8}")
    lines.append(f"{'total profiled':<{width}}  {profile['total_s']:8.2f}")
    return "\n".join(lines)


__all__ = ["Profile", "profiling", "render", "stage"]
