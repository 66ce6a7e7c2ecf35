"""The synthetic-streets data set: shapes, determinism, exact ground truth, arguments."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from semcom_bench.data.base import Sample
from semcom_bench.data.cityscapes_labels import (
    ID_TO_TRAINID,
    LABELS,
    NUM_LABEL_IDS,
    TRAINID_NAMES,
    colourise,
    to_train_ids,
)
from semcom_bench.data.synthetic_streets import (
    MIN_BOX_PIXELS,
    SKY_DEPTH,
    THING_LABEL_IDS,
    USED_LABEL_IDS,
    SyntheticStreets,
)
from semcom_bench.errors import UserError

ROAD, SKY, PERSON, CAR = 7, 23, 24, 26


@pytest.fixture(scope="module")
def test_samples() -> list[Sample]:
    ds = SyntheticStreets("test")
    return [ds[i] for i in range(len(ds))]


def test_cityscapes_label_table():
    assert [lab.id for lab in LABELS] == list(range(NUM_LABEL_IDS)) and NUM_LABEL_IDS == 34
    train = sorted(lab.train_id for lab in LABELS if lab.train_id != 255)
    assert train == list(range(19)) and len(TRAINID_NAMES) == 19
    assert TRAINID_NAMES[0] == "road" and TRAINID_NAMES[10] == "sky" and TRAINID_NAMES[18] == "bicycle"
    assert ID_TO_TRAINID.dtype == np.uint8 and ID_TO_TRAINID.shape == (256,)
    assert ID_TO_TRAINID[ROAD] == 0 and ID_TO_TRAINID[CAR] == 13 and ID_TO_TRAINID[0] == 255
    assert ID_TO_TRAINID[34] == 255 and to_train_ids(np.array([[7, 33], [0, 255]])).tolist() == [[0, 18], [255, 255]]
    things = {lab.name for lab in LABELS if lab.has_instances}
    assert things == {"person", "rider", "car", "truck", "bus", "caravan", "trailer", "train", "motorcycle", "bicycle"}
    rgb = colourise(np.array([[7, 23], [26, 0]], dtype=np.uint8))
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
    assert rgb[0, 0].tolist() == [128, 64, 128] and rgb[0, 1].tolist() == [70, 130, 180]
    assert rgb[1, 0].tolist() == [0, 0, 142] and rgb[1, 1].tolist() == [0, 0, 0]


def test_dataset_attributes():
    ds = SyntheticStreets()
    assert ds.name == "synthetic-streets" and len(ds) == 32
    assert ds.num_classes == 34 and len(ds.class_names) == 34 and ds.ignore_index == 0
    assert ds.class_names[CAR] == "car" and ds.class_names[SKY] == "sky"
    assert set(USED_LABEL_IDS) <= set(range(1, 34))
    assert len(SyntheticStreets("train")) == 10000
    assert ds.describe() == dict(name="synthetic-streets", version="1", split="test", size=32,
                                 height=64, width=128, seed=0)


def test_shapes_and_dtypes(test_samples):
    for s in test_samples[:4]:
        assert s.key.startswith("test/")
        assert s.image.shape == (64, 128, 3) and s.image.dtype == np.uint8
        assert s.labels.shape == (64, 128) and s.labels.dtype == np.uint8
        assert s.instances.shape == (64, 128) and s.instances.dtype == np.int32
        assert s.depth.shape == (64, 128) and s.depth.dtype == np.float32
        assert s.boxes.ndim == 2 and s.boxes.shape[1] == 4 and s.boxes.dtype == np.float32
        assert s.box_labels.shape == (len(s.boxes),) and s.box_labels.dtype == np.int64
        assert s.meta["scene"]["sky_depth_m"] == SKY_DEPTH


def test_deterministic_and_random_access(test_samples):
    ds = SyntheticStreets("test")
    assert ds[5].content_hash == ds[5].content_hash == test_samples[5].content_hash
    assert SyntheticStreets("test", size=6)[5].content_hash == test_samples[5].content_hash  # not order-dependent
    assert ds[-1].content_hash == test_samples[-1].content_hash
    assert [s.content_hash for s in ds][:3] == [s.content_hash for s in test_samples[:3]]


def test_deterministic_across_processes(test_samples):
    code = ("from semcom_bench.data.synthetic_streets import SyntheticStreets; "
            "print(SyntheticStreets('test')[3].content_hash)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == test_samples[3].content_hash


def test_samples_differ(test_samples):
    hashes = {s.content_hash for s in test_samples}
    assert len(hashes) == len(test_samples)
    train = SyntheticStreets("train", size=4)
    assert not hashes & {s.content_hash for s in train}
    assert SyntheticStreets("test", seed=1)[0].content_hash != test_samples[0].content_hash
    assert not np.array_equal(test_samples[0].labels, test_samples[1].labels)


def test_label_ids_are_valid(test_samples):
    for s in test_samples:
        present = set(np.unique(s.labels).tolist())
        assert present <= set(USED_LABEL_IDS), present - set(USED_LABEL_IDS)
        assert ROAD in present


def test_instances_follow_the_cityscapes_convention(test_samples):
    for s in test_samples:
        inst, lab = s.instances, s.labels
        numbered = inst >= 1000
        assert np.array_equal(inst[~numbered], lab[~numbered].astype(np.int32))
        assert np.array_equal(inst[numbered] // 1000, lab[numbered].astype(np.int32))
        assert set(np.unique(lab[numbered]).tolist()) <= set(THING_LABEL_IDS)
        # instances are numbered 0, 1, 2, ... per class
        ids = np.unique(inst[numbered])
        for label in THING_LABEL_IDS:
            ks = sorted(int(i) % 1000 for i in ids if i // 1000 == label)
            assert ks == list(range(len(ks)))


def test_boxes_are_the_visible_extent_of_each_instance(test_samples):
    for s in test_samples:
        h, w = s.labels.shape
        ids = np.unique(s.instances[s.instances >= 1000])
        assert len(ids) == len(s.boxes) == len(s.box_labels)
        assert np.array_equal(s.box_labels, ids // 1000)
        for iid, box in zip(ids, s.boxes):
            x0, y0, x1, y1 = box
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
            rows, cols = np.nonzero(s.instances == iid)
            assert rows.size >= MIN_BOX_PIXELS
            assert [x0, y0, x1, y1] == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
            inside = s.instances[int(y0):int(y1), int(x0):int(x1)] == iid
            assert inside.any() and inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()


def test_depth_follows_the_scene_geometry(test_samples):
    for s in test_samples:
        d, lab = s.depth, s.labels
        assert np.isfinite(d).all() and (d > 0).all()
        assert (d[lab == SKY] == SKY_DEPTH).all() and (d[lab != SKY] < SKY_DEPTH).all()
        road = lab == ROAD
        # going up a column, the road recedes towards the horizon
        pairs = road[1:] & road[:-1]
        assert pairs.any() and (d[:-1][pairs] > d[1:][pairs]).all()
        # and it lies exactly on the ground plane seen by the camera
        cam = s.meta["scene"]
        rows = np.nonzero(road)[0]
        expected = cam["focal_px"] * cam["camera_height_m"] / (rows + 0.5 - cam["cy_px"])
        np.testing.assert_allclose(d[road], expected, rtol=1e-5)
        assert cam["cy_px"] / s.height == pytest.approx(0.425, abs=0.03)


def test_cars_and_persons_are_frequent(test_samples):
    with_car = sum(bool((s.box_labels == CAR).any()) for s in test_samples)
    with_person = sum(bool((s.box_labels == PERSON).any()) for s in test_samples)
    assert with_car >= 0.75 * len(test_samples) and with_person >= 0.75 * len(test_samples)
    heights = [b[3] - b[1] for s in test_samples for b, lab in zip(s.boxes, s.box_labels) if lab == CAR]
    assert np.median(heights) >= 6


@pytest.mark.parametrize("height, width", [(128, 256), (256, 512), (64, 64)])
def test_other_sizes(height, width):
    small = SyntheticStreets("test", size=1)[0]
    s = SyntheticStreets("test", size=1, height=height, width=width)[0]
    assert s.image.shape == (height, width, 3) and s.labels.shape == s.depth.shape == (height, width)
    assert set(np.unique(s.labels).tolist()) <= set(USED_LABEL_IDS)
    assert (s.depth[s.labels == SKY] == SKY_DEPTH).all()
    # the same scene at another resolution
    assert s.meta["scene"]["street_end_m"] == small.meta["scene"]["street_end_m"]
    if width == 2 * height:
        share = lambda x, k: float((x.labels == k).mean())  # noqa: E731
        for k in (ROAD, SKY):
            assert share(s, k) == pytest.approx(share(small, k), abs=0.03)


def test_a_run_of_train_scenes():
    """Rendering n train scenes gives n different, well-formed samples; the time is printed, not checked."""
    n = 20
    ds = SyntheticStreets("train", size=n)
    t = time.perf_counter()
    samples = list(ds)
    per = (time.perf_counter() - t) / n
    assert [s.key for s in samples] == [f"train/{i:05d}" for i in range(n)]
    assert len({s.content_hash for s in samples}) == n
    assert len({s.meta["scene"]["street_end_m"] for s in samples}) == n  # n scenes, not one scene n times
    for s in samples:
        assert s.image.shape == (64, 128, 3) and s.image.dtype == np.uint8
        assert s.labels.shape == s.instances.shape == s.depth.shape == (64, 128)
        assert s.labels.dtype == np.uint8 and s.instances.dtype == np.int32 and s.depth.dtype == np.float32
        assert s.boxes.shape == (len(s.box_labels), 4) and s.boxes.dtype == np.float32
        assert s.box_labels.dtype == np.int64
        assert set(np.unique(s.labels).tolist()) <= set(USED_LABEL_IDS)
    assert ds[7].content_hash == samples[7].content_hash  # rendering the run changed nothing for later samples
    print(f"\nsynthetic-streets 64x128: {per * 1000:.1f} ms per sample (information, not checked)")


@pytest.mark.parametrize("kwargs, match", [
    (dict(split="validation"), r"parameter split .* one of train, val, test; got 'validation'"),
    (dict(height=60), r"parameter height .* multiple of 8 .*got 60"),
    (dict(width=0), r"parameter width .* in \[8, .*got 0"),
    (dict(height=-8), r"parameter height .* in \[8, .*got -8"),
    (dict(size=0), r"parameter size .* in \[1, .*got 0"),
    (dict(seed=-1), r"parameter seed .* in \[0, .*got -1"),
    (dict(seed="abc"), r"parameter seed .* an integer, got 'abc'"),
])
def test_bad_arguments_are_user_errors(kwargs, match):
    from semcom_bench.registry import datasets

    with pytest.raises(UserError, match=match) as err:
        datasets.create("synthetic-streets", **kwargs)
    assert "\n" not in str(err.value)


def test_index_out_of_range():
    ds = SyntheticStreets("test", size=2)
    with pytest.raises(IndexError):
        ds[2]
    assert len(list(ds)) == 2


def test_the_registry_builds_it():
    from semcom_bench.registry import datasets

    ds = datasets.create("synthetic-streets", size=4)
    assert isinstance(ds, SyntheticStreets) and len(ds) == 4
    assert ds[0].content_hash == SyntheticStreets("test")[0].content_hash
    entry = datasets.get("synthetic-streets")
    assert entry.version == "1" and entry.meta["label_space"] == "cityscapes-34"
    with pytest.raises(UserError, match="height"):
        datasets.create("synthetic-streets", height=30)
