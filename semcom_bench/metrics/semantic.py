"""Does a machine still read the scene? Segmentation mIoU, detection mAP and depth error.

Each metric runs an evaluator network on the reconstruction and compares with the sample's
ground truth, or, where the sample has none, with the same evaluator on the original image.
The evaluator is chosen from the data set (:mod:`semcom_bench.evaluators.select`): the embedded
networks on synthetic-streets, DRN-D-105 / MaskFormer / DETR / DPT on the real data sets.

* ``miou`` (per image, higher is better): confusion matrix over the evaluation classes (the
  19 Cityscapes train ids for Cityscapes-label data sets; 255 ignored), IoU of every class
  present in the ground truth or in the prediction, averaged. The papers report the mean ± std
  of this over images.
* ``miou-set`` (set level): IoU per class from the confusion matrix accumulated over all
  images, averaged over the classes that occur (the standard Cityscapes number).
  Both are evaluated at the ground-truth label resolution unless ``eval_size`` is given
  (segmenter logits are up-sampled bilinearly to it, labels resized nearest); the resolution
  is part of the metric's fingerprint.
* ``detection`` (set level): COCO mAP@[.5:.95] (``map``) and mAP@.5 (``map50``), computed
  by torchmetrics' ``MeanAveragePrecision`` with the pycocotools (or faster-coco-eval)
  back end, over the classes present in the ground truth.
* ``depth`` (per image): ``absrel`` = mean |d - d*| / d*, ``rmse`` = sqrt(mean (d - d*)^2) (metres
  with ground truth), ``delta1`` = share of pixels with max(d/d*, d*/d) < 1.25; the prediction
  is first aligned to the reference by least-squares scale and shift in the estimator's own
  domain (relative inverse depth for DPT), then converted to depth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from semcom_bench.components import Annotated, Doc, RunContext
from semcom_bench.errors import UserError
from semcom_bench.evaluators.spaces import IGNORE, BoxSpace, SegSpace
from semcom_bench.metrics.base import Metric, Scored
from semcom_bench.registry import metrics

# --------------------------------------------------------------------------------------------
# Math (pure numpy; tested against direct computations)
# --------------------------------------------------------------------------------------------


def confusion(gt: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C + 1) int64 counts: row = ground-truth class, column = predicted class.

    Pixels whose ground truth is outside ``[0, C)`` (e.g. 255) are ignored; predictions outside
    ``[0, C)`` land in the last column ("other": never correct).
    """
    gt = np.asarray(gt).astype(np.int64).ravel()
    pred = np.asarray(pred).astype(np.int64).ravel()
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth and prediction differ in size ({gt.size} vs {pred.size})")
    keep = (gt >= 0) & (gt < num_classes)
    p = pred[keep]
    p = np.where((p >= 0) & (p < num_classes), p, num_classes)
    return np.bincount(gt[keep] * (num_classes + 1) + p, minlength=num_classes * (num_classes + 1)).reshape(
        num_classes, num_classes + 1)


def class_iou(cm: np.ndarray) -> np.ndarray:
    """(C,) IoU per class from a (C, C + 1) confusion matrix; NaN where the class is absent from both."""
    c = cm.shape[0]
    tp = np.diag(cm[:, :c]).astype(np.float64)
    union = cm.sum(1) + cm[:, :c].sum(0) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.maximum(union, 1), np.nan)


def mean_iou(cm: np.ndarray) -> float:
    iou = class_iou(cm)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


def align_scale_shift(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Least-squares ``s, t`` minimising ``sum_mask (s * pred + t - target)^2`` (minimum-norm if degenerate)."""
    p = np.asarray(pred, np.float64)[mask]
    t = np.asarray(target, np.float64)[mask]
    if p.size == 0:
        return 1.0, 0.0
    a = np.stack([p, np.ones_like(p)], 1)
    (s, b), *_ = np.linalg.lstsq(a, t, rcond=None)
    return float(s), float(b)


def depth_errors(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """AbsRel, RMSE and δ<1.25 of depth ``pred`` against ``gt`` over ``mask`` (both > 0 there)."""
    d = np.asarray(pred, np.float64)[mask]
    g = np.asarray(gt, np.float64)[mask]
    if g.size == 0:
        return {"absrel": float("nan"), "rmse": float("nan"), "delta1": float("nan")}
    ratio = np.maximum(d / g, g / d)
    return {
        "absrel": float(np.mean(np.abs(d - g) / g)),
        "rmse": float(np.sqrt(np.mean((d - g) ** 2))),
        "delta1": float(np.mean(ratio < 1.25)),
    }


def aligned_depth(pred: np.ndarray, gt_depth: np.ndarray, mask: np.ndarray, kind: str = "inverse") -> np.ndarray:
    """``pred`` aligned to ``gt_depth`` over ``mask`` and returned as depth.

    ``kind="inverse"``: ``pred`` is (relative) inverse depth; scale and shift are fitted to
    ``1 / gt_depth``, the aligned inverse depth is floored at ``1 / max(gt)`` (so no depth
    exceeds the farthest valid ground truth, and none is negative) and inverted.
    ``kind="depth"``: fitted to ``gt_depth`` directly, clipped to ``[min(gt), max(gt)]``.
    """
    g = np.asarray(gt_depth, np.float64)
    gmin, gmax = float(g[mask].min()), float(g[mask].max())
    if kind == "inverse":
        s, t = align_scale_shift(pred, 1.0 / np.where(mask, g, 1.0), mask)
        disp = np.maximum(s * np.asarray(pred, np.float64) + t, 1.0 / gmax)
        return 1.0 / disp
    if kind == "depth":
        s, t = align_scale_shift(pred, g, mask)
        return np.clip(s * np.asarray(pred, np.float64) + t, gmin, gmax)
    raise ValueError(f"unknown depth kind {kind!r}")


def depth_scores(pred: np.ndarray, gt_depth: np.ndarray, mask: np.ndarray, kind: str = "inverse") -> dict[str, float]:
    """Scale-and-shift aligned depth errors (see :func:`aligned_depth`, :func:`depth_errors`)."""
    if not mask.any():
        return {"absrel": float("nan"), "rmse": float("nan"), "delta1": float("nan")}
    return depth_errors(aligned_depth(pred, gt_depth, mask, kind), gt_depth, mask)


def valid_depth(depth: np.ndarray, meta: dict[str, Any] | None = None) -> np.ndarray:
    """Pixels with usable ground-truth depth: finite, > 0, and nearer than the sky depth when declared."""
    d = np.asarray(depth, np.float64)
    mask = np.isfinite(d) & (d > 0)
    scene = (meta or {}).get("scene")
    sky = scene.get("sky_depth_m") if isinstance(scene, dict) else None
    if sky is not None:
        mask &= d < float(sky)
    return mask


def reference_depth(ref: np.ndarray, kind: str = "inverse", floor: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo ground truth from the estimator on the original: (depth up to scale, valid mask).

    Inverse depth is normalised by its median over the valid pixels and inverted; pixels below
    ``floor`` x the image's maximum (sky, far background) are left out. The result is depth up
    to one scale factor (the estimator's shift is taken as zero), so ``rmse`` is in units of the
    median depth, while ``absrel`` and ``delta1`` do not depend on that scale.
    """
    r = np.asarray(ref, np.float64)
    if kind == "inverse":
        mask = np.isfinite(r) & (r > floor * max(float(np.nanmax(r)), 1e-12))
        if not mask.any():
            return np.ones_like(r), mask
        med = float(np.median(r[mask]))
        return med / np.where(mask, r, med), mask
    mask = np.isfinite(r) & (r > 0)
    if not mask.any():
        return np.ones_like(r), mask
    return r / float(np.median(r[mask])), mask


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


class _EvaluatorMetric(Metric):
    """A metric that runs an evaluator network chosen from the run's data set."""

    task = "seg"

    def __init__(
        self,
        context: RunContext | None = None,
        *,
        evaluator: Annotated[str | None, Doc("evaluator overriding the data set's default (also SEMCOM_SEGMENTER, "
                                             "SEMCOM_DETECTOR, SEMCOM_DEPTH_ESTIMATOR); see semcom-bench weights")] = None,
        weights: Annotated[Path | None, Doc("explicit path to the evaluator's weights (file or model folder)")] = None,
    ):
        from semcom_bench.evaluators import select

        super().__init__(context)
        if evaluator is not None and evaluator not in select.names(self.task):
            raise UserError(f"parameter evaluator of metric {self.name!r} must be one of "
                            f"{', '.join(select.names(self.task))}; got {evaluator!r}")
        self.evaluator, self.weights = evaluator, weights
        self._fingerprint: dict[str, Any] | None = None
        self._fp_key: Any = None

    @property
    def dataset_name(self) -> str | None:
        return getattr(self.dataset, "name", None)

    def unavailable(self) -> str | None:
        from semcom_bench.evaluators import select

        return select.unavailable(self.task, self.dataset_name, self.evaluator, self.weights)

    def extra_fingerprint(self) -> dict[str, Any]:
        return {}

    def fingerprint(self) -> dict[str, Any]:
        from semcom_bench.evaluators import select

        key = (self.dataset_name, self.evaluator, self.weights, self.device)
        if self._fingerprint is None or self._fp_key != key:
            self._fingerprint = {**select.identity(self.task, self.dataset_name, self.evaluator, self.weights),
                                 **self.extra_fingerprint()}
            self._fp_key = key
        return self._fingerprint

    def load_evaluator(self) -> Any:
        """The evaluator network (loaded once per process and device)."""
        from semcom_bench.evaluators import select

        return select.load(self.task, self.dataset_name, self.device, self.evaluator, self.weights)


def parse_size(size: Any, owner: str) -> tuple[int, int] | None:
    """``"256x512"`` / ``(256, 512)`` / None -> (height, width) or None; a bad size is a UserError."""
    if size is None:
        return None
    try:
        parts = size.lower().split("x") if isinstance(size, str) else list(size)
        h, w = (int(v) for v in parts)
    except (TypeError, ValueError):
        raise UserError(f"parameter eval_size of metric {owner!r} must be HEIGHTxWIDTH, e.g. 256x512; got {size!r}") from None
    if h < 1 or w < 1:
        raise UserError(f"parameter eval_size of metric {owner!r} must be positive, got {size!r}")
    return h, w


def _resize_nearest(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = labels.shape
    rows = (np.arange(size[0]) * h // size[0]).clip(0, h - 1)
    cols = (np.arange(size[1]) * w // size[1]).clip(0, w - 1)
    return labels[rows][:, cols]


class _SegMetric(_EvaluatorMetric):
    task = "seg"

    def __init__(self, context: RunContext | None = None, *,
                 eval_size: Annotated[Any, Doc("evaluation resolution HxW (e.g. 256x512); default: the label size")] = None,
                 **shared: Any):
        super().__init__(context, **shared)
        self.eval_size = parse_size(eval_size, self.name)

    def extra_fingerprint(self) -> dict[str, Any]:
        res = "labels" if self.eval_size is None else f"{self.eval_size[0]}x{self.eval_size[1]}"
        return {"eval_resolution": res, "space": "cityscapes-19" if SegSpace.of(self.dataset).cityscapes else "dataset"}

    def confusions(self, items: list[Scored]) -> list[np.ndarray]:
        """One (C, C + 1) confusion matrix per item."""
        from semcom_bench.evaluators.base import cached_predict

        seg = self.load_evaluator()
        space = SegSpace.of(self.dataset)
        pmap = np.append(space.prediction_map(seg.classes), len(space.classes))
        c = len(space.classes)
        out = []
        for it in items:
            if it.sample.labels is not None:
                gt = space.ground_truth(it.sample.labels)
                if self.eval_size is not None:
                    gt = _resize_nearest(gt, self.eval_size)
            else:  # no labels: the segmenter's reading of the original is the reference
                ref = cached_predict(seg, "predict", [it.sample.image], size=self.eval_size)[0]
                gt = pmap[ref]
                gt = np.where(gt >= c, IGNORE, gt)
            size = tuple(gt.shape)
            pred = cached_predict(seg, "predict", [it.recon], size=size)[0]
            out.append(confusion(gt, pmap[pred], c))
        return out


@metrics.register(summary="per-image mIoU of a segmenter on the reconstruction (19 Cityscapes train ids)",
                  eval_resolution="ground-truth label size", weights=("synthetic-streets-seg", "drn-d-105-cityscapes", "maskformer-coco-stuff"))
class MIoU(_SegMetric):
    """Per-image mIoU of the segmenter's reading of the reconstruction."""

    name = "miou"
    version = "1"
    level = "image"
    outputs = {"miou": False}

    def score(self, items: list[Scored]) -> list[dict[str, float]]:
        return [{"miou": mean_iou(cm)} for cm in self.confusions(items)]


@metrics.register(summary="mIoU from the confusion matrix accumulated over the set (Cityscapes standard)",
                  eval_resolution="ground-truth label size", weights=("synthetic-streets-seg", "drn-d-105-cityscapes", "maskformer-coco-stuff"))
class MIoUSet(_SegMetric):
    """mIoU from the confusion matrix accumulated over the set."""

    name = "miou-set"
    version = "1"
    level = "set"
    outputs = {"miou-set": False}

    def score_set(self, items: list[Scored]) -> dict[str, float]:
        total = None
        for cm in self.confusions(items):
            total = cm if total is None else total + cm
        return {"miou-set": mean_iou(total) if total is not None else float("nan")}


def mean_average_precision(preds: list[dict[str, np.ndarray]], targets: list[dict[str, np.ndarray]],
                           class_metrics: bool = False, iou_thresholds: list[float] | None = None) -> dict[str, Any]:
    """COCO box mAP through torchmetrics (pycocotools, else faster-coco-eval back end).

    ``preds``: dicts with ``boxes`` (N, 4) xyxy pixels, ``scores``, ``labels``; ``targets``:
    ``boxes``, ``labels``. Returns ``map``, ``map50`` (NaN when the set has no ground-truth box)
    and, with ``class_metrics``, ``per_class``: {label: AP over ``iou_thresholds``} (default
    the COCO thresholds .5:.05:.95; ``[0.5]`` gives AP@.5 per class).
    """
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    # COCO's own thresholds in float64: torchmetrics' defaults come from a float32 linspace, which
    # moves recall thresholds such as 0.3 by 1e-8 and changes AP whenever a recall lands on one.
    ious = [float(v) for v in (iou_thresholds or np.linspace(0.5, 0.95, 10))]
    recalls = [float(v) for v in np.linspace(0.0, 1.0, 101)]
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=class_metrics, backend=coco_backend(),
                                  iou_thresholds=ious, rec_thresholds=recalls)
    t = lambda a, dt: torch.as_tensor(np.asarray(a), dtype=dt)  # noqa: E731
    metric.update(
        [{"boxes": t(p["boxes"], torch.float32).reshape(-1, 4), "scores": t(p["scores"], torch.float32).reshape(-1),
          "labels": t(p["labels"], torch.int64).reshape(-1)} for p in preds],
        [{"boxes": t(g["boxes"], torch.float32).reshape(-1, 4), "labels": t(g["labels"], torch.int64).reshape(-1)} for g in targets],
    )
    r = metric.compute()
    fix = lambda v: float("nan") if float(v) < 0 else float(v)  # noqa: E731
    out: dict[str, Any] = {"map": fix(r["map"]), "map50": fix(r["map_50"])}
    if class_metrics:
        classes = r.get("classes")
        per = r.get("map_per_class")
        out["per_class"] = {}
        if classes is not None and per is not None:
            cl = classes.reshape(-1).tolist()
            ap = per.reshape(-1).tolist()
            out["per_class"] = {int(c): fix(a) for c, a in zip(cl, ap)}
    return out


def coco_backend() -> str:
    import importlib.util

    if importlib.util.find_spec("pycocotools") is not None:
        return "pycocotools"
    if importlib.util.find_spec("faster_coco_eval") is not None:
        return "faster_coco_eval"
    raise ImportError("detection mAP needs pycocotools or faster-coco-eval: pip install pycocotools")


@metrics.register(summary="detector mAP@[.5:.95] (map) and mAP@.5 (map50) vs ground-truth boxes",
                  weights=("synthetic-streets-det", "detr-resnet-50"))
class Detection(_EvaluatorMetric):
    """COCO mAP of the detector's boxes on the reconstructions."""

    name = "detection"
    version = "1"
    level = "set"
    task = "det"
    outputs = {"map": False, "map50": False}

    def __init__(self, context: RunContext | None = None, *,
                 pseudo_threshold: Annotated[float, Doc("where a sample has no ground-truth boxes, the detector's boxes "
                                                        "on the original with at least this score are the reference",
                                                        low=0.0, high=1.0)] = 0.5,
                 **shared: Any):
        super().__init__(context, **shared)
        self.pseudo_threshold = pseudo_threshold

    def unavailable(self) -> str | None:
        reason = super().unavailable()
        if reason is None:
            try:
                coco_backend()
            except ImportError as exc:
                return str(exc)
        return reason

    def extra_fingerprint(self) -> dict[str, Any]:
        return {"pseudo_threshold": self.pseudo_threshold, "classes": BoxSpace.of(self.dataset).classes}

    @staticmethod
    def _mapped(det: Any, dmap: np.ndarray, num_classes: int, min_score: float = 0.0) -> dict[str, np.ndarray]:
        """Detections in the evaluation classes (classes outside them dropped)."""
        labels = dmap[det.labels] if len(det.labels) else det.labels.astype(np.int64)
        keep = (labels < num_classes) & (det.scores >= min_score)
        return {"boxes": det.boxes[keep], "scores": det.scores[keep], "labels": labels[keep]}

    def score_set(self, items: list[Scored]) -> dict[str, float]:
        from semcom_bench.evaluators.base import cached_predict

        det = self.load_evaluator()
        space = BoxSpace.of(self.dataset)
        nc = len(space.classes)
        dmap = space.prediction_map(det.classes)
        preds, targets = [], []
        recon_dets = cached_predict(det, "detect", [it.recon for it in items])
        for it, d in zip(items, recon_dets):
            if it.sample.boxes is not None and it.sample.box_labels is not None:
                boxes, labels = space.ground_truth(it.sample.boxes, it.sample.box_labels)
                targets.append({"boxes": boxes, "labels": labels})
            else:
                ref = self._mapped(cached_predict(det, "detect", [it.sample.image])[0], dmap, nc, self.pseudo_threshold)
                targets.append({"boxes": ref["boxes"], "labels": ref["labels"]})
            preds.append(self._mapped(d, dmap, nc))
        r = mean_average_precision(preds, targets)
        return {"map": r["map"], "map50": r["map50"]}


@metrics.register(summary="depth AbsRel / RMSE / δ<1.25 after scale-and-shift alignment",
                  weights=("synthetic-streets-depth", "dpt-large"))
class Depth(_EvaluatorMetric):
    """Depth error of the estimator on the reconstruction after scale-and-shift alignment."""

    name = "depth"
    version = "1"
    level = "image"
    task = "depth"
    outputs = {"absrel": True, "rmse": True, "delta1": False}

    def extra_fingerprint(self) -> dict[str, Any]:
        return {"alignment": "least-squares scale+shift in the estimator's domain"}

    def score(self, items: list[Scored]) -> list[dict[str, float]]:
        from semcom_bench.evaluators.base import cached_predict

        est = self.load_evaluator()
        preds = cached_predict(est, "predict", [it.recon for it in items])
        out = []
        for it, p in zip(items, preds):
            if it.sample.depth is not None:
                gt = np.asarray(it.sample.depth, np.float64)
                mask = valid_depth(gt, it.sample.meta)
            else:
                ref = cached_predict(est, "predict", [it.sample.image])[0]
                gt, mask = reference_depth(ref, est.kind)
            out.append(depth_scores(p, gt, mask, est.kind))
        return out


__all__ = ["MIoU", "MIoUSet", "Detection", "Depth", "confusion", "class_iou", "mean_iou", "align_scale_shift", "depth_errors",
           "aligned_depth", "depth_scores", "valid_depth", "reference_depth", "mean_average_precision", "coco_backend"]
