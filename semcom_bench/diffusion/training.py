"""Training of the semantic diffusion model: the ``gesco`` (noisy maps) and ``sdm`` (clean maps) recipes.

One step: draw a batch of training scenes, build their one-hot + instance-edge maps at the
image resolution, corrupt them by the training-noise option (:mod:`.noise`), take them to the
model grid (nearest), replace them by the null label with probability ``drop_rate``
(classifier-free guidance), and minimise the hybrid loss of :mod:`.gaussian` on the image
(box-filtered to the model grid, [-1, 1]) at a uniform random timestep. AdamW, constant
learning rate, an EMA of the weights, bf16 autocast on a GPU (fp32 on the CPU).

Checkpoints follow the official guided-diffusion layout in the output folder:
``model_NNNNNN.pt`` (weights), ``ema_<decay>_NNNNNN.pt`` (EMA weights) and ``opt_NNNNNN.pt``
(optimizer, random state and step, for ``resume``; :mod:`semcom_bench.training.checkpoints`), plus
``config.json``. ``export`` writes the fp16 EMA weights and a JSON (network, diffusion and
model-grid settings, the recipe and its provenance, :mod:`semcom_bench.training.provenance`) that
:mod:`semcom_bench.methods.semantic.gesco` loads. The training scenes are rendered once and cached by
:mod:`semcom_bench.training.scenes`. :func:`train_recipe` is ``semcom-bench train gesco|sdm``.

All randomness (batches, PSNRs, label drop, timesteps, noise) comes from one generator seeded
with ``seed`` on the training device, so a run is reproducible on the same device, and a run
stopped at step k by ``time_limit`` equals a run with ``steps=k`` (nothing depends on the total).
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from semcom_bench.components import resolve_device
from semcom_bench.diffusion.gaussian import LOSSES, GaussianDiffusion
from semcom_bench.diffusion.noise import NOISE_MODES, POWERS, clean_maps, drop_labels, noisy_training_maps
from semcom_bench.errors import UserError
from semcom_bench.hashing import hash_file
from semcom_bench.nets.semantic_unet import SemanticUNet, count_parameters, embedded_config
from semcom_bench.semantics.fds import fds
from semcom_bench.training import (create_dataset, default_data_cache, file_record, float16_state, latest_ema,
                                   latest_step, load_checkpoint, render_training_set, reproduce_command, restore_generator,
                                   run_provenance, save_checkpoint, write_provenance)
from semcom_bench.weight_codecs import FP16_XOR, XZ_SUFFIX, tensors_sha256, write_xor

#: recipe name -> the settings that differ between the two shipped networks
RECIPES: dict[str, dict[str, Any]] = {
    "gesco": {"noise": "channel", "power": "peak"},
    "sdm": {"noise": "none"},
}
ASSETS = Path(__file__).resolve().parent.parent / "assets"


@dataclass
class TrainConfig:
    """Everything that determines a training run.

    Attributes:
        recipe: ``gesco`` or ``sdm`` (name of the result).
        noise: training-noise option (``channel``, ``gesco-code``, ``none``).
        power: sender power normalisation used by the ``channel`` noise.
        fds: pass the (noisy) training maps through FDS, as the test-time receiver does (not in
            the paper nor the official code, which train on raw noisy maps; off by default).
        init: start from these weights instead of a random initialisation (``gesco``,
            ``gesco-fds`` or ``sdm`` for the shipped networks, or a path to a file written by ``--export`` or the
            training folder); the EMA starts from them too. A fine-tuning run.
        steps: optimisation steps.
        batch_size: images per step.
        lr, weight_decay: AdamW settings (constant learning rate).
        ema_decay: EMA decay of the weights (0.9999 in the paper; smaller for short runs).
        drop_rate: probability of the null label (classifier-free guidance training).
        loss: ``hybrid`` (L_simple + λ L_vlb, the paper) or ``simple`` (the GESCO code).
        lambda_vlb: λ.
        diffusion_steps, schedule: T and the β schedule.
        seed: seed of the initialisation and of every random draw.
        model_downsample: image size / model grid size (2: 64x128 scenes, 32x64 model grid).
        dataset: data set name and parameters of the training scenes.
        net: overrides of :func:`semcom_bench.nets.semantic_unet.embedded_config`.
        amp: bf16 autocast on a GPU.
        checkpoint_every, log_every: in steps.
        time_limit: seconds; stop early (saving) when reached.
        workers: processes that render the training scenes (0: one per core).
    """

    recipe: str = "gesco"
    noise: str = "channel"
    power: str = "average"
    fds: bool = False
    init: str | None = None
    steps: int = 6000
    batch_size: int = 64
    lr: float = 2e-4
    weight_decay: float = 0.0
    ema_decay: float = 0.999
    drop_rate: float = 0.2
    loss: str = "hybrid"
    lambda_vlb: float = 1e-3
    diffusion_steps: int = 1000
    schedule: str = "linear"
    seed: int = 0
    model_downsample: int = 2
    dataset: dict[str, Any] = field(default_factory=lambda: {"name": "synthetic-streets", "split": "train", "size": 10000,
                                                              "height": 64, "width": 128, "seed": 0})
    net: dict[str, Any] = field(default_factory=dict)
    amp: bool = True
    checkpoint_every: int = 1000
    log_every: int = 100
    time_limit: float | None = None
    workers: int = 0

    def check(self) -> None:
        if self.noise not in NOISE_MODES:
            raise UserError(f"unknown training noise {self.noise!r}; use one of {', '.join(NOISE_MODES)}")
        if self.power not in POWERS:
            raise UserError(f"unknown power normalisation {self.power!r}; use one of {', '.join(POWERS)}")
        if self.loss not in LOSSES:
            raise UserError(f"unknown loss {self.loss!r}; use one of {', '.join(LOSSES)}")
        for name in ("steps", "batch_size", "model_downsample", "diffusion_steps"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise UserError(f"--drop-rate must be in [0, 1), got {self.drop_rate}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise UserError(f"--ema must be in [0, 1), got {self.ema_decay}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def recipe_config(recipe: str, **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of a named recipe with ``overrides`` (None values ignored)."""
    return configure(TrainConfig, RECIPES, recipe, overrides)


def configure(cls: type, recipes: dict[str, dict[str, Any]], recipe: str, overrides: dict[str, Any]) -> Any:
    """``cls(recipe=recipe, **recipes[recipe])`` with ``overrides`` set (None values ignored), checked."""
    if recipe not in recipes:
        raise UserError(f"unknown recipe {recipe!r}; use one of {', '.join(recipes)}")
    cfg = cls(recipe=recipe, **recipes[recipe])
    for k, v in overrides.items():
        if v is not None:
            setattr(cfg, k, v)
    cfg.check()
    return cfg


# --------------------------------------------------------------------------------------------
# training scenes
# --------------------------------------------------------------------------------------------

#: the arrays of the training scenes the trainer uses (:func:`semcom_bench.training.render_training_set`)
SCENE_FIELDS = ("images", "labels", "edges")


def training_data_spec(dataset: str) -> dict[str, Any]:
    """The render spec of the train split of ``dataset`` (``name(k=v, ...)``).

    synthetic-streets gets its training defaults (10000 scenes, 64x128, seed 0) where not given.
    """
    from semcom_bench.specs import parse_spec

    spec = parse_spec(dataset)
    data = {"name": spec.name, "split": "train", **spec.params}
    if spec.name == "synthetic-streets":
        data = {"size": 10000, "height": 64, "width": 128, "seed": 0, **data}
    return data


# --------------------------------------------------------------------------------------------
# the trainer
# --------------------------------------------------------------------------------------------


def init_weights_path(init: str) -> Path:
    """The weights file of ``--init``: a shipped network (``gesco``, ``gesco-fds``, ``sdm``) or a path."""
    from semcom_bench.methods.semantic.gesco import EMBEDDED

    if init in EMBEDDED:
        from semcom_bench.weights import resolve

        return resolve(EMBEDDED[init].name)
    path = Path(init)
    if path.is_dir():
        ema = latest_ema(path)
        if ema is None:
            raise UserError(f"--init {init}: no ema_*.pt checkpoint in that folder")
        return ema
    if not path.is_file():
        raise UserError(f"--init {init}: no such file; give {', '.join(EMBEDDED)}, a weights file or a training folder")
    return path


class DiffusionTrainer:
    """Trains one network by a :class:`TrainConfig`; ``run()`` returns a summary dict.

    Args:
        cfg: the run's configuration.
        out: folder of checkpoints and ``config.json``.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        resume: continue from the latest checkpoint in ``out``.
        data: pre-rendered training scenes (default: rendered / read from the cache).
        data_cache: .npz of the rendered scenes (default: under the project cache).
        log: where progress lines go.
    """

    def __init__(self, cfg: TrainConfig, out: str | Path, device: str = "cpu", resume: bool = False,
                 data: dict[str, np.ndarray] | None = None, data_cache: str | Path | None = None,
                 log: Callable[[str], None] = print):
        cfg.check()
        init_path = init_weights_path(cfg.init) if cfg.init is not None else None  # a bad --init fails before rendering
        self.cfg, self.out, self.log = cfg, Path(out), log
        self.device = resolve_device(device)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        if data is None:
            data = render_training_set(cfg.dataset, cfg.workers, data_cache or default_data_cache(cfg.dataset), log,
                                       fields=SCENE_FIELDS)
        dev = torch.device(self.device)
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.images = torch.from_numpy(data["images"]).to(dev)
        self.labels = torch.from_numpy(data["labels"]).to(dev)
        self.edges = torch.from_numpy(data["edges"]).to(dev) if bool(data["has_edges"]) else None
        self.num_classes = int(create_dataset(cfg.dataset).num_classes)
        h, w = self.images.shape[1:3]
        f = cfg.model_downsample
        if h % f or w % f:
            raise UserError(f"model_downsample {f} does not divide the scene size {h}x{w}")
        self.model_size = (h // f, w // f)
        self.net_config = embedded_config(num_classes=self.num_classes, **{**cfg.net, "instance_edges": True})
        self.model = SemanticUNet(self.net_config).to(dev)
        if self.model_size[0] % self.model.downsampling or self.model_size[1] % self.model.downsampling:
            raise UserError(f"model grid {self.model_size} is not divisible by {self.model.downsampling}")
        self.init_origin = self._load_init(cfg.init, init_path) if init_path is not None else None
        self.ema = [p.detach().clone() for p in self.model.parameters()]
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.diffusion = GaussianDiffusion.from_schedule(cfg.diffusion_steps, cfg.schedule)
        self.gen = torch.Generator(device=dev).manual_seed(cfg.seed)
        self.amp = cfg.amp and dev.type == "cuda"
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.seconds = 0.0
        if resume:
            self._resume()
        else:
            self._write_config()

    def _load_init(self, init: str, path: Path) -> dict[str, str]:
        """Copy the weights of ``--init init`` (the file ``path``) into the model; its provenance."""
        from semcom_bench.methods.semantic.gesco import network_state
        from semcom_bench.nets.semantic_unet import load_weights

        try:
            state = network_state(path)
        except ValueError as exc:
            raise UserError(f"--init {init}: {exc}") from None
        try:
            load_weights(self.model, state)
        except ValueError as exc:
            raise UserError(f"--init {init}: {path} does not fit this recipe's network ({exc})") from None
        origin = {"from": init, "file": str(path), "sha256": hash_file(path)}
        self.log(f"initialised from {path} (sha256 {origin['sha256'][:16]}…)")
        return origin

    # --- files -------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {
            "net": self.net_config.to_dict(),
            "diffusion": {"steps": self.cfg.diffusion_steps, "schedule": self.cfg.schedule, "learn_sigma": True,
                          "mean_type": "epsilon", "var_type": "learned_range"},
            "model_size": list(self.model_size),
            "image_size": [int(self.images.shape[1]), int(self.images.shape[2])],
            "num_classes": self.num_classes,
            "train": self.cfg.to_dict(),
        }

    def _write_config(self) -> None:
        (self.out / "config.json").write_text(json.dumps(self.describe(), indent=2) + "\n")

    def ema_state_dict(self) -> dict[str, torch.Tensor]:
        names = [n for n, _ in self.model.named_parameters()]
        state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        for n, p in zip(names, self.ema):
            state[n] = p.detach().clone()
        return state

    def save(self) -> Path:
        """Write the checkpoint of the current step; the path of its EMA weights."""
        state = {"optimizer": self.opt.state_dict(), "step": self.step, "generator": self.gen.get_state(),
                 "generator_device": str(self.gen.device), "history": self.history, "seconds": self.seconds,
                 "config": self.cfg.to_dict()}
        files = save_checkpoint(self.out, self.step, self.cfg.ema_decay, self.model.state_dict(), self.ema_state_dict(), state)
        return files["ema"]

    def _resume(self) -> None:
        step = latest_step(self.out)
        if step is None:
            self.log(f"resume: no checkpoint in {self.out}; starting from step 0")
            self._write_config()
            return
        cfg_path = self.out / "config.json"
        if cfg_path.is_file():
            try:
                old = json.loads(cfg_path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise UserError(f"cannot resume from {self.out}: {cfg_path} cannot be read ({exc}); restore it or "
                                "start in another --out") from None
            if not isinstance(old, dict) or old.get("net") != self.net_config.to_dict():
                raise UserError(f"cannot resume from {self.out}: its network differs from this recipe's")
        model, ema, opt = load_checkpoint(self.out, step, self.cfg.ema_decay, self.device)
        try:
            self.model.load_state_dict(model)
            ema = ema if ema is not None else self.model.state_dict()
            self.ema = [ema[n].detach().clone().to(self.device) for n, _ in self.model.named_parameters()]
            self.opt.load_state_dict(opt["optimizer"])
            saved_gen = opt["generator"]
        except (KeyError, ValueError, RuntimeError, TypeError, AttributeError) as exc:
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise UserError(f"cannot resume from step {step} in {self.out}: its checkpoint does not fit this recipe "
                            f"({detail}); start in another --out") from None
        if not restore_generator(self.gen, saved_gen, opt.get("generator_device", "cpu"), self.cfg.seed + step):
            self.log(f"resume: generator state saved on {opt.get('generator_device')}, reseeded with seed + step")
        self.step = int(opt["step"])
        self.history = list(opt.get("history", []))
        self.seconds = float(opt.get("seconds", 0.0))
        self.log(f"resumed from step {self.step} in {self.out}")

    # --- one step ----------------------------------------------------------------------------

    def batch(self, power: str | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x0 (B, 3, h, w) in [-1, 1], maps (B, C+1, h, w), training-noise level (B,)) on the model grid.

        ``power``: the channel noise's power normalisation (default the config's).
        """
        cfg, g = self.cfg, self.gen
        idx = torch.randint(self.images.shape[0], (cfg.batch_size,), generator=g, device=self.images.device)
        x = self.images[idx].permute(0, 3, 1, 2).float() / 127.5 - 1.0
        f = cfg.model_downsample
        x0 = F.avg_pool2d(x, f) if f > 1 else x
        edges = self.edges[idx] if self.edges is not None else torch.zeros_like(self.labels[idx])
        maps, sent = clean_maps(self.labels[idx], edges, self.num_classes)
        if self.edges is None:
            sent[:, -1] = False
        maps, level = noisy_training_maps(maps, sent, cfg.noise, g, power or cfg.power)
        if cfg.fds:  # as decode_semantics(fds=True): the filter on the full-size maps, absent ones stay 0
            maps = fds(maps)
        maps = maps[..., ::f, ::f]
        maps = drop_labels(maps, cfg.drop_rate, g)
        return x0, maps, level

    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        self.model.train()
        x0, maps, _ = self.batch()
        t = torch.randint(self.diffusion.num_timesteps, (x0.shape[0],), generator=self.gen, device=x0.device)
        noise = torch.randn(x0.shape, generator=self.gen, device=x0.device)

        def model_fn(x: torch.Tensor, tt: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.amp):
                return self.model(x, tt, y)

        losses = self.diffusion.training_losses(model_fn, x0, t, maps, noise, cfg.loss, cfg.lambda_vlb)
        loss = losses["loss"].mean()
        self.optimise(loss)
        return {"loss": loss.detach(), "mse": losses["mse"].detach().mean(), "vb": losses["vb"].detach().mean()}  # type: ignore[dict-item]

    def optimise(self, loss: torch.Tensor) -> None:
        """One optimiser step on ``loss``, then the EMA of the weights; counts the step."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            params = [p.detach() for p in self.model.parameters()]
            torch._foreach_mul_(self.ema, self.cfg.ema_decay)
            torch._foreach_add_(self.ema, params, alpha=1.0 - self.cfg.ema_decay)
        self.step += 1

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        self.log(f"{cfg.recipe}: {count_parameters(self.model) / 1e6:.2f}M parameters, model grid {self.model_size}, "
                 f"device {self.device}{' (bf16 autocast)' if self.amp else ''}, noise {cfg.noise}, loss {cfg.loss}, "
                 f"batch {cfg.batch_size}, steps {self.step} -> {cfg.steps}")
        start = time.perf_counter()
        start_step = self.step
        acc: dict[str, torch.Tensor] = {}
        n_acc = 0
        stopped_early = False
        while self.step < cfg.steps:
            out = self.train_step()
            for k, v in out.items():
                acc[k] = acc.get(k, 0.0) + v  # type: ignore[operator]
            n_acc += 1
            elapsed = time.perf_counter() - start
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                row = {k: float(v) / n_acc for k, v in acc.items()}
                row["step"] = self.step
                self.history.append(row)
                acc, n_acc = {}, 0
                rate = (self.step - start_step) / max(elapsed, 1e-9)
                eta = (cfg.steps - self.step) / max(rate, 1e-9)
                values = " ".join(f"{k} {float(v):.4f}" for k, v in row.items() if k != "step")
                self.log(f"{cfg.recipe} step {self.step}/{cfg.steps} {values} | {rate:.1f} it/s, ETA {eta / 60:.1f} min")
            if self.step % cfg.checkpoint_every == 0:
                self.seconds_update(start)
                self.save()
            if cfg.time_limit is not None and elapsed >= cfg.time_limit:
                stopped_early = self.step < cfg.steps
                self.log(f"{cfg.recipe}: time limit {cfg.time_limit:.0f} s reached at step {self.step}")
                break
        self.seconds_update(start)
        last = self.save()
        return {"steps": self.step, "seconds": self.seconds, "checkpoint": str(last), "stopped_early": stopped_early,
                "final": self.history[-1] if self.history else {}}

    def seconds_update(self, start: float) -> None:
        now = time.perf_counter()
        self.seconds += now - getattr(self, "_last_mark", start)
        self._last_mark = now

    # --- export ------------------------------------------------------------------------------

    def export_payload(self) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
        """(what the exported file holds, its ``weights`` fields, other JSON fields): the fp16 EMA weights.

        A fine-tune of a shipped network is stored as its lossless difference to it
        (:data:`~semcom_bench.weight_codecs.FP16_XOR`, written by :meth:`export`) with the base named.
        """
        weights = {"dtype": "float16", "layout": "guided-diffusion UNetModel state dict (EMA)",
                   "parameters": count_parameters(self.model)}
        state = float16_state(self.ema_state_dict())
        if not self.fine_tunes_shipped():
            return state, weights, {}
        base = {"init": self.init_origin["from"], "sha256": self.init_origin["sha256"]}  # type: ignore[index]
        return state, {**weights, "encoding": FP16_XOR, "tensors_sha256": tensors_sha256(state)}, {"base": base}

    def fine_tunes_shipped(self) -> bool:
        """Whether this run started from a shipped network (``--init gesco`` etc.)."""
        from semcom_bench.methods.semantic.gesco import EMBEDDED

        return self.init_origin is not None and self.init_origin["from"] in EMBEDDED

    def export(self, folder: str | Path, name: str, command: str | None = None) -> dict[str, Any]:
        """Write ``<folder>/<name>.pt`` (:meth:`export_payload`, official key layout; ``<name>.pt.xz`` for a
        fine-tune of a shipped network) and ``<name>.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state, weights, extra = self.export_payload()
        if weights.get("encoding") == FP16_XOR:  # over the float16 tensors of the shipped network it started from
            from semcom_bench.methods.semantic.gesco import network_state

            path = folder / f"{name}.pt{XZ_SUFFIX}"
            write_xor(path, state, float16_state(network_state(Path(self.init_origin["file"]))))  # type: ignore[index]
        else:
            path = folder / f"{name}.pt"
            torch.save(state, path)
        info = {**self.describe(), **extra}
        out = file_record(path)
        info["weights"] = {"file": out["file"], **weights, "sha256": out["sha256"], "bytes": out["bytes"]}
        command = command or " ".join(shlex.quote(a) for a in ["semcom-bench", *sys.argv[1:]])
        run = run_provenance(self.device)
        info["provenance"] = {
            "command": command,
            "reproduce": reproduce_command(command, self.step),
            "recipe": self.cfg.recipe, "seed": self.cfg.seed, "steps": self.step, "batch_size": self.cfg.batch_size,
            "data": self.cfg.dataset, "device": run["device_name"], "wall_time_s": round(self.seconds, 1),
            "git_commit": run["git_commit"], **run["versions"], "date": run["date"],
            "final_losses": self.history[-1] if self.history else {},
        }
        if self.init_origin is not None:
            info["provenance"]["init"] = self.init_origin
        write_provenance(path, info)
        return info


def train_recipe(recipe: str, *, dataset: str = "synthetic-streets", out: str | Path | None = None, device: str = "auto",
                 resume: bool = False, export: str | Path | None = None, data_cache: str | Path | None = None,
                 threads: int | None = None, command: str | None = None, log: Callable[[str], None] = print,
                 **overrides: Any) -> dict[str, Any]:
    """Run a recipe as ``semcom-bench train gesco|sdm|gesco-guided|sdm-guided`` does: train, then optionally export.

    Args:
        recipe: ``gesco`` or ``sdm``, or a guidance-distillation recipe
            (:data:`semcom_bench.diffusion.distill.DISTILL_RECIPES`).
        dataset: the training data set, ``name(k=v, ...)`` (its train split; :func:`training_data_spec`).
        out: checkpoint folder (default ``semcom-train/<recipe>``).
        device, resume, data_cache: as for :class:`DiffusionTrainer`.
        export: a folder for the EMA weights and their JSON, or ``assets`` (the package's
            ``assets/<recipe>`` or ``assets/<recipe>-fds``, synthetic-streets only).
        threads: torch CPU threads.
        command: the command line recorded in the exported provenance (default: this process's).
        overrides: :class:`TrainConfig` (or ``DistillConfig``) fields (None: the recipe's value).

    Returns:
        the training summary (:meth:`DiffusionTrainer.run`), with ``export`` (the JSON written) when exported.
    """
    if threads:
        torch.set_num_threads(int(threads))
    data = training_data_spec(dataset)
    if export == "assets" and data["name"] != "synthetic-streets":
        raise UserError("--export assets is for the embedded synthetic-streets networks; give a folder instead")
    from semcom_bench.diffusion.distill import DISTILL_RECIPES, GuidanceDistiller, distill_config

    distilled = recipe in DISTILL_RECIPES
    cfg = (distill_config if distilled else recipe_config)(recipe, dataset=data, **overrides)
    trainer = (GuidanceDistiller if distilled else DiffusionTrainer)(
        cfg, Path(out or Path("semcom-train") / recipe), device=device, resume=resume, data_cache=data_cache, log=log)
    summary = trainer.run()
    log(f"{recipe}: {summary['steps']} steps in {summary['seconds']:.0f} s; last checkpoint {summary['checkpoint']}")
    if export:
        key = f"{recipe}-fds" if cfg.fds and not distilled else recipe  # the shipped network this recipe makes
        folder = ASSETS / key if export == "assets" else Path(export)
        info = trainer.export(folder, f"{key}-{data['name']}", command=command)
        log(f"exported {folder / info['weights']['file']} (sha256 {info['weights']['sha256'][:16]}…)")
        summary["export"] = info
    return summary


__all__ = ["TrainConfig", "RECIPES", "recipe_config", "DiffusionTrainer", "train_recipe", "training_data_spec", "init_weights_path"]
