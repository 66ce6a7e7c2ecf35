"""The real evaluators end to end, through ``api.run``, with tiny random models in the published formats.

* DETR as ``facebook/detr-resnet-50``: a timm ResNet backbone, in the config layout of
  transformers 4, the published one (``use_timm_backbone: true``, ``use_pretrained_backbone:
  true``, ``backbone_kwargs: null``), and in the one the installed transformers writes;
* MaskFormer as ``facebook/maskformer-resnet101-coco-stuff``: a transformers ResNet backbone and a
  DETR decoder;
* DPT as ``Intel/dpt-large``: a ViT with the DPT neck and depth head;

each saved with ``save_pretrained`` beside a ``preprocessor_config.json`` in the older
feature-extractor form (a bare ``size``, ``max_size``). A random model scores nothing
meaningful: the tests check that each folder loads with its own weights, offline, that the matrix
runs with no metric skipped, that the values are in range and finite (or NaN where the set has
no reference), and that the folder's sha256 is in the metric's fingerprint, so that changed
weights are scored again.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from semcom_bench import api, weights
from semcom_bench.components import RunContext
from semcom_bench.config import build_config
from semcom_bench.evaluators import base, hf, select
from tests.data.test_datasets import make_cityscapes, make_coco

transformers = pytest.importorskip("transformers")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def required(module: str):
    """``module``, which the test extra installs: missing, the test skips here and fails in CI."""
    try:
        return importlib.import_module(module)
    except ImportError:
        message = f"{module} is not installed (pip install -e '.[test]' brings it)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


IMAGENET = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
#: index 0 is "N/A" in the published DETR's 91 COCO ids, as here
DETR_LABELS = {0: "N/A", 1: "person", 2: "bicycle", 3: "car"}
MASKFORMER_LABELS = {0: "person", 1: "car", 2: "road", 3: "sky-other"}
PROBE = torch.linspace(-2, 2, 3 * 64 * 96).reshape(1, 3, 64, 96)  # a fixed input to compare outputs


def _labels(id2label: dict[int, str]) -> dict:
    return {"id2label": id2label, "label2id": {v: k for k, v in id2label.items()}}


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2))


def _probe(model, size: tuple[int, int] = (64, 96)) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        out = model.eval()(pixel_values=PROBE[..., : size[0], : size[1]].contiguous())
    return {k: v.detach().clone() for k, v in out.items() if isinstance(v, torch.Tensor)}


def save_detr(folder: Path) -> dict[str, torch.Tensor]:
    """A tiny DETR with a timm ResNet-18 backbone (the published one: ResNet-50); its outputs on PROBE."""
    torch.manual_seed(1)
    config = transformers.DetrConfig(use_timm_backbone=True, backbone="resnet18", use_pretrained_backbone=False,
                                     num_queries=8, d_model=16, encoder_layers=1, decoder_layers=1,
                                     encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                                     decoder_ffn_dim=32, **_labels(DETR_LABELS))
    model = transformers.DetrForObjectDetection(config)
    model.save_pretrained(folder)
    _write_json(folder / "preprocessor_config.json", {
        "feature_extractor_type": "DetrFeatureExtractor", "format": "coco_detection", "do_resize": True,
        "do_normalize": True, **IMAGENET, "size": 64, "max_size": 128})
    return _probe(model)


def as_transformers_4(folder: Path) -> None:
    """Rewrite the folder's config.json in the layout of the published checkpoint (transformers 4)."""
    cfg = json.loads((folder / "config.json").read_text())
    cfg.pop("backbone_config", None)
    cfg.update({"backbone": "resnet18", "use_timm_backbone": True, "use_pretrained_backbone": True,
                "backbone_config": None, "backbone_kwargs": None, "dilation": False, "num_channels": 3,
                "transformers_version": "4.44.0"})
    _write_json(folder / "config.json", cfg)


def save_maskformer(folder: Path) -> dict[str, torch.Tensor]:
    torch.manual_seed(2)
    tf = transformers
    resnet = tf.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16, 16, 16], depths=[1, 1, 1, 1],
                             layer_type="bottleneck", out_features=["stage1", "stage2", "stage3", "stage4"])
    decoder = tf.DetrConfig(d_model=32, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=32, num_queries=4,
                            encoder_layers=1)
    config = tf.MaskFormerConfig(backbone_config=resnet, decoder_config=decoder, fpn_feature_size=32, mask_feature_size=32,
                                 num_queries=4, **_labels(MASKFORMER_LABELS))
    model = tf.MaskFormerForInstanceSegmentation(config)
    model.save_pretrained(folder)
    _write_json(folder / "preprocessor_config.json", {
        "feature_extractor_type": "MaskFormerFeatureExtractor", "do_resize": True, "do_normalize": True, **IMAGENET,
        "size": 48, "max_size": 96, "size_divisibility": 32, "ignore_index": 255, "reduce_labels": False})
    return _probe(model)


def save_dpt(folder: Path) -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    config = transformers.DPTConfig(hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32,
                                    image_size=32, patch_size=8, backbone_out_indices=[0, 1, 2, 3],
                                    neck_hidden_sizes=[8, 8, 16, 16], fusion_hidden_size=8, reassemble_factors=[4, 2, 1, 0.5])
    model = transformers.DPTForDepthEstimation(config)
    with torch.no_grad():  # a positive, varying inverse depth (a random head is often zero after its last ReLU)
        model.head.head[-2].bias.fill_(1.0)
    model.save_pretrained(folder)
    _write_json(folder / "preprocessor_config.json", {
        "feature_extractor_type": "DPTFeatureExtractor", "do_resize": True, "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "size": 32})
    return _probe(model, (32, 32))  # DPT's input is square


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Folders under a ``$SEMCOM_WEIGHTS`` root, named as the weights are declared, and their reference outputs."""
    required("timm")
    root = tmp_path_factory.mktemp("weights")
    probes = {
        "detr-resnet-50": save_detr(root / "detr-resnet-50"),
        "maskformer-coco-stuff": save_maskformer(root / "maskformer-coco-stuff"),
        "dpt-large": save_dpt(root / "dpt-large"),
    }
    other = tmp_path_factory.mktemp("detr-layouts")
    shutil.copytree(root / "detr-resnet-50", other / "transformers-4")
    as_transformers_4(other / "transformers-4")
    return {"root": root, "probes": probes, "detr": {"save_pretrained": root / "detr-resnet-50",
                                                      "transformers-4": other / "transformers-4"}}


# --------------------------------------------------------------------------------------------
# The folders load with their own weights, offline
# --------------------------------------------------------------------------------------------


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], keys: tuple[str, ...]) -> None:
    for k in keys:
        assert torch.allclose(a[k], b[k], atol=1e-5), k


@pytest.mark.parametrize("layout", ["save_pretrained", "transformers-4"])
def test_detr_with_a_timm_backbone_loads_its_own_weights(real, layout):
    folder = real["detr"][layout]
    assert select._timm_needed(folder)
    assert select.unavailable("det", "cityscapes", explicit=folder) is None
    det = hf.DetrDetector(folder)
    assert det.classes == ["N/A", "person", "bicycle", "car"]
    assert det.prep["size"] == {"shortest_edge": 64, "longest_edge": 128}  # the older size / max_size form
    # every weight from the folder: the outputs are the saved model's, not a re-initialised part's
    _same(_probe(det.model), real["probes"]["detr-resnet-50"], ("logits", "pred_boxes"))


def test_maskformer_and_dpt_load_their_own_weights(real):
    root = real["root"]
    seg = hf.MaskFormerSegmenter(root / "maskformer-coco-stuff")
    assert seg.classes == list(MASKFORMER_LABELS.values()) and seg.prep["size_divisor"] == 32
    _same(_probe(seg.model), real["probes"]["maskformer-coco-stuff"], ("class_queries_logits", "masks_queries_logits"))
    est = hf.DPTDepth(root / "dpt-large")
    assert est.prep["size"] == {"height": 32, "width": 32}  # DPT reads a bare size as a square
    _same(_probe(est.model, (32, 32)), real["probes"]["dpt-large"], ("predicted_depth",))


@pytest.mark.parametrize("family, cls, data", [
    ("detr", "DetrImageProcessor", {"size": 64, "max_size": 100}),
    ("detr", "DetrImageProcessor", {"size": {"shortest_edge": 40, "longest_edge": 100}}),
    ("maskformer", "MaskFormerImageProcessor", {"size": 48, "max_size": 96, "size_divisibility": 32}),
    ("maskformer", "MaskFormerImageProcessor", {"size": {"shortest_edge": 40, "longest_edge": 100}, "size_divisor": 32}),
    ("dpt", "DPTImageProcessor", {"size": 32}),
    ("dpt", "DPTImageProcessor", {"size": {"height": 32, "width": 48}, "keep_aspect_ratio": True, "ensure_multiple_of": 16}),
    ("segformer", "SegformerImageProcessor", {"size": 40}),
])
def test_network_input_size_is_the_processors(tmp_path, family, cls, data):
    """Both forms of ``preprocessor_config.json`` give the input size transformers' own processor gives."""
    _write_json(tmp_path / "preprocessor_config.json", {"do_resize": True, **data})
    prep = hf.read_preprocessing(tmp_path, family)
    processor = getattr(transformers, cls).from_pretrained(str(tmp_path))
    for h, w in ((40, 56), (64, 128), (90, 30)):
        image = np.zeros((h, w, 3), np.uint8)
        shape = tuple(processor(images=[image], return_tensors="pt")["pixel_values"].shape[-2:])
        assert hf.input_size(h, w, prep) == shape, (h, w)


# --------------------------------------------------------------------------------------------
# Through api.run
# --------------------------------------------------------------------------------------------


def _run(tmp_path: Path, dataset: dict, metrics, tag: str = "out"):
    config = build_config(dataset=dataset, methods="full-image", values="100", metrics=metrics,
                          out=tmp_path / tag, cache_dir=tmp_path / "cache")
    summary = api.run(config)
    assert summary["skipped"] == {}, summary["skipped"]
    return summary["frame"]


def _values(frame, metric: str, output: str) -> np.ndarray:
    return frame[(frame.metric == metric) & (frame.output == output)]["value"].to_numpy(np.float64)


@pytest.mark.parametrize("layout", ["save_pretrained", "transformers-4"])
def test_cityscapes_detr_and_dpt_through_run(real, tmp_path, monkeypatch, layout):
    """Cityscapes' defaults: DETR from an explicit path, DPT from ``$SEMCOM_WEIGHTS/dpt-large/``."""
    monkeypatch.setenv("SEMCOM_WEIGHTS", str(real["root"]))
    make_cityscapes(tmp_path / "city")
    dataset = {"name": "cityscapes", "params": {"root": str(tmp_path / "city"), "height": 32, "width": 64}}
    detr = real["detr"][layout]
    frame = _run(tmp_path, dataset, f"detection(weights={detr}),depth")
    # detection: a set-level mAP against the ground-truth boxes (cars, a person): defined, in [0, 1]
    for out in ("map", "map50"):
        v = _values(frame, f"detection(weights={detr})", out)
        assert v.shape == (1,) and np.isfinite(v).all() and ((0 <= v) & (v <= 1)).all()
    # depth: Cityscapes has no depth, so DPT on the original is the reference; at 100 dB the
    # reconstruction is the original, so the aligned error is zero
    absrel, rmse, delta1 = (_values(frame, "depth", o) for o in ("absrel", "rmse", "delta1"))
    assert absrel.shape == (3,) and np.isfinite(np.concatenate([absrel, rmse, delta1])).all()
    assert np.allclose(absrel, 0, atol=1e-6) and np.allclose(rmse, 0, atol=1e-5) and (delta1 == 1).all()


def test_coco_stuff_maskformer_detr_and_dpt_through_run(real, tmp_path, monkeypatch):
    """COCO-Stuff's defaults, all three from ``$SEMCOM_WEIGHTS``: no boxes and no depth in the set."""
    monkeypatch.setenv("SEMCOM_WEIGHTS", str(real["root"]))
    make_coco(tmp_path / "coco")
    dataset = {"name": "coco-stuff", "params": {"root": str(tmp_path / "coco"), "size": 32}}
    frame = _run(tmp_path, dataset, "miou,miou-set,detection,detection(pseudo_threshold=0.0),depth")
    miou = _values(frame, "miou", "miou")
    assert miou.shape == (2,) and np.isfinite(miou).all() and ((0 <= miou) & (miou <= 1)).all()
    miou_set = _values(frame, "miou-set", "miou-set")
    assert miou_set.shape == (1,) and 0 <= miou_set[0] <= 1
    # no ground-truth boxes: DETR's boxes on the original scoring >= 0.5 are the reference; the
    # random head gives none that sure (5 classes: about 0.2 each), so the set has no reference
    assert np.isnan(_values(frame, "detection", "map")).all() and np.isnan(_values(frame, "detection", "map50")).all()
    # every box is a reference at threshold 0: the noiseless reconstruction finds them all again
    assert _values(frame, "detection(pseudo_threshold=0.0)", "map").tolist() == [1.0]
    delta1 = _values(frame, "depth", "delta1")
    assert delta1.shape == (2,) and (delta1 == 1).all()


def test_changed_weights_at_the_same_path_are_scored_again(real, tmp_path, monkeypatch):
    """The folder's sha256 is in the metric's fingerprint: new weights in place miss the value cache."""
    from semcom_bench.metrics.semantic import Detection
    from semcom_bench.registry import datasets
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "detr"
    shutil.copytree(real["detr"]["save_pretrained"], folder)
    make_cityscapes(tmp_path / "city")
    params = {"root": str(tmp_path / "city"), "height": 32, "width": 64}
    dataset = {"name": "cityscapes", "params": params}
    metric = Detection(RunContext(dataset=datasets.create("cityscapes", **params)), weights=folder)
    before = metric.identity()
    assert before["evaluator"] == "detr" and before["weights"] == "detr-resnet-50"
    assert before["sha256"] == weights.checksum(folder)

    monkeypatch.setattr(base, "PREDICTIONS", base.PredictionCache())  # no predictions from the tests before
    calls = []
    detect = hf.DetrDetector.detect
    monkeypatch.setattr(hf.DetrDetector, "detect", lambda self, images: calls.append(len(images)) or detect(self, images))
    spec = f"detection(weights={folder})"
    first = _run(tmp_path, dataset, spec, "a")
    assert calls
    calls.clear()
    _run(tmp_path, dataset, spec, "b")
    assert calls == []  # the same weights: the values come from the cache

    state = load_file(folder / "model.safetensors")
    state["class_labels_classifier.bias"] = state["class_labels_classifier.bias"] + 3.0
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    after = Detection(RunContext(dataset=datasets.create("cityscapes", **params)), weights=folder).identity()
    assert after["sha256"] == weights.checksum(folder) != before["sha256"]
    third = _run(tmp_path, dataset, spec, "c")
    assert calls  # scored again, by the new weights
    assert len(third) == len(first)
    loaded = select.load("det", "cityscapes", explicit=folder).model.class_labels_classifier.bias
    assert torch.equal(loaded.detach(), state["class_labels_classifier.bias"])


# --------------------------------------------------------------------------------------------
# What a missing package says
# --------------------------------------------------------------------------------------------


def _without(monkeypatch, *modules: str) -> None:
    find = importlib.util.find_spec
    monkeypatch.setattr(select.importlib.util, "find_spec", lambda name, *a: None if name in modules else find(name, *a))


def test_a_timm_detr_without_timm_names_the_extra(tmp_path, monkeypatch):
    _without(monkeypatch, "timm")
    layouts = {"transformers-4": {"model_type": "detr", "use_timm_backbone": True, "backbone": "resnet50"},
               "transformers-5": {"model_type": "detr", "backbone_config": {"model_type": "timm_backbone"}}}
    for name, cfg in layouts.items():
        (tmp_path / name).mkdir()
        _write_json(tmp_path / name / "config.json", cfg)
        reason = select.unavailable("det", "cityscapes", explicit=tmp_path / name)
        assert reason == ("detector detr: this DETR checkpoint builds its ResNet backbone with timm, which is not "
                          "installed; pip install 'semcom-bench[evaluators]'")


def test_missing_extra_packages_name_the_extra(tmp_path, monkeypatch):
    folder = tmp_path / "maskformer"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    _without(monkeypatch, "scipy")
    reason = select.unavailable("seg", "coco-stuff", explicit=folder)
    assert reason == "segmenter maskformer needs the Python package 'scipy': pip install 'semcom-bench[evaluators]'"


def test_timm_backbone_detection_covers_every_layout(tmp_path):
    cases = {
        "published": ({"model_type": "detr", "use_timm_backbone": True, "backbone": "resnet50", "backbone_config": None}, True),
        "transformers-5": ({"model_type": "detr", "backbone_config": {"model_type": "timm_backbone", "backbone": "resnet50"}}, True),
        "default": ({"model_type": "detr"}, True),
        "resnet": ({"model_type": "detr", "use_timm_backbone": False, "backbone_config": {"model_type": "resnet"}}, False),
        "no-timm": ({"model_type": "detr", "use_timm_backbone": False, "backbone": "resnet50"}, False),
    }
    for name, (cfg, needed) in cases.items():
        (tmp_path / name).mkdir()
        _write_json(tmp_path / name / "config.json", cfg)
        assert select._timm_needed(tmp_path / name) is needed, name
