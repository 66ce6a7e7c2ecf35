"""``gesco`` (ours) and ``sdm``: semantic maps over the channel, a semantic diffusion model at the receiver.

Sender (both): the one-hot maps of the present classes plus the instance-edge map, compressed
(exact bit count = ``source_bits``), power-normalised and sent as analog symbols
(:mod:`semcom_bench.semantics`). Receiver: the maps are read back (absent classes re-inserted
as zeros), optionally denoised by FDS (eq. 2), taken to the network's grid (nearest) and fed
to the SPADE-conditioned diffusion U-Net, sampled with classifier-free guidance; the image is
resized (bicubic) to the original size.

* ``gesco`` = the network trained on noisy maps (``checkpoint=gesco``) + FDS + guidance;
* ``sdm`` = the same network trained on clean maps (``checkpoint=sdm``), no FDS: the paper's
  SDM row.

Parameters (both methods; ``sdm`` differs only in its defaults):

* ``checkpoint``: ``gesco`` (noisy training), ``gesco-fds`` (the gesco network fine-tuned on
  noisy maps passed through FDS, i.e. on what the receiver feeds it; not in the paper) or
  ``sdm`` (clean training): which embedded network; ignored when ``weights`` is given.
* ``fds``: apply FDS to the received maps (default: true for gesco, false for sdm).
* ``hard``: re-binarise the received (filtered) maps, arg-max over the sent class maps and
  edge map > 0.5 (default false; not in the paper). FDS leaves a soft, positive floor on every
  map (0.12-0.33 at PSNR 10-1) that the embedded networks never saw in training, and it costs
  them more than the noise FDS removes; ``hard=true`` removes it (see the README).
* ``sampler``: ``respaced`` (default: the ancestral sampler with the learned variance on 40
  evenly spaced steps, the official ``--timestep_respacing``), ``ancestral`` (the paper's
  1000 steps), ``ddim`` or ``dpmpp`` (diffusers' DDIM and DPM-Solver++ 2M on the ε channels;
  10 steps by default); ``steps`` overrides the number of steps. See
  :mod:`semcom_bench.diffusion.sampling` for why the deterministic samplers do worse with the
  embedded networks.
* ``upsample``: how the 32x64 model output is resized to the scene size (``bicubic`` default,
  ``bilinear``, ``nearest``).
* ``guidance``: classifier-free guidance scale ``s`` of the official code,
  ``ε(0) + s (ε(y) − ε(0))``, default 2 (Cityscapes); the paper's eq. 13 calls ``s − 1`` its s.
* ``weights``: a state dict to use instead: an official SDM/GESCO ``ema_0.9999_*.pt``
  (Cityscapes flags: 256 channels, attention at 32,16,8, 64-channel heads, 35 classes + edges),
  or an ``ema_*.pt`` of ``semcom-bench train`` (its ``config.json`` beside it) or an exported
  ``NAME.pt`` with ``NAME.json``.
* ``power``: sender power normalisation, ``average`` (Es/N0, the project's SNR) or ``peak``
  (the paper's PSNR); ``codec``: the map codec of the bit count.

The paper's Table 5 (FDS x noisy training, in the paper's PSNR) is one command; ``compare``
gives every receiver the same received maps and sampler noise (a paired comparison)::

    semcom-bench compare --values 10,5,1 \\
        --methods "gesco(power=peak),gesco(power=peak,fds=false),sdm(power=peak,fds=true),sdm(power=peak)"

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

from semcom_bench.channels.base import Received
from semcom_bench.data.base import Sample
from semcom_bench.errors import UserError
from semcom_bench.methods.base import Method, Payload
from semcom_bench.registry import methods
from semcom_bench.weights import WeightFile, register_weights, resolve

VERSION = "1"
UPSAMPLE = ("bicubic", "bilinear", "nearest")


def _embedded(key: str, sha256: str, description: str) -> WeightFile:
    """Declare the shipped network ``assets/<key>/<key>-synthetic-streets.pt``."""
    name = f"{key}-synthetic-streets"
    return register_weights(WeightFile(name=name, filename=f"{name}.pt", description=description, sha256=sha256,
                                       embedded=f"{key}/{name}.pt", used_by=("gesco", "sdm")))


EMBEDDED = {
    "gesco": _embedded("gesco", "7daf6c401a7f740c26f13bacec392b3ccb8920f3c0ebd8268d78b711d17492c9",
                       "GESCO semantic diffusion U-Net (2.6M parameters, fp16 EMA) trained on noisy synthetic-streets maps"),
    "sdm": _embedded("sdm", "da25d026be0d973748a2c031e343fdcedb923c95d2e19c1a02f931a64a5e0a97",
                     "SDM semantic diffusion U-Net (2.6M parameters, fp16 EMA) trained on clean synthetic-streets maps"),
    "gesco-fds": _embedded("gesco-fds", "2bf8d64ed4bb271d36873dabca8c8ef7cc472c845e08e2f37838b395a62c9879",
                           "the gesco network fine-tuned 300 steps on FDS-filtered noisy maps (what the receiver feeds it)"),
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


def _sidecar(path: Path) -> dict[str, Any] | None:
    """Settings written beside a weights file: ``NAME.json`` (export) or ``config.json`` (training folder)."""
    for candidate in (path.with_suffix(".json"), path.parent / "config.json"):
        if candidate.is_file():
            info = json.loads(candidate.read_text())
            if "net" in info:
                return info
    return None


@lru_cache(maxsize=8)
def load_network(path: str, device: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """(network in eval mode on ``device``, settings) for a weights file; cached per (path, device)."""
    from semcom_bench.nets.semantic_unet import SemanticUNet, UNetConfig, infer_official_config, load_weights, read_state_dict

    p = Path(path)
    try:
        state = read_state_dict(p)
    except ValueError as exc:
        raise UserError(f"weights {exc}; pass an official ema_*.pt or a file written by 'semcom-bench train gesco|sdm'") from None
    info = _sidecar(p)
    if info is not None:
        cfg = UNetConfig.from_dict(info["net"])
        settings = {"model_downsample": int(info.get("train", {}).get("model_downsample", 1)),
                    "diffusion_steps": int(info.get("diffusion", {}).get("steps", 1000)),
                    "schedule": info.get("diffusion", {}).get("schedule", "linear"), "source": "semcom-bench"}
    else:
        cfg = infer_official_config(state)
        settings = {"model_downsample": 1, "diffusion_steps": 1000, "schedule": "linear", "source": "official"}
    model = SemanticUNet(cfg)
    try:
        load_weights(model, state)
    except ValueError as exc:
        raise UserError(f"weights {p} do not fit the SDM/GESCO network ({exc}); pass an official ema_*.pt "
                        f"or a file written by 'semcom-bench train gesco|sdm'") from None
    return model.to(device).eval(), settings


@lru_cache(maxsize=16)
def _file_hash(path: str) -> str:
    from semcom_bench.hashing import hash_file

    return hash_file(path)


# --------------------------------------------------------------------------------------------
# the method
# --------------------------------------------------------------------------------------------


class SemanticDiffusion(Method):
    """Semantic maps -> channel -> (FDS) -> SPADE diffusion U-Net with guidance (see the module docstring)."""

    version = VERSION

    def __init__(self, name: str, checkpoint: str, fds: bool, sampler: str, steps: int | None, guidance: float,
                 weights: str | None, power: str, codec: str, upsample: str = "bicubic", hard: bool = False):
        from semcom_bench.diffusion.sampling import DEFAULT_STEPS, SAMPLERS
        from semcom_bench.semantics import CODECS

        self.name = name
        if checkpoint not in EMBEDDED:
            raise UserError(f"unknown checkpoint {checkpoint!r} for {name}; use gesco (noisy training), "
                            f"gesco-fds (noisy training through FDS) or sdm (clean training)")
        if sampler not in SAMPLERS:
            raise UserError(f"unknown sampler {sampler!r} for {name}; use one of {', '.join(SAMPLERS)}")
        if not isinstance(fds, bool):
            raise UserError(f"fds must be true or false for {name}, got {fds!r}")
        if not isinstance(hard, bool):
            raise UserError(f"hard must be true or false for {name}, got {hard!r}")
        if power not in ("average", "peak"):
            raise UserError(f"unknown power {power!r} for {name}; use average or peak")
        if codec not in CODECS and not str(codec).startswith("jpeg-"):
            raise UserError(f"unknown map codec {codec!r} for {name}; use one of {', '.join(CODECS)}")
        self.checkpoint, self.fds, self.hard, self.sampler = checkpoint, fds, hard, sampler
        self.steps = int(steps) if steps is not None else DEFAULT_STEPS[sampler]
        if not 1 <= self.steps <= 1000:
            raise UserError(f"steps must be in [1, 1000] for {name}, got {self.steps}")
        self.guidance = float(guidance)
        self.weights = str(weights) if weights is not None else None
        self.power, self.codec = power, codec
        if upsample not in UPSAMPLE:
            raise UserError(f"unknown upsample {upsample!r} for {name}; use one of {', '.join(UPSAMPLE)}")
        self.upsample = upsample

    def params(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint if self.weights is None else None, "fds": self.fds, "hard": self.hard,
                "sampler": self.sampler, "steps": self.steps, "guidance": self.guidance, "weights": self.weights,
                "power": self.power, "codec": self.codec, "upsample": self.upsample}

    def weights_path(self) -> Path:
        if self.weights is not None:
            return resolve(OFFICIAL.name, explicit=self.weights)
        return resolve(EMBEDDED[self.checkpoint].name)

    def checkpoint_hash(self) -> str | None:
        return _file_hash(str(self.weights_path()))

    def _device(self) -> str:
        dev = self.device or "cpu"
        if dev == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return dev

    def network(self) -> tuple[torch.nn.Module, dict[str, Any]]:
        return load_network(str(self.weights_path()), self._device())

    def _num_classes(self) -> int:
        if self.dataset is not None and getattr(self.dataset, "num_classes", None):
            return int(self.dataset.num_classes)
        return int(self.network()[0].config.num_classes)

    # --- sender --------------------------------------------------------------------------------

    def transmit(self, sample: Sample, generator: torch.Generator) -> Payload:
        from semcom_bench.semantics import encode_semantics

        sem = encode_semantics(sample, self._num_classes(), codec=self.codec, power=self.power)
        return sem.to_payload()

    # --- receiver ------------------------------------------------------------------------------

    def conditioning(self, items: list[tuple[dict[str, Any], Received]]) -> torch.Tensor:
        """(B, C_net + 1, h, w) maps on the network's grid from the received payloads."""
        from semcom_bench.semantics import decode_semantics

        model, settings = self.network()
        cfg = model.config
        maps = decode_semantics([rx for _, rx in items], [side["semantics"] for side, _ in items],
                                 fds=self.fds, hard=self.hard)
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

    def receive_batch(self, items: list[tuple[dict[str, Any], Received]], generators: list[torch.Generator]) -> list[np.ndarray]:
        from semcom_bench.diffusion.gaussian import GaussianDiffusion
        from semcom_bench.diffusion.sampling import guided_model, sample, to_uint8

        model, settings = self.network()
        dev = next(model.parameters()).device
        y = self.conditioning(items).to(dev)
        side0 = items[0][0]["semantics"]
        height, width = int(side0.height), int(side0.width)
        diffusion = GaussianDiffusion.from_schedule(settings["diffusion_steps"], settings["schedule"])
        with torch.no_grad():
            x = sample(guided_model(model, y, self.guidance), diffusion, (3, *y.shape[-2:]), generators,
                       self.sampler, self.steps, dev)
            if tuple(x.shape[-2:]) != (height, width):
                kw = {} if self.upsample == "nearest" else {"align_corners": False}
                x = F.interpolate(x, size=(height, width), mode=self.upsample, **kw).clamp(-1, 1)
        return [img.numpy() for img in to_uint8(x)]

    def receive(self, side: dict[str, Any], received: Received, generator: torch.Generator) -> np.ndarray:
        return self.receive_batch([(side, received)], [generator])[0]


_DOC_PARAMS = "checkpoint=gesco|gesco-fds|sdm, fds, hard, sampler=respaced|ancestral|ddim|dpmpp, steps, guidance, weights=PATH, power, codec, upsample"


@methods.register(
    "gesco",
    version=VERSION,
    summary="ours: present-class maps over the channel, FDS + SPADE diffusion with guidance, trained on noisy maps",
    aliases=("ours",),
    weights=EMBEDDED["gesco"].name,
    payload="semantic maps",
    params=_DOC_PARAMS,
)
def gesco(checkpoint: str = "gesco", fds: bool = True, sampler: str = "respaced", steps: int | None = None,
          guidance: float = 2.0, weights: str | None = None, power: str = "average", codec: str = "labels-webp",
          upsample: str = "bicubic", hard: bool = False) -> SemanticDiffusion:
    return SemanticDiffusion("gesco", checkpoint, fds, sampler, steps, guidance, weights, power, codec, upsample, hard)


@methods.register(
    "sdm",
    version=VERSION,
    summary="SDM: the same maps, the same network trained on clean maps, no FDS (the first paper's SDM row)",
    weights=EMBEDDED["sdm"].name,
    payload="semantic maps",
    params=_DOC_PARAMS,
)
def sdm(checkpoint: str = "sdm", fds: bool = False, sampler: str = "respaced", steps: int | None = None,
        guidance: float = 2.0, weights: str | None = None, power: str = "average", codec: str = "labels-webp",
        upsample: str = "bicubic", hard: bool = False) -> SemanticDiffusion:
    return SemanticDiffusion("sdm", checkpoint, fds, sampler, steps, guidance, weights, power, codec, upsample, hard)


__all__ = ["SemanticDiffusion", "gesco", "sdm", "load_network", "EMBEDDED", "OFFICIAL"]
