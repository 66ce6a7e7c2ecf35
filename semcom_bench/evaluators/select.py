"""Which evaluator scores which data set, where its weights come from, and loading it once.

Default evaluators per data set (``dataset.name``):

============================  ================  ==============  ===============
data set                      segmentation      detection       depth
============================  ================  ==============  ===============
``synthetic-streets``         ``embedded``      ``embedded``    ``embedded``
``cityscapes``                ``drn-d-105``     ``detr``        ``dpt``
``coco-stuff``                ``maskformer``    ``detr``        ``dpt``
============================  ================  ==============  ===============

Any other data set has no default: choose one with the metric option ``evaluator=NAME`` (API)
or the environment variables ``SEMCOM_SEGMENTER``, ``SEMCOM_DETECTOR``,
``SEMCOM_DEPTH_ESTIMATOR`` (which also override the defaults above).

The real evaluators' Python packages beyond the core ones come with the ``evaluators`` extra
(``pip install 'semcom-bench[evaluators]'``): timm, which builds the ResNet backbone of the
published DETR checkpoint, and scipy, which transformers' MaskFormer needs to build the model.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from semcom_bench import weights as W
from semcom_bench.evaluators import embedded

TASKS = ("seg", "det", "depth")
ENV = {"seg": "SEMCOM_SEGMENTER", "det": "SEMCOM_DETECTOR", "depth": "SEMCOM_DEPTH_ESTIMATOR"}
TASK_WORDS = {"seg": "segmenter", "det": "detector", "depth": "depth estimator"}
#: The optional dependencies (``[project.optional-dependencies]``) the real evaluators need.
EXTRA = "evaluators"
EXTRA_PACKAGES = ("timm", "scipy")
INSTALL_EXTRA = f"pip install 'semcom-bench[{EXTRA}]'"

DRN_D_105 = W.register_weights(W.WeightFile(
    name="drn-d-105-cityscapes",
    filename="drn-d-105_ms_cityscapes.pth",
    description="DRN-D-105 Cityscapes segmentation model (19 train ids), DRNSeg state dict",
    url="http://go.yf.io/drn-cityscapes-models (linked from github.com/fyu/drn)",
    used_by=("miou", "miou-set"),
))
MASKFORMER = W.register_weights(W.WeightFile(
    name="maskformer-coco-stuff",
    filename="config.json",
    description="MaskFormer (ResNet-101) trained on COCO-Stuff-164k, transformers format",
    hf_repo="facebook/maskformer-resnet101-coco-stuff",
    used_by=("miou", "miou-set"),
))
SEGFORMER = W.register_weights(W.WeightFile(
    name="segformer-cityscapes",
    filename="config.json",
    description="SegFormer-B5 fine-tuned on Cityscapes 1024x1024, transformers format (optional segmenter)",
    hf_repo="nvidia/segformer-b5-finetuned-cityscapes-1024-1024",
    used_by=("miou", "miou-set"),
))
DETR = W.register_weights(W.WeightFile(
    name="detr-resnet-50",
    filename="config.json",
    description="DETR ResNet-50 trained on COCO 2017 detection, transformers format (its backbone needs timm: "
                "semcom-bench[evaluators])",
    hf_repo="facebook/detr-resnet-50",
    used_by=("detection",),
))
DPT = W.register_weights(W.WeightFile(
    name="dpt-large",
    filename="config.json",
    description="DPT-Large (MiDaS 3.0) monocular relative inverse depth, transformers format",
    hf_repo="Intel/dpt-large",
    used_by=("depth",),
))


@dataclass(frozen=True)
class EvaluatorSpec:
    """An evaluator the metrics can use.

    Attributes:
        name: what users type (``drn-d-105``, ``embedded`` ...).
        task: ``seg``, ``det`` or ``depth``.
        weights: the :class:`~semcom_bench.weights.WeightFile` name it loads.
        build: ``(path, device, identity) -> evaluator``.
        packages: Python packages it needs besides torch (those of :data:`EXTRA_PACKAGES` come
            with the ``evaluators`` extra).
    """

    name: str
    task: str
    weights: str
    build: Callable[[Path, str, dict[str, Any]], Any]
    packages: tuple[str, ...] = ()


def _drn(path: Path, device: str, identity: dict[str, Any]) -> Any:
    import torch

    from semcom_bench.data.cityscapes_labels import TRAINID_NAMES
    from semcom_bench.evaluators.drn import DRN_D_105 as CFG, DRNSegmenter, load_drn_seg

    state = torch.load(str(path), map_location="cpu", weights_only=True)
    return DRNSegmenter(load_drn_seg(state, CFG), list(TRAINID_NAMES), name="drn-d-105", identity=identity, device=device)


def _hf(cls_name: str) -> Callable[[Path, str, dict[str, Any]], Any]:
    def build(path: Path, device: str, identity: dict[str, Any]) -> Any:
        from semcom_bench.evaluators import hf

        return getattr(hf, cls_name)(path, device=device, identity=identity)

    return build


def _embedded(path: Path, device: str, identity: dict[str, Any]) -> Any:
    return embedded.load(path, device, identity)


SPECS: dict[tuple[str, str], EvaluatorSpec] = {}
for _spec in (
    EvaluatorSpec("embedded", "seg", embedded.WEIGHT_NAMES["seg"], _embedded, ("safetensors",)),
    EvaluatorSpec("embedded", "det", embedded.WEIGHT_NAMES["det"], _embedded, ("safetensors",)),
    EvaluatorSpec("embedded", "depth", embedded.WEIGHT_NAMES["depth"], _embedded,
                  ("safetensors", "transformers") if embedded.DEFAULT_ARCH["depth"] == "dpt" else ("safetensors",)),
    EvaluatorSpec("drn-d-105", "seg", DRN_D_105.name, _drn),
    EvaluatorSpec("maskformer", "seg", MASKFORMER.name, _hf("MaskFormerSegmenter"), ("transformers", "scipy")),
    EvaluatorSpec("segformer", "seg", SEGFORMER.name, _hf("SegformerSegmenter"), ("transformers",)),
    EvaluatorSpec("detr", "det", DETR.name, _hf("DetrDetector"), ("transformers",)),
    EvaluatorSpec("dpt", "depth", DPT.name, _hf("DPTDepth"), ("transformers",)),
):
    SPECS[(_spec.task, _spec.name)] = _spec

DEFAULTS: dict[str, dict[str, str]] = {
    "synthetic-streets": {"seg": "embedded", "det": "embedded", "depth": "embedded"},
    "cityscapes": {"seg": "drn-d-105", "det": "detr", "depth": "dpt"},
    "coco-stuff": {"seg": "maskformer", "det": "detr", "depth": "dpt"},
}


def names(task: str) -> list[str]:
    return [n for (t, n) in SPECS if t == task]


def choose(task: str, dataset_name: str | None, option: str | None = None) -> str | None:
    """Evaluator name for ``task`` on ``dataset_name``: option > environment > default; None if none."""
    return option or os.environ.get(ENV[task]) or DEFAULTS.get(dataset_name or "", {}).get(task)


def _timm_needed(folder: Path) -> bool:
    """Whether the DETR folder's backbone is a timm model.

    The published checkpoint says ``use_timm_backbone: true`` (transformers 4's layout);
    transformers 5 writes ``backbone_config`` with ``model_type: timm_backbone``. A DETR config
    with neither ``backbone_config`` nor ``use_timm_backbone`` gets a timm backbone too (the
    default of both releases).
    """
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    backbone = cfg.get("backbone_config")
    if isinstance(backbone, dict):
        return backbone.get("model_type") == "timm_backbone"
    return bool(cfg.get("use_timm_backbone", True))


def unavailable(task: str, dataset_name: str | None, option: str | None = None, explicit: str | Path | None = None) -> str | None:
    """None when the evaluator can be loaded here, else a one-line reason with the fix."""
    name = choose(task, dataset_name, option)
    word = TASK_WORDS[task]
    if name is None:
        return (f"no {word} is defined for data set {dataset_name!r}; choose one with {ENV[task]}="
                f"{'|'.join(names(task))}")
    spec = SPECS.get((task, name))
    if spec is None:
        return f"unknown {word} {name!r}; use one of {', '.join(names(task))} ({ENV[task]})"
    for pkg in spec.packages:
        if importlib.util.find_spec(pkg) is None:
            fix = INSTALL_EXTRA if pkg in EXTRA_PACKAGES else f"pip install {pkg}"
            return f"{word} {name} needs the Python package {pkg!r}: {fix}"
    try:
        path = W.resolve(spec.weights, explicit)
    except W.MissingWeightsError as exc:
        return f"{word} {name}: {exc}"
    if spec.name == "detr" and path.is_dir() and _timm_needed(path) and importlib.util.find_spec("timm") is None:
        return (f"{word} {name}: this DETR checkpoint builds its ResNet backbone with timm, which is not installed; "
                f"{INSTALL_EXTRA}")
    return None


_LOADED: dict[tuple[str, str, str, str, str], tuple[Any, dict[str, Any]]] = {}


def _checksum(path: Path) -> str:
    """SHA-256 of the weights file or model folder, remembered while no file in it changes.

    A folder's own time and size stay the same when a file in it is rewritten, so the stamp
    is taken over every file (:func:`semcom_bench.weights.cached_checksum`).
    """
    return W.cached_checksum(path)


def identity(task: str, dataset_name: str | None, option: str | None = None, explicit: str | Path | None = None) -> dict[str, Any]:
    """What determines the evaluator's outputs: its name, weights name and checksum."""
    name = choose(task, dataset_name, option)
    spec = SPECS[(task, name)]  # type: ignore[index]
    path = W.resolve(spec.weights, explicit)
    return {"evaluator": name, "weights": spec.weights, "sha256": _checksum(path)}


def load(task: str, dataset_name: str | None, device: str = "cpu", option: str | None = None,
         explicit: str | Path | None = None) -> Any:
    """The evaluator for ``task`` on ``dataset_name`` (loaded once per process and device)."""
    reason = unavailable(task, dataset_name, option, explicit)
    if reason:
        from semcom_bench.errors import MissingWeightsError

        raise MissingWeightsError(reason)
    name = choose(task, dataset_name, option)
    spec = SPECS[(task, name)]  # type: ignore[index]
    path = W.resolve(spec.weights, explicit)
    ident = identity(task, dataset_name, option, explicit)
    key = (task, str(name), str(path), device, ident["sha256"])  # changed weights at the same path load again
    if key not in _LOADED:
        _LOADED[key] = (spec.build(path, device, ident), ident)
    return _LOADED[key][0]


__all__ = ["TASKS", "ENV", "SPECS", "DEFAULTS", "EXTRA", "EXTRA_PACKAGES", "INSTALL_EXTRA", "EvaluatorSpec", "choose",
           "unavailable", "identity", "load", "names"]
