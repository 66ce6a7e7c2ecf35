"""Evaluators in the transformers formats: MaskFormer, SegFormer, DETR and DPT.

Each loader takes a model folder as ``save_pretrained`` writes it (``config.json``, weights,
optionally ``preprocessor_config.json``) and loads it offline (``local_files_only=True``). The
``config.json`` is read in every layout transformers has written (:func:`read_config`): the
published DETR folders name a timm backbone with ``use_timm_backbone`` (timm, from the
``evaluators`` extra, builds it; its weights come from the folder, never from the network).
The preprocessing (resize, normalisation) is read from ``preprocessor_config.json`` when
present, in the current or the older feature-extractor form (a bare ``size``, ``max_size``),
with each family's published defaults otherwise, and sized by transformers' own rules; the
post-processing follows the families' own definitions:

* MaskFormer (semantic): ``softmax(class logits)[..., :-1]`` x ``sigmoid(mask logits)``
  summed over queries, up-sampled, arg-max.
* SegFormer: logits at 1/4 resolution, up-sampled, arg-max.
* DETR: ``softmax(logits)[..., :-1]``; the best class and its probability per query; boxes
  ``(cx, cy, w, h)`` relative to the image, converted to pixels.
* DPT: ``predicted_depth`` (relative inverse depth), up-sampled to the image.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from semcom_bench.evaluators.base import DepthEstimator, Detections, Detector, Segmenter, group_by_size, to_batch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Published preprocessing defaults of each family (used when the folder has no preprocessor file).
DEFAULTS: dict[str, dict[str, Any]] = {
    "maskformer": {"image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD, "size": {"shortest_edge": 800, "longest_edge": 1333}, "size_divisor": 32},
    "segformer": {"image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD, "size": {"height": 512, "width": 512}},
    "detr": {"image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD, "size": {"shortest_edge": 800, "longest_edge": 1333}},
    "dpt": {"image_mean": (0.5, 0.5, 0.5), "image_std": (0.5, 0.5, 0.5), "size": {"height": 384, "width": 384},
            "keep_aspect_ratio": False, "ensure_multiple_of": 1},
}


#: Families whose processors read a bare ``size: N`` as an N x N square (the others as the shortest edge).
SQUARE_SIZE = ("dpt", "segformer")


def _size_dict(data: dict[str, Any], family: str) -> dict[str, Any] | None:
    """``size`` as a dict, as transformers reads it: the older feature-extractor files give a bare
    number (a square for DPT and SegFormer, else the shortest edge, with ``max_size`` the longest)."""
    size = data.get("size")
    if isinstance(size, (int, float)):
        if family in SQUARE_SIZE:
            return {"height": int(size), "width": int(size)}
        out = {"shortest_edge": int(size)}
        if data.get("max_size"):
            out["longest_edge"] = int(data["max_size"])
        return out
    return size


def read_preprocessing(folder: str | Path, family: str) -> dict[str, Any]:
    """The family's defaults updated with the folder's ``preprocessor_config.json``."""
    prep = dict(DEFAULTS[family])
    f = Path(folder) / "preprocessor_config.json"
    if f.is_file():
        data = json.loads(f.read_text())
        if data.get("size") is not None:
            data["size"] = _size_dict(data, family)
        for key in ("image_mean", "image_std", "size", "keep_aspect_ratio", "ensure_multiple_of", "size_divisor", "do_resize"):
            if key in data and data[key] is not None:
                prep[key] = data[key]
    return prep


def _round_to(x: float, multiple: int) -> int:
    return max(multiple, int(round(x / multiple)) * multiple) if multiple > 1 else max(1, int(round(x)))


def input_size(h: int, w: int, prep: dict[str, Any]) -> tuple[int, int]:
    """Network input size for an (h, w) image under ``prep`` (transformers' resize rules)."""
    if prep.get("do_resize", True) is False:
        return h, w
    size = prep["size"]
    if isinstance(size, int):
        size = {"shortest_edge": size}
    multiple = int(prep.get("ensure_multiple_of") or 1)
    if "height" in size and "width" in size:
        th, tw = float(size["height"]), float(size["width"])
        if prep.get("keep_aspect_ratio"):
            sh, sw = th / h, tw / w
            s = sw if abs(1 - sw) < abs(1 - sh) else sh
            th, tw = s * h, s * w
        out = _round_to(th, multiple), _round_to(tw, multiple)
    else:
        # shortest edge to ``shortest_edge`` unless the longest would pass ``longest_edge``: DETR's and
        # MaskFormer's rule (transformers' ``get_size_with_aspect_ratio``, unrounded scale included)
        short = int(size.get("shortest_edge", min(h, w)))
        longest = size.get("longest_edge")
        lo, hi = min(h, w), max(h, w)
        scale: float = short
        if longest and hi / lo * short > longest:
            scale = longest * lo / hi
            short = int(round(scale))
        if lo == short:
            out = (h, w)
        else:
            out = (int(scale * h / w), short) if w < h else (short, int(scale * w / h))
    div = int(prep.get("size_divisor") or 1)
    if div > 1:
        out = (int(math.ceil(out[0] / div)) * div, int(math.ceil(out[1] / div)) * div)
    return out


def _names(config: Any) -> list[str]:
    id2label = getattr(config, "id2label", None) or {}
    n = max((int(k) for k in id2label), default=-1) + 1
    return [str(id2label.get(i, id2label.get(str(i), f"class{i}"))) for i in range(n)]


def _need_transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - exercised only without the dependency
        raise ImportError("this evaluator needs the 'transformers' package: pip install 'transformers>=4.40'") from exc
    try:  # no per-tensor loading bars in the middle of a run's progress display
        transformers.utils.logging.disable_progress_bar()
    except AttributeError:  # pragma: no cover - older releases
        pass
    return transformers


def _clean_config(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a config dict) and every config nested in it, made loadable offline by any release.

    * ``use_pretrained_backbone`` becomes false: with it, transformers 4 builds a timm backbone
      with timm's ImageNet weights, i.e. downloads them (the published DETR folders set it), though
      the folder's own weights replace them anyway;
    * ``backbone_kwargs: null`` (written by transformers 4.38 onwards) is dropped: transformers 5
      reads it as a dict and fails.
    """
    out = {}
    for key, value in data.items():
        if key == "backbone_kwargs" and value is None:
            continue
        if key == "use_pretrained_backbone":
            value = False
        elif isinstance(value, dict) and key.endswith("_config") and "model_type" in value:
            value = _clean_config(value)
        out[key] = value
    return out


def read_config(folder: str | Path) -> Any:
    """The folder's ``config.json`` as a transformers config (see :func:`_clean_config`)."""
    transformers = _need_transformers()
    data = _clean_config(json.loads((Path(folder) / "config.json").read_text()))
    try:
        cls = transformers.CONFIG_MAPPING[data["model_type"]]
    except KeyError:
        raise ValueError(f"{folder}/config.json: unknown model_type {data.get('model_type')!r}") from None
    return cls.from_dict(data)


def _pretrained(class_name: str, folder: str | Path, config: Any = None) -> Any:
    """``transformers.<class_name>.from_pretrained(folder)``, offline, with :func:`read_config`'s config."""
    return getattr(_need_transformers(), class_name).from_pretrained(
        str(folder), config=config if config is not None else read_config(folder), local_files_only=True)


class _HFBase:
    family = ""

    def _setup(self, folder: str | Path, model: Any, device: str) -> None:
        self.folder = Path(folder)
        self.model = model.to(device).eval()
        self.prep = read_preprocessing(folder, self.family)
        self.device = device

    def _batches(self, images: Sequence[np.ndarray]):
        """Yield (indices, normalised batch, (h, w)) per group of same-size images."""
        for idx in group_by_size(images):
            h, w = images[idx[0]].shape[:2]
            size = input_size(h, w, self.prep)
            x = to_batch([images[i] for i in idx], self.prep["image_mean"], self.prep["image_std"], self.device, size)
            yield idx, x, (h, w)


class _HFSegmenter(_HFBase, Segmenter):
    """A semantic segmenter: per-class scores of a batch, up-sampled (bilinear), arg-max.

    Subclasses name the transformers class that loads the folder (``model_class``) and turn
    the model's output into (B, C, h, w) scores (:meth:`_scores`); the evaluator is named
    after its ``family``.
    """

    model_class = ""

    def __init__(self, folder: str | Path, device: str = "cpu", identity: dict[str, Any] | None = None):
        model = _pretrained(self.model_class, folder)
        Segmenter.__init__(self, name=self.family, classes=_names(model.config), identity=identity or {}, device=device)
        self._setup(folder, model, device)

    def _scores(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, images: Sequence[np.ndarray], size: tuple[int, int] | None = None) -> list[np.ndarray]:
        out: list[np.ndarray] = [None] * len(images)  # type: ignore[list-item]
        for idx, x, (h, w) in self._batches(images):
            h, w = size or (h, w)
            scores = F.interpolate(self._scores(x), size=(h, w), mode="bilinear", align_corners=False)
            for j, i in enumerate(idx):
                out[i] = scores[j].argmax(0).cpu().numpy().astype(np.int64)
        return out


class MaskFormerSegmenter(_HFSegmenter):
    family = "maskformer"
    model_class = "MaskFormerForInstanceSegmentation"

    def _scores(self, x: torch.Tensor) -> torch.Tensor:
        o = self.model(pixel_values=x)
        cls = o.class_queries_logits.float().softmax(-1)[..., :-1]
        masks = o.masks_queries_logits.float().sigmoid()
        return torch.einsum("bqc,bqhw->bchw", cls, masks)


class SegformerSegmenter(_HFSegmenter):
    family = "segformer"
    model_class = "SegformerForSemanticSegmentation"

    def _scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=x).logits.float()


class DetrDetector(_HFBase, Detector):
    """DETR (and Conditional DETR folders, whose heads use sigmoid scores).

    Args:
        min_score: detections below this confidence are dropped (mAP wants low thresholds).
    """

    family = "detr"

    def __init__(self, folder: str | Path, device: str = "cpu", identity: dict[str, Any] | None = None, min_score: float = 0.05):
        config = read_config(folder)
        if config.model_type == "conditional_detr":
            model = _pretrained("ConditionalDetrForObjectDetection", folder, config)
            self.sigmoid = True
        else:
            model = _pretrained("DetrForObjectDetection", folder, config)
            self.sigmoid = False
        Detector.__init__(self, name="detr", classes=_names(model.config), identity=identity or {}, device=device)
        self.min_score = min_score
        self._setup(folder, model, device)

    @torch.no_grad()
    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        out: list[Detections] = [Detections.empty()] * len(images)
        for idx, x, (h, w) in self._batches(images):
            o = self.model(pixel_values=x)
            logits = o.logits.float()
            if self.sigmoid:
                probs = logits.sigmoid()
            else:
                probs = logits.softmax(-1)[..., :-1]
            scores, labels = probs.max(-1)
            cx, cy, bw, bh = o.pred_boxes.float().unbind(-1)
            boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
            boxes = boxes * torch.tensor([w, h, w, h], dtype=boxes.dtype, device=boxes.device)
            for j, i in enumerate(idx):
                keep = scores[j] >= self.min_score
                out[i] = Detections(boxes[j][keep].cpu().numpy().astype(np.float32),
                                    scores[j][keep].cpu().numpy().astype(np.float32),
                                    labels[j][keep].cpu().numpy().astype(np.int64))
        return out


class DPTDepth(_HFBase, DepthEstimator):
    """DPT: relative inverse depth, up-sampled (bicubic) to each image's size."""

    family = "dpt"
    kind = "inverse"

    def __init__(self, folder: str | Path | None = None, device: str = "cpu", identity: dict[str, Any] | None = None,
                 model: Any = None, preprocessing: dict[str, Any] | None = None, name: str = "dpt"):
        if model is None:
            model = _pretrained("DPTForDepthEstimation", folder)
        DepthEstimator.__init__(self, name=name, classes=[], identity=identity or {}, device=device)
        self._setup(folder or ".", model, device)
        if preprocessing is not None:
            self.prep = {**DEFAULTS["dpt"], **preprocessing}

    @torch.no_grad()
    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = [None] * len(images)  # type: ignore[list-item]
        for idx, x, (h, w) in self._batches(images):
            d = self.model(pixel_values=x).predicted_depth.float()
            d = F.interpolate(d[:, None], size=(h, w), mode="bicubic", align_corners=False)[:, 0].clamp_min(0.0)
            for j, i in enumerate(idx):
                out[i] = d[j].cpu().numpy().astype(np.float32)
        return out


__all__ = ["MaskFormerSegmenter", "SegformerSegmenter", "DetrDetector", "DPTDepth", "read_config", "read_preprocessing", "input_size"]
