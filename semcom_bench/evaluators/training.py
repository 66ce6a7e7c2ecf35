"""Training and validation of the embedded synthetic-streets evaluators.

``semcom-bench train evaluator --task seg|det|depth [--arch ...]`` runs :func:`train_evaluator`
(``--validate-only``: :func:`revalidate`):

1. render the ``train`` split of synthetic-streets (64 x 128, seed 0; ``--train-size`` scenes,
   in parallel worker processes; ``--data-cache`` keeps the arrays in an ``.npz``; see
   :mod:`semcom_bench.training.scenes`);
2. train the task's network (see :mod:`semcom_bench.evaluators.embedded`) for ``--steps``
   AdamW steps with a one-cycle learning rate, batches drawn with ``--seed``, random
   horizontal flips, brightness gain in [0.85, 1.15] and, on half of the images, Gaussian
   pixel noise of sigma up to 6/255 (so an evaluator is not thrown by the grain of an
   8-bit image, while real degradations still show);
3. save fp16 safetensors and validate the saved file on the ``val`` split (different scenes),
   clean and on pure-noise images, writing a provenance JSON beside the weights
   (:mod:`semcom_bench.training.provenance`).

Losses: segmentation cross-entropy over the 19 train ids; CenterNet loss for detection;
for depth (``--arch drn`` or ``dpt``, both predicting inverse depth ``10 m / depth``; sky
included, at 200 m) ``--depth-loss inverse-l1`` (L1 on inverse depth) or ``log-l1`` (L1 on log
inverse depth, i.e. on log depth: the same weight to relative errors near and far).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from semcom_bench.evaluators import embedded
from semcom_bench.training import file_record, provenance_path, render_training_set, run_provenance, write_provenance

TASKS = ("seg", "det", "depth")
DEFAULTS: dict[str, dict[str, Any]] = {
    "seg": {"steps": 4000, "batch_size": 32, "lr": 2e-3},
    "det": {"steps": 4000, "batch_size": 32, "lr": 2e-3},
    "depth": {"steps": 4000, "batch_size": 32, "lr": 5e-4},
}
#: Per-architecture changes to DEFAULTS.
ARCH_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {("depth", "drn"): {"lr": 2e-3}}
DEPTH_LOSSES = ("inverse-l1", "log-l1")
#: Default depth loss per architecture.
DEPTH_LOSS_DEFAULT = {"dpt": "inverse-l1", "drn": "log-l1"}
NOISE_MAX = 6.0 / 255.0
PROBE_WARMUP = 10  # untimed steps (cuDNN autotuning, allocator) before the timing run
ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "evaluators"


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


#: the arrays of the scenes the evaluators train and validate on (:func:`semcom_bench.training.render_training_set`)
SCENE_FIELDS = ("images", "labels", "depth", "boxes")


def scene_spec(split: str, size: int, seed: int = 0) -> dict[str, Any]:
    """The render spec of ``size`` synthetic-streets scenes of ``split`` (64 x 128)."""
    return {"name": "synthetic-streets", "split": split, "size": size, "height": 64, "width": 128, "seed": seed}


def render(split: str, size: int, seed: int = 0, workers: int = 0, cache: str | Path | None = None) -> dict[str, Any]:
    """Arrays of ``size`` synthetic-streets samples: images, train-id labels, depth, boxes.

    Boxes are returned flattened (``boxes`` (M, 4), ``box_labels`` (M,) label ids) with
    ``box_index`` (size + 1,) offsets. ``cache``: an ``.npz`` that keeps the rendered scenes
    (label ids; the train ids are mapped here).
    """
    from semcom_bench.data.cityscapes_labels import to_train_ids

    data = render_training_set(scene_spec(split, size, seed), workers, cache, log=lambda _: None, fields=SCENE_FIELDS)
    data["labels"] = np.stack([to_train_ids(labels) for labels in data["labels"]])
    return data


def boxes_of(data: dict[str, Any], i: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = int(data["box_index"][i]), int(data["box_index"][i + 1])
    return data["boxes"][a:b], data["box_labels"][a:b]


def thing_index(label_ids: np.ndarray) -> np.ndarray:
    """Cityscapes label ids -> index in the 8 thing classes (-1 outside)."""
    from semcom_bench.data.cityscapes_labels import ID_TO_TRAINID

    t = ID_TO_TRAINID[np.clip(label_ids, 0, 255)].astype(np.int64)
    return np.where((t >= 11) & (t <= 18), t - 11, -1)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def _normalise(x: torch.Tensor, mean: Sequence[float], std: Sequence[float], size: tuple[int, int] | None = None) -> torch.Tensor:
    """(B, 3, H, W) float in [0, 1] -> normalised, resized like :func:`~semcom_bench.evaluators.base.to_batch`."""
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


def _augment(x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [0, 1] with gain and noise; returns (x, flip mask)."""
    b = x.shape[0]
    dev = x.device
    x = x.permute(0, 3, 1, 2).float() / 255.0
    flip = torch.rand(b, generator=gen, device=dev) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    gain = 0.85 + 0.3 * torch.rand(b, 1, 1, 1, generator=gen, device=dev)
    sigma = NOISE_MAX * torch.rand(b, 1, 1, 1, generator=gen, device=dev) * (torch.rand(b, 1, 1, 1, generator=gen, device=dev) < 0.5)
    x = x * gain + sigma * torch.randn(x.shape, generator=gen, device=dev)
    x = (x.clamp(0, 1) * 255).round() / 255  # back on the 8-bit grid, as reconstructions are
    return x, flip


def _flip_boxes(boxes: np.ndarray, width: int) -> np.ndarray:
    out = boxes.copy()
    out[:, 0], out[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    return out


class _Task:
    """Loss of one task on a batch of indices."""

    def __init__(self, task: str, meta: dict[str, Any], data: dict[str, Any], device: str, depth_loss: str = "inverse-l1"):
        self.task, self.meta, self.device, self.depth_loss = task, meta, device, depth_loss
        self.images = torch.from_numpy(data["images"]).to(device)
        self.h, self.w = data["images"].shape[1:3]
        if task == "seg":
            self.labels = torch.from_numpy(data["labels"]).to(device)
            self.class_weights = torch.from_numpy(seg_class_weights(data["labels"], len(meta["classes"]))).to(device)
        if task == "depth":
            d = torch.from_numpy(data["depth"].astype(np.float32)).to(device)
            self.disp = embedded.DISPARITY_SCALE / d.clamp_min(1e-3)
        if task == "det":
            self.data = data

    def loss(self, model: torch.nn.Module, idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        x, flip = _augment(self.images[idx], gen)
        if self.task == "seg":
            y = self.labels[idx].long()
            y = torch.where(flip.view(-1, 1, 1), y.flip(-1), y)
            logits = model(_normalise(x, self.meta["mean"], self.meta["std"]).contiguous(memory_format=torch.channels_last))
            return F.cross_entropy(logits.float(), y, weight=self.class_weights, ignore_index=255)
        if self.task == "depth":
            y = self.disp[idx]
            y = torch.where(flip.view(-1, 1, 1), y.flip(-1), y)
            if self.meta["arch"] == "dpt":
                prep = self.meta["preprocessing"]
                size = (prep["size"]["height"], prep["size"]["width"])
                pred = model(pixel_values=_normalise(x, prep["image_mean"], prep["image_std"], size)).predicted_depth
                pred = F.interpolate(pred[:, None].float(), size=(self.h, self.w), mode="bilinear", align_corners=False)[:, 0]
            else:  # DRN: positive inverse depth at full resolution
                pred = model(_normalise(x, self.meta["mean"], self.meta["std"]).contiguous(memory_format=torch.channels_last)).float()
            if self.depth_loss == "log-l1":
                return F.l1_loss(torch.log(pred.clamp_min(1e-4)), torch.log(y))
            return F.l1_loss(pred, y)
        from semcom_bench.evaluators.centernet import loss as cn_loss, make_targets

        flips = flip.cpu().numpy()
        boxes, labels = [], []
        for j, i in enumerate(idx.cpu().numpy()):
            b, lab = boxes_of(self.data, int(i))
            cls = thing_index(lab)
            keep = cls >= 0
            b, cls = b[keep], cls[keep]
            boxes.append(_flip_boxes(b, self.w) if flips[j] else b)
            labels.append(cls)
        out = model(_normalise(x, self.meta["mean"], self.meta["std"]).contiguous(memory_format=torch.channels_last))
        s = model.stride
        tgt = make_targets(boxes, labels, len(self.meta["classes"]), (self.h // s, self.w // s), s, self.device)
        return cn_loss(out, tgt)


def seg_class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Cross-entropy class weights ``sqrt(median frequency / frequency)`` clipped to [0.5, 5].

    Mild re-weighting so that thin, rare classes (poles, traffic lights) are learnt; classes
    that never occur get weight 1.
    """
    counts = np.bincount(labels.reshape(-1).astype(np.int64), minlength=256)[:num_classes].astype(np.float64)
    present = counts > 0
    w = np.ones(num_classes, np.float32)
    if present.any():
        freq = counts[present] / counts[present].sum()
        w[present] = np.clip(np.sqrt(np.median(freq) / freq), 0.5, 5.0)
    return w


def train_evaluator(task: str, steps: int | None = None, seed: int = 0, device: str = "cpu", batch_size: int | None = None,
                    lr: float | None = None, train_size: int = 10000, val_size: int = 500, out: str | Path | None = None,
                    data_cache: str | Path | None = None, workers: int = 0, time_budget: float | None = None,
                    log: Callable[[str], None] = print, arch: str | None = None, depth_loss: str | None = None) -> dict[str, Any]:
    """Train the embedded ``task`` evaluator, save it under ``out`` and validate it.

    Args:
        arch: architecture (:data:`~semcom_bench.evaluators.embedded.ARCHES`; depth: ``drn`` or
            ``dpt``); default: the task's shipped one.
        depth_loss: ``inverse-l1`` or ``log-l1`` (depth only); default per architecture
            (:data:`DEPTH_LOSS_DEFAULT`).
        time_budget: seconds; when given, a timing run (10 warm-up + 20 timed steps) first lowers
            ``steps`` (to a multiple of 100) so that training fits, then training restarts from the seed. The
            provenance records the steps actually used, so the recipe stays exact.

    Returns:
        the provenance dict (also written as JSON beside the weights).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    arch = arch or embedded.DEFAULT_ARCH[task]
    if arch not in embedded.ARCHES[task]:
        raise ValueError(f"unknown {task} architecture {arch!r}; use one of {', '.join(embedded.ARCHES[task])}")
    if depth_loss is not None and task != "depth":
        raise ValueError("--depth-loss applies to --task depth only")
    depth_loss = depth_loss or DEPTH_LOSS_DEFAULT.get(arch)
    if task == "depth" and depth_loss not in DEPTH_LOSSES:
        raise ValueError(f"unknown depth loss {depth_loss!r}; use one of {', '.join(DEPTH_LOSSES)}")
    cfg = {**DEFAULTS[task], **ARCH_DEFAULTS.get((task, arch), {})}
    steps = int(cfg["steps"] if steps is None else steps)
    batch_size = int(batch_size or cfg["batch_size"])
    lr = float(lr or cfg["lr"])
    out_dir = Path(out) if out else ASSET_DIR
    t_start = time.time()
    log(f"[{task}] {arch}: rendering {train_size} training scenes")
    data = render("train", train_size, 0, workers, data_cache)
    log(f"[{task}] rendered in {time.time() - t_start:.1f} s")
    meta = embedded.default_meta(task, arch)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    job = _Task(task, meta, data, device, depth_loss or "inverse-l1")

    def run(n_steps: int, budget_probe: bool = False) -> tuple[torch.nn.Module, float, list[float]]:
        torch.manual_seed(seed)
        model = embedded.build_network(task, meta).to(device)
        if meta["arch"] != "dpt":
            model = model.to(memory_format=torch.channels_last)
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(n_steps, 1), pct_start=0.1)
        gen = torch.Generator(device=device).manual_seed(seed)
        amp = device.startswith("cuda")
        losses: list[float] = []
        t0 = time.time()
        for step in range(n_steps):
            if budget_probe and step == PROBE_WARMUP:  # time the steps after the warm-up only
                if amp:
                    torch.cuda.synchronize()
                t0 = time.time()
            idx = torch.randint(0, train_size, (batch_size,), generator=gen, device=device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                loss = job.loss(model, idx, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()) if (step % 50 == 0 or step == n_steps - 1) else losses[-1] if losses else 0.0)
            if not budget_probe and (step % 250 == 0 or step == n_steps - 1):
                log(f"[{task}] step {step + 1}/{n_steps} loss {losses[-1]:.4f} ({time.time() - t0:.0f} s)")
        if amp:
            torch.cuda.synchronize()
        return model, time.time() - t0, losses

    if time_budget:
        probe = 20
        _, dt, _ = run(PROBE_WARMUP + probe, budget_probe=True)
        per_step = dt / probe
        fit = int(max(100, (time_budget / per_step) // 100 * 100))
        log(f"[{task}] {per_step * 1000:.1f} ms/step: {fit} steps fit in {time_budget:.0f} s")
        steps = min(steps, fit)
    model, train_s, losses = run(steps)
    path = embedded.save(out_dir / embedded.ARCH_FILES[(task, arch)], model.float().eval(), meta)
    log(f"[{task}] saved {path} ({path.stat().st_size / 1e6:.2f} MB) after {train_s:.0f} s")
    run_info = run_provenance(device, *(("transformers",) if meta["arch"] == "dpt" else ()))
    prov: dict[str, Any] = {
        **file_record(path),
        "task": task,
        "arch": meta["arch"],
        "config": meta["config"],
        "classes": meta["classes"],
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "recipe": (f"semcom-bench train evaluator --task {task}"
                   + (f" --arch {arch} --depth-loss {depth_loss}" if task == "depth" else "")
                   + f" --steps {steps} --seed {seed} --batch-size {batch_size} "
                   f"--lr {lr:g} --train-size {train_size} --val-size {val_size} --device {device.split(':')[0]}"),
        "seed": seed, "steps": steps, "batch_size": batch_size, "lr": lr, "optimizer": "AdamW (wd 1e-4), one-cycle LR, grad-norm clip 5",
        "loss": {"seg": "cross-entropy, class weights sqrt(median freq / freq) clipped to [0.5, 5]",
                 "det": "CenterNet focal + 0.1 L1 size + L1 offset",
                 "depth": (f"L1 on log({embedded.DISPARITY_SCALE:g} m / depth) at 64x128" if depth_loss == "log-l1"
                           else f"L1 on {embedded.DISPARITY_SCALE:g} m / depth at 64x128")}[task],
        "augmentation": "h-flip, gain U(0.85,1.15), Gaussian noise sigma U(0,6/255) on half the images, 8-bit rounding",
        "data": {"dataset": "synthetic-streets", "split": "train", "size": train_size, "seed": 0, "resolution": [64, 128]},
        "device": device, "device_name": run_info["device_name"],
        "train_seconds": round(train_s, 1),
        "final_loss": losses[-1] if losses else None,
        "git_commit": run_info["git_commit"],
        "date": run_info["date"],
        **run_info["versions"],
    }
    log(f"[{task}] validating on {val_size} val scenes")
    val_cache = Path(str(data_cache)).with_name(Path(str(data_cache)).stem + "-val.npz") if data_cache else None
    prov["validation"] = validate(task, path, val_size, device, workers, render("val", val_size, 0, workers, val_cache))
    prov["total_seconds"] = round(time.time() - t_start, 1)
    write_provenance(path, prov)
    log(f"[{task}] validation {json.dumps(prov['validation'])}")
    return prov


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _num(v: float) -> float | None:
    return round(float(v), 4) if np.isfinite(v) else None


def noise_images(n: int, h: int = 64, w: int = 128, seed: int = 12345) -> np.ndarray:
    """Pure-noise uint8 images (uniform per pixel and channel)."""
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def score_task(task: str, evaluator: Any, images: Sequence[np.ndarray], data: dict[str, Any], batch: int = 32) -> dict[str, Any]:
    """Validation numbers of ``evaluator`` on ``images`` against the ground truth in ``data``."""
    from semcom_bench.metrics import semantic as S

    n = len(images)
    if task == "seg":
        from semcom_bench.data.cityscapes_labels import TRAINID_NAMES

        c = len(TRAINID_NAMES)
        total = np.zeros((c, c + 1), np.int64)
        per_image = []
        for a in range(0, n, batch):
            preds = evaluator.predict(list(images[a:a + batch]))
            for j, p in enumerate(preds):
                cm = S.confusion(data["labels"][a + j], p, c)
                total += cm
                per_image.append(S.mean_iou(cm))
        iou = S.class_iou(total)
        present = [i for i in range(c) if total[i].sum() > 0]
        return {"miou_set": round(float(np.nanmean(iou[present])), 4), "miou_image_mean": round(float(np.mean(per_image)), 4),
                "classes_in_gt": len(present),
                "iou": {TRAINID_NAMES[i]: round(float(iou[i]), 4) for i in present}}
    if task == "det":
        preds, targets = [], []
        for a in range(0, n, batch):
            for j, d in enumerate(evaluator.detect(list(images[a:a + batch]))):
                b, lab = boxes_of(data, a + j)
                cls = thing_index(lab)
                targets.append({"boxes": b[cls >= 0], "labels": cls[cls >= 0]})
                preds.append({"boxes": d.boxes, "scores": d.scores, "labels": d.labels})
        from semcom_bench.evaluators.spaces import CITYSCAPES_THINGS

        allc = S.mean_average_precision(preds, targets)
        ap50 = S.mean_average_precision(preds, targets, class_metrics=True, iou_thresholds=[0.5])["per_class"]
        car, person = CITYSCAPES_THINGS.index("car"), CITYSCAPES_THINGS.index("person")
        return {"map": _num(allc["map"]), "map50": _num(allc["map50"]),
                "ap50": {CITYSCAPES_THINGS[k]: round(v, 4) for k, v in sorted(ap50.items()) if np.isfinite(v)},
                "map50_car_person": round(float(np.mean([ap50.get(car, 0.0), ap50.get(person, 0.0)])), 4)}
    if task == "depth":
        scores = []
        for a in range(0, n, batch):
            for j, p in enumerate(evaluator.predict(list(images[a:a + batch]))):
                gt = data["depth"][a + j].astype(np.float64)
                mask = gt < 199.0  # the sky (200 m) is left out
                scores.append(S.depth_scores(p, gt, mask, evaluator.kind))
        return {k: round(float(np.nanmean([s[k] for s in scores])), 4) for k in ("absrel", "rmse", "delta1")}
    raise ValueError(task)


def validate(task: str, path: str | Path, val_size: int = 500, device: str = "cpu", workers: int = 0,
             data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Clean and pure-noise validation of the evaluator file ``path`` on the val split."""
    data = data if data is not None else render("val", val_size, 0, workers)
    ev = embedded.load(path, device)
    n = len(data["images"])
    out: dict[str, Any] = {"split": "val", "size": n}
    try:
        out["clean"] = score_task(task, ev, list(data["images"]), data)
        out["noise"] = score_task(task, ev, list(noise_images(n, *data["images"].shape[1:3])), data)
    except ImportError as exc:  # e.g. no COCO evaluation back end on this machine
        out["error"] = str(exc)
    return out


def revalidate(task: str, arch: str | None = None, out: str | Path | None = None, val_size: int = 500, device: str = "cpu",
               workers: int = 0) -> dict[str, Any]:
    """Validate the saved evaluator of ``task``/``arch`` in ``out`` again and update the validation in its provenance.

    Args:
        arch: default: the task's shipped architecture.
        out: the folder of the weights (default: the package's ``assets/evaluators``).

    Returns:
        the new validation numbers.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    arch = arch or embedded.DEFAULT_ARCH[task]
    if arch not in embedded.ARCHES[task]:
        raise ValueError(f"unknown {task} architecture {arch!r}; use one of {', '.join(embedded.ARCHES[task])}")
    path = Path(out or ASSET_DIR) / embedded.ARCH_FILES[(task, arch)]
    prov_path = provenance_path(path)
    prov = json.loads(prov_path.read_text()) if prov_path.is_file() else {}
    prov["validation"] = validate(task, path, val_size, device, workers)
    write_provenance(path, prov)
    return prov["validation"]
