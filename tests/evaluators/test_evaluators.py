"""Evaluator loaders: DRN-D key layout, transformers folders (tiny random models saved by the
test), the embedded file format and the shipped synthetic-streets evaluators."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from semcom_bench.components import RunContext
from semcom_bench.data.cityscapes_labels import TRAINID_NAMES
from semcom_bench.evaluators import embedded
from semcom_bench.evaluators.drn import DRN_D_105, DRNConfig, DRNSeg, DRNSegmenter, load_drn_seg

# --------------------------------------------------------------------------------------------
# DRN-D: the reference segmentation checkpoints' key layout
# --------------------------------------------------------------------------------------------


def _bn(prefix: str, c: int) -> dict[str, tuple]:
    return {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,),
            f"{prefix}.running_var": (c,), f"{prefix}.num_batches_tracked": ()}


def reference_layout(block: str, layers, channels, classes: int, stride: int = 8) -> dict[str, tuple]:
    """Key -> shape of a ``DRNSeg`` state dict, written out from the published layout.

    ``base.0``: 7x7 conv + BN; ``base.1``/``base.2``: conv-BN(-ReLU) stacks; ``base.3``-``base.6``:
    residual stages (first block has ``downsample`` when the width changes); ``base.7``/``base.8``:
    conv stacks; ``seg``: 1x1 conv with bias; ``up``: grouped transposed conv (classes, 1, 2s, 2s).
    """
    exp = 4 if block == "bottleneck" else 1
    keys: dict[str, tuple] = {"base.0.0.weight": (channels[0], 3, 7, 7), **_bn("base.0.1", channels[0])}
    cin = channels[0]
    for stage, (width, n) in enumerate(((channels[0], layers[0]), (channels[1], layers[1])), start=1):
        for i in range(n):
            keys[f"base.{stage}.{3 * i}.weight"] = (width, cin, 3, 3)
            keys.update(_bn(f"base.{stage}.{3 * i + 1}", width))
            cin = width
    for stage, (planes, n) in enumerate(zip(channels[2:6], layers[2:6]), start=3):
        for j in range(n):
            p = f"base.{stage}.{j}"
            if block == "bottleneck":
                keys[f"{p}.conv1.weight"] = (planes, cin, 1, 1)
                keys[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                keys[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
                for b, c in (("bn1", planes), ("bn2", planes), ("bn3", planes * 4)):
                    keys.update(_bn(f"{p}.{b}", c))
            else:
                keys[f"{p}.conv1.weight"] = (planes, cin, 3, 3)
                keys[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                keys.update(_bn(f"{p}.bn1", planes))
                keys.update(_bn(f"{p}.bn2", planes))
            if j == 0 and (cin != planes * exp or stage in (3, 4)):
                keys[f"{p}.downsample.0.weight"] = (planes * exp, cin, 1, 1)
                keys.update(_bn(f"{p}.downsample.1", planes * exp))
            cin = planes * exp
    for stage, (width, n) in ((7, (channels[6], layers[6])), (8, (channels[7], layers[7]))):
        for i in range(n):
            keys[f"base.{stage}.{3 * i}.weight"] = (width, cin, 3, 3)
            keys.update(_bn(f"base.{stage}.{3 * i + 1}", width))
            cin = width
    keys["seg.weight"] = (classes, cin, 1, 1)
    keys["seg.bias"] = (classes,)
    keys["up.weight"] = (classes, 1, 2 * stride, 2 * stride)
    return keys


def test_drn_d_105_has_the_reference_layout():
    cfg = DRN_D_105
    ref = reference_layout("bottleneck", cfg.layers, cfg.channels, 19)
    own = {k: tuple(v.shape) for k, v in DRNSeg(cfg).state_dict().items()}
    assert own == ref
    assert len(own) == 651 and own["base.5.22.conv3.weight"] == (1024, 256, 1, 1) and own["seg.weight"] == (19, 512, 1, 1)


def test_drn_loads_a_checkpoint_in_the_reference_layout():
    cfg = DRNConfig(block="bottleneck", layers=(1, 1, 1, 1, 2, 1, 1, 1), channels=(4, 8, 8, 8, 8, 8, 8, 8), classes=19)
    g = torch.Generator().manual_seed(0)
    state = {}
    for k, shape in reference_layout("bottleneck", cfg.layers, cfg.channels, 19).items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            state[k] = torch.rand(shape, generator=g) + 0.5
        elif k == "up.weight":
            state[k] = DRNSeg(cfg).up.weight.detach().clone()
        else:
            state[k] = torch.randn(shape, generator=g) * 0.2
    # training checkpoints are {"state_dict": ...} with DataParallel's "module." prefix
    model = load_drn_seg({"epoch": 3, "state_dict": {"module." + k: v for k, v in state.items()}}, cfg)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k].float(), v.float()) for k, v in state.items())
    seg = DRNSegmenter(model, list(TRAINID_NAMES))
    img = np.random.default_rng(0).integers(0, 256, (30, 44, 3), dtype=np.uint8)  # not a multiple of 8: padded
    pred = seg.predict([img])[0]
    assert pred.shape == (30, 44) and pred.dtype == np.int64 and pred.max() < 19
    assert seg.predict([img], size=(60, 88))[0].shape == (60, 88)
    bad = dict(state)
    bad["seg.weight"] = torch.zeros(18, 8, 1, 1)
    with pytest.raises(ValueError, match="shape mismatch"):
        load_drn_seg(bad, cfg)
    with pytest.raises(ValueError, match="missing"):
        load_drn_seg({k: v for k, v in state.items() if k != "seg.bias"}, cfg)


def test_drn_upsampler_is_bilinear():
    from semcom_bench.evaluators.drn import bilinear_upsampler

    up = bilinear_upsampler(2, 8)
    x = torch.ones(1, 2, 4, 6)
    y = up(x)
    assert y.shape == (1, 2, 32, 48)
    assert torch.allclose(y[..., 8:-8, 8:-8], torch.ones(1, 2, 16, 32), atol=1e-6)


# --------------------------------------------------------------------------------------------
# transformers formats, tiny random models saved by the test
# --------------------------------------------------------------------------------------------

transformers = pytest.importorskip("transformers")


def _resnet():
    return transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16, 16, 16], depths=[1, 1, 1, 1],
                                     layer_type="basic", out_features=["stage4"])


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    tf = transformers
    detr = tf.DetrConfig(backbone_config=_resnet(), num_queries=6, d_model=16, encoder_layers=1, decoder_layers=1,
                         encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                         id2label={0: "person", 1: "car", 2: "zebra"}, label2id={"person": 0, "car": 1, "zebra": 2})
    tf.DetrForObjectDetection(detr).save_pretrained(root / "detr")
    tf.DetrImageProcessor(size={"shortest_edge": 48, "longest_edge": 96}).save_pretrained(root / "detr")
    swin = tf.SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=2,
                         out_features=["stage1", "stage2", "stage3", "stage4"])
    dec = tf.DetrConfig(d_model=32, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=32, num_queries=4,
                        encoder_layers=1, backbone_config=_resnet())
    mf = tf.MaskFormerConfig(backbone_config=swin, decoder_config=dec, fpn_feature_size=32, mask_feature_size=32,
                             num_queries=4, id2label={0: "road", 1: "car", 2: "sky"}, label2id={"road": 0, "car": 1, "sky": 2})
    tf.MaskFormerForInstanceSegmentation(mf).save_pretrained(root / "maskformer")
    sf = tf.SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16], num_attention_heads=[1, 1],
                            patch_sizes=[7, 3], strides=[4, 2], mlp_ratios=[2, 2], decoder_hidden_size=16,
                            id2label={0: "road", 1: "person"}, label2id={"road": 0, "person": 1})
    tf.SegformerForSemanticSegmentation(sf).save_pretrained(root / "segformer")
    dpt = tf.DPTConfig(hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32, image_size=32,
                       patch_size=8, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 16, 16], fusion_hidden_size=8,
                       reassemble_factors=[4, 2, 1, 0.5])
    tf.DPTForDepthEstimation(dpt).save_pretrained(root / "dpt")
    tf.DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(root / "dpt")
    return root


IMGS = [np.random.default_rng(i).integers(0, 256, (40, 56, 3), dtype=np.uint8) for i in range(2)]


def test_detr_loader(folders):
    from semcom_bench.evaluators.hf import DetrDetector

    det = DetrDetector(folders / "detr", min_score=0.0)
    assert det.classes == ["person", "car", "zebra"]
    assert det.prep["size"] == {"shortest_edge": 48, "longest_edge": 96}  # read from preprocessor_config.json
    out = det.detect(IMGS + [IMGS[0][:32]])
    assert len(out) == 3
    for d, im in zip(out, IMGS + [IMGS[0][:32]]):
        assert d.boxes.shape == (6, 4) and d.scores.shape == (6,) and d.labels.max() < 3
        assert (d.scores >= 0).all() and (d.scores <= 1).all()
        assert np.abs(d.boxes).max() < 4 * max(im.shape)  # pixels of the input image


def test_maskformer_loader(folders):
    from semcom_bench.evaluators.hf import MaskFormerSegmenter

    seg = MaskFormerSegmenter(folders / "maskformer")
    assert seg.classes == ["road", "car", "sky"]
    p = seg.predict(IMGS)
    assert [x.shape for x in p] == [(40, 56)] * 2 and all(x.max() < 3 for x in p)
    assert seg.predict(IMGS[:1], size=(20, 28))[0].shape == (20, 28)


def test_segformer_loader(folders):
    from semcom_bench.evaluators.hf import SegformerSegmenter

    seg = SegformerSegmenter(folders / "segformer")
    assert seg.classes == ["road", "person"]
    assert seg.predict(IMGS)[1].shape == (40, 56)


def test_dpt_loader(folders):
    from semcom_bench.evaluators.hf import DPTDepth, input_size

    est = DPTDepth(folders / "dpt")
    assert est.kind == "inverse" and input_size(40, 56, est.prep) == (32, 32)
    d = est.predict(IMGS)
    assert d[0].shape == (40, 56) and d[0].dtype == np.float32 and (d[0] >= 0).all()


def test_input_size_rules():
    from semcom_bench.evaluators.hf import input_size

    assert input_size(256, 512, {"size": {"shortest_edge": 800, "longest_edge": 1333}}) == (666, 1333)  # 666.5 x 1333
    assert input_size(480, 640, {"size": {"height": 384, "width": 384}, "keep_aspect_ratio": True, "ensure_multiple_of": 32}) == (384, 512)
    assert input_size(250, 500, {"size": {"shortest_edge": 500}, "size_divisor": 32}) == (512, 1024)


def test_metrics_use_the_real_evaluators_through_semcom_weights(folders, monkeypatch, tmp_path):
    """Cityscapes-like data: DETR (detection) and DPT (depth) folders under $SEMCOM_WEIGHTS/<name>/."""
    import shutil

    from semcom_bench.data.base import Sample
    from semcom_bench.data.cityscapes_labels import LABEL_NAMES
    from semcom_bench.metrics.base import Scored
    from semcom_bench.metrics.semantic import Depth, Detection

    w = tmp_path / "w"
    shutil.copytree(folders / "detr", w / "detr-resnet-50")
    shutil.copytree(folders / "dpt", w / "dpt-large")
    monkeypatch.setenv("SEMCOM_WEIGHTS", str(w))

    class City:
        name = "cityscapes"
        num_classes = 35
        class_names = list(LABEL_NAMES) + ["license plate"]
        ignore_index = 0

    s = Sample("a", IMGS[0], boxes=np.array([[2, 3, 20, 30]], np.float32), box_labels=np.array([26]))
    t = Sample("b", IMGS[1])  # no boxes, no depth: the evaluators on the original are the reference
    items = [Scored(s, IMGS[0], {}), Scored(t, IMGS[1], {})]
    det = Detection(RunContext(dataset=City()))
    assert det.unavailable() is None
    assert det.fingerprint()["evaluator"] == "detr" and len(det.fingerprint()["sha256"]) == 64
    r = det.score_set(items)
    assert set(r) == {"map", "map50"} and 0.0 <= r["map"] <= 1.0
    dep = Depth(RunContext(dataset=City()))
    assert dep.unavailable() is None
    same = dep.score([Scored(t, IMGS[1], {})])[0]
    assert same["absrel"] == pytest.approx(0.0, abs=1e-6) and same["delta1"] == 1.0  # identical image


# --------------------------------------------------------------------------------------------
# Embedded evaluators
# --------------------------------------------------------------------------------------------


def test_embedded_file_format_round_trip(tmp_path):
    meta = embedded.default_meta("det")
    model = embedded.build_network("det", meta)
    path = embedded.save(tmp_path / "d.safetensors", model, meta)
    state, meta2 = embedded.read(path)
    assert meta2 == json.loads(json.dumps(meta)) and all(v.dtype != torch.float16 for v in state.values())
    ref = {k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    assert all(torch.equal(state[k], ref[k]) for k in ref)
    det = embedded.load(path)
    assert det.classes[:3] == ["person", "rider", "car"]


def test_embedded_depth_architectures_round_trip(tmp_path):
    """Both depth architectures through the embedded format: DRN-D (shipped size) and a tiny DPT."""
    img = [np.random.default_rng(0).integers(0, 256, (30, 44, 3), dtype=np.uint8)]
    meta = embedded.default_meta("depth", "drn")
    assert meta["arch"] == "drn-depth" and meta["config"]["strides"] == [1, 1, 1] and meta["config"]["classes"] == 1
    torch.manual_seed(0)
    path = embedded.save(tmp_path / "drn.safetensors", embedded.build_network("depth", meta), meta)
    est = embedded.load(path)
    assert isinstance(est, embedded.DRNDepth) and est.kind == "inverse"
    d = est.predict(img)[0]
    assert d.shape == (30, 44) and d.dtype == np.float32 and (d > 0).all()  # softplus: positive inverse depth
    tiny = embedded.default_meta("depth", "dpt")
    tiny["config"] = dict(hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32, image_size=32,
                          patch_size=8, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 16, 16],
                          fusion_hidden_size=8, reassemble_factors=[4, 2, 1, 0.5], head_in_index=-1)
    tiny["preprocessing"]["size"] = {"height": 32, "width": 32}
    path = embedded.save(tmp_path / "dpt.safetensors", embedded.build_network("depth", tiny), tiny)
    est = embedded.load(path)
    assert type(est).__name__ == "DPTDepth" and est.kind == "inverse"
    d = est.predict(img)[0]
    assert d.shape == (30, 44) and (d >= 0).all()
    with pytest.raises(ValueError, match="architecture"):
        embedded.default_meta("depth", "unet")


def test_shipped_evaluators_match_their_provenance():
    from semcom_bench import weights
    from semcom_bench.hashing import hash_file

    for task, fname in embedded.FILES.items():
        path = weights.resolve(embedded.WEIGHT_NAMES[task])
        assert path.name == fname and path.stat().st_size < 2_000_000
        prov = json.loads(path.with_suffix(".json").read_text())
        assert hash_file(path) == prov["sha256"] == embedded.SHA256[task]
        assert prov["recipe"].startswith(f"semcom-bench train evaluator --task {task} ")
        assert prov["validation"]["clean"] and prov["validation"]["noise"]


@pytest.fixture(scope="module")
def val_data():
    from semcom_bench.evaluators.training import render

    return render("val", 6, 0, workers=1)


def test_embedded_evaluators_score_clean_images_near_validation(val_data):
    from semcom_bench import weights
    from semcom_bench.evaluators.training import noise_images, score_task

    images = list(val_data["images"])
    noise = list(noise_images(len(images)))
    seg = embedded.load(weights.resolve(embedded.WEIGHT_NAMES["seg"]))
    r = score_task("seg", seg, images, val_data)
    assert r["miou_set"] > 0.85 and score_task("seg", seg, noise, val_data)["miou_set"] < 0.2
    det = embedded.load(weights.resolve(embedded.WEIGHT_NAMES["det"]))
    r = score_task("det", det, images, val_data)
    assert r["map50"] > 0.7 and score_task("det", det, noise, val_data)["map50"] < 0.1
    dep = embedded.load(weights.resolve(embedded.WEIGHT_NAMES["depth"]))
    assert isinstance(dep, embedded.DRNDepth) and dep.kind == "inverse"
    r = score_task("depth", dep, images, val_data)  # validation (500 scenes): delta1 0.966, absrel 0.052
    assert r["delta1"] > 0.92 and r["absrel"] < 0.08
    r = score_task("depth", dep, noise, val_data)  # validation: delta1 0.342 (a constant prediction: about 0.19)
    assert r["delta1"] < 0.5 and r["absrel"] > 0.3


def test_train_evaluator_recipe_runs_on_cpu(tmp_path):
    """The CLI recipe end to end with 1 step on 2 scenes (the shipped files used thousands)."""
    from typer.testing import CliRunner

    from semcom_bench.cli.main import app

    res = CliRunner().invoke(app, ["train", "evaluator", "--task", "det", "--steps", "1", "--batch-size", "2",
                                   "--train-size", "2", "--val-size", "2", "--workers", "1", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    prov = json.loads((tmp_path / "det-centernet.json").read_text())
    assert prov["steps"] == 1 and prov["seed"] == 0 and len(prov["sha256"]) == 64 and "clean" in prov["validation"]
    assert embedded.load(tmp_path / "det-centernet.safetensors").classes[2] == "car"
    # --validate-only scores the saved file again and rewrites only the validation in its provenance
    res = CliRunner().invoke(app, ["train", "evaluator", "--task", "det", "--validate-only", "--val-size", "3", "--workers", "1",
                                   "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    again = json.loads((tmp_path / "det-centernet.json").read_text())
    assert again["validation"]["size"] == 3 and {k: v for k, v in again.items() if k != "validation"} == {
        k: v for k, v in prov.items() if k != "validation"}
    assert json.loads(res.output[:res.output.rindex("}") + 1]) == again["validation"]


def test_train_evaluator_depth_recipes_run_on_cpu(tmp_path):
    """``--task depth --arch drn`` through the CLI (2 steps) and ``--arch dpt`` through the API (1 step)."""
    from typer.testing import CliRunner

    from semcom_bench.cli.main import app
    from semcom_bench.evaluators.training import train_evaluator

    res = CliRunner().invoke(app, ["train", "evaluator", "--task", "depth", "--arch", "drn", "--steps", "2", "--batch-size", "2",
                                   "--train-size", "2", "--val-size", "2", "--workers", "1", "--threads", "1",
                                   "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    prov = json.loads((tmp_path / "depth-drn.json").read_text())
    assert prov["arch"] == "drn-depth" and prov["steps"] == 2 and prov["loss"].startswith("L1 on log(")
    assert prov["recipe"].startswith("semcom-bench train evaluator --task depth --arch drn --depth-loss log-l1 --steps 2 ")
    assert set(prov["validation"]["clean"]) == {"absrel", "rmse", "delta1"} and "transformers" not in prov
    assert isinstance(embedded.load(tmp_path / "depth-drn.safetensors"), embedded.DRNDepth)
    prov = train_evaluator("depth", steps=1, batch_size=2, train_size=2, val_size=2, workers=1, out=tmp_path, arch="dpt",
                           log=lambda _: None)
    assert prov["arch"] == "dpt" and prov["loss"] == "L1 on 10 m / depth at 64x128" and "--arch dpt --depth-loss inverse-l1" in prov["recipe"]
    assert (tmp_path / "depth-dpt.safetensors").is_file() and "noise" in prov["validation"]
    res = CliRunner().invoke(app, ["train", "evaluator", "--task", "seg", "--arch", "dpt", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "architecture" in res.output
