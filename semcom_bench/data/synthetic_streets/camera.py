"""The pinhole camera of a scene at one image size: projects planes of the scene to pixels,
with their depth along the optical axis."""

from __future__ import annotations

import math

import numpy as np

from semcom_bench.data.synthetic_streets.layout import _Scene

#: Depth (metres) written for sky pixels.
SKY_DEPTH = 200.0


class _Camera:
    def __init__(self, sc: _Scene, height: int, width: int):
        self.H, self.W = height, width
        self.f = sc.f_ratio * width
        self.cx = sc.cx_ratio * width
        self.cy = sc.cy_ratio * height
        self.h = sc.cam_h
        self._u = np.arange(width) + 0.5  # pixel centres
        self._v = np.arange(height) + 0.5

    def front(self, z, x0, x1, y0, y1):
        """A fronto-parallel rectangle at depth ``z``.

        Returns the row and column slices it covers and the world ``X``, ``Y`` (metres) of
        those pixels' centres on the plane, both (h, w), or None when it is out of view.
        """
        f, cx, cy, hc = self.f, self.cx, self.cy, self.h
        c0 = max(math.floor(cx + f * x0 / z), 0)
        c1 = min(math.ceil(cx + f * x1 / z), self.W)
        r0 = max(math.floor(cy + f * (hc - y1) / z), 0)
        r1 = min(math.ceil(cy + f * (hc - y0) / z), self.H)
        if c0 >= c1 or r0 >= r1:
            return None
        k = z / f
        X = np.empty((r1 - r0, c1 - c0))
        X[:] = (self._u[c0:c1] - cx) * k
        Y = np.empty((r1 - r0, c1 - c0))
        Y[:] = (hc - (self._v[r0:r1] - cy) * k)[:, None]
        return slice(r0, r1), slice(c0, c1), X, Y

    def side(self, x, z0, z1, y0, y1):
        """A rectangle in the plane ``X = x`` running along the street, ``z0 <= Z <= z1``.

        Returns slices, the world ``Z`` and ``Y`` of the pixels on the plane and a validity
        mask (pixels whose ray meets the plane within ``[z0, z1]``), all (h, w), or None.
        """
        f, cx, cy, hc = self.f, self.cx, self.cy, self.h
        if abs(x) < 1e-6:
            return None
        ua, ub = cx + f * x / z0, cx + f * x / z1
        c0 = max(math.floor(min(ua, ub)), 0)
        c1 = min(math.ceil(max(ua, ub)), self.W)
        vs = [cy + f * (hc - y) / z for y in (y0, y1) for z in (z0, z1)]
        r0 = max(math.floor(min(vs)), 0)
        r1 = min(math.ceil(max(vs)), self.H)
        if c0 >= c1 or r0 >= r1:
            return None
        du = self._u[c0:c1] - cx
        ok = du * x > 0
        Z = np.where(ok, f * x / np.where(ok, du, 1.0), np.inf)
        valid = ok & (Z >= z0) & (Z <= z1)
        Z = np.where(valid, Z, z0)
        Y = hc - (self._v[r0:r1] - cy)[:, None] * (Z / f)[None, :]
        Zf = np.empty(Y.shape)
        Zf[:] = Z
        valid_f = np.empty(Y.shape, bool)
        valid_f[:] = valid
        return slice(r0, r1), slice(c0, c1), Zf, Y, valid_f
