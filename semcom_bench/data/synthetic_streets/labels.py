"""Labels of the synthetic-streets scenes: the Cityscapes ids they use, the thing classes, and
the numbering of the visible instances with their boxes."""

from __future__ import annotations

import numpy as np

#: Instances with fewer visible pixels get no instance number and no box.
MIN_BOX_PIXELS = 8

# Cityscapes label ids used by the scenes.
ROAD, SIDEWALK, BUILDING, WALL, FENCE = 7, 8, 11, 12, 13
POLE, TRAFFIC_LIGHT, TRAFFIC_SIGN, VEGETATION, TERRAIN, SKY = 17, 19, 20, 21, 22, 23
PERSON, RIDER, CAR, TRUCK, BICYCLE = 24, 25, 26, 27, 33
#: Label ids that can appear in a sample.
USED_LABEL_IDS = (ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, TRAFFIC_LIGHT, TRAFFIC_SIGN,
                  VEGETATION, TERRAIN, SKY, PERSON, RIDER, CAR, TRUCK, BICYCLE)
#: Label ids that carry instance numbers and boxes.
THING_LABEL_IDS = (PERSON, RIDER, CAR, TRUCK, BICYCLE)


def _number_instances(inst: np.ndarray, regions: dict[int, list[int]]) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """Number the visible instances per class, drop the tiny ones and measure their boxes.

    ``inst`` is the painted instance map (changed in place), ``regions`` the rows and columns
    each drawn instance id may cover. Returns the boxes (N, 4) float32, their label ids (N,)
    int64 and the number of numbered instances per thing label id.
    """
    boxes, box_labels = [], []
    kept = {label: 0 for label in THING_LABEL_IDS}
    for iid in sorted(regions, key=lambda i: (i // 1000, i % 1000)):
        r0, r1, c0, c1 = regions[iid]
        label = iid // 1000
        view = inst[r0:r1, c0:c1]
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
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4), np.asarray(box_labels, dtype=np.int64), kept
