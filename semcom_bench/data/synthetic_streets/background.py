"""The background of a scene, for every pixel: sky with clouds, facades (buildings with
windows, tree lines) along both sides and at the far end, the ground (road with markings,
sidewalks, terrain) and the near side walls of buildings."""

from __future__ import annotations

import numpy as np

from semcom_bench.data.synthetic_streets.arrays import _box_cover, _clip
from semcom_bench.data.synthetic_streets.camera import _Camera
from semcom_bench.data.synthetic_streets.canvas import _Canvas
from semcom_bench.data.synthetic_streets.labels import BUILDING, ROAD, SIDEWALK, TERRAIN, VEGETATION
from semcom_bench.data.synthetic_streets.layout import _Scene
from semcom_bench.data.synthetic_streets.randomness import _Noise


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
