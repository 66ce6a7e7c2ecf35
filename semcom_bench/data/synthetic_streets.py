"""``synthetic-streets``: procedurally generated street scenes with exact ground truth.

Every sample is a perspective view down a street, rendered from a small 3-D scene: a
pinhole camera about 1.5 m above a flat ground plane looks along the street. The ground
carries the road (lane markings, crossings and car shadows are still road), sidewalks and
grass verges; building and tree-line facades run along both sides and a row of buildings
or trees closes the street at its far end; street lamps, traffic lights, traffic signs,
trees, walls and fences stand on the sidewalks; cars, trucks, persons and cyclists stand on
the ground. Each surface has its own procedural texture, so a small network can learn the
classes, and every ground-truth map is computed from the same geometry as the pixels, so it
is exact.

Label space: the 34 Cityscapes label ids (``labelIds``, see
:mod:`semcom_bench.data.cityscapes_labels`); a one-hot map therefore has 34 channels. The
scenes use the ids road 7, sidewalk 8, building 11, wall 12, fence 13, pole 17, traffic
light 19, traffic sign 20, vegetation 21, terrain 22, sky 23, person 24, rider 25, car 26,
truck 27 and bicycle 33. Id 0 (unlabelled) is the ignore index; it never occurs.

Ground truth of a :class:`~semcom_bench.data.base.Sample`:

* ``labels``: (H, W) uint8 label ids.
* ``instances``: (H, W) int32, Cityscapes convention: ``label_id * 1000 + k`` for the pixels
  of the k-th instance (k from 0, numbered per class in scene order) of person, rider, car,
  truck and bicycle; the label id elsewhere. Instances with fewer than ``MIN_BOX_PIXELS``
  visible pixels are not numbered: their pixels keep the plain label id, like Cityscapes
  groups.
* ``boxes``: (N, 4) float32 ``x0, y0, x1, y1`` of the visible pixels of each numbered
  instance, in pixel-edge coordinates (pixel ``(r, c)`` covers ``[c, c+1) x [r, r+1)``, so
  ``0 <= x0 < x1 <= W``); ``box_labels``: (N,) int64 label ids; both in increasing
  instance-id order.
* ``depth``: (H, W) float32 metres along the optical axis (the camera looks along the
  street, horizon row = principal point row): the ground at row ``v`` lies at
  ``f * camera_height / (v + 0.5 - cy)``, a facade at its distance along the column's ray,
  objects at their surface depth (upright objects are modelled as planes standing at their
  ground-contact depth; vehicles also show their side). Sky pixels hold ``SKY_DEPTH`` = 200 m;
  everything else is nearer than 160 m.
* ``meta["scene"]``: camera (focal length and principal point in pixels, height in metres),
  street layout and object counts.

Sample ``i`` of a split depends only on ``(seed, split, i)`` for the scene and on
``(seed, split, i, height, width)`` for the pixels: the same scene renders at every
resolution, sharper at larger ones, and any sample can be regenerated alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semcom_bench.data.base import IndexedDataset, Sample
from semcom_bench.data.cityscapes_labels import LABEL_NAMES, NUM_LABEL_IDS
from semcom_bench.errors import UserError
from semcom_bench.registry import datasets

VERSION = "1"
#: Depth (metres) written for sky pixels.
SKY_DEPTH = 200.0
#: Instances with fewer visible pixels get no instance number and no box.
MIN_BOX_PIXELS = 8
#: Split name -> code mixed into the random seed.
SPLITS = {"train": 1, "val": 2, "test": 3}
#: Number of samples of a split when ``size`` is not given.
DEFAULT_SIZES = {"train": 10000, "val": 500, "test": 32}

# Cityscapes label ids used by the scenes.
ROAD, SIDEWALK, BUILDING, WALL, FENCE = 7, 8, 11, 12, 13
POLE, TRAFFIC_LIGHT, TRAFFIC_SIGN, VEGETATION, TERRAIN, SKY = 17, 19, 20, 21, 22, 23
PERSON, RIDER, CAR, TRUCK, BICYCLE = 24, 25, 26, 27, 33
#: Label ids that can appear in a sample.
USED_LABEL_IDS = (ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, TRAFFIC_LIGHT, TRAFFIC_SIGN,
                  VEGETATION, TERRAIN, SKY, PERSON, RIDER, CAR, TRUCK, BICYCLE)
#: Label ids that carry instance numbers and boxes.
THING_LABEL_IDS = (PERSON, RIDER, CAR, TRUCK, BICYCLE)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


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


BUILDING_COLOURS = [
    (0.76, 0.70, 0.58), (0.85, 0.80, 0.68), (0.62, 0.36, 0.27), (0.52, 0.31, 0.24),
    (0.56, 0.56, 0.57), (0.72, 0.72, 0.70), (0.80, 0.68, 0.44), (0.80, 0.60, 0.50),
    (0.86, 0.86, 0.84), (0.40, 0.40, 0.42), (0.52, 0.57, 0.62), (0.68, 0.58, 0.48),
]
CAR_COLOURS = [
    (0.86, 0.87, 0.88), (0.08, 0.08, 0.09), (0.66, 0.68, 0.71), (0.40, 0.41, 0.43),
    (0.66, 0.09, 0.08), (0.13, 0.24, 0.58), (0.08, 0.11, 0.26), (0.15, 0.36, 0.22),
    (0.88, 0.74, 0.16), (0.72, 0.66, 0.55), (0.85, 0.40, 0.10),
]
CAR_COLOUR_WEIGHTS = [5, 4, 5, 4, 2, 2, 1.5, 1, 0.6, 1, 0.4]
CLOTHES = [
    (0.10, 0.10, 0.12), (0.20, 0.22, 0.35), (0.55, 0.10, 0.12), (0.85, 0.85, 0.82),
    (0.35, 0.45, 0.65), (0.30, 0.30, 0.30), (0.60, 0.50, 0.35), (0.15, 0.35, 0.25),
    (0.85, 0.55, 0.15), (0.55, 0.25, 0.55), (0.20, 0.30, 0.55), (0.70, 0.20, 0.30),
]
SKIN = [(0.94, 0.78, 0.66), (0.82, 0.62, 0.47), (0.58, 0.40, 0.28), (0.36, 0.25, 0.18)]
HAIR = [(0.08, 0.06, 0.05), (0.30, 0.20, 0.12), (0.55, 0.42, 0.25), (0.60, 0.60, 0.60)]


# --------------------------------------------------------------------------------------------
# Scene description (metres; independent of the image size)
# --------------------------------------------------------------------------------------------


@dataclass
class _Scene:
    """Everything that makes one scene, in metres and colours; rendering adds only the pixel grid."""

    f_ratio: float  # focal length / image width
    cx_ratio: float  # principal point column / image width
    cy_ratio: float  # horizon row / image height
    cam_h: float  # camera height (m)
    noise: np.ndarray  # (64, 64) lattice table
    x_left: float  # road edges (m, camera at x = 0)
    x_right: float
    lane_w: float
    n_lanes: int
    n_oncoming: int
    markings: list  # lane lines (x, dashed)
    edge_lines: bool
    crossing: tuple | None  # (z0, z1)
    walk_l: float  # sidewalk widths
    walk_r: float
    verge_l: float  # terrain strip widths
    verge_r: float
    xb_l: float  # facade planes (m)
    xb_r: float
    z_end: float  # distance of the row of buildings closing the street
    segs_l: dict  # facade segments, arrays (see _facade_segments)
    segs_r: dict
    segs_end: dict
    road_grey: float
    walk_colour_l: tuple
    walk_colour_r: tuple
    grass: tuple
    sky_top: tuple
    sky_horizon: tuple
    cloud_cover: float
    cloud_thr: float
    light_l: float
    light_r: float
    brightness: float
    tint: tuple
    gradient: float
    items: list = field(default_factory=list)  # (kind, params) in scene order


_BUILDING_COLOURS = np.array(BUILDING_COLOURS)


def _facade_segments(rng, z_start, z_end, park: bool, side_light: float) -> dict[str, np.ndarray]:
    """Consecutive facade segments (buildings or tree lines) covering ``[z_start, z_end)``, as arrays."""
    n = 20  # 20 segments of at least 8 m cover any street
    length = rng.uniform(8.0, 28.0, n)
    z0 = z_start + np.concatenate([[0.0], np.cumsum(length[:-1])])
    veg = (rng.random(n) < 0.2) | park
    tall = rng.random(n) < 0.2
    h = np.where(veg, rng.uniform(4.0, 10.0, n), np.where(tall, rng.uniform(18.0, 34.0, n), rng.uniform(7.0, 22.0, n)))
    bump = np.where(veg, rng.uniform(0.8, 2.5, n), 0.0)
    palette = _BUILDING_COLOURS[rng.integers(0, len(BUILDING_COLOURS), n)]
    colour = np.where(veg[:, None], np.array([0.18, 0.30, 0.10]), palette)
    colour = _clip(colour + rng.uniform(-0.05, 0.05, (n, 3)), 0.0, 1.0)
    floor = rng.uniform(2.9, 3.6, n)
    gf = rng.uniform(3.2, 4.6, n)
    sp = rng.uniform(2.4, 4.2, n)
    ww = rng.uniform(0.35, 0.6, n)
    wh = rng.uniform(0.4, 0.6, n)
    shop = rng.integers(0, 3, n)
    wincol = _clip(np.array([0.14, 0.17, 0.22]) + rng.uniform(-0.04, 0.04, (n, 3)), 0.0, 1.0)
    k = int(np.searchsorted(z0, z_end))  # segments that start before the end
    return dict(z0=z0[:k], kind=np.where(veg, VEGETATION, BUILDING)[:k], h=h[:k], bump=bump[:k],
                light=np.full(k, side_light), floor=floor[:k], gf=gf[:k], sp=sp[:k], ww=ww[:k], wh=wh[:k],
                shop=shop[:k], colour=colour[:k].astype(np.float32), wincol=wincol[:k].astype(np.float32))


def _visible_from(x: float, sc: _Scene, margin: float = 0.3) -> float:
    """Smallest depth at which lateral position ``x`` projects inside the image."""
    if x >= 0:
        return (x + margin) * sc.f_ratio / (1.0 - sc.cx_ratio)
    return (-x + margin) * sc.f_ratio / sc.cx_ratio


def _overlaps(intervals, a, b) -> bool:
    return any(a < q and p < b for p, q in intervals)


def _sample_scene(gen: np.random.Generator) -> _Scene:
    rng = _Rand(gen)
    f_ratio = float(rng.uniform(0.95, 1.1))
    cx_ratio = float(0.5 + rng.uniform(-0.06, 0.06))
    cy_ratio = float(rng.uniform(0.40, 0.45))
    cam_h = float(rng.uniform(1.35, 1.65))
    noise = rng.gen.random((64, 64), dtype=np.float32)

    one_way = rng.random() < 0.2
    n_lanes = int(_pick(rng, [2, 2, 3, 4]))
    lane_w = float(rng.uniform(2.9, 3.6))
    n_onc = 0 if one_way else n_lanes // 2
    ego = int(rng.integers(n_onc, n_lanes))
    x_left = float(-(ego + 0.5) * lane_w + rng.uniform(-0.4, 0.4))
    x_right = x_left + n_lanes * lane_w

    markings = []
    for j in range(1, n_lanes):
        x = x_left + j * lane_w
        markings.append((x, j != n_onc))
    edge_lines = bool(rng.random() < 0.5)
    crossing = None
    if rng.random() < 0.25:
        z0 = float(rng.uniform(8.0, 30.0))
        crossing = (z0, z0 + float(rng.uniform(3.0, 4.5)))

    walk_l = float(rng.uniform(2.0, 4.5))
    walk_r = float(rng.uniform(2.0, 4.5))
    park_l = rng.random() < 0.12
    park_r = rng.random() < 0.12
    verge_l = float(rng.uniform(1.5, 5.0)) if (park_l or rng.random() < 0.35) else 0.0
    verge_r = float(rng.uniform(1.5, 5.0)) if (park_r or rng.random() < 0.35) else 0.0
    xb_l = x_left - walk_l - verge_l
    xb_r = x_right + walk_r + verge_r
    z_end = float(rng.uniform(70.0, 150.0))

    sun_left = rng.random() < 0.5
    shade = float(rng.uniform(0.68, 0.92))
    light_l, light_r = (1.0, shade) if sun_left else (shade, 1.0)
    segs_l = _facade_segments(rng, 0.0, z_end, park_l, light_l)
    segs_r = _facade_segments(rng, 0.0, z_end, park_r, light_r)
    segs_end = _facade_segments(rng, xb_l - 10.0, xb_r + 10.0, False, 0.92)

    walk_colour = [(0.62, 0.62, 0.60), (0.70, 0.66, 0.58), (0.66, 0.52, 0.48), (0.55, 0.56, 0.57)]
    overcast = rng.random() < 0.2
    if overcast:
        sky_top = _jitter(rng, (0.66, 0.70, 0.76), 0.04)
        sky_horizon = _jitter(rng, (0.82, 0.84, 0.86), 0.03)
    else:
        sky_top = _jitter(rng, (0.30, 0.52, 0.84), 0.06)
        sky_horizon = _jitter(rng, (0.72, 0.82, 0.93), 0.04)

    sc = _Scene(
        f_ratio=f_ratio, cx_ratio=cx_ratio, cy_ratio=cy_ratio, cam_h=cam_h, noise=noise,
        x_left=x_left, x_right=x_right, lane_w=lane_w, n_lanes=n_lanes, n_oncoming=n_onc,
        markings=markings, edge_lines=edge_lines, crossing=crossing,
        walk_l=walk_l, walk_r=walk_r, verge_l=verge_l, verge_r=verge_r, xb_l=xb_l, xb_r=xb_r,
        z_end=z_end, segs_l=segs_l, segs_r=segs_r, segs_end=segs_end,
        road_grey=float(rng.uniform(0.28, 0.40)),
        walk_colour_l=_jitter(rng, _pick(rng, walk_colour), 0.03),
        walk_colour_r=_jitter(rng, _pick(rng, walk_colour), 0.03),
        grass=_jitter(rng, (0.42, 0.56, 0.24), 0.05),
        sky_top=sky_top, sky_horizon=sky_horizon,
        cloud_cover=float(rng.uniform(0.0, 0.9)), cloud_thr=float(rng.uniform(0.45, 0.65)),
        light_l=light_l, light_r=light_r,
        brightness=float(rng.uniform(0.82, 1.12)),
        tint=tuple(float(1.0 + rng.uniform(-0.05, 0.05)) for _ in range(3)),
        gradient=float(rng.uniform(-0.1, 0.1)),
    )
    _place_street_furniture(rng, sc)
    _place_objects(rng, sc)
    return sc


def _place_street_furniture(rng, sc: _Scene) -> None:
    items = sc.items
    for side in (-1, 1):
        curb = sc.x_right if side > 0 else sc.x_left
        walk = sc.walk_r if side > 0 else sc.walk_l
        verge = sc.verge_r if side > 0 else sc.verge_l
        outer = curb + side * walk
        # street lamps near the curb
        if rng.random() < 0.7:
            z = float(rng.uniform(4.0, 20.0))
            h = float(rng.uniform(6.0, 9.0))
            arm = float(rng.uniform(0.8, 1.8))
            while z < min(sc.z_end - 5, 90.0):
                items.append(("lamp", dict(x=curb + side * 0.45, z=z, h=h, arm=-side * arm)))
                z += float(rng.uniform(18.0, 32.0))
        # trees on the verge or the outer sidewalk
        if rng.random() < 0.5:
            x = outer + side * verge / 2 if verge >= 1.5 else outer - side * 0.7
            z = float(rng.uniform(3.0, 14.0))
            while z < min(sc.z_end - 5, 75.0):
                items.append(("tree", dict(
                    x=x + float(rng.uniform(-0.2, 0.2)), z=z, trunk=float(rng.uniform(2.0, 3.2)),
                    rx=float(rng.uniform(1.3, 2.5)), ry=float(rng.uniform(1.5, 2.8)),
                    colour=_jitter(rng, (0.20, 0.34, 0.11), 0.05), off=float(rng.uniform(0, 64)))))
                z += float(rng.uniform(8.0, 16.0))
        # a wall or a fence along the outer edge of the sidewalk
        r = rng.random()
        if r < 0.55:
            z0 = float(rng.uniform(2.0, 30.0))
            z1 = min(z0 + float(rng.uniform(6.0, 35.0)), sc.z_end - 1.0)
            kind = WALL if r < 0.27 else FENCE
            h = float(rng.uniform(0.8, 2.4) if kind == WALL else rng.uniform(1.0, 2.2))
            colour = (_jitter(rng, _pick(rng, [(0.70, 0.68, 0.63), (0.60, 0.54, 0.45), (0.52, 0.50, 0.50)]))
                      if kind == WALL else
                      _jitter(rng, _pick(rng, [(0.30, 0.38, 0.33), (0.55, 0.42, 0.28), (0.45, 0.45, 0.47)])))
            if z1 > z0 + 2:
                items.append(("wall", dict(kind=kind, x=outer - side * 0.15, z0=z0, z1=z1, h=h,
                                           colour=colour, style=int(rng.integers(0, 2)))))
    # traffic lights
    if rng.random() < 0.4:
        z = float(rng.uniform(10.0, 35.0))
        for side in (-1, 1):
            if rng.random() < 0.75:
                curb = sc.x_right if side > 0 else sc.x_left
                items.append(("light", dict(x=curb + side * 0.35, z=z + float(rng.uniform(-1, 1)),
                                            h=float(rng.uniform(2.3, 3.2)), state=int(rng.integers(0, 3)))))
    # traffic signs
    for _ in range(int(_pick(rng, [0, 1, 1, 2, 2, 3]))):
        side = -1 if rng.random() < 0.4 else 1
        curb = sc.x_right if side > 0 else sc.x_left
        items.append(("sign", dict(
            x=curb + side * float(rng.uniform(0.3, 0.8)), z=float(rng.uniform(5.0, 40.0)),
            h=float(rng.uniform(1.9, 2.6)), shape=int(rng.integers(0, 5)),
            r=float(rng.uniform(0.3, 0.42)), back=bool(side < 0 and rng.random() < 0.4))))


def _place_objects(rng, sc: _Scene) -> None:
    items = sc.items
    # vehicle tracks: (lateral position, lane id, facing away from the camera, parked)
    tracks = []
    for j in range(sc.n_lanes):
        tracks.append((sc.x_left + (j + 0.5) * sc.lane_w, j, j >= sc.n_oncoming, False))
    ego_lane = int(round(-sc.x_left / sc.lane_w - 0.5))
    if ego_lane != 0 and rng.random() < 0.6:
        tracks.append((sc.x_left + 1.1, 0, sc.n_oncoming == 0 or rng.random() < 0.3, True))
    if ego_lane != sc.n_lanes - 1 and rng.random() < 0.6:
        tracks.append((sc.x_right - 1.1, sc.n_lanes - 1, True, True))
    occupied: dict[int, list] = {j: [] for j in range(sc.n_lanes)}
    occupied[min(max(ego_lane, 0), sc.n_lanes - 1)].append((-20.0, 6.5))
    footprints: list[tuple[float, float, float, float]] = []  # x0, x1, z0, z1

    def place_vehicle(kind, w, L, zmax):
        for _ in range(12):
            x, lane, away, parked = tracks[int(rng.integers(len(tracks)))]
            if kind == TRUCK and parked and rng.random() < 0.7:
                continue
            x += float(rng.uniform(-0.1, 0.1) if parked else rng.uniform(-0.3, 0.3))
            zlo = max(5.5, _visible_from(x, sc, margin=0.3))
            if zlo >= zmax:
                continue
            z0 = zlo + (zmax - zlo) * float(rng.random()) ** 1.5
            if _overlaps(occupied[lane], z0 - 1.2, z0 + L + 1.2):
                continue
            occupied[lane].append((z0, z0 + L))
            footprints.append((x - w / 2, x + w / 2, z0, z0 + L))
            return x, z0, away
        return None

    n_trucks = 1 if rng.random() < 0.22 else 0
    for _ in range(n_trucks):
        w, L, h = 2.5, float(rng.uniform(6.5, 10.0)), float(rng.uniform(3.0, 3.8))
        got = place_vehicle(TRUCK, w, L, 50.0)
        if got:
            x, z0, away = got
            items.append(("truck", dict(x=x, z=z0, w=w, L=L, h=h, away=away,
                                        colour=_jitter(rng, _pick(rng, [(0.88, 0.88, 0.86), (0.75, 0.20, 0.15),
                                                                         (0.20, 0.35, 0.60), (0.85, 0.70, 0.20),
                                                                         (0.55, 0.57, 0.60)])),
                                        cab=_jitter(rng, _pick(rng, [(0.85, 0.85, 0.85), (0.15, 0.25, 0.55),
                                                                      (0.70, 0.12, 0.10), (0.25, 0.25, 0.27)])))))

    n_cars = rng.choice(7, [0.05, 0.13, 0.18, 0.2, 0.18, 0.14, 0.12])
    for _ in range(n_cars):
        suv = rng.random() < 0.25
        w = float(rng.uniform(1.72, 1.95))
        h = float(rng.uniform(1.6, 1.8) if suv else rng.uniform(1.38, 1.55))
        L = float(rng.uniform(3.9, 4.9))
        got = place_vehicle(CAR, w, L, 38.0)
        if got:
            x, z0, away = got
            items.append(("car", dict(x=x, z=z0, w=w, L=L, h=h, away=away,
                                      colour=_jitter(rng, _pick(rng, CAR_COLOURS, CAR_COLOUR_WEIGHTS), 0.03),
                                      cabin=float(rng.uniform(0.18, 0.26)))))

    def free(x0, x1, z0, z1):
        return not any(x0 < b and a < x1 and z0 < d and c < z1 for a, b, c, d in footprints)

    n_persons = rng.choice(6, [0.06, 0.18, 0.24, 0.22, 0.16, 0.14])
    for _ in range(n_persons):
        for _ in range(12):
            where = rng.random()
            if where < 0.2:
                x = float(rng.uniform(sc.x_left + 0.5, sc.x_right - 0.5))
                zmax = 25.0
            else:
                side = -1 if where < 0.6 else 1
                curb = sc.x_right if side > 0 else sc.x_left
                walk = sc.walk_r if side > 0 else sc.walk_l
                x = curb + side * float(rng.uniform(0.3, walk - 0.3))
                zmax = 32.0
            zlo = max(5.0, _visible_from(x, sc, margin=0.2))
            if zlo >= zmax:
                continue
            z = zlo + (zmax - zlo) * float(rng.random()) ** 1.3
            if not free(x - 0.3, x + 0.3, z - 0.3, z + 0.3):
                continue
            child = rng.random() < 0.08
            footprints.append((x - 0.25, x + 0.25, z - 0.25, z + 0.25))
            items.append(("person", dict(
                x=x, z=z, h=float(rng.uniform(1.0, 1.3) if child else rng.uniform(1.55, 1.95)),
                stride=float(rng.uniform(0.0, 0.22)), swing=float(rng.uniform(-1.0, 1.0)),
                skin=_jitter(rng, _pick(rng, SKIN), 0.03), hair=_pick(rng, HAIR),
                shirt=_jitter(rng, _pick(rng, CLOTHES), 0.05), pants=_jitter(rng, _pick(rng, CLOTHES), 0.05),
                back=bool(rng.random() < 0.5))))
            break

    # cyclists crossing the street, and bicycles parked on the sidewalk (seen from the side)
    n_riders = int(_pick(rng, [0, 0, 0, 0, 1, 1, 2]))
    n_parked = int(_pick(rng, [0, 0, 0, 0, 0, 1, 2]))
    for i in range(n_riders + n_parked):
        rider = i < n_riders
        for _ in range(12):
            if rider:
                x = float(rng.uniform(sc.x_left + 1.0, sc.x_right - 1.0))
                zmax = 26.0
            else:
                side = -1 if rng.random() < 0.5 else 1
                curb = sc.x_right if side > 0 else sc.x_left
                walk = sc.walk_r if side > 0 else sc.walk_l
                x = curb + side * float(rng.uniform(0.8, max(walk - 0.8, 0.9)))
                zmax = 30.0
            zlo = max(5.0, _visible_from(x, sc, margin=0.9))
            if zlo >= zmax:
                continue
            z = zlo + (zmax - zlo) * float(rng.random()) ** 1.2
            if not free(x - 1.0, x + 1.0, z - 0.4, z + 0.4):
                continue
            footprints.append((x - 0.95, x + 0.95, z - 0.3, z + 0.3))
            items.append(("bicycle", dict(
                x=x, z=z, d=1.0 if rng.random() < 0.5 else -1.0, rider=rider,
                frame=_jitter(rng, _pick(rng, [(0.10, 0.10, 0.10), (0.70, 0.10, 0.10), (0.15, 0.30, 0.60),
                                              (0.80, 0.80, 0.80), (0.20, 0.45, 0.25)])),
                skin=_pick(rng, SKIN), shirt=_jitter(rng, _pick(rng, CLOTHES), 0.05),
                pants=_jitter(rng, _pick(rng, CLOTHES), 0.05), hair=_pick(rng, HAIR))))
            break


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


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


def _render_background(cv: _Canvas, cam: _Camera, sc: _Scene, nz: _Noise) -> None:
    """Sky, facades (both sides and the far end of the street) and the ground, for every pixel."""
    H, W, f, cx, cy, hc = cam.H, cam.W, cam.f, cam.cx, cam.cy, cam.h
    du = np.arange(W) + 0.5 - cx
    dv = np.arange(H) + 0.5 - cy
    labels = cv.labels.reshape(-1)
    depth = cv.depth.reshape(-1)
    rgb = cv.rgb.reshape(-1, 3)

    # ---- facades: the plane each column's ray meets, and that plane's segment
    with np.errstate(divide="ignore", invalid="ignore"):
        zr = np.where(du > 0, f * sc.xb_r / np.where(du > 0, du, 1.0), np.inf)
        zl = np.where(du < 0, f * sc.xb_l / np.where(du < 0, du, -1.0), np.inf)
    zcol = np.minimum(zr, zl)
    is_end = zcol >= sc.z_end
    zcol = np.where(is_end, sc.z_end, zcol)
    along = np.where(is_end, du * sc.z_end / f, zcol)  # metres along the facade
    T = {k: np.concatenate([sc.segs_l[k], sc.segs_r[k], sc.segs_end[k]]) for k in sc.segs_l}
    seg = np.zeros(W, dtype=np.int64)
    offset = 0
    for group, cols in ((sc.segs_l, (du < 0) & ~is_end), (sc.segs_r, (du > 0) & ~is_end), (sc.segs_end, is_end)):
        count = len(group["z0"])
        idx = np.searchsorted(group["z0"], along[cols], side="right") - 1
        seg[cols] = offset + _clip(idx, 0, count - 1)
        offset += count
    kind = T["kind"][seg]
    bump = T["bump"][seg]
    height = T["h"][seg] + bump * (nz(along * 0.5 + 17.0, 3.5) - 0.5) * 2.4
    plane_x = np.where(is_end, sc.z_end, np.where(du > 0, sc.xb_r, -sc.xb_l))
    # metres per pixel along the facade and vertically, to blur the window grid with distance
    fp_along = np.where(is_end, sc.z_end / f, zcol * zcol / (f * np.maximum(plane_x, 1e-3)))
    fp_vert = zcol / f

    Y = (hc - dv[:, None] * (zcol / f)[None, :]).astype(np.float32)  # height seen on the facade
    ground = Y < 0
    facade = ~ground & (Y <= height[None, :])
    Yf = Y.reshape(-1)

    # ---- sky: gradient and clouds
    idx = np.flatnonzero(~ground & ~facade)
    if idx.size:
        rows, cols = idx // W, idx % W
        t = _clip((rows + 0.5) / max(cy, 1.0), 0.0, 1.0).astype(np.float32)[:, None] ** 1.5
        col = (1 - t) * np.asarray(sc.sky_top, np.float32) + t * np.asarray(sc.sky_horizon, np.float32)
        sx = cols / W
        sy = rows / W
        n = nz(sx * 6 + 3.1, sy * 14 + 7.7)
        cloud = (_clip((n - sc.cloud_thr) * 4.0, 0.0, 1.0) * sc.cloud_cover)[:, None]
        cloud_col = np.array([0.93, 0.94, 0.96], np.float32) - 0.12 * (n[:, None] - 0.5)
        rgb[idx] = (1 - cloud) * col + cloud * cloud_col

    # ---- facades: buildings with windows, tree lines
    idx = np.flatnonzero(facade)
    if idx.size:
        cols = idx % W
        s = seg[cols]
        yy = Yf[idx]
        aa = along[cols].astype(np.float32)
        labels[idx] = kind[cols]
        depth[idx] = zcol[cols]
        base = T["colour"][s]
        out = np.empty((idx.size, 3), np.float32)
        veg = kind[cols] == VEGETATION
        if veg.any():
            a_v, y_v = aa[veg], yy[veg]
            n = nz(a_v * 1.6 + 5.0, y_v * 1.6)
            n = 0.6 * n + 0.4 * (0.5 + 0.5 * np.sin(a_v * 7.0) * np.sin(y_v * 6.0 + 3.0 * n))  # leaf clumps
            out[veg] = base[veg] * (0.5 + 1.0 * n[:, None])
        bld = ~veg
        if bld.any():
            sb = s[bld]
            cb = cols[bld]
            y_b = yy[bld]
            a_b = aa[bld] - T["z0"][sb]
            b = base[bld] * (0.92 + 0.16 * nz(aa[bld] * 0.7 + 30.0, y_b * 0.7)[:, None])
            flo, gf, sp, ww, wh = (T[k][sb] for k in ("floor", "gf", "sp", "ww", "wh"))
            top = height[cb]
            fy = (y_b - gf) / flo
            fx = a_b / sp
            wy = fy - np.floor(fy)
            wx = fx - np.floor(fx)
            upper = (y_b > gf) & (y_b < top - 0.8)
            win = upper & (np.abs(wy - 0.45) < wh / 2) & (np.abs(wx - 0.5) < ww / 2)
            pane = nz.cell(fx + 0.37 * sb, fy + 11.0)[:, None]
            wincol = T["wincol"][sb] + 0.22 * pane * np.array([0.8, 0.9, 1.0], np.float32)
            wincol[pane[:, 0] > 0.93] = np.array([0.85, 0.75, 0.45], np.float32)  # a lit room
            # far away the grid blurs into its mean colour
            k = _clip(np.minimum(sp / fp_along[cb], flo / fp_vert[cb]) / 3.0 - 0.6, 0.0, 1.0)[:, None]
            fill = ((ww * wh) * upper)[:, None]
            sharp = np.where(win[:, None], wincol, b)
            mean = (1 - fill) * b + fill * np.array([0.2, 0.23, 0.28], np.float32)
            c = (k * sharp + (1 - k) * mean).astype(np.float32)
            # ground floor: shop windows or a darker plinth; a cornice under the roof line
            shop = T["shop"][sb]
            gfl = y_b <= gf
            glass = gfl & (shop == 1) & (y_b > 0.4) & (y_b < gf - 0.5) & (np.abs(wx - 0.5) < 0.42)
            c[gfl & (shop != 1)] *= 0.72
            c[glass] = np.array([0.16, 0.18, 0.2], np.float32) + 0.1 * pane[glass]
            c[y_b > top - 0.45] *= 0.78
            out[bld] = c
        rgb[idx] = out * T["light"][s].astype(np.float32)[:, None]

    # ---- ground: road, sidewalks, terrain
    r_h = int(np.searchsorted(dv, 0.0, side="right"))  # first row below the horizon
    idx = np.flatnonzero(ground.reshape(-1)[r_h * W:]) + r_h * W
    if idx.size:
        rows, cols = idx // W, idx % W
        zg = (f * hc / dv[rows]).astype(np.float32)
        xg = (du[cols] * zg / f).astype(np.float32)
        depth[idx] = zg
        road = (xg >= sc.x_left) & (xg <= sc.x_right)
        walk = ((xg >= sc.x_left - sc.walk_l) & (xg < sc.x_left)) | ((xg > sc.x_right) & (xg <= sc.x_right + sc.walk_r))
        ter = ~road & ~walk
        lab = np.full(idx.size, TERRAIN, np.uint8)
        lab[road] = ROAD
        lab[walk] = SIDEWALK
        labels[idx] = lab
        fpx = zg / np.float32(f)  # metres per pixel across the street
        fpz = zg * zg / np.float32(f * hc)  # metres per pixel along the street
        out = np.empty((idx.size, 3), np.float32)

        # road: asphalt with patches, lane markings, a zebra crossing
        if road.any():
            xr, zr_, fx_, fz_ = xg[road], zg[road], fpx[road], fpz[road]
            fine = _clip(1.5 - fz_ * 3.0, 0.0, 1.0)
            patches = nz(xr * 0.4 + 40.0, zr_ * 0.15)
            g = sc.road_grey * (0.9 + 0.2 * patches + 0.12 * fine * (nz(xr * 3.0, zr_ * 3.0) - 0.5))
            c = g[:, None] * np.array([1.0, 1.0, 1.04], np.float32)
            paint = np.zeros(xr.size, np.float32)
            for xm, dashed in sc.markings:
                near = np.abs(xr - xm) < 0.1 + fx_
                if not near.any():
                    continue
                cov = _box_cover(xr[near], fx_[near], xm - 0.07, xm + 0.07)
                if dashed:
                    dash = (((zr_[near] % 9.0) / 9.0) < 0.4).astype(np.float32)
                    wgt = _clip(fz_[near] / 4.5, 0.0, 1.0)
                    cov = cov * ((1 - wgt) * dash + wgt * 0.4)
                paint[near] = np.maximum(paint[near], cov)
            if sc.edge_lines:
                for xm in (sc.x_left + 0.35, sc.x_right - 0.35):
                    paint = np.maximum(paint, _box_cover(xr, fx_, xm - 0.06, xm + 0.06))
            if sc.crossing is not None:
                z0, z1 = sc.crossing
                cz = _box_cover(zr_, fz_, z0, z1)
                stripe = np.where(fx_ < 0.5, (((xr - sc.x_left) % 1.0) < 0.5).astype(np.float32), 0.5)
                paint = np.maximum(paint, cz * stripe)
            out[road] = c + paint[:, None] * (np.array([0.86, 0.86, 0.84], np.float32) - c)

        # sidewalks: paving slabs and a curb stone
        if walk.any():
            xw, zw, fxw, fzw = xg[walk], zg[walk], fpx[walk], fpz[walk]
            right = xw > 0
            base = np.where(right[:, None], np.asarray(sc.walk_colour_r, np.float32),
                            np.asarray(sc.walk_colour_l, np.float32))
            c = base * (0.93 + 0.14 * nz(xw * 0.5 + 50.0, zw * 0.5)[:, None])
            tile = 0.6
            gx = np.abs(((xw / tile) % 1.0) - 0.5) > 0.42
            gz = np.abs(((zw / tile) % 1.0) - 0.5) > 0.42
            vis = _clip(1.2 - np.maximum(fxw, fzw) / tile * 2, 0.0, 1.0)
            c *= (1 - 0.12 * vis * (gx | gz))[:, None]
            edge = np.where(right, xw - sc.x_right, sc.x_left - xw)
            curb = _box_cover(edge, fxw, 0.0, 0.22)
            out[walk] = c * (1 - 0.25 * curb)[:, None] + curb[:, None] * 0.18

        # terrain: grass with dirt patches
        if ter.any():
            xt, zt = xg[ter], zg[ter]
            n = nz(xt * 0.35 + 70.0, zt * 0.35)
            dirt = _clip((n - 0.62) * 4.0, 0.0, 1.0)[:, None]
            tufts = nz.cell(xt * 0.8, zt * 0.8 + 5.0)
            grass = np.asarray(sc.grass, np.float32) * (0.75 + 0.5 * (n - 0.5) + 0.25 * tufts)[:, None]
            out[ter] = (1 - dirt) * grass + dirt * np.array([0.50, 0.42, 0.30], np.float32)
        rgb[idx] = out

    cv.inst[:] = cv.labels

    # ---- the near side walls of buildings that rise above their nearer neighbour
    for segs_side, xb, light in ((sc.segs_l, sc.xb_l, sc.light_l), (sc.segs_r, sc.xb_r, sc.light_r)):
        sgn = 1.0 if xb > 0 else -1.0
        kinds, hs, z0s, bumps = (segs_side[k].tolist() for k in ("kind", "h", "z0", "bump"))
        for i in range(1, len(hs)):
            y0 = max(hs[i - 1] - bumps[i - 1] * 1.2, 0.0)  # below this the nearer segment hides it
            h, z = hs[i], z0s[i]
            if kinds[i] != BUILDING or z >= sc.z_end or h <= y0 + 0.3:
                continue
            x0, x1 = sorted((xb, xb + sgn * 12.0))
            r = cam.front(z, x0, x1, y0, h)
            if r is None:
                continue
            rs, cs, X, Yw = r
            mask = (X >= x0) & (X <= x1) & (Yw >= 0) & (Yw <= h)
            c = segs_side["colour"][i] * np.float32(0.75 * light)
            c = c * (0.9 + 0.1 * (Yw / h))[..., None]
            cv.paint(rs, cs, mask, z, BUILDING, BUILDING, c)


def _shade(colour, Y, top):
    """``colour`` with a soft vertical gradient (lighter towards the top), (h, w, 3)."""
    g = 0.85 + 0.2 * _clip(Y * (1.0 / max(top, 1e-3)), 0.0, 1.0)
    return g[..., None] * np.asarray(colour, np.float32)


def _fill(shape, colour) -> np.ndarray:
    out = np.empty(shape + (3,), np.float32)
    out[:] = np.asarray(colour, np.float32)
    return out


def _draw_shadow(cv: _Canvas, cam: _Camera, x0, x1, z0, z1, strength=0.45) -> None:
    """Darken the ground under a footprint ``[x0, x1] x [z0, z1]`` (still ground-labelled)."""
    f, cx, cy, hc = cam.f, cam.cx, cam.cy, cam.h
    zn = max(z0, 0.5)
    r0 = max(int(np.floor(cy + f * hc / z1)), 0)
    r1 = min(int(np.ceil(cy + f * hc / zn)), cam.H)
    us = [cx + f * x / z for x in (x0, x1) for z in (zn, z1)]
    c0 = max(int(np.floor(min(us))), 0)
    c1 = min(int(np.ceil(max(us))), cam.W)
    if r0 >= r1 or c0 >= c1:
        return
    dv = np.arange(r0, r1) + 0.5 - cy
    if dv[0] <= 0:
        return
    zg = (f * hc / dv)[:, None]
    xg = (np.arange(c0, c1) + 0.5 - cx)[None, :] * zg / f
    lab = cv.labels[r0:r1, c0:c1]
    flat = (lab == ROAD) | (lab == SIDEWALK) | (lab == TERRAIN)
    soft = _clip(np.minimum(np.minimum(xg - x0, x1 - xg), np.minimum(zg - z0, z1 - zg)) / 0.3 + 0.5, 0, 1)
    cv.rgb[r0:r1, c0:c1] *= (1 - strength * soft * flat)[..., None].astype(np.float32)


def _bar(X, Y, x0, x1, y0, y1, px):
    """Mask of an axis-aligned bar, widened to at least one pixel (``px`` metres)."""
    if x1 - x0 < px:
        xc = 0.5 * (x0 + x1)
        x0, x1 = xc - 0.5 * px, xc + 0.5 * px
    if y1 - y0 < px:
        yc = 0.5 * (y0 + y1)
        y0, y1 = yc - 0.5 * px, yc + 0.5 * px
    return (X >= x0) & (X <= x1) & (Y >= y0) & (Y <= y1)


def _pole_colour(X, x, half, colour):
    """A round pole lit from one side."""
    return np.asarray(colour, np.float32) * (0.95 - 0.25 * _clip((X - x) / max(half, 1e-3), -1, 1))[..., None]


def _draw_lamp(cv, cam, p, nz):
    x, z, h, arm = p["x"], p["z"], p["h"], p["arm"]
    px = z / cam.f
    xe = x + arm
    r = cam.front(z, min(x, xe) - 0.35, max(x, xe) + 0.35, 0.0, h + 0.1)
    if r is None:
        return
    rs, cs, X, Y = r
    pole = _bar(X, Y, x - 0.09, x + 0.09, 0.0, h, px)
    armm = _bar(X, Y, min(x, xe), max(x, xe), h - 0.12, h, px)
    head = _bar(X, Y, xe - 0.3, xe + 0.3, h - 0.28, h - 0.05, px)
    c = _pole_colour(X, x, 0.09, (0.42, 0.43, 0.45))
    c[head & ~pole] = (0.28, 0.28, 0.30)
    cv.paint(rs, cs, pole | armm | head, z, POLE, POLE, c)


def _draw_light(cv, cam, p, nz):
    x, z, h = p["x"], p["z"], p["h"]
    r = cam.front(z, x - 0.2, x + 0.2, 0.0, h + 0.95)
    if r is None:
        return
    rs, cs, X, Y = r
    px = z / cam.f
    house = _bar(X, Y, x - 0.18, x + 0.18, h, h + 0.95, px)
    pole = _bar(X, Y, x - 0.07, x + 0.07, 0.0, h, px) & ~house
    c = _pole_colour(X, x, 0.07, (0.40, 0.41, 0.42))
    c[house] = (0.13, 0.13, 0.12)
    lamp_cols = ((0.95, 0.15, 0.1), (0.98, 0.75, 0.1), (0.2, 0.95, 0.4))
    for i, yl in enumerate((h + 0.78, h + 0.48, h + 0.18)):
        disc = house & ((X - x) ** 2 + (Y - yl) ** 2 < 0.11 ** 2)
        c[disc] = np.asarray(lamp_cols[i], np.float32) * (1.0 if i == p["state"] else 0.25)
    cv.paint(rs, cs, pole, z, POLE, POLE, c)
    cv.paint(rs, cs, house, z, TRAFFIC_LIGHT, TRAFFIC_LIGHT, c)


def _draw_sign(cv, cam, p, nz):
    x, z, h, rad, shape = p["x"], p["z"], p["h"], p["r"], p["shape"]
    r = cam.front(z, x - rad, x + rad, 0.0, h + 2 * rad)
    if r is None:
        return
    rs, cs, X, Y = r
    px = z / cam.f
    yc = h + rad
    dx, dy = X - x, Y - yc
    red, white, blue, yellow = (np.array(c, np.float32) for c in
                                ((0.80, 0.10, 0.10), (0.92, 0.92, 0.90), (0.10, 0.30, 0.75), (0.95, 0.80, 0.10)))
    if shape in (0, 1):  # round: prohibition (red ring) or mandatory (blue disc)
        d = np.hypot(dx, dy) / rad
        plate = d <= 1.0
        c = _fill(X.shape, red if shape == 0 else blue)
        c[d < 0.72 if shape == 0 else (np.abs(dx) < 0.08) & (np.abs(dy) < 0.5 * rad)] = white
    elif shape == 2:  # warning triangle
        t = (dy + rad) / (2 * rad)
        plate = (t >= 0) & (t <= 1) & (np.abs(dx) <= rad * (1 - t) * 1.05)
        c = _fill(X.shape, red)
        c[(t >= 0.18) & (np.abs(dx) <= rad * (1 - t) * 1.05 - 0.09)] = white
    elif shape == 3:  # information square
        plate = (np.abs(dx) <= rad * 0.9) & (np.abs(dy) <= rad * 0.9)
        c = _fill(X.shape, blue)
        c[(np.abs(dx) < rad * 0.35) & (np.abs(dy) < rad * 0.5)] = white
    else:  # priority diamond
        plate = (np.abs(dx) + np.abs(dy)) <= rad
        c = _fill(X.shape, white)
        c[(np.abs(dx) + np.abs(dy)) <= rad * 0.68] = yellow
    if p["back"]:
        c[:] = (0.58, 0.58, 0.6)
    pole = _bar(X, Y, x - 0.05, x + 0.05, 0.0, h + rad, px) & ~plate
    c[pole] = _pole_colour(X, x, 0.05, (0.55, 0.56, 0.58))[pole]
    cv.paint(rs, cs, pole, z, POLE, POLE, c)
    cv.paint(rs, cs, plate, z, TRAFFIC_SIGN, TRAFFIC_SIGN, c)


def _draw_tree(cv, cam, p, nz):
    x, z, trunk, rx, ry = p["x"], p["z"], p["trunk"], p["rx"], p["ry"]
    cy_ = trunk + ry * 0.75
    r = cam.front(z, x - 0.2, x + 0.2, 0.0, cy_)
    if r is not None:  # the trunk
        rs, cs, X, Y = r
        stem = _bar(X, Y, x - 0.14, x + 0.14, 0.0, cy_, z / cam.f)
        cv.paint(rs, cs, stem, z, VEGETATION, VEGETATION, _pole_colour(X, x, 0.14, (0.30, 0.22, 0.15)))
    r = cam.front(z, x - rx * 1.2, x + rx * 1.2, cy_ - ry * 1.2, cy_ + ry * 1.2)
    if r is None:
        return
    rs, cs, X, Y = r
    o = p["off"]
    n = nz(X * 1.6 + o, Y * 1.6 + o)
    crown = ((X - x) / rx) ** 2 + ((Y - cy_) / ry) ** 2 < 0.8 + 0.5 * n
    # leaves: clumps at two scales, lit from above
    leaf = 0.6 * n + 0.4 * (0.5 + 0.5 * np.sin(X * 9.0 + o) * np.sin(Y * 8.0 + 2.0 * n))
    lit = _clip((Y - cy_) / ry, -1.0, 1.0) * 0.12
    c = np.asarray(p["colour"], np.float32) * (0.5 + 0.9 * leaf + lit)[..., None]
    cv.paint(rs, cs, crown, z, VEGETATION, VEGETATION, c)


def _draw_wall(cv, cam, p, nz):
    r = cam.side(p["x"], p["z0"], p["z1"], 0.0, p["h"])
    if r is None:
        return
    rs, cs, Z, Y, valid = r
    h = p["h"]
    mask = valid & (Y >= 0) & (Y <= h)
    base = np.asarray(p["colour"], np.float32)
    if p["kind"] == WALL:
        course = np.abs((Y / 0.4) % 1.0 - 0.5) > 0.4
        c = base * ((0.9 + 0.2 * nz(Z * 1.5 + 11.0, Y * 1.5)) * (1 - 0.15 * course))[..., None]
        c[Y > h - 0.12] *= 1.15
    else:
        fp = Z * Z / (cam.f * abs(p["x"]))  # metres per pixel along the fence
        period = 0.18 if p["style"] == 0 else 0.3
        slat = (np.abs((Z / period) % 1.0 - 0.5) < 0.25).astype(np.float32)
        k = _clip(period / fp / 2.0 - 0.5, 0.0, 1.0)
        c = base * (0.45 + 0.55 * (k * slat + (1 - k) * 0.5))[..., None]
        post = np.abs((Z / 2.5) % 1.0 - 0.5) > 0.46
        rail = (np.abs(Y - h + 0.08) < 0.08) | (np.abs(Y - 0.25) < 0.06)
        c[post | rail] = base * 0.8
    cv.paint(rs, cs, mask, Z, p["kind"], p["kind"], c)


GLASS = np.array([0.09, 0.11, 0.14], np.float32)
TYRE = np.array([0.05, 0.05, 0.055], np.float32)
DARK = np.array([0.12, 0.12, 0.13], np.float32)
TAIL = np.array([0.78, 0.08, 0.07], np.float32)
HEAD = np.array([0.95, 0.93, 0.8], np.float32)


def _visible_side(x, w):
    """The lateral plane of a vehicle's side facing the camera axis, or None when head-on."""
    if x - w / 2 > 0.05:
        return x - w / 2
    if x + w / 2 < -0.05:
        return x + w / 2
    return None


def _draw_car(cv, cam, p, nz, iid):
    x, z0, w, L, h, away = p["x"], p["z"], p["w"], p["L"], p["h"], p["away"]
    body = np.asarray(p["colour"], np.float32)
    xs = _visible_side(x, w)
    if xs is not None:  # the side, from rear bumper to front bumper
        r = cam.side(xs, z0, z0 + L, 0.0, h)
        if r is not None:
            rs, cs, Z, Y, valid = r
            s = (Z - z0) / L
            sf = s if away else 1 - s  # 0 at the rear, 1 at the front
            t = Y / h
            lo = p["cabin"] + 0.12 * (t - 0.55) / 0.45
            hi = 0.74 - 0.2 * (t - 0.55) / 0.45
            bodym = (t >= 0.14) & (t <= 0.56)
            cabin = (t > 0.55) & (t <= 1.0) & (sf >= lo) & (sf <= hi)
            dw = (sf - np.where(sf < 0.5, 0.18, 0.82)) * L
            rw = dw * dw + (Y - 0.31) ** 2
            wheel = rw < 0.31 ** 2
            mask = valid & (bodym | cabin | wheel) & (Y >= 0)
            c = 0.78 * _shade(body, Y, h)
            c[bodym & (t < 0.2)] *= 0.6
            win = (cabin & (t > 0.6) & (t < 0.95) & (sf > lo + 0.035) & (sf < hi - 0.035)
                   & (np.abs(sf - (lo + hi) / 2) > 0.015))  # two side windows
            c[win] = GLASS + 0.12 * (t[win] - 0.6)[:, None]
            c[wheel] = TYRE
            c[rw < 0.14 ** 2] = (0.55, 0.56, 0.58)
            cv.paint(rs, cs, mask, Z, CAR, iid, c)
    # the rear (moving away) or the front (oncoming), at z0
    r = cam.front(z0, x - w / 2, x + w / 2, 0.0, h)
    if r is None:
        return
    rs, cs, X, Y = r
    q = np.abs(X - x) / (w / 2)
    t = Y / h
    cab_half = 0.88 - 0.2 * (t - 0.55) / 0.45
    bodym = (t >= 0.12) & (t <= 0.56) & (q <= 1.0)
    wheels = (t < 0.13) & (q >= 0.58) & (q <= 0.95)
    cabin = (t > 0.55) & (t <= 1.0) & (q <= cab_half - np.where(t > 0.93, (t - 0.93) * 2.0, 0.0))
    c = _shade(body, Y, h)
    c[(t >= 0.12) & (t < 0.2)] *= 0.55
    win = (t > 0.6) & (t < 0.93) & (q <= cab_half - 0.07)
    c[win] = GLASS + 0.15 * (t[win] - 0.6)[:, None]
    if away:
        c[(t > 0.4) & (t < 0.5) & (q > 0.68) & (q < 0.96)] = TAIL
    else:
        c[(t > 0.32) & (t < 0.42) & (q > 0.6) & (q < 0.93)] = HEAD
        c[(t > 0.28) & (t < 0.42) & (q < 0.45)] = DARK
    c[(q < 0.22) & (t > 0.2) & (t < 0.29)] = (0.9, 0.9, 0.88)  # number plate
    c[wheels] = TYRE
    cv.paint(rs, cs, bodym | wheels | cabin, z0, CAR, iid, c)


def _draw_truck(cv, cam, p, nz, iid):
    x, z0, w, L, h, away = p["x"], p["z"], p["w"], p["L"], p["h"], p["away"]
    box = np.asarray(p["colour"], np.float32)
    cabc = np.asarray(p["cab"], np.float32)
    cab_len = 2.2
    xs = _visible_side(x, w)
    if xs is not None:
        r = cam.side(xs, z0, z0 + L, 0.0, h)
        if r is not None:
            rs, cs, Z, Y, valid = r
            dfront = (z0 + L - Z) if away else (Z - z0)  # metres from the front bumper
            cab = (dfront < cab_len) & (Y >= 0.5) & (Y <= 2.9)
            cargo = (dfront >= cab_len + 0.2) & (Y >= 0.95) & (Y <= h)
            chassis = (Y >= 0.45) & (Y < 0.95)
            wheel = np.zeros(Y.shape, bool)
            for wd in (1.2, L - 2.6, L - 1.5):
                wheel |= (dfront - wd) ** 2 + (Y - 0.5) ** 2 < 0.5 ** 2
            c = 0.8 * _shade(box, Y, h)
            c[~cargo] = DARK
            c[cab] = 0.8 * cabc
            c[cab & (Y > 1.8) & (Y < 2.6) & (dfront > 0.35) & (dfront < 1.7)] = GLASS
            c[wheel] = TYRE
            cv.paint(rs, cs, valid & (cab | cargo | chassis | wheel) & (Y >= 0), Z, TRUCK, iid, c)
    r = cam.front(z0, x - w / 2, x + w / 2, 0.0, h)
    if r is None:
        return
    rs, cs, X, Y = r
    q = np.abs(X - x) / (w / 2)
    if away:  # cargo box doors, chassis, wheels
        cargo = Y >= 0.95
        chassis = (Y >= 0.4) & (Y < 0.95) & (q <= 0.92)
        wheels = (Y < 0.95) & (q >= 0.5) & (q <= 0.95)
        c = _shade(box, Y, h)
        c[~cargo] = DARK
        c[cargo & ((np.abs(X - x) < 0.03) | (q > 0.94) | (Y > h - 0.08))] = box * 0.6
        c[(Y > 0.55) & (Y < 0.75) & (q > 0.7) & (q < 0.92)] = TAIL
        c[wheels & (Y < 0.9)] = TYRE
        mask = cargo | chassis | wheels
    else:  # cab with windscreen under the front of the cargo box
        cab = (Y >= 0.5) & (Y <= 2.9) & (q <= 0.96)
        cargo = (Y > 2.9) & (Y <= h)
        wheels = (Y < 0.5) & (q >= 0.55) & (q <= 0.95)
        c = _fill(X.shape, cabc)
        c[cargo] = box * 0.9
        c[cab & (Y > 1.8) & (Y < 2.7) & (q < 0.86)] = GLASS
        c[cab & (Y > 0.7) & (Y < 1.4) & (q < 0.5)] = DARK
        c[cab & (Y > 0.75) & (Y < 0.95) & (q > 0.65) & (q < 0.9)] = HEAD
        c[wheels] = TYRE
        mask = cab | cargo | wheels
    cv.paint(rs, cs, mask, z0, TRUCK, iid, c)


def _draw_person(cv, cam, p, nz, iid):
    x, z, hp = p["x"], p["z"], p["h"]
    r = cam.front(z, x - 0.3 * hp, x + 0.3 * hp, 0.0, hp)
    if r is None:
        return
    rs, cs, X, Y = r
    s = (X - x) / hp
    t = Y / hp
    a = np.abs(s)
    head = (s / 0.062) ** 2 + ((t - 0.925) / 0.075) ** 2 <= 1.0
    neck = (a < 0.03) & (t > 0.82) & (t < 0.87)
    tw = 0.105 + 0.03 * _clip((t - 0.5) / 0.3, 0, 1) - _clip(t - 0.8, 0, None) * 1.6
    torso = (t >= 0.47) & (t <= 0.84) & (a <= tw)
    sw = p["swing"] * p["stride"] * (0.82 - t) * 0.25
    arms = (t >= 0.45) & (t <= 0.82) & ((np.abs(s - 0.14 - sw) < 0.034) | (np.abs(s + 0.14 - sw) < 0.034))
    lc = 0.05 + p["stride"] * (0.48 - t)
    legs = (t >= 0.0) & (t < 0.49) & (np.abs(a - lc) < 0.045)
    c = _fill(X.shape, p["pants"])
    up = torso | arms
    c[up] = p["shirt"]
    c[arms & (t < 0.58)] = p["skin"]
    c[head | neck] = p["skin"]
    c[head & ((t > 0.95) | bool(p["back"]))] = p["hair"]
    c[legs & (t < 0.035)] = (0.08, 0.07, 0.07)
    cv.paint(rs, cs, head | neck | torso | arms | legs, z, PERSON, iid, c)


def _draw_bicycle(cv, cam, p, nz, bike_id, rider_id):
    x, z, d = p["x"], p["z"], p["d"]
    r = cam.front(z, x - 0.95, x + 0.95, 0.0, 1.85 if p["rider"] else 1.1)
    if r is None:
        return
    rs, cs, X, Y = r
    half = max(0.035, 0.35 * z / cam.f)  # tubes stay visible when far away
    wr = 0.34
    rear, front = (x - d * 0.52, wr), (x + d * 0.52, wr)
    bb = (x - d * 0.08, 0.30)
    seat = (x - d * 0.26, 0.92)
    head_t = (x + d * 0.40, 0.88)
    bar = (x + d * 0.36, 1.02)
    frame = np.zeros(X.shape, bool)
    for a, b in ((rear, bb), (bb, seat), (seat, head_t), (bb, head_t), (head_t, front), (rear, seat), (head_t, bar)):
        frame |= _seg_dist(X, Y, a, b) < half
    tyre = np.zeros(X.shape, bool)
    inner = np.zeros(X.shape, bool)
    for cxw in (rear[0], front[0]):
        dd = np.hypot(X - cxw, Y - wr)
        tyre |= np.abs(dd - (wr - 0.03)) < max(0.035, half)
        inner |= dd < wr - 0.03
    # the wheels are see-through: spokes over whatever lies behind (drawn far to near)
    c = 0.55 * cv.rgb[rs, cs] + 0.45 * np.array([0.55, 0.55, 0.57], np.float32)
    c[frame] = np.asarray(p["frame"], np.float32)
    c[tyre] = (0.06, 0.06, 0.06)
    cv.paint(rs, cs, frame | tyre | inner, z, BICYCLE, bike_id, c)
    if not p["rider"]:
        return
    hip = (x - d * 0.22, 0.98)
    shoulder = (x + d * 0.06, 1.46)
    headc = (x + d * 0.13, 1.64)
    knee = (x + d * 0.12, 0.68)
    pedal = (x - d * 0.02, 0.22)
    hand = (bar[0] - d * 0.02, bar[1])
    torso = _seg_dist(X, Y, hip, shoulder) < 0.15
    armm = _seg_dist(X, Y, shoulder, hand) < max(0.045, half)
    leg = (_seg_dist(X, Y, hip, knee) < 0.075) | (_seg_dist(X, Y, knee, pedal) < max(0.055, half))
    head = np.hypot(X - headc[0], Y - headc[1]) < 0.115
    c = _fill(X.shape, p["pants"])
    c[torso | armm] = p["shirt"]
    c[head] = p["skin"]
    c[head & (Y > headc[1] + 0.02)] = p["hair"]
    # the rider sits a hair nearer than the bicycle so the two never tie
    cv.paint(rs, cs, torso | armm | leg | head, z - 0.05, RIDER, rider_id, c)


_ITEM_DEPTH = {
    "lamp": lambda p: p["z"], "light": lambda p: p["z"], "sign": lambda p: p["z"], "tree": lambda p: p["z"],
    "wall": lambda p: p["z0"], "car": lambda p: p["z"], "truck": lambda p: p["z"], "person": lambda p: p["z"],
    "bicycle": lambda p: p["z"],
}


def _render(sc: _Scene, height: int, width: int, grain_rng: np.random.Generator) -> dict[str, Any]:
    cam = _Camera(sc, height, width)
    nz = _Noise(sc.noise)
    cv = _Canvas(height, width)
    _render_background(cv, cam, sc, nz)

    # vehicles cast a shadow on the ground under them
    for kind, p in sc.items:
        if kind in ("car", "truck"):
            _draw_shadow(cv, cam, p["x"] - p["w"] / 2 - 0.1, p["x"] + p["w"] / 2 + 0.1, p["z"] - 0.15, p["z"] + p["L"])

    # instance numbers in scene order, then draw far to near
    counters = {label: 0 for label in THING_LABEL_IDS}

    def new_id(label):
        k = counters[label]
        counters[label] += 1
        return label * 1000 + k

    jobs = []
    for seq, (kind, p) in enumerate(sc.items):
        if kind == "car":
            ids = (new_id(CAR),)
        elif kind == "truck":
            ids = (new_id(TRUCK),)
        elif kind == "person":
            ids = (new_id(PERSON),)
        elif kind == "bicycle":
            ids = (new_id(BICYCLE), new_id(RIDER) if p["rider"] else RIDER)
        else:
            ids = ()
        jobs.append((-_ITEM_DEPTH[kind](p), seq, kind, p, ids))
    jobs.sort(key=lambda j: (j[0], j[1]))
    for _, _, kind, p, ids in jobs:
        if kind == "lamp":
            _draw_lamp(cv, cam, p, nz)
        elif kind == "light":
            _draw_light(cv, cam, p, nz)
        elif kind == "sign":
            _draw_sign(cv, cam, p, nz)
        elif kind == "tree":
            _draw_tree(cv, cam, p, nz)
        elif kind == "wall":
            _draw_wall(cv, cam, p, nz)
        elif kind == "car":
            _draw_car(cv, cam, p, nz, ids[0])
        elif kind == "truck":
            _draw_truck(cv, cam, p, nz, ids[0])
        elif kind == "person":
            _draw_person(cv, cam, p, nz, ids[0])
        elif kind == "bicycle":
            _draw_bicycle(cv, cam, p, nz, ids[0], ids[1])

    # visible instances: renumber per class, drop the tiny ones, measure boxes
    boxes, box_labels = [], []
    kept = {label: 0 for label in THING_LABEL_IDS}
    for iid in sorted(cv.regions, key=lambda i: (i // 1000, i % 1000)):
        r0, r1, c0, c1 = cv.regions[iid]
        label = iid // 1000
        view = cv.inst[r0:r1, c0:c1]
        m = view == iid
        n = int(m.sum())
        if n == 0:
            continue
        if n < MIN_BOX_PIXELS:
            view[m] = label
            continue
        new = label * 1000 + kept[label]
        kept[label] += 1
        view[m] = new
        rr = np.flatnonzero(m.any(axis=1))
        cc = np.flatnonzero(m.any(axis=0))
        boxes.append((c0 + cc[0], r0 + rr[0], c0 + cc[-1] + 1, r0 + rr[-1] + 1))
        box_labels.append(label)

    # global illumination: brightness, tint, a soft horizontal gradient, sensor grain
    gx = 1.0 + sc.gradient * ((np.arange(width, dtype=np.float32) + 0.5) / width - 0.5)
    gain = (sc.brightness * np.asarray(sc.tint, np.float32))[None, None, :] * gx[None, :, None]
    img = cv.rgb * gain
    img += grain_rng.standard_normal(img.shape, dtype=np.float32) * np.float32(0.012)
    image = (_clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    counts = {LABEL_NAMES[k]: v for k, v in kept.items()}
    return dict(
        image=image,
        labels=cv.labels,
        instances=cv.inst,
        boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        box_labels=np.asarray(box_labels, dtype=np.int64),
        depth=cv.depth,
        meta=dict(
            focal_px=float(cam.f), cx_px=float(cam.cx), cy_px=float(cam.cy), horizon_row=float(cam.cy),
            camera_height_m=float(sc.cam_h), sky_depth_m=SKY_DEPTH, street_end_m=float(sc.z_end),
            road_x_m=(float(sc.x_left), float(sc.x_right)), lanes=int(sc.n_lanes), lane_width_m=float(sc.lane_w),
            instances=counts,
        ),
    )


# --------------------------------------------------------------------------------------------
# The data set
# --------------------------------------------------------------------------------------------


class SyntheticStreets(IndexedDataset):
    """Procedural street scenes in the Cityscapes label-id space (see the module docstring).

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``; the splits hold different scenes.
        size: number of samples (default 10000 for train, 500 for val, 32 for test).
        height, width: image size in pixels, positive multiples of 8 (default 64 x 128).
        seed: non-negative integer mixed into every sample's random stream.

    Attributes:
        num_classes: 34, the Cityscapes label ids ``0..33``: one-hot maps have 34 channels.
        class_names: the 34 Cityscapes class names, index = label id.
        ignore_index: 0 (unlabelled; never produced by this data set).
    """

    name = "synthetic-streets"
    version = VERSION
    num_classes = NUM_LABEL_IDS
    class_names = list(LABEL_NAMES)
    ignore_index = 0

    def __init__(self, split: str = "test", size: int | None = None, height: int = 64, width: int = 128,
                 seed: int = 0):
        if split not in SPLITS:
            raise UserError(f"unknown split {split!r} for synthetic-streets; use one of {', '.join(SPLITS)}.")
        for what, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0 or value % 8:
                raise UserError(
                    f"bad {what} {value!r} for synthetic-streets; use a positive multiple of 8 (e.g. 64, 128).")
        if size is None:
            size = DEFAULT_SIZES[split]
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise UserError(f"bad size {size!r} for synthetic-streets; use an integer >= 1 or leave it out.")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UserError(f"bad seed {seed!r} for synthetic-streets; use an integer >= 0.")
        self.split = split
        self.size = int(size)
        self.height = int(height)
        self.width = int(width)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.size

    def sample_at(self, i: int) -> Sample:
        scene = self.scene(i)
        grain = np.random.default_rng([self.seed, SPLITS[self.split], i, self.height, self.width])
        out = _render(scene, self.height, self.width, grain)
        meta = dict(split=self.split, index=i, seed=self.seed, scene=out.pop("meta"))
        return Sample(key=f"{self.split}/{i:05d}", meta=meta, **out)

    def scene(self, index: int) -> _Scene:
        """The scene description of sample ``index`` (metres; independent of the image size)."""
        return _sample_scene(np.random.default_rng([self.seed, SPLITS[self.split], int(index)]))

    def describe(self) -> dict[str, Any]:
        return dict(name=self.name, version=self.version, split=self.split, size=self.size,
                    height=self.height, width=self.width, seed=self.seed)

    def __repr__(self) -> str:
        return (f"SyntheticStreets(split={self.split!r}, size={self.size}, height={self.height}, "
                f"width={self.width}, seed={self.seed})")


@datasets.register(
    "synthetic-streets",
    version=VERSION,
    summary="procedural street scenes, Cityscapes label ids, exact labels/instances/boxes/depth (no download)",
    resolution="64x128",
    label_space="cityscapes-34",
    ground_truth="labels, instances, boxes, depth",
    weights=None,
)
def synthetic_streets(split: str = "test", size: int | None = None, height: int = 64, width: int = 128,
                      seed: int = 0) -> SyntheticStreets:
    """Build the ``synthetic-streets`` data set (see :class:`SyntheticStreets`)."""
    return SyntheticStreets(split=split, size=size, height=height, width=width, seed=seed)
