"""Drawing the objects of a scene onto the canvas: street lamps, traffic lights, signs, trees,
walls and fences, cars, trucks, persons and bicycles with their riders, and vehicle shadows."""

from __future__ import annotations

import numpy as np

from semcom_bench.data.synthetic_streets.arrays import _clip, _seg_dist
from semcom_bench.data.synthetic_streets.camera import _Camera
from semcom_bench.data.synthetic_streets.canvas import _Canvas
from semcom_bench.data.synthetic_streets.labels import (
    BICYCLE,
    CAR,
    PERSON,
    POLE,
    RIDER,
    ROAD,
    SIDEWALK,
    TERRAIN,
    TRAFFIC_LIGHT,
    TRAFFIC_SIGN,
    TRUCK,
    VEGETATION,
    WALL,
)


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
