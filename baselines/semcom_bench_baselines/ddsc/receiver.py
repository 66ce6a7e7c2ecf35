"""``ddsc``: diffusion-driven semantic communication with VAE-based compression (Guo et al., TWC 2025).

The paper's sections II-IV over this project's channels (see :mod:`.snr_mapping` for the
channel -> step mapping and :mod:`.compression` for F_d / F_u):

* **sender:** the image (resized to ``resize``² with LANCZOS when asked; the official code uses
  512) -> the VAE encoder E (eq. 1): ``y = scaling_factor · posterior sample`` (the sender's
  stream draws it) -> F_d (eq. 2): ``z`` of C x h/2 x w/2 -> power normalisation to unit
  power per complex symbol (this project's SNR convention: Es/N0 per complex symbol). ``c=0``
  sends the latent itself: the paper's generator without compression (Tables I-IV). Side
  information, error-free: the image shape, the normalisation scale and the latent's mean
  square ``P = mean(y²)`` (the official SNR -> step mapping needs it: ``α̃ = snr/(snr + P)``),
  3 x 16 + 32 + 32 bits. ``source_bits`` = 32 per real value sent (float32 analog values);
* **channel:** awgn, rayleigh (MMSE by default, eqs. 18-22) or mimo (SVD, eqs. 23-29), with their
  exact per-symbol noise (:func:`.snr_mapping.symbol_noise`);
* **receiver:** every symbol brought to the image's common noise level (compensation noise where
  it is cleaner, :func:`.snr_mapping.to_level`), de-normalised, F_u with the SNR (dB) of that level
  as input and reparameterisation (eqs. 4-5, 30): ``ŷ ~ N(μ, σ_y²)`` stands for the received latent
  ``y + σε`` of the uncompressed generator, ``σ² = P·σ̄_u²``, so ``√ᾱ_u·ŷ`` is the diffusion state
  at ``ᾱ_u = 1/(1 + σ²)``, the step the channel maps to (weights trained in the official code's
  domain output that state directly); ``c=0``: the received latent itself, per element
  (eqs. 15-16, 21-22, 28-29). Then the start step on the sampler's grid: the
  channel's own (``mode=adaptive``, eqs. 15-17) or ``fixed_step`` with compensation noise
  (``mode=fixed``, eq. 14; a channel noisier than it starts at its own step), the gap to the grid
  step filled exactly; the reverse DDIM process (η = 0, diffusers ``DDIMScheduler``, the U-Net
  unconditional: guidance 0 as the official code) and the decoder D (eq. 6).

``convention=code`` reproduces the official code where it departs from the paper:

* no compensation of the gap between the channel's ``ᾱ`` and the grid step (the state is a little
  cleaner than the step it starts at); F_u and the step fed the configured SNR; the equaliser's
  output (MMSE: biased) taken as it is;
* ``c=0`` (``img2img_with_wireless_channel.py``, Tables I-IV): the reverse process starts one grid
  step lower: ldm's ``decode(t_start=k)`` runs ``ddim_timesteps[:k]`` from a state noised to
  index k (k steps, not k + 1);
* ``c>0`` (``evaluate_fid`` of ``train_submission.py``, Figs. 6-7, Tables VI-VIII): ``device`` is
  passed as the 4th positional argument of ``stochastic_encode_from_snr``, i.e. as
  ``use_original_steps``, so k is picked on the 1000-step schedule and then decoded as a DDIM
  grid index: the reverse process starts at grid index k - 1, about twice the training step the
  F_u output is at (10 dB, P = 1: k = 88, start at training step 175, while training used index
  44, step 89). The paper's "70 reverse steps at 10 dB" (§V-C) fits this (k = 74 at P = 0.8).

Weights. ``base`` is the latent diffusion model (:mod:`.latent_model`: the embedded folder, or a
Stable Diffusion 2.x diffusers folder / Hugging Face cache). ``weights`` is an F_d/F_u checkpoint in
the official format (``{epoch, en_state_dict, de_state_dict, ...}``, from the official training
script or ``semcom-bench train ddsc``); without it the embedded ``ddsc-c<C>`` networks of the
embedded base are used (shipped for some C; trained for that base only).

Reproducing the paper with Stable Diffusion 2 and a GPU (F_d/F_u trained first on LSUN with
``semcom-bench train ddsc --base PATH ...``)::

    semcom-bench run --dataset "lsun(...)" --grid snr --channels awgn,rayleigh,mimo --device cuda \\
        --methods "ddsc(base=stabilityai/stable-diffusion-2-1-base,resize=512,weights=PATH.pth,steps=500)"
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from semcom_bench.components import Annotated, Doc, Literal, RunContext
from semcom_bench.data.base import Sample
from semcom_bench.errors import UserError
from semcom_bench.methods.base import Delivery, Method, Payload, Sender
from semcom_bench.registry import methods
from semcom_bench.symbols import from_symbols, to_symbols
from semcom_bench.weights import WeightFile, find, register_weights, resolve
from semcom_bench_baselines.ddsc import base_training as _base  # noqa: F401  (declares the embedded base's parts)
from semcom_bench_baselines.ddsc import snr_mapping as sm
from semcom_bench_baselines.ddsc.compression import DiffusionDe, DiffusionEn, load_official
from semcom_bench_baselines.ddsc.latent_model import EMBEDDED_BASE, LatentModel, check_folder, load_base, resolve_base

FLOAT_BITS = 32
DIM_BITS = 16
#: the F_d/F_u shipped for the embedded base: name -> (C, what it is, sha256). ``ddsc-c<C>`` is the
#: method's default for C (the full hybrid loss); the others are the paper's ablations (Table VI)
#: and loss-weight sweeps (Tables VII-VIII), trained by ``semcom-bench train ddsc`` (their JSON
#: says how).
SHIPPED: dict[str, tuple[int, str, str | None]] = {
    "ddsc-c28": (28, "C = 28 (official), the full hybrid loss",
                 "a0c3465be5bd22c5b983f26bfc49394da4ae1b3f999ab73b3403f574e8892cf2"),
    "ddsc-c8": (8, "C = 8, the full hybrid loss", "f0522cda205d1a1ce02f6a8508dfc8433c2066757c5980cfa5a7affc65377637"),
    # Table VI at C = 8, 8000 steps each
    "ddsc-c8-mse": (8, "Table VI: L_MSE without reparameterisation",
                    "0b951027d6775d6c82f382cd98536e3383477e26c21d0181fb47a75cfa0e750d"),
    "ddsc-c8-vae-mse": (8, "Table VI: VAE + L_MSE", "238feb6758168d8d9485f1719405f38873ff503226573a526fb0a7f76a0b6975"),
    "ddsc-c8-vae-g": (8, "Table VI: VAE + L_g", "5ec65a6a41f81a9acf63c55a3d3106a3b2b78b6538c179cbae58cd635bf2a0a8"),
    "ddsc-c8-vae-mse-kl": (8, "Table VI: VAE + L_MSE + L_KL",
                           "524a62851c65fb2a429c21bfc32528d4ceb3a97fe8ce79b243d9a23bc76e908d"),
    "ddsc-c8-vae-mse-g": (8, "Table VI: VAE + L_MSE + L_g",
                          "7c8d1bd072a79fdf062f7401e98cfe6f0ad60aecc1d318b0496668a3a901c60c"),
    "ddsc-c8-vae-mse-kl-g": (8, "Table VI: VAE + L_MSE + L_KL + L_g (the full loss, 8000 steps)",
                             "99e79cd5bc6ae501fc870b9111eab1492dab4f3f7d129967d9b37b6d9e6cff75"),
    # Tables VII-VIII at C = 8, 8000 steps each
    "ddsc-c8-lambda1": (8, "Table VII: VAE + L_MSE + L_KL, lambda = 1, gamma = 0",
        "b2d355afe5a37c4269ebb085fbc28056233818ed39e6dd407cd9023c5a3d69fe"),
    "ddsc-c8-lambda1e-2": (8, "Table VII: VAE + L_MSE + L_KL, lambda = 0.01, gamma = 0",
        "11a82a761704b5c2b0020e9f2e156cb3bd6d27deaa40711d08e33d330e88a62f"),
    "ddsc-c8-lambda1e-3": (8, "Table VII: VAE + L_MSE + L_KL, lambda = 0.001, gamma = 0",
        "d3833c9417483cf95270152c74b281da7f822b0051f6deec38519c9207f24a5f"),
    "ddsc-c8-lambda1e-4": (8, "Table VII: VAE + L_MSE + L_KL, lambda = 1e-4, gamma = 0",
        "d3ebc3596bfbf8993279d9d4c8902349aad5f7f3e57ea45509a8b901a0f89318"),
    "ddsc-c8-lambda1e-5": (8, "Table VII: VAE + L_MSE + L_KL, lambda = 1e-5, gamma = 0",
        "75fec0b678dc67bae43e7e17adcf888da3621bd9e6a59317be4611c746af8688"),
    "ddsc-c8-gamma1": (8, "Table VIII: the full loss, lambda = 0.1, gamma = 1",
        "77c9c6afaec0cf2e068239970971365fa738d728403792118fd15c40ea50717f"),
    "ddsc-c8-gamma1e-2": (8, "Table VIII: the full loss, lambda = 0.1, gamma = 0.01",
        "fa2fd088d9f67a2f49cbbaaa7d43303e4156e8799312668be1e9a8e4fbea4824"),
    "ddsc-c8-gamma1e-3": (8, "Table VIII: the full loss, lambda = 0.1, gamma = 0.001",
        "ab269b9804631370c083c956032f1a0f2911fd42c3ab401ad8230908c712b18f"),
    "ddsc-c8-gamma1e-4": (8, "Table VIII: the full loss, lambda = 0.1, gamma = 1e-4",
        "b630a7a58d2efdca9c28b75113796fb90a976f7b8bf4ae7621ab07e6f6b81e83"),
    "ddsc-c8-gamma1e-5": (8, "Table VIII: the full loss, lambda = 0.1, gamma = 1e-5",
        "d77161cea30c2cbef56c39317421cdbd84b466addc2a1d76e9ab33a684e530ac"),
}


def embedded_compression(name: str) -> WeightFile:
    """Declare the shipped F_d/F_u ``assets/ddsc/<name>.pt`` (official checkpoint format) of the embedded base."""
    c, what, sha256 = SHIPPED[name]
    return register_weights(WeightFile(name=name, filename=f"{name}.pt", sha256=sha256, embedded=f"ddsc/{name}.pt",
                                       description=f"DDSC F_d/F_u on the embedded latent diffusion base: {what}",
                                       used_by=("ddsc",)))


EMBEDDED: dict[str, WeightFile] = {name: embedded_compression(name) for name in SHIPPED}


@dataclass(frozen=True)
class DdscSide:
    """Error-free side information: the (H, W, 3) image shape, the symbols' scale, the latent's mean square P."""

    shape: tuple[int, int, int]
    scale: float
    latent_power: float

    bits = 3 * DIM_BITS + 2 * FLOAT_BITS


@lru_cache(maxsize=8)
def _compression(path: str, latent_channels: int, c: int, device: str) -> tuple[DiffusionEn, DiffusionDe, bool, str]:
    """(F_d, F_u, reparameterise as trained, output domain) of a checkpoint, eval mode, on ``device``.

    The domain (``paper``: F_u outputs the received latent ``y + σε``; ``code``: the forward state)
    and the reparameterisation come from the JSON ``semcom-bench train ddsc`` writes beside its
    file; a file without one (the official training script's) is ``code`` with reparameterisation.
    """
    en, de, ckpt = load_official(path, latent_channels, c)
    sidecar = Path(path).with_suffix(".json")
    reparam, domain = True, "code"
    if sidecar.is_file():
        try:
            train = json.loads(sidecar.read_text(encoding="utf-8")).get("train", {})
            reparam = bool(train.get("loss", {}).get("reparameterise", True))
            domain = str(train.get("domain", "code"))
        except (OSError, ValueError, AttributeError):
            pass
    return en.to(device), de.to(device), reparam, domain


@lru_cache(maxsize=32)
def _hash(path: str) -> str:
    from semcom_bench.weights import cached_checksum

    return cached_checksum(Path(path))


class DdscSender(Sender):
    """(H, W, 3) uint8 -> E -> F_d -> (N,) complex64 unit-power symbols (see the module docstring)."""

    name = "ddsc"

    def __init__(self, method: "Ddsc"):
        self.method = method

    def settings(self) -> dict[str, Any]:
        m = self.method
        return {"base": m.base_hash(), "c": m.c, "weights": m.compression_hash(), "latent": m.latent,
                "resize": m.resize}

    def transmit_batch(self, samples: list[Sample], rngs: list[torch.Generator]) -> list[Payload]:
        m = self.method
        model = m.model()
        x = m.images_in(samples)
        with torch.no_grad():
            dist = model.vae.encode(x).latent_dist
            if m.latent == "mode":
                y = dist.mode()
            else:  # the official get_first_stage_encoding: posterior.sample(), here from the sender's stream
                eps = torch.stack([torch.randn(tuple(dist.mean.shape[1:]), generator=g) for g in rngs]).to(dist.mean)
                y = dist.mean + dist.std * eps
            y = y * model.scaling_factor
            z = m.compression()[0](y) if m.c > 0 else y
        out = []
        for s, yi, zi in zip(samples, y, z):
            symbols, scale = to_symbols(zi.cpu())
            side = DdscSide(tuple(int(d) for d in s.image.shape), float(scale), float(yi.double().square().mean()))
            out.append(Payload(symbols, source_bits=FLOAT_BITS * zi.numel(), side_bits=DdscSide.bits, side=side,
                               scale=scale))
        return out


Base = Annotated[str | None, Doc("latent diffusion model: a diffusers Stable Diffusion 2.x folder, a Hugging Face cache "
                                 "folder or org/name in that cache (offline); default: the embedded base")]


@methods.register(summary="DDSC (Guo et al. 2025): VAE latent -> F_d compression -> channel as the diffusion forward "
                  "process (SNR -> step, adaptive or fixed) -> F_u with reparameterisation -> reverse DDIM -> VAE "
                  "decoder; embedded latent diffusion base or Stable Diffusion 2 (base=)",
                  weights=("ddsc-base-vae", "ddsc-base-unet", "ddsc-base-scheduler",
                           *(n for n in EMBEDDED if n.count("-") == 1)), payload="compressed latent (analog)")
class Ddsc(Method):
    """Diffusion-driven semantic communication with VAE-based compression (see the module docstring)."""

    name = "ddsc"
    version = "1"

    def __init__(self, context: RunContext | None = None, *,
                 base: Base = None,
                 c: Annotated[int, Doc("C, channels of the compressed latent F_d sends (official 28; the latent's "
                                       "channels x 4 sends as many values as the latent); 0 sends the latent itself "
                                       "(the paper's generator without compression, Tables I-IV)", low=0)] = 28,
                 weights: Annotated[Path | None, Doc("F_d/F_u checkpoint ({epoch, en_state_dict, de_state_dict, ...}: "
                                                     "official training script or semcom-bench train ddsc), or the name "
                                                     "of a shipped one; default: the embedded ddsc-c<C>")] = None,
                 mode: Annotated[Literal["adaptive", "fixed"], Doc("adaptive: reverse process from the step the channel "
                                                                    "maps to (eqs. 15-17); fixed: compensation noise up "
                                                                    "to fixed_step (eq. 14)")] = "adaptive",
                 fixed_step: Annotated[int, Doc("mode=fixed: the set step, an index of the steps grid (the paper's "
                                                "200 of the official 500-entry grid: training step 401, -1.35 dB)",
                                                low=0)] = 200,
                 steps: Annotated[int, Doc("entries of the DDIM grid (the official --ddim_steps 400 makes 500: "
                                           "training steps 1, 3, ..., 999)", low=1, high=1000)] = 500,
                 aggregate: Annotated[Literal["mean", "nominal"], Doc("an image's step under fading: mean of the "
                                                                      "per-element alpha (exact), or the configured "
                                                                      "SNR as if |h| = 1 (the paper's evaluation)")] = "mean",
                 convention: Annotated[Literal["paper", "code"], Doc("paper: the equations; code: the official code's "
                                                                     "departures (no gap compensation, start one grid "
                                                                     "step lower, configured SNR)")] = "paper",
                 reparameterise: Annotated[bool | None, Doc("F_u output mu + sigma*eps (eq. 5) or mu alone; default: "
                                                            "as the weights were trained")] = None,
                 latent: Annotated[Literal["sample", "mode"], Doc("E's output: a posterior sample (official) or its "
                                                                  "mode")] = "sample",
                 resize: Annotated[int, Doc("resize images to this square side (LANCZOS) before E and back (bicubic) "
                                            "after D; 0 keeps the data set's size (the official code uses 512)",
                                            low=0)] = 0):
        super().__init__(context)
        self.base, self.c, self.weights, self.mode, self.fixed_step = base, c, weights, mode, fixed_step
        self.steps, self.aggregate, self.convention = steps, aggregate, convention
        self.reparameterise, self.latent, self.resize = reparameterise, latent, resize
        self.base_path = resolve_base(base)  # a missing or incomplete folder is one line now, not at the first batch
        check_folder(self.base_path)
        if mode == "fixed" and fixed_step >= steps:
            raise UserError(f"parameter fixed_step of method ddsc ({fixed_step}) must be below steps ({steps}): it is an "
                            "index of the steps grid")
        if c > 0 and weights is None:
            if self.base_path != EMBEDDED_BASE:
                raise UserError(f"method ddsc with base={base} needs weights=PATH: F_d/F_u trained on that base "
                                "(semcom-bench train ddsc --base ...), or c=0 to send the latent uncompressed")
            name = f"ddsc-c{c}"
            if name not in EMBEDDED or find(name) is None:
                have = [k for k in EMBEDDED if k.count("-") == 1 and find(k) is not None]
                raise UserError(f"method ddsc has no embedded F_d/F_u for c={c} (shipped: "
                                f"{', '.join('c=' + k.split('-c')[1] for k in have) or 'none'}); semcom-bench train "
                                f"ddsc --c {c} trains one, then pass weights=PATH")
        if c > 0 and weights is not None and str(weights) in EMBEDDED:
            if SHIPPED[str(weights)][0] != c:
                raise UserError(f"weights {weights} of method ddsc are for c={SHIPPED[str(weights)][0]}, not c={c}")
            if self.base_path != EMBEDDED_BASE:
                raise UserError(f"weights {weights} of method ddsc belong to the embedded base, not base={base}")
        elif weights is not None and not Path(weights).expanduser().is_file():
            raise UserError(f"weights file {weights} does not exist (for method ddsc); give an F_d/F_u checkpoint or "
                            f"the name of a shipped one ({', '.join(EMBEDDED)})")
        self.sender = DdscSender(self)

    # --- weights -------------------------------------------------------------------------------

    def model(self) -> LatentModel:
        return load_base(self.base_path, self.device)

    def compression_path(self) -> Path | None:
        if self.c == 0:
            return None
        if self.weights is not None and str(self.weights) not in EMBEDDED:
            return Path(self.weights).expanduser()
        return resolve(str(self.weights) if self.weights is not None else f"ddsc-c{self.c}")

    def compression(self) -> tuple[DiffusionEn, DiffusionDe, bool, str]:
        path = self.compression_path()
        if path is None:
            raise UserError("method ddsc with c=0 has no F_d/F_u")
        return _compression(str(path), self.model().latent_channels, self.c, self.device)

    def base_hash(self) -> str:
        subs = [self.base_path / s for s in ("vae", "unet", "scheduler", "text_encoder", "tokenizer")]
        return "-".join(_hash(str(s)) for s in subs if s.is_dir())

    def compression_hash(self) -> str | None:
        path = self.compression_path()
        return None if path is None else _hash(str(path))

    def checkpoint_hash(self) -> str | None:
        from semcom_bench.hashing import hash_obj

        return hash_obj({"base": self.base_hash(), "compression": self.compression_hash()})

    def use_reparameterisation(self) -> bool:
        if self.reparameterise is not None:
            return bool(self.reparameterise)
        return self.compression()[2] if self.c > 0 else True

    # --- images --------------------------------------------------------------------------------

    def images_in(self, samples: list[Sample]) -> torch.Tensor:
        """(B, 3, H', W') float32 in [-1, 1] on the device (``resize``: LANCZOS to a square)."""
        model = self.model()
        unit = model.factor * (2 if self.c > 0 else 1)
        images = []
        for s in samples:
            img = s.image
            if self.resize:
                from PIL import Image

                img = np.asarray(Image.fromarray(img).resize((self.resize, self.resize), Image.LANCZOS))
            images.append(torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 127.5 - 1.0)
        h, w = images[0].shape[-2:]
        if h % unit or w % unit or any(tuple(i.shape[-2:]) != (h, w) for i in images):
            raise UserError(f"method ddsc needs images whose sides are multiples of {unit} (the VAE's factor "
                            f"{model.factor}{' x 2 for F_d' if self.c > 0 else ''}), all one size; got {h}x{w}: "
                            "set resize=N")
        return torch.stack(images).to(self.device)

    def images_out(self, x: torch.Tensor, shapes: list[tuple[int, int, int]]) -> list[np.ndarray]:
        """(B, 3, H', W') in [-1, 1] -> uint8 (H, W, 3) at each original shape (bicubic)."""
        out = []
        for xi, shape in zip(x, shapes):
            xi = xi.unsqueeze(0).float()
            if tuple(xi.shape[-2:]) != tuple(shape[:2]):
                xi = F.interpolate(xi, size=tuple(shape[:2]), mode="bicubic", align_corners=False)
            img = ((xi[0].clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            out.append(img)
        return out

    # --- the receiver --------------------------------------------------------------------------

    def grid(self) -> sm.Grid:
        scheduler = self.model().scheduler
        if scheduler.num_inference_steps != self.steps:
            scheduler.set_timesteps(self.steps)
        return sm.Grid.from_scheduler(scheduler)

    def latent_shape(self, side: DdscSide) -> tuple[int, int, int]:
        model = self.model()
        side_h, side_w = (self.resize, self.resize) if self.resize else side.shape[:2]
        return model.latent_channels, side_h // model.factor, side_w // model.factor

    def start_states(self, deliveries: list[Delivery], rngs: list[torch.Generator]) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """(x, start index) per image: the diffusion state the reverse process starts from.

        Returns:
            x: (B, latent, h, w) float32 states; start: (B,) int64 grid index of each (-1: no step);
            info: ``alpha_u`` (B,) the channel's ᾱ, ``index`` (B,) its grid step, ``snr_in`` (B,) dB fed to F_u.
        """
        grid = self.grid()
        code = self.convention == "code"
        sides = [d.side for d in deliveries]
        lshape = self.latent_shape(sides[0])
        dev = self.device
        if self.c == 0:  # the latent itself: per element (eqs. 15-16, 21-22, 28-29)
            values, var, alpha_u, snr_in = [], [], [], []
            for d, s in zip(deliveries, sides):
                x_hat, nv, common = sm.symbol_noise(d.received, self.aggregate, power=s.latent_power)
                if code:
                    common = s.latent_power * float(d.received.state.noise_power)
                    x_hat = d.received.symbols  # the equaliser's output as it is (MMSE: biased)
                values.append(from_symbols(x_hat, s.scale, lshape))
                var.append(s.latent_power * sm.per_real(nv, int(np.prod(lshape))).reshape(lshape))
                alpha_u.append(float(sm.alpha_from_noise_var(common)))
                snr_in.append(10.0 * np.log10(s.latent_power / common))
            s_hat, var = torch.stack(values).to(dev), torch.stack(var).to(dev)
            alpha_u = torch.tensor(alpha_u, dtype=torch.float64)
            index = sm.start_index(alpha_u, grid, self.mode, self.fixed_step)
            a_k = grid.alphas[index]
            if code:
                x = torch.sqrt(a_k).reshape(-1, 1, 1, 1).to(dev).float() * s_hat
            else:
                leveled = sm.to_level(s_hat, var, sm.noise_var_from_alpha(a_k), rngs)
                x = torch.sqrt(a_k).reshape(-1, 1, 1, 1).to(dev).float() * leveled
            snr_in = torch.tensor(snr_in, dtype=torch.float64)
        else:  # F_u on the compressed symbols (eqs. 4-5, 30)
            en, de, _, domain = self.compression()
            zs, snr_in, alpha_u = [], [], []
            zshape = (self.c, lshape[1] // 2, lshape[2] // 2)
            for d, s, g in zip(deliveries, sides, rngs):
                x_hat, nv, common = sm.symbol_noise(d.received, self.aggregate, power=1.0)
                if code:
                    common = float(d.received.state.noise_power)
                    z = from_symbols(d.received.symbols, s.scale, zshape)
                else:
                    pz = s.scale ** 2 / 2.0  # mean square per real value of F_d's output
                    z = from_symbols(x_hat, s.scale, zshape)
                    nvr = pz * sm.per_real(nv, int(np.prod(zshape))).reshape(zshape)
                    z = sm.to_level(z.unsqueeze(0), nvr.unsqueeze(0), pz * common, [g], signal_power=pz)[0]
                zs.append(z)
                snr_in.append(-10.0 * np.log10(common))
                alpha_u.append(float(sm.alpha_from_noise_var(s.latent_power * common)))
            snr_in = torch.tensor(snr_in, dtype=torch.float64)
            alpha_u = torch.tensor(alpha_u, dtype=torch.float64)
            with torch.no_grad():
                y_hat, mu, _ = de(torch.stack(zs).to(dev), snr_in.to(dev, torch.float32), rngs)
            x = y_hat if self.use_reparameterisation() else mu
            if domain == "paper":  # F_u gives the received latent y + σε: the state is √ᾱ_u times it (eq. 15)
                x = torch.sqrt(alpha_u).reshape(-1, 1, 1, 1).to(x) * x
            index = sm.start_index(alpha_u, grid, self.mode, self.fixed_step)
            if not code:
                x = sm.jump(x, alpha_u, grid.alphas[index], rngs)
        start = index
        if code and self.c > 0:  # the official evaluate_fid: k on the 1000-step schedule, decoded on the DDIM grid
            full = torch.as_tensor(self.model().scheduler.alphas_cumprod, dtype=torch.float64)
            start = (sm.grid_index(alpha_u, full).reshape(-1) - 1).clamp(max=len(grid) - 1)
        elif code:
            start = index - 1
        return x.float(), start, {"alpha_u": alpha_u, "index": index, "snr_in": snr_in}

    def reverse(self, x: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        """The reverse DDIM process: image i runs grid steps ``start[i], ..., 0`` (none when -1)."""
        model = self.model()
        grid = self.grid()
        scheduler = model.scheduler
        x = x.clone()
        with torch.no_grad():
            for j in range(int(start.max()), -1, -1):
                active = (start >= j).nonzero().reshape(-1).to(x.device)
                t = int(grid.timesteps[j])
                xa = x[active]
                out = model.eps(xa, t)
                x[active] = scheduler.step(out, t, xa, eta=0.0).prev_sample.to(x.dtype)
        return x

    def receive_batch(self, deliveries: list[Delivery], rngs: list[torch.Generator]) -> list[np.ndarray]:
        model = self.model()
        x, start, _ = self.start_states(deliveries, rngs)
        y0 = self.reverse(x, start)
        with torch.no_grad():
            images = model.vae.decode(y0 / model.scaling_factor).sample
        return self.images_out(images, [d.side.shape for d in deliveries])


__all__ = ["Ddsc", "DdscSender", "DdscSide", "EMBEDDED", "SHIPPED", "embedded_compression"]
