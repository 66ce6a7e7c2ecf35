"""The embedded synthetic-streets evaluators: architectures, file format, loaders.

Three small networks, trained by ``semcom-bench train evaluator --task seg|det|depth`` and
shipped in ``semcom_bench/assets/evaluators/`` (fp16 safetensors, a provenance JSON beside
each):

* ``seg``: a narrow DRN-D (basic blocks, stage depths 1-1-2-2-2-2-1-1, output stride 1), the
  same code as the DRN-D-105 Cityscapes evaluator; 19 train ids.
* ``det``: a CenterNet-style detector on a narrow DRN-D trunk (output stride 2); the 8
  Cityscapes thing classes (see :mod:`semcom_bench.evaluators.centernet` for why not DETR).
* ``depth``, two architectures (``--arch``), both predicting inverse depth (``10 m / depth``):

  - ``drn`` (``depth-drn``): the segmenter's narrow DRN-D trunk at output stride 1 with a 1x1
    convolution to one channel and a softplus (positive output), at the image's own resolution;
  - ``dpt`` (``depth-dpt``): a small DPT (ViT, 4 layers, width 96, patch 8) through
    transformers, fed a square 128 x 128 resize like DPT's own preprocessing.

  The DRN-D is shipped (``FILES["depth"]``) and used by default: validation delta1 0.966 against
  0.795 for the DPT it replaced, whose recipe stays (``--arch dpt``) and is tested with tiny models.

File format: a safetensors file whose metadata key ``semcom_bench`` holds a JSON object with
``task``, ``arch``, ``config`` (the architecture), ``classes``, ``mean``/``std`` (DRN trunks) or,
for DPT, ``preprocessing``. Weights are stored in fp16 and loaded as fp32.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from semcom_bench.evaluators.base import DepthEstimator, group_by_size, to_batch
from semcom_bench.evaluators.drn import CITYSCAPES_MEAN, CITYSCAPES_STD, DRNConfig, DRNSeg
from semcom_bench.evaluators.spaces import CITYSCAPES_THINGS
from semcom_bench.data.cityscapes_labels import TRAINID_NAMES
from semcom_bench.weights import WeightFile, register_weights

FORMAT_VERSION = 1
META_KEY = "semcom_bench"

#: Architecture of the embedded segmenter.
SEG_CONFIG = DRNConfig(block="basic", layers=(1, 1, 2, 2, 2, 2, 1, 1), channels=(16, 32, 32, 64, 64, 64, 64, 64),
                       strides=(1, 1, 1), classes=len(TRAINID_NAMES))
#: Trunk of the embedded detector.
DET_CONFIG = DRNConfig(block="basic", layers=(1, 1, 2, 2, 2, 2, 1, 1), channels=(16, 32, 48, 64, 64, 64, 64, 64),
                       strides=(2, 1, 1), classes=len(CITYSCAPES_THINGS))
DET_HEAD_WIDTH = 64
#: Architecture of the DRN depth estimator: the segmenter's trunk, one output channel.
DEPTH_DRN_CONFIG = DRNConfig(block="basic", layers=(1, 1, 2, 2, 2, 2, 1, 1), channels=(16, 32, 32, 64, 64, 64, 64, 64),
                             strides=(1, 1, 1), classes=1)
#: DPTConfig parameters of the embedded depth estimator.
DEPTH_CONFIG: dict[str, Any] = dict(
    hidden_size=96, num_hidden_layers=4, num_attention_heads=4, intermediate_size=192, image_size=128, patch_size=8,
    backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[32, 48, 64, 96], reassemble_factors=[2, 1, 0.5, 0.25],
    fusion_hidden_size=40, head_in_index=-1,
)
DEPTH_PREPROCESSING: dict[str, Any] = {"image_mean": (0.5, 0.5, 0.5), "image_std": (0.5, 0.5, 0.5),
                                       "size": {"height": 128, "width": 128}, "keep_aspect_ratio": False}
#: The depth network predicts ``DISPARITY_SCALE / depth_in_metres``.
DISPARITY_SCALE = 10.0

#: Architectures a task can be trained with (``--arch``); the first is the default.
ARCHES: dict[str, tuple[str, ...]] = {"seg": ("drn",), "det": ("centernet",), "depth": ("drn", "dpt")}
DEFAULT_ARCH = {task: arches[0] for task, arches in ARCHES.items()}
#: File name per (task, --arch).
ARCH_FILES = {("seg", "drn"): "seg-drn.safetensors", ("det", "centernet"): "det-centernet.safetensors",
              ("depth", "dpt"): "depth-dpt.safetensors", ("depth", "drn"): "depth-drn.safetensors"}
#: The shipped file of each task (its default architecture).
FILES = {task: ARCH_FILES[(task, DEFAULT_ARCH[task])] for task in ARCHES}
#: sha256 of the shipped files (see the provenance JSON beside each).
SHA256: dict[str, str | None] = {
    "seg": "7f75b9c89a2ea67c28c3330693112f7a0dbb5cb2de10fbfc0c325b1ecb02391d",
    "det": "dbc28ea209d0ace1debc510b86ce4ae3aefda2b76abe9ffb9db50a43c5060337",
    "depth": "10bd44d05166d10a6e53f18575cb5d9a187ac7e268f653571b3e611bfcf2c99c",
}
WEIGHT_NAMES = {task: f"synthetic-streets-{task}" for task in FILES}

for _task, _file in FILES.items():
    register_weights(WeightFile(
        name=WEIGHT_NAMES[_task],
        filename=_file,
        description=f"embedded synthetic-streets {_task} evaluator (semcom-bench train evaluator --task {_task})",
        sha256=SHA256[_task],
        url="shipped in the semcom-bench package (semcom_bench/assets/evaluators)",
        embedded=f"evaluators/{_file}",
        used_by=({"seg": "miou, miou-set", "det": "detection", "depth": "depth"}[_task],),
    ))


class DRNDepthNet(DRNSeg):
    """DRN-D trunk with one output channel and a softplus: (B, H, W) positive inverse depth."""

    def __init__(self, cfg: DRNConfig = DEPTH_DRN_CONFIG):
        super().__init__(cfg)
        torch.nn.init.normal_(self.seg.weight, 0.0, 1e-3)  # start near softplus(0): about 14 m
        torch.nn.init.zeros_(self.seg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(super().forward(x)[:, 0].float())


class DRNDepth(DepthEstimator):
    """A :class:`DRNDepthNet` as a depth estimator: inverse depth at each image's own size."""

    kind = "inverse"

    def __init__(self, model: DRNDepthNet, mean: Any = CITYSCAPES_MEAN, std: Any = CITYSCAPES_STD, name: str = "drn-depth",
                 identity: dict[str, Any] | None = None, device: str = "cpu"):
        super().__init__(name=name, classes=[], identity=identity or {}, device=device)
        self.model = model.to(device).eval()
        self.mean, self.std = tuple(mean), tuple(std)

    @torch.no_grad()
    def predict(self, images: list[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = [None] * len(images)  # type: ignore[list-item]
        s = self.model.config.output_stride
        for idx in group_by_size(images):
            x = to_batch([images[i] for i in idx], self.mean, self.std, self.device)
            h, w = x.shape[-2:]
            if (-h) % s or (-w) % s:
                x = F.pad(x, (0, (-w) % s, 0, (-h) % s), mode="replicate")
            d = self.model(x)[:, :h, :w].float().cpu().numpy()
            for j, i in enumerate(idx):
                out[i] = d[j].astype(np.float32)
        return out


def build_network(task: str, meta: dict[str, Any]) -> torch.nn.Module:
    """An untrained network of the architecture described by ``meta``."""
    if task == "seg":
        from semcom_bench.evaluators.drn import DRNSeg

        return DRNSeg(DRNConfig.from_dict(meta["config"]))
    if task == "det":
        from semcom_bench.evaluators.centernet import CenterNet

        return CenterNet(DRNConfig.from_dict(meta["config"]), len(meta["classes"]), int(meta.get("head_width", DET_HEAD_WIDTH)))
    if task == "depth" and meta.get("arch") == "drn-depth":
        return DRNDepthNet(DRNConfig.from_dict(meta["config"]))
    if task == "depth":
        from semcom_bench.evaluators.hf import _need_transformers

        _need_transformers()
        from transformers import DPTConfig, DPTForDepthEstimation

        return DPTForDepthEstimation(DPTConfig(**meta["config"]))
    raise ValueError(f"unknown evaluator task {task!r}")


def default_meta(task: str, arch: str | None = None) -> dict[str, Any]:
    """Metadata of a fresh embedded evaluator of ``task`` (architecture ``arch``, see :data:`ARCHES`)."""
    arch = arch or DEFAULT_ARCH.get(task)
    if task in ARCHES and arch not in ARCHES[task]:
        raise ValueError(f"unknown {task} architecture {arch!r}; use one of {', '.join(ARCHES[task])}")
    base = {"format": FORMAT_VERSION, "task": task, "trained_on": "synthetic-streets", "resolution": [64, 128]}
    if task == "seg":
        return {**base, "arch": "drn-seg", "config": SEG_CONFIG.to_dict(), "classes": list(TRAINID_NAMES),
                "mean": list(CITYSCAPES_MEAN), "std": list(CITYSCAPES_STD)}
    if task == "det":
        return {**base, "arch": "centernet-drn", "config": DET_CONFIG.to_dict(), "classes": list(CITYSCAPES_THINGS),
                "head_width": DET_HEAD_WIDTH, "mean": list(CITYSCAPES_MEAN), "std": list(CITYSCAPES_STD)}
    if task == "depth" and arch == "drn":
        return {**base, "arch": "drn-depth", "config": DEPTH_DRN_CONFIG.to_dict(), "classes": [],
                "mean": list(CITYSCAPES_MEAN), "std": list(CITYSCAPES_STD),
                "output": f"inverse depth, {DISPARITY_SCALE:g} m / depth (softplus)"}
    if task == "depth":
        return {**base, "arch": "dpt", "config": dict(DEPTH_CONFIG), "classes": [],
                "preprocessing": {k: list(v) if isinstance(v, tuple) else v for k, v in DEPTH_PREPROCESSING.items()},
                "output": f"inverse depth, {DISPARITY_SCALE:g} m / depth"}
    raise ValueError(f"unknown evaluator task {task!r}")


def save(path: str | Path, model: torch.nn.Module, meta: dict[str, Any]) -> Path:
    """Write ``model``'s weights (floats as fp16) and ``meta`` to a safetensors file."""
    from safetensors.torch import save_file

    state = {k: (v.detach().half() if v.is_floating_point() else v.detach()).contiguous().cpu()
             for k, v in model.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    path.chmod(0o644)
    return path


def read(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict as fp32, metadata) of an embedded evaluator file."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        raw = (f.metadata() or {}).get(META_KEY)
        if raw is None:
            raise ValueError(f"{path} is not a semcom-bench evaluator file (no '{META_KEY}' metadata)")
        meta = json.loads(raw)
        state = {k: f.get_tensor(k) for k in f.keys()}
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, meta


def load_network(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    state, meta = read(path)
    model = build_network(meta["task"], meta)
    model.load_state_dict(state, strict=True)
    return model.eval(), meta


def load(path: str | Path, device: str = "cpu", identity: dict[str, Any] | None = None) -> Any:
    """The evaluator object (segmenter, detector or depth estimator) stored in ``path``."""
    model, meta = load_network(path)
    task = meta["task"]
    name = f"embedded-{task}"
    identity = identity or {}
    if task == "seg":
        from semcom_bench.evaluators.drn import DRNSegmenter

        return DRNSegmenter(model, meta["classes"], tuple(meta["mean"]), tuple(meta["std"]), name=name, identity=identity, device=device)
    if task == "det":
        from semcom_bench.evaluators.centernet import CenterNetDetector

        return CenterNetDetector(model, meta["classes"], meta["mean"], meta["std"], name=name, identity=identity, device=device)
    if meta.get("arch") == "drn-depth":
        return DRNDepth(model, meta["mean"], meta["std"], name=name, identity=identity, device=device)
    from semcom_bench.evaluators.hf import DPTDepth

    return DPTDepth(model=model, preprocessing=meta["preprocessing"], identity=identity, device=device, name=name)


__all__ = ["SEG_CONFIG", "DET_CONFIG", "DEPTH_CONFIG", "DEPTH_DRN_CONFIG", "DEPTH_PREPROCESSING", "DISPARITY_SCALE", "ARCHES",
           "DEFAULT_ARCH", "ARCH_FILES", "FILES", "WEIGHT_NAMES", "DRNDepthNet", "DRNDepth", "build_network", "default_meta", "save", "read", "load_network", "load"]
