"""Guidance distillation: the guided output of a semantic diffusion network in one pass per step.

Classifier-free guidance runs the network twice per sampling step (with the maps and with the
null label, :class:`semcom_bench.diffusion.sampling.GuidedModel`). A student network learns the
guided output directly, at the fixed guidance scale ``s`` of the receiver (Meng et al., "On
distillation of guided diffusion models", CVPR 2023, their first stage, without the
``s``-embedding since the receivers use one ``s``):

    L = ‖ f_student(x_t, t, y) − [ε(x_t | 0) + s (ε(x_t | y) − ε(x_t | 0)),  v(x_t | y)] ‖²

averaged over the 3 ε and the 3 learned-variance channels ``v`` (taken from the conditional
pass, as the guided sampler does). ``x_t = q(x_t | x_0)`` of training scenes at a uniform
timestep, and ``y`` the maps as the receiver gets them: through the channel at the training
PSNRs (:mod:`.noise`, ``channel``; peak and average power on alternate steps, so that both
conventions are covered), through FDS where the receiver applies it, never the null label.

The student starts as the teacher and only its SPADE modulation layers train (the ``in_norm``
and ``out_norm`` of every decoder and middle ResBlock: 0.71M of 2.6M parameters): guidance
strengthens the effect of the maps, and these layers are the only way the maps enter the
network. Freezing the encoder also skips its backward pass. The export holds only what changed:
each trained tensor's difference to the teacher in int8 with one float32 scale per output
channel (:func:`encode_delta`; 0.7 MB, the rounding error is about 0.6 % of the difference and
0.1 % of the weights' range), and names the teacher file (with its sha256) it applies to;
:func:`semcom_bench.methods.semantic.gesco.load_network` rebuilds the student from both
(:func:`decode_delta`).

Recipes (:data:`DISTILL_RECIPES`), ``semcom-bench train gesco-guided|sdm-guided``
(:func:`semcom_bench.diffusion.training.train_recipe`); the samplers
of ``gesco``/``sdm`` use the result as ``sampler=distilled``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from semcom_bench.diffusion.noise import POWERS
from semcom_bench.diffusion.sampling import GuidedModel
from semcom_bench.diffusion.training import DiffusionTrainer, TrainConfig, configure
from semcom_bench.errors import UserError
from semcom_bench.weight_codecs import INT8_DELTA, dequantise, quantise

#: recipe -> the teacher (a shipped network) and whether its receiver applies FDS
DISTILL_RECIPES: dict[str, dict[str, Any]] = {
    "gesco-guided": {"init": "gesco", "fds": True},
    "sdm-guided": {"init": "sdm", "fds": False},
}
#: the guidance scale distilled (the ``guidance`` default of gesco/sdm, the official Cityscapes ``--s``)
GUIDANCE = 2.0
#: name parts of the parameters that train: the SPADE modulation of the ResBlocks
TRAINABLE = ("in_norm.", "out_norm.")


#: how an export stores its tensors (``weights.encoding`` of its JSON)
DELTA_ENCODING = INT8_DELTA


def encode_delta(student: dict[str, torch.Tensor], base: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The trained tensors as int8 differences to the base's with a float32 scale per output channel
    (:func:`semcom_bench.weight_codecs.quantise`)."""
    return quantise(student, base)


def decode_delta(stored: dict[str, torch.Tensor], base: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float32 state dict ``base + int8 · scale`` of an :func:`encode_delta` dict.

    Raises:
        ValueError: a tensor without its scale, or one the base does not have (the first such name).
    """
    return dequantise(stored, base)


def is_trainable(name: str) -> bool:
    """Whether a parameter of the U-Net is part of the distilled student's SPADE layers."""
    return any(part in name for part in TRAINABLE)


@dataclass
class DistillConfig(TrainConfig):
    """A :class:`TrainConfig` with the guidance scale to distil; ``init`` is the teacher.

    Attributes:
        guidance: the guidance scale ``s`` of the target (official convention).
    """

    recipe: str = "gesco-guided"
    guidance: float = GUIDANCE
    noise: str = "channel"
    drop_rate: float = 0.0
    steps: int = 800
    batch_size: int = 16
    lr: float = 1e-4
    ema_decay: float = 0.99

    def check(self) -> None:
        super().check()
        if self.init is None:
            raise UserError("guidance distillation needs a teacher: --init gesco, sdm or a weights file")
        if not self.guidance > 1.0:
            raise UserError(f"--guidance must be above 1 (s <= 1 is one pass already), got {self.guidance}")


def distill_config(recipe: str, **overrides: Any) -> DistillConfig:
    """The :class:`DistillConfig` of a named recipe with ``overrides`` (None values ignored)."""
    return configure(DistillConfig, DISTILL_RECIPES, recipe, overrides)


class GuidanceDistiller(DiffusionTrainer):
    """Trains the one-pass student of a guided teacher (see the module docstring).

    Args: as :class:`DiffusionTrainer`; ``cfg.init`` names the teacher, which also initialises
    the student.
    """

    cfg: DistillConfig

    def __init__(self, cfg: DistillConfig, out: str | Path, **kwargs: Any):
        super().__init__(cfg, out, **kwargs)
        if self.step == 0:  # a resumed run built its optimizer in _resume
            self._trainable_optimizer()

    def _trainable_optimizer(self) -> None:
        """Freeze all but the SPADE layers; AdamW over those."""
        for name, p in self.model.named_parameters():
            p.requires_grad_(is_trainable(name))
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(trainable, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)

    def _load_init(self, init: str, path: Path) -> dict[str, str]:
        """Load the teacher into the student, and keep a frozen copy of it as ``self.teacher``."""
        origin = super()._load_init(init, path)
        self.teacher = type(self.model)(self.net_config).to(self.device)
        self.teacher.load_state_dict(self.model.state_dict())
        self.teacher.eval().requires_grad_(False)
        return origin

    def _resume(self) -> None:
        self._trainable_optimizer()  # the saved optimizer state is that of the trainable tensors
        super()._resume()

    def train_step(self) -> dict[str, float]:
        self.model.train()
        x0, maps, _ = self.batch(power=POWERS[self.step % len(POWERS)])
        t = torch.randint(self.diffusion.num_timesteps, (x0.shape[0],), generator=self.gen, device=x0.device)
        noise = torch.randn(x0.shape, generator=self.gen, device=x0.device)
        xt = self.diffusion.q_sample(x0, t, noise)
        tt = self.diffusion.model_timesteps(t)
        autocast = torch.bfloat16 if self.amp else None
        with torch.no_grad():
            target = GuidedModel(self.teacher, maps, self.cfg.guidance, autocast=autocast)(xt, tt)
        with torch.autocast(xt.device.type, dtype=torch.bfloat16, enabled=self.amp):
            out = self.model(xt, tt, maps).float()
        c = x0.shape[1]
        mse_eps = ((out[:, :c] - target[:, :c]) ** 2).mean()
        mse_var = ((out[:, c:] - target[:, c:]) ** 2).mean()
        loss = (mse_eps + mse_var) / 2
        self.optimise(loss)
        return {"loss": loss.detach(), "mse_eps": mse_eps.detach(), "mse_var": mse_var.detach()}  # type: ignore[dict-item]

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["distilled"] = {"guidance": self.cfg.guidance, "trainable": list(TRAINABLE)}
        return info

    def export_payload(self) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
        """The EMA of the trained SPADE tensors as :func:`encode_delta` of the teacher, and the teacher they apply to."""
        assert self.init_origin is not None  # DistillConfig.check
        state = {k: v for k, v in self.ema_state_dict().items() if is_trainable(k)}
        weights = {"dtype": "int8", "encoding": DELTA_ENCODING,
                   "layout": "the trained tensors only (SPADE modulation), over the base network",
                   "parameters": sum(v.numel() for v in state.values())}
        base = {"init": self.init_origin["from"], "sha256": self.init_origin["sha256"]}
        return encode_delta(state, self.teacher.state_dict()), weights, {"base": base}


__all__ = ["DELTA_ENCODING", "DISTILL_RECIPES", "GUIDANCE", "TRAINABLE", "DistillConfig", "GuidanceDistiller",
           "decode_delta", "distill_config", "encode_delta", "is_trainable"]
