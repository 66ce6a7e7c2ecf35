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

The package, one module per job:

* :mod:`.dataset`: the :class:`SyntheticStreets` data set and its registration.
* :mod:`.layout`: sampling a scene (street, facades, street furniture, road users) in metres.
* :mod:`.randomness`: the scene's random stream and the value noise that textures surfaces.
* :mod:`.camera`: the pinhole camera that projects planes in the scene to pixels with depth.
* :mod:`.canvas`: the z-buffered image, depth, label and instance maps being painted.
* :mod:`.background`: sky, facades and ground, for every pixel.
* :mod:`.drawing`: street furniture, road users and vehicle shadows, painted onto the canvas.
* :mod:`.labels`: the label ids used, the thing classes, instance numbering and boxes.
* :mod:`.arrays`: small numpy helpers (clipping, pixel coverage, distance to a segment).
* :mod:`.render`: one scene at one image size, from background to the final image.

Importing the package registers the data set (``semcom_bench.catalog`` lists it).
"""

from semcom_bench.data.synthetic_streets.camera import SKY_DEPTH
from semcom_bench.data.synthetic_streets.dataset import (
    DEFAULT_SIZES,
    SPLITS,
    VERSION,
    SyntheticStreets,
    synthetic_streets,
)
from semcom_bench.data.synthetic_streets.labels import (
    BICYCLE,
    BUILDING,
    CAR,
    FENCE,
    MIN_BOX_PIXELS,
    PERSON,
    POLE,
    RIDER,
    ROAD,
    SIDEWALK,
    SKY,
    TERRAIN,
    THING_LABEL_IDS,
    TRAFFIC_LIGHT,
    TRAFFIC_SIGN,
    TRUCK,
    USED_LABEL_IDS,
    VEGETATION,
    WALL,
)

__all__ = [
    "BICYCLE", "BUILDING", "CAR", "DEFAULT_SIZES", "FENCE", "MIN_BOX_PIXELS", "PERSON", "POLE", "RIDER",
    "ROAD", "SIDEWALK", "SKY", "SKY_DEPTH", "SPLITS", "TERRAIN", "THING_LABEL_IDS", "TRAFFIC_LIGHT",
    "TRAFFIC_SIGN", "TRUCK", "USED_LABEL_IDS", "VEGETATION", "VERSION", "WALL", "SyntheticStreets",
    "synthetic_streets",
]
