"""The canvas a scene is painted on: image, depth, label and instance maps behind one z-buffer."""

from __future__ import annotations

import numpy as np

from semcom_bench.data.synthetic_streets.camera import SKY_DEPTH
from semcom_bench.data.synthetic_streets.labels import SKY


class _Canvas:
    def __init__(self, height: int, width: int):
        self.rgb = np.zeros((height, width, 3), dtype=np.float32)
        self.depth = np.full((height, width), SKY_DEPTH, dtype=np.float32)
        self.labels = np.full((height, width), SKY, dtype=np.uint8)
        self.inst = np.full((height, width), SKY, dtype=np.int32)
        self.regions: dict[int, list[int]] = {}  # instance id -> [r0, r1, c0, c1]

    def paint(self, rs, cs, mask, depth, label, inst, rgb) -> None:
        """Write the pixels of ``mask`` that are nearer than what is there (z-buffer).

        ``depth`` is a number or an array, ``rgb`` a colour or an array, both broadcast to
        the (h, w) region ``rs, cs``.
        """
        dbuf = self.depth[rs, cs]
        depth = np.float32(depth) if np.isscalar(depth) else np.asarray(depth).astype(np.float32)
        m = mask & (depth < dbuf)
        if not m.any():
            return
        np.copyto(dbuf, depth, where=m)
        np.copyto(self.labels[rs, cs], label, where=m, casting="unsafe")
        np.copyto(self.inst[rs, cs], inst, where=m, casting="unsafe")
        np.copyto(self.rgb[rs, cs], rgb, where=m[..., None], casting="unsafe")
        if inst >= 1000:
            reg = self.regions.setdefault(inst, [rs.start, rs.stop, cs.start, cs.stop])
            reg[0] = min(reg[0], rs.start)
            reg[1] = max(reg[1], rs.stop)
            reg[2] = min(reg[2], cs.start)
            reg[3] = max(reg[3], cs.stop)
