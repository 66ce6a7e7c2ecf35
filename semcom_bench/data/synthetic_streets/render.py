"""Rendering one scene at one image size: background, shadows, objects far to near, instance
numbers and boxes, then global illumination and sensor grain."""

from __future__ import annotations

from typing import Any

import numpy as np

from semcom_bench.data.cityscapes_labels import LABEL_NAMES
from semcom_bench.data.synthetic_streets.arrays import _clip
from semcom_bench.data.synthetic_streets.background import _render_background
from semcom_bench.data.synthetic_streets.camera import SKY_DEPTH, _Camera
from semcom_bench.data.synthetic_streets.canvas import _Canvas
from semcom_bench.data.synthetic_streets.drawing import (
    _draw_bicycle,
    _draw_car,
    _draw_lamp,
    _draw_light,
    _draw_person,
    _draw_shadow,
    _draw_sign,
    _draw_tree,
    _draw_truck,
    _draw_wall,
)
from semcom_bench.data.synthetic_streets.labels import (
    BICYCLE,
    CAR,
    PERSON,
    RIDER,
    THING_LABEL_IDS,
    TRUCK,
    _number_instances,
)
from semcom_bench.data.synthetic_streets.layout import _Scene
from semcom_bench.data.synthetic_streets.randomness import _Noise

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
    boxes, box_labels, kept = _number_instances(cv.inst, cv.regions)

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
        boxes=boxes,
        box_labels=box_labels,
        depth=cv.depth,
        meta=dict(
            focal_px=float(cam.f), cx_px=float(cam.cx), cy_px=float(cam.cy), horizon_row=float(cam.cy),
            camera_height_m=float(sc.cam_h), sky_depth_m=SKY_DEPTH, street_end_m=float(sc.z_end),
            road_x_m=(float(sc.x_left), float(sc.x_right)), lanes=int(sc.n_lanes), lane_width_m=float(sc.lane_w),
            instances=counts,
        ),
    )
