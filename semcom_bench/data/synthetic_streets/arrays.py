"""Small numpy helpers shared by scene sampling and drawing: clipping, the coverage of a pixel
by an interval, and the distance to a segment."""

from __future__ import annotations

import numpy as np


def _clip(a, lo, hi):
    """``np.clip`` without its per-call overhead (``None`` = no bound)."""
    if lo is not None:
        a = np.maximum(a, lo)
    return a if hi is None else np.minimum(a, hi)


def _box_cover(pos, footprint, lo, hi):
    """Fraction of the pixel ``[pos - fp/2, pos + fp/2]`` covered by ``[lo, hi]``."""
    a = np.maximum(pos - 0.5 * footprint, lo)
    b = np.minimum(pos + 0.5 * footprint, hi)
    return _clip(b - a, 0.0, None) / footprint


def _seg_dist(X, Y, a, b):
    """Distance from points ``(X, Y)`` to the segment ``a``-``b``."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    t = _clip(((X - ax) * dx + (Y - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(X - ax - t * dx, Y - ay - t * dy)
