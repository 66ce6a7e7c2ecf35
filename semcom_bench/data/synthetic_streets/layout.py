"""Scene layout: sampling one street scene in metres and colours (camera pose, road, sidewalks,
facades, street furniture and road users), independent of the image size.

The colour palettes live here because the scene draws its colours when it is sampled; drawing
only reads them from the scene.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from semcom_bench.data.synthetic_streets.arrays import _clip
from semcom_bench.data.synthetic_streets.labels import BUILDING, CAR, FENCE, TRUCK, VEGETATION, WALL
from semcom_bench.data.synthetic_streets.randomness import _jitter, _pick, _Rand

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
