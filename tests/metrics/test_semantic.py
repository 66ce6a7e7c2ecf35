"""Semantic metrics: mIoU vs a direct computation, mAP vs pycocotools, depth alignment, selection
of evaluators, and the runner skipping a metric whose evaluator is missing."""

from __future__ import annotations

import numpy as np
import pytest

from semcom_bench.components import RunContext
from semcom_bench.metrics import semantic as S

# --------------------------------------------------------------------------------------------
# mIoU
# --------------------------------------------------------------------------------------------


def _direct_ious(gt, pred, c):
    """IoU per class straight from the definition, over pixels whose ground truth is valid."""
    valid = gt != 255
    out = []
    for k in range(c):
        inter = np.sum((gt == k) & (pred == k) & valid)
        union = np.sum(((gt == k) | (pred == k)) & valid)
        out.append(inter / union if union else np.nan)
    return np.array(out)


def test_miou_matches_direct_computation():
    rng = np.random.default_rng(0)
    c = 6
    gt = rng.integers(0, c, (40, 50))
    gt[rng.random(gt.shape) < 0.1] = 255  # ignored
    gt[gt == 4] = 3  # class 4 absent from the ground truth
    pred = np.where(rng.random(gt.shape) < 0.7, gt, rng.integers(0, c + 2, gt.shape))  # some "other" (>= c)
    pred[pred == 255] = 0
    pred[pred == 5] = 0  # class 5 absent from both only if also absent in gt
    cm = S.confusion(gt, pred, c)
    assert cm.shape == (c, c + 1) and cm.sum() == np.sum(gt != 255)
    direct = _direct_ious(gt, np.where(pred < c, pred, -1), c)
    np.testing.assert_allclose(S.class_iou(cm), direct, equal_nan=True)
    assert S.mean_iou(cm) == pytest.approx(np.nanmean(direct))


def test_miou_set_accumulates_confusions():
    rng = np.random.default_rng(1)
    gts = [rng.integers(0, 4, (8, 8)) for _ in range(3)]
    preds = [np.where(rng.random((8, 8)) < 0.6, g, rng.integers(0, 4, (8, 8))) for g in gts]
    total = sum(S.confusion(g, p, 4) for g, p in zip(gts, preds))
    direct = _direct_ious(np.concatenate(gts), np.concatenate(preds), 4)
    assert S.mean_iou(total) == pytest.approx(np.nanmean(direct))
    # the per-image value counts only classes present in that image's ground truth or prediction
    g = np.zeros((4, 4), int)
    assert S.mean_iou(S.confusion(g, g, 19)) == 1.0
    p = g.copy()
    p[0, 0] = 7
    assert S.mean_iou(S.confusion(g, p, 19)) == pytest.approx((15 / 16 + 0.0) / 2)


# --------------------------------------------------------------------------------------------
# mAP against pycocotools on the same boxes
# --------------------------------------------------------------------------------------------


def _random_case(seed=0, n_img=5):
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(n_img):
        k = int(rng.integers(1, 6))
        xy = rng.uniform(0, 80, (k, 2))
        wh = rng.uniform(4, 30, (k, 2))
        gt = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        gl = rng.integers(0, 3, k)
        jitter = gt + rng.normal(0, 1.5, gt.shape).astype(np.float32)
        jitter[:, 2:] = np.maximum(jitter[:, 2:], jitter[:, :2] + 1)
        extra = rng.integers(0, 3)
        fxy = rng.uniform(0, 80, (extra, 2))
        fp = np.concatenate([fxy, fxy + rng.uniform(4, 30, (extra, 2))], 1).astype(np.float32)
        boxes = np.concatenate([jitter, fp])
        labels = np.concatenate([np.where(rng.random(k) < 0.85, gl, (gl + 1) % 3), rng.integers(0, 3, extra)])
        preds.append({"boxes": boxes, "scores": rng.uniform(0.05, 1, len(boxes)).astype(np.float32), "labels": labels})
        targets.append({"boxes": gt, "labels": gl})
    return preds, targets


def _pycocotools_map(preds, targets):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, dets = [], [], []
    for i, (p, t) in enumerate(zip(preds, targets)):
        images.append({"id": i, "width": 200, "height": 200})
        for b, lab in zip(t["boxes"], t["labels"]):
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(lab), "bbox": [float(b[0]), float(b[1]), w, h],
                         "area": w * h, "iscrowd": 0})
        for b, s, lab in zip(p["boxes"], p["scores"], p["labels"]):
            dets.append({"image_id": i, "category_id": int(lab), "score": float(s),
                         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": k} for k in range(3)]}
    gt.createIndex()
    dt = gt.loadRes(dets)
    ev = COCOeval(gt, dt, "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return ev.stats[0], ev.stats[1]


@pytest.mark.parametrize("seed", [0, 1])
def test_map_matches_pycocotools(seed):
    pytest.importorskip("pycocotools")
    preds, targets = _random_case(seed)
    ours = S.mean_average_precision(preds, targets)
    ref_map, ref_50 = _pycocotools_map(preds, targets)
    assert ours["map"] == pytest.approx(ref_map, abs=1e-6)
    assert ours["map50"] == pytest.approx(ref_50, abs=1e-6)
    perfect = [{"boxes": t["boxes"], "scores": np.ones(len(t["labels"]), np.float32), "labels": t["labels"]} for t in targets]
    assert S.mean_average_precision(perfect, targets)["map"] == pytest.approx(1.0)


def test_map_without_ground_truth_is_nan():
    empty = [{"boxes": np.zeros((0, 4)), "labels": np.zeros(0, int)}]
    r = S.mean_average_precision([{"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0, int)}], empty)
    assert np.isnan(r["map"])


# --------------------------------------------------------------------------------------------
# Depth
# --------------------------------------------------------------------------------------------


def test_depth_alignment_is_scale_and_shift_invariant_in_inverse_depth():
    rng = np.random.default_rng(0)
    gt = rng.uniform(2.0, 80.0, (12, 16))
    mask = np.ones_like(gt, bool)
    mask[0] = False
    for s, t in ((1.0, 0.0), (37.0, 5.0), (0.02, -0.001)):
        r = S.depth_scores(s / gt + t, gt, mask, "inverse")
        assert r["absrel"] == pytest.approx(0.0, abs=1e-9) and r["rmse"] == pytest.approx(0.0, abs=1e-6) and r["delta1"] == 1.0
    r = S.depth_scores(3.0 * gt + 2.0, gt, mask, "depth")
    assert r["absrel"] == pytest.approx(0.0, abs=1e-9)
    # a fixed prediction error gives the same numbers whatever the prediction's scale and shift
    noisy = 1.0 / gt * np.exp(rng.normal(0, 0.2, gt.shape))
    a, b = S.depth_scores(noisy, gt, mask), S.depth_scores(5 * noisy + 1, gt, mask)
    assert a == pytest.approx(b)


def test_depth_errors_by_hand():
    gt = np.array([[1.0, 2.0], [4.0, 10.0]])
    pred = np.array([[1.1, 2.0], [6.0, 5.0]])
    m = np.ones_like(gt, bool)
    r = S.depth_errors(pred, gt, m)
    assert r["absrel"] == pytest.approx((0.1 + 0 + 0.5 + 0.5) / 4)
    assert r["rmse"] == pytest.approx(np.sqrt((0.01 + 0 + 4 + 25) / 4))
    assert r["delta1"] == pytest.approx(0.5)  # 1.1 and 2.0 are within 25 %, 6/4 and 10/5 are not
    s, t = S.align_scale_shift(np.array([1.0, 2.0, 3.0]), np.array([3.0, 5.0, 7.0]), np.ones(3, bool))
    assert (s, t) == pytest.approx((2.0, 1.0))


def test_valid_depth_leaves_out_the_sky():
    d = np.array([[5.0, 200.0], [np.inf, 0.0]])
    assert S.valid_depth(d, {"scene": {"sky_depth_m": 200.0}}).tolist() == [[True, False], [False, False]]
    ref, mask = S.reference_depth(np.array([[1.0, 0.5], [0.001, 2.0]]))
    assert mask.tolist() == [[True, True], [False, True]] and ref[0, 0] == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# Selection, availability, the runner
# --------------------------------------------------------------------------------------------


def test_evaluator_choice_by_data_set(monkeypatch):
    from semcom_bench.evaluators import select

    monkeypatch.delenv("SEMCOM_SEGMENTER", raising=False)
    assert select.choose("seg", "synthetic-streets") == "embedded"
    assert select.choose("seg", "cityscapes") == "drn-d-105"
    assert select.choose("seg", "coco-stuff") == "maskformer"
    assert select.choose("det", "cityscapes") == "detr" and select.choose("depth", "coco-stuff") == "dpt"
    assert select.choose("seg", "ade20k") is None
    monkeypatch.setenv("SEMCOM_SEGMENTER", "segformer")
    assert select.choose("seg", "ade20k") == "segformer" and select.choose("seg", "x", option="drn-d-105") == "drn-d-105"


def test_missing_weights_metric_is_unavailable_with_the_fix(monkeypatch, tmp_path):
    from semcom_bench import registry

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SEMCOM_WEIGHTS", raising=False)
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)

    class City:
        name = "cityscapes"

    m = registry.metrics.create("miou", RunContext(dataset=City()))
    reason = m.unavailable()
    assert "drn-d-105_ms_cityscapes.pth" in reason and "SEMCOM_WEIGHTS" in reason and "\n" not in reason
    d = registry.metrics.create("depth", RunContext(dataset=City()))
    assert "Intel/dpt-large" in d.unavailable()

    class Other:
        name = "something-else"

    assert "SEMCOM_SEGMENTER" in registry.metrics.create("miou", RunContext(dataset=Other())).unavailable()


def test_runner_skips_a_metric_without_evaluator(tmp_path):
    import tests.fake_dataset  # noqa: F401  (registers test-fake)
    from semcom_bench import api
    from semcom_bench.config import build_config

    cfg = build_config(dataset="test-fake", methods="full-image", channels="awgn", values="10", metrics="psnr,miou,detection",
                       out=tmp_path / "out", cache_dir=tmp_path / "cache")
    summary = api.run(cfg)
    assert set(summary["skipped"]) == {"miou", "detection"}
    assert "SEMCOM_SEGMENTER" in summary["skipped"]["miou"]
    assert set(summary["frame"]["metric"]) == {"psnr"}


def test_registered_metadata():
    from semcom_bench import registry

    for name, level in (("miou", "image"), ("miou-set", "set"), ("detection", "set"), ("depth", "image")):
        e = registry.metrics.get(name)
        assert e.meta["level"] == level and "weights" in e.meta and "lower_better" in e.meta
    m = registry.metrics.create("depth")
    assert m.outputs == {"absrel": True, "rmse": True, "delta1": False}


# --------------------------------------------------------------------------------------------
# End to end on synthetic-streets with the shipped evaluators
# --------------------------------------------------------------------------------------------


def test_semantic_metrics_on_synthetic_streets(tmp_path):
    from semcom_bench import api
    from semcom_bench.config import build_config

    cfg = build_config(dataset="synthetic-streets", methods="full-image", channels="awgn", values="100,1",
                       metrics="miou,miou-set,detection,depth", limit=3, out=tmp_path / "out", cache_dir=tmp_path / "cache")
    summary = api.run(cfg)
    assert not summary["skipped"]
    f = summary["frame"]
    mean = f.groupby(["output", "snr_db"])["value"].mean()
    assert mean[("miou", 100.0)] > 0.8 and mean[("miou-set", 100.0)] > 0.85
    assert mean[("map50", 100.0)] > 0.7 and mean[("delta1", 100.0)] > 0.9
    for out in ("miou", "miou-set", "map50"):
        assert mean[(out, 1.0)] < mean[(out, 100.0)] - 0.3
    assert mean[("absrel", 1.0)] > mean[("absrel", 100.0)]
