"""``gesco`` (ours) and ``sdm``: semantic maps over the channel, a semantic diffusion model at the receiver.

Sender (both): the one-hot maps of the present classes plus the instance-edge map, compressed
(exact bit count = ``source_bits``), power-normalised and sent as analog symbols
(:mod:`semcom_bench.semantics`). Receiver: the maps are read back (absent classes re-inserted
as zeros), optionally denoised by FDS (eq. 2), taken to the network's grid (nearest) and fed
to the SPADE-conditioned diffusion U-Net, sampled with classifier-free guidance; the image is
resized (bicubic) to the original size. With ``transport=digital`` the compressed maps
themselves cross the channel through ``digital``'s 5G LDPC + QAM chain and are decoded back
to exact maps, or concealed as the null label below the code's threshold (see
:mod:`semcom_bench.methods.semantic.maps`).

* ``gesco`` = the network trained on noisy maps (``checkpoint=gesco``) + FDS + guidance;
* ``sdm`` = the same network trained on clean maps (``checkpoint=sdm``), no FDS: the paper's
  SDM row.

The parameters, their defaults and accepted values are in the constructor signatures below
(``semcom-bench list methods`` prints them; ``sdm`` differs only in its defaults). Notes:

* ``hard=true`` (not in the paper): FDS leaves a soft, positive floor on every map (0.12-0.33
  at PSNR 10-1) that the embedded networks never saw in training, and it costs them more than
  the noise FDS removes; re-binarising removes it (see the README).
* The deterministic samplers (``ddim``, ``dpmpp``) do worse with the embedded networks; see
  :mod:`semcom_bench.diffusion.sampling`.
* ``guidance`` is the official code's ``s``; the paper's eq. 13 calls ``s - 1`` its s. As in
  the official code, ``s <= 1`` runs the conditional model alone (no guidance).
* ``sampler``: by default ``distilled`` for the shipped ``gesco`` and ``sdm`` networks at guidance
  2 with their own FDS setting: their guidance-distilled students (:mod:`semcom_bench.diffusion.distill`,
  ``semcom-bench train gesco-guided|sdm-guided``, distilled on the maps each receiver feeds its
  network) on the 40-step respaced chain, one pass per step; ``respaced`` otherwise (other
  guidance, ``guidance_from``, the other FDS setting, ``gesco-fds``, ``weights=``). ``sampler=respaced``
  is the two-pass guided chain the students learned from, ``ancestral`` the paper's 1000 steps.
* ``variance_scale`` multiplies the variance of every ancestral step (the step noise by its square
  root); 1 is the network's learned variance. At 40 steps, 0.8 (chosen on the val split) brings
  ``sdm``'s distilled sampler to the 1000-step sampler's mIoU (see the README's sampler table).
* ``weights``: an official SDM/GESCO ``ema_0.9999_*.pt`` (Cityscapes flags: 256 channels,
  attention at 32,16,8, 64-channel heads, 35 classes + edges), or an ``ema_*.pt`` of
  ``semcom-bench train`` (its ``config.json`` beside it) or an exported ``NAME.pt`` with
  ``NAME.json``.

The paper's Table 5 (FDS x noisy training, in the paper's PSNR) is one run; every method of a
run decodes the same received maps with the same sampler noise, so ``report --versus`` gives
paired differences::

    semcom-bench run --values 10,5,1 --metrics miou --out results/table5 \
        --methods "gesco(power=peak),gesco(power=peak,fds=false),sdm(power=peak,fds=true),sdm(power=peak)"
    semcom-bench report --out results/table5 --versus "sdm(power=peak)"

With the networks trained on raw noisy maps, FDS lowers mIoU; ``checkpoint=gesco-fds`` (trained
through FDS) restores the paper's ordering (see the README).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from semcom_bench.components import Annotated, Doc, Literal, RunContext
from semcom_bench.errors import UserError
from semcom_bench.methods.semantic.maps import Fds, MapMethod
from semcom_bench.registry import methods
from semcom_bench.weight_codecs import sidecar_path
from semcom_bench.weights import WeightFile, register_weights, resolve

#: 2: official timestep respacing (odd step counts) and no guidance for s <= 1, as the official code
VERSION = "2"


def _embedded(key: str, sha256: str, description: str, suffix: str = ".pt") -> WeightFile:
    """Declare the shipped network ``assets/<key>/<key>-synthetic-streets<suffix>``."""
    name = f"{key}-synthetic-streets"
    return register_weights(WeightFile(name=name, filename=f"{name}{suffix}", description=description, sha256=sha256,
                                       embedded=f"{key}/{name}{suffix}", used_by=("gesco", "sdm")))


EMBEDDED = {
    "gesco": _embedded("gesco", "7daf6c401a7f740c26f13bacec392b3ccb8920f3c0ebd8268d78b711d17492c9",
                       "GESCO semantic diffusion U-Net (2.6M parameters, fp16 EMA) trained on noisy synthetic-streets maps"),
    "sdm": _embedded("sdm", "da25d026be0d973748a2c031e343fdcedb923c95d2e19c1a02f931a64a5e0a97",
                     "SDM semantic diffusion U-Net (2.6M parameters, fp16 EMA) trained on clean synthetic-streets maps"),
    "gesco-fds": _embedded("gesco-fds", "d46b6afb4d5d7ce6d5a6c2bc6a1a5b81cff6dd94cc7b8a837e0f641989da8275",
                           "the gesco network fine-tuned 300 steps on FDS-filtered noisy maps (what the receiver feeds it); "
                           "its lossless difference to gesco", suffix=".pt.xz"),
}
#: the guidance-distilled students of the shipped networks (``sampler=distilled``; :mod:`semcom_bench.diffusion.distill`)
DISTILLED = {
    "gesco": _embedded("gesco-guided", "622826304f938b04ca40849c03a7ad86cd4b2b831e8e8b86c15742f667a9c441",
                       "gesco's SPADE layers distilled to give its guided output (s = 2) in one pass; over gesco"),
    "sdm": _embedded("sdm-guided", "f72a340895f345ec10f7bb104887945be19cb8182a3c0fd68a8022b35f3850aa",
                     "sdm's SPADE layers distilled to give its guided output (s = 2) in one pass; over sdm"),
}
OFFICIAL = register_weights(WeightFile(
    name="gesco-cityscapes",
    filename="ema_0.9999_best.pt",
    description="official GESCO/SDM Cityscapes guided-diffusion state dict (256 channels, 35 classes + instance edges)",
    url="https://github.com/ispamm/GESCO",
    used_by=("gesco", "sdm"),
))


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def _sidecar(path: Path) -> tuple[Path, dict[str, Any]] | None:
    """(file, settings) written beside a weights file: ``NAME.json`` (export) or ``config.json`` (training folder).

    A sidecar that cannot be read or is not a JSON object is a one-line UserError naming it.
    """
    for candidate in (sidecar_path(path), path.parent / "config.json"):
        if candidate.is_file():
            try:
                info = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
                raise UserError(f"settings file {candidate} beside the weights {path.name} cannot be read ({reason}); "
                                "restore the JSON written with the weights, or remove it to load them as an "
                                "official checkpoint") from None
            if not isinstance(info, dict):
                raise UserError(f"settings file {candidate} beside the weights {path.name} is not a JSON object; "
                                "restore the JSON written with the weights")
            if "net" in info:
                return candidate, info
    return None


def _sidecar_settings(file: Path, info: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(network config, sampling settings) of a sidecar; settings that do not fit are a UserError naming it."""
    from semcom_bench.nets.semantic_unet import UNetConfig

    try:
        cfg = UNetConfig.from_dict(info["net"])
        train, diffusion = info.get("train", {}), info.get("diffusion", {})
        settings = {"model_downsample": int(train.get("model_downsample", 1)),
                    "diffusion_steps": int(diffusion.get("steps", 1000)),
                    "schedule": str(diffusion.get("schedule", "linear")), "source": "semcom-bench",
                    "distilled_guidance": float(info["distilled"]["guidance"]) if "distilled" in info else None,
                    "base": dict(info["base"]) if "base" in info else None,
                    "encoding": info.get("weights", {}).get("encoding")}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        what = f"no {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"settings file {file} does not describe a network ({what}); restore the JSON written "
                        "with the weights") from None
    return cfg, settings


@lru_cache(maxsize=8)
def load_network(path: str, device: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """(network in eval mode on ``device``, settings) for a weights file; cached per (path, device)."""
    from semcom_bench.nets.semantic_unet import SemanticUNet, infer_official_config, load_weights

    p = Path(path)
    sidecar = _sidecar(p)
    cfg, settings = _sidecar_settings(*sidecar) if sidecar is not None else (None, None)
    try:
        state = _state_of(p, settings)
    except ValueError as exc:
        raise UserError(f"weights {exc}; pass an official ema_*.pt or a file written by 'semcom-bench train gesco|sdm'") from None
    if sidecar is None:
        try:
            cfg = infer_official_config(state)
        except ValueError as exc:
            raise UserError(f"weights {p} {exc}; pass an official ema_*.pt or a file written by "
                            "'semcom-bench train gesco|sdm' (with its JSON beside it)") from None
        settings = {"model_downsample": 1, "diffusion_steps": 1000, "schedule": "linear", "source": "official"}
    try:
        model = SemanticUNet(cfg)
    except (ValueError, TypeError, KeyError, ZeroDivisionError) as exc:
        where = f"settings file {sidecar[0]}" if sidecar is not None else f"weights {p}"
        raise UserError(f"{where} describe(s) a network that cannot be built ({exc}); restore the JSON written "
                        "with the weights") from None
    try:
        load_weights(model, state)
    except ValueError as exc:
        raise UserError(f"weights {p} do not fit the SDM/GESCO network ({exc}); pass an official ema_*.pt "
                        f"or a file written by 'semcom-bench train gesco|sdm'") from None
    return model.to(device).eval(), settings


def network_state(path: Path) -> dict[str, torch.Tensor]:
    """The full state dict (float16 or float32 tensors, on the CPU) of a weights file.

    A file whose JSON names a ``base`` holds its difference to that shipped network
    (:func:`_over_base`); any other file is read as a state dict.

    Raises:
        ValueError: the file is not a torch file holding a dict of tensors.
        UserError: its JSON cannot be read, or its base is not the shipped one.
    """
    sidecar = _sidecar(path)
    return _state_of(path, _sidecar_settings(*sidecar)[1] if sidecar is not None else None)


def _state_of(path: Path, settings: dict[str, Any] | None) -> dict[str, torch.Tensor]:
    """:func:`network_state` given the settings of the file's JSON (None: it has none)."""
    from semcom_bench.nets.semantic_unet import read_state_dict

    if settings and settings.get("base"):
        return _over_base(path, settings["base"], settings.get("encoding"))
    return read_state_dict(path)


def _over_base(path: Path, base: dict[str, Any], encoding: str | None) -> dict[str, torch.Tensor]:
    """The full state dict of a file that stores a network as its difference to a shipped one.

    ``base`` (from the JSON beside the file) names the shipped network (``init``) and its sha256;
    a base that is not shipped or whose file differs is a UserError naming both. ``encoding``: how
    the file stores the difference, :data:`~semcom_bench.weight_codecs.INT8_DELTA` (the trained
    tensors of a distilled student) or :data:`~semcom_bench.weight_codecs.FP16_XOR` (every tensor
    of a fine-tune, lossless).
    """
    from semcom_bench.nets.semantic_unet import read_state_dict
    from semcom_bench.weight_codecs import FP16_XOR, INT8_DELTA, dequantise, read_xor

    name = str(base.get("init"))
    if name not in EMBEDDED:
        raise UserError(f"weights {path} hold tensors fine-tuned from {name!r}, which is not a shipped network "
                        f"({', '.join(EMBEDDED)}); export the full network instead")
    base_path = resolve(EMBEDDED[name].name)
    if base.get("sha256") and _file_hash(str(base_path)) != base["sha256"]:
        raise UserError(f"weights {path} were fine-tuned from another version of {name} (sha256 "
                        f"{str(base['sha256'])[:16]}…) than {base_path}; use the matching package version")
    if encoding not in (INT8_DELTA, FP16_XOR):
        raise UserError(f"weights {path} are stored as {encoding!r}, which this version cannot read; export them "
                        "again with this version")
    try:
        base_state = network_state(base_path)  # a shipped base may itself be stored over another
        if encoding == FP16_XOR:
            return read_xor(path, base_state)
        return dequantise(read_state_dict(path), base_state)
    except ValueError as exc:
        raise UserError(f"weights {path}: {exc}; restore the file written with its JSON") from None


@lru_cache(maxsize=16)
def _file_hash(path: str) -> str:
    from semcom_bench.hashing import hash_file

    return hash_file(path)


# --------------------------------------------------------------------------------------------
# the method
# --------------------------------------------------------------------------------------------


Checkpoint = Annotated[Literal["gesco", "gesco-fds", "sdm"],
                       Doc("embedded network: gesco (trained on noisy maps), gesco-fds (noisy maps through FDS) or "
                           "sdm (clean maps); ignored with weights")]
Weights = Annotated[Path | None, Doc("a state dict instead: an official ema_0.9999_*.pt, a training folder's "
                                     "ema_*.pt or an exported NAME.pt with NAME.json")]


class SemanticDiffusion(MapMethod):
    """Semantic maps -> channel -> (FDS) -> SPADE diffusion U-Net with guidance (see the module docstring)."""

    name = "gesco"
    version = VERSION
    added_later = ("guidance_from", "precision", "variance_scale")

    def __init__(
        self,
        context: RunContext | None = None,
        *,
        checkpoint: Checkpoint = "gesco",
        fds: Fds = True,
        sampler: Annotated[Literal["auto", "distilled", "respaced", "ancestral", "ddim", "dpmpp"],
                           Doc("distilled (the respaced chain with the guidance-distilled network: 40 steps, 40 "
                               "passes), respaced ancestral (40 guided steps, 80 passes), the paper's ancestral "
                               "(1000 guided steps), or diffusers' DDIM / DPM-Solver++ (10); auto: distilled for "
                               "the shipped gesco and sdm networks at guidance 2 with their default fds, "
                               "respaced otherwise")] = "auto",
        steps: Annotated[int | None, Doc("sampler steps (default per sampler)", low=1, high=1000)] = None,
        guidance: Annotated[float, Doc("classifier-free guidance scale s of the official code: "
                                       "eps(0) + s (eps(y) - eps(0)); s <= 1: the conditional model alone")] = 2.0,
        guidance_from: Annotated[int, Doc("guide only the steps at training timesteps t >= this (of 1000; 0: "
                                          "every step); the others run the conditional pass alone", low=0,
                                          high=999)] = 0,
        precision: Annotated[Literal["fp32", "bf16"],
                             Doc("network passes in float32 or under bfloat16 autocast (faster on recent GPUs; "
                                 "outputs differ slightly, see README)")] = "fp32",
        variance_scale: Annotated[float, Doc("factor (linear) on the variance of every step of the ancestral "
                                             "samplers (distilled, respaced, ancestral): 1 keeps the network's "
                                             "learned variance; 0.8 brings the 40-pass distilled sampler to the "
                                             "1000-step one's mIoU (see README)", low=0.05, high=2.0)] = 1.0,
        weights: Weights = None,
        upsample: Annotated[Literal["bicubic", "bilinear", "nearest"],
                            Doc("resizing of the model output to the scene size")] = "bicubic",
        **shared: Any,
    ):
        from semcom_bench.diffusion.sampling import ANCESTRAL_SAMPLERS, DEFAULT_STEPS

        super().__init__(context, fds=fds, **shared)
        if sampler == "auto":
            sampler = default_sampler(checkpoint, weights, guidance, guidance_from, fds)
        if sampler == "distilled":
            _check_distilled(checkpoint, weights, guidance, guidance_from, self.name)
        self.checkpoint = checkpoint if weights is None else None
        self.sampler = sampler
        self.steps = steps if steps is not None else DEFAULT_STEPS[_chain(sampler)]
        self.guidance = guidance
        self.guidance_from = guidance_from
        self.precision = precision
        if variance_scale != 1.0 and _chain(sampler) not in ANCESTRAL_SAMPLERS:
            raise UserError(f"{self.name}(variance_scale={variance_scale:g}) scales the noise of the ancestral "
                            f"samplers; sampler={sampler} adds none: drop variance_scale or use sampler=distilled")
        self.variance_scale = variance_scale
        self.weights = weights
        self.upsample = upsample

    def weights_path(self) -> Path:
        if self.weights is not None:
            return resolve(OFFICIAL.name, explicit=self.weights)
        if self.sampler == "distilled":
            return resolve(DISTILLED[self.checkpoint].name)
        return resolve(EMBEDDED[self.checkpoint].name)

    def checkpoint_hash(self) -> str | None:
        return _file_hash(str(self.weights_path()))

    def network(self) -> tuple[torch.nn.Module, dict[str, Any]]:
        return load_network(str(self.weights_path()), self.device)

    def default_classes(self) -> int:
        return int(self.network()[0].config.num_classes)

    # --- receiver ------------------------------------------------------------------------------

    def conditioning(self, maps: torch.Tensor) -> torch.Tensor:
        """(B, C_net + edges, h, w) network conditioning from (B, C + 1, H, W) received maps."""
        model, settings = self.network()
        cfg = model.config
        c = maps.shape[1] - 1  # data classes; the last channel is the edge map
        if c > cfg.num_classes:
            raise UserError(f"the network knows {cfg.num_classes} classes but the data set has {c}; use matching weights")
        if c < cfg.num_classes:  # e.g. 34 label ids into the official 35-class network
            pad = maps.new_zeros((maps.shape[0], cfg.num_classes - c, *maps.shape[-2:]))
            maps = torch.cat([maps[:, :c], pad, maps[:, c:]], dim=1)
        if not cfg.instance_edges:
            maps = maps[:, : cfg.num_classes]
        f = settings["model_downsample"]
        h, w = maps.shape[-2:]
        if h % f or w % f or (h // f) % model.downsampling or (w // f) % model.downsampling:
            raise UserError(f"image size {h}x{w} does not fit the network (grid / {f}, multiples of {model.downsampling})")
        return maps[..., ::f, ::f] if f > 1 else maps

    def synthesise(self, maps: torch.Tensor, size: tuple[int, int], rngs: list[torch.Generator]) -> list[np.ndarray]:
        from semcom_bench.diffusion.gaussian import GaussianDiffusion
        from semcom_bench.diffusion.sampling import guided_model, sample, to_uint8

        model, settings = self.network()
        dev = next(model.parameters()).device
        y = self.conditioning(maps).to(dev)
        diffusion = GaussianDiffusion.from_schedule(settings["diffusion_steps"], settings["schedule"])
        autocast = torch.bfloat16 if self.precision == "bf16" else None
        guidance = self._network_guidance(settings)
        fn = guided_model(model, y, guidance, autocast=autocast, guidance_from=self.guidance_from)
        with torch.no_grad():
            x = sample(fn, diffusion, (3, *y.shape[-2:]), rngs, _chain(self.sampler), self.steps, dev,
                       variance_scale=self.variance_scale)
            if tuple(x.shape[-2:]) != tuple(size):
                kw = {} if self.upsample == "nearest" else {"align_corners": False}
                x = F.interpolate(x, size=size, mode=self.upsample, **kw).clamp(-1, 1)
        self.network_passes = fn.passes
        return [img.numpy() for img in to_uint8(x)]

    def _network_guidance(self, settings: dict[str, Any]) -> float:
        """The guidance scale the sampler applies: ``guidance``, or 1 (one pass) for a distilled network."""
        built_in = settings.get("distilled_guidance")
        if self.sampler != "distilled":
            if built_in is not None:
                raise UserError(f"weights {self.weights_path()} are guidance-distilled (s = {built_in:g} built in); "
                                f"use {self.name}(sampler=distilled) with them")
            return self.guidance
        if built_in is None:
            raise UserError(f"weights {self.weights_path()} are not guidance-distilled; sampler=distilled needs a "
                            "network written by 'semcom-bench train gesco-guided|sdm-guided'")
        if abs(built_in - self.guidance) > 1e-9:
            raise UserError(f"weights {self.weights_path()} were distilled at guidance {built_in:g}, not "
                            f"{self.guidance:g}; leave guidance out or distil at that scale")
        return 1.0


def default_sampler(checkpoint: str, weights: Path | None, guidance: float, guidance_from: int, fds: bool) -> str:
    """``distilled`` where a shipped student gives the requested guided output on the maps it was distilled
    on (gesco's through FDS, sdm's raw), else ``respaced``."""
    from semcom_bench.diffusion.distill import DISTILL_RECIPES

    distilled_with_fds = {recipe["init"]: recipe["fds"] for recipe in DISTILL_RECIPES.values()}
    if (weights is None and checkpoint in DISTILLED and guidance == 2.0 and not guidance_from
            and fds == distilled_with_fds.get(checkpoint)):
        return "distilled"
    return "respaced"


def _chain(sampler: str) -> str:
    """The sampling loop of a sampler name: ``distilled`` runs the respaced chain."""
    return "respaced" if sampler == "distilled" else sampler


def _check_distilled(checkpoint: str, weights: Path | None, guidance: float, guidance_from: int, name: str) -> None:
    """One-line errors for settings that ``sampler=distilled`` cannot honour."""
    if weights is None and checkpoint not in DISTILLED:
        raise UserError(f"{name}(sampler=distilled): there is no distilled {checkpoint} network (only "
                        f"{', '.join(DISTILLED)}); use sampler=respaced, or distil one with "
                        "'semcom-bench train gesco-guided --init PATH' and pass it as weights=")
    if guidance_from:
        raise UserError(f"{name}(sampler=distilled) has guidance built into every step; drop guidance_from")
    if weights is None and guidance != 2.0:
        raise UserError(f"{name}(sampler=distilled): the shipped distilled networks have guidance 2 built in, "
                        f"not {guidance:g}; drop guidance or use sampler=respaced")


methods.register(
    summary="ours: present-class maps over the channel, FDS + SPADE diffusion with guidance, trained on noisy maps",
    aliases=("ours",),
    weights=EMBEDDED["gesco"].name,
    payload="semantic maps",
)(SemanticDiffusion)


@methods.register(
    summary="SDM: the same maps, the same network trained on clean maps, no FDS (the first paper's SDM row)",
    weights=EMBEDDED["sdm"].name,
    payload="semantic maps",
)
class SDM(SemanticDiffusion):
    """``gesco`` with the clean-trained network and without FDS."""

    name = "sdm"

    def __init__(self, context: RunContext | None = None, *, checkpoint: Checkpoint = "sdm", fds: Fds = False,
                 **rest: Any):
        super().__init__(context, checkpoint=checkpoint, fds=fds, **rest)


__all__ = ["SemanticDiffusion", "SDM", "load_network", "EMBEDDED", "DISTILLED", "OFFICIAL"]
