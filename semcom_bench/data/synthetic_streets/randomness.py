"""Where the variety of the scenes comes from: random draws from a sample's generator
(:class:`_Rand` and its colour and choice helpers) and the value noise that textures every
surface (:class:`_Noise`, built from a random table stored in the scene)."""

from __future__ import annotations

import numpy as np


class _Noise:
    """Value noise on a periodic 64 x 64 lattice, bilinearly interpolated (values in [0, 1])."""

    def __init__(self, table: np.ndarray):
        n = table.shape[0]
        t = np.asarray(table, dtype=np.float32)
        right = np.roll(t, -1, axis=1)
        down = np.roll(t, -1, axis=0)
        diag = np.roll(right, -1, axis=0)
        self.n = n
        self.flat = t.ravel()
        # per cell: top-left value, top slope, bottom-left value, bottom slope
        self.quad = np.stack([t, right - t, down, diag - down], axis=-1).reshape(n * n, 4)

    def __call__(self, x, y) -> np.ndarray:
        m = self.n - 1
        # shift by a multiple of the period so that truncation is the floor (x, y > -1024)
        x = np.asarray(x, dtype=np.float32) + np.float32(1024.0)
        y = np.asarray(y, dtype=np.float32) + np.float32(1024.0)
        xi = x.astype(np.int32)
        yi = y.astype(np.int32)
        fx = x - xi
        q = self.quad[((yi & m) * self.n) | (xi & m)]
        top = q[..., 0] + q[..., 1] * fx
        bot = q[..., 2] + q[..., 3] * fx
        return top + (bot - top) * (y - yi)

    def cell(self, x, y) -> np.ndarray:
        """One random value per integer lattice cell (no interpolation)."""
        m = self.n - 1
        xi = np.floor(np.asarray(x, dtype=np.float64)).astype(np.int64) & m
        yi = np.floor(np.asarray(y, dtype=np.float64)).astype(np.int64) & m
        return self.flat.take(yi * self.n + xi)


class _Rand:
    """Draws from a numpy generator; scalars are fetched in blocks (far cheaper than one call each)."""

    def __init__(self, gen: np.random.Generator):
        self.gen = gen
        self.buf: list[float] = []

    def random(self, size=None):
        if size is not None:
            return self.gen.random(size)
        if not self.buf:
            self.buf = self.gen.random(256).tolist()[::-1]
        return self.buf.pop()

    def uniform(self, a: float, b: float, size=None):
        if size is not None:
            return self.gen.uniform(a, b, size)
        return a + (b - a) * self.random()

    def integers(self, lo: int, hi: int | None = None, size=None):
        if hi is None:
            lo, hi = 0, lo
        if size is not None:
            return self.gen.integers(lo, hi, size)
        return lo + min(int(self.random() * (hi - lo)), hi - lo - 1)

    def choice(self, n: int, p) -> int:
        u = self.random() * float(sum(p))
        acc = 0.0
        for i, pi in enumerate(p):
            acc += pi
            if u < acc:
                return i
        return n - 1


def _jitter(rng: _Rand, colour, amount=0.04):
    return tuple(min(max(c + rng.uniform(-amount, amount), 0.0), 1.0) for c in colour)


def _pick(rng: _Rand, options, weights=None):
    if weights is None:
        return options[rng.integers(len(options))]
    return options[rng.choice(len(options), weights)]
