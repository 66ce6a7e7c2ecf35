"""The latent diffusion model behind ``ddsc``: a diffusers folder (Stable Diffusion 2.x or the embedded one).

:func:`load_base` reads a folder in the diffusers layout::

    <base>/vae/config.json + diffusion_pytorch_model.{safetensors,bin}   AutoencoderKL (E and D, eqs. 1, 6)
    <base>/unet/config.json + diffusion_pytorch_model.{safetensors,bin}  UNet2DModel or UNet2DConditionModel
    <base>/scheduler/scheduler_config.json                               the training noise schedule
    <base>/text_encoder/, <base>/tokenizer/                              only for a UNet2DConditionModel

``base`` is that folder, a Hugging Face cache folder ``models--org--name`` (its newest snapshot),
or a repo id ``org/name`` looked up in the Hugging Face cache, offline. Nothing is downloaded.

How the official code (an ldm fork of Stable Diffusion 2, ``v2-inference.yaml``) is mapped:

* **E:** the latent is ``scaling_factor · posterior.sample()`` (``get_first_stage_encoding``; the
  mode with ``latent="mode"``); **D:** ``vae.decode(latent / scaling_factor)``;
* **sampler:** the folder's schedule (betas, ``prediction_type``, ``steps_offset``) in a diffusers
  ``DDIMScheduler`` with the official DDIM's other settings forced: ``clip_sample=False``,
  ``set_alpha_to_one=False`` (the last step goes to ``ᾱ_0``, as ldm's ``ddim_alphas_prev[0]``),
  ``timestep_spacing="leading"`` (with ``steps_offset=1``: ldm's ``range(0, T, T//S) + 1``), η = 0;
  SD 2-1-base ships a PNDM config, which is read the same way;
* **guidance 0** (the README's ``--scale 0``): the U-Net sees the empty prompt only. For a
  ``UNet2DConditionModel`` that is the text encoder's output for ``""`` padded to the tokenizer's
  length (what diffusers' pipelines pass); without a text encoder and tokenizer in the folder it
  cannot be made, and the loader says so.

Loaded models are cached per (folder, device), in eval mode, float32.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from semcom_bench.errors import UserError

#: the embedded base (trained by ``semcom-bench train ddsc-base``)
EMBEDDED_BASE = Path(__import__("semcom_bench").__file__).resolve().parent / "assets" / "ddsc-base"
WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin",
                "diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.fp16.bin")
UNETS = ("UNet2DModel", "UNet2DConditionModel")


@dataclass
class LatentModel:
    """E, D, the U-Net and the sampler of a base folder.

    Attributes:
        path: the folder read.
        vae: diffusers ``AutoencoderKL``.
        unet: ``UNet2DModel`` or ``UNet2DConditionModel``.
        scheduler: ``DDIMScheduler`` (see the module docstring).
        scaling_factor: the VAE's ``scaling_factor`` (SD: 0.18215).
        context: (1, L, D) float32 empty-prompt embedding for a conditional U-Net, else None.
        notes: what was adapted when reading the folder (shown in the method's record).
    """

    path: Path
    vae: Any
    unet: Any
    scheduler: Any
    scaling_factor: float
    context: torch.Tensor | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    @property
    def factor(self) -> int:
        """Image pixels per latent element along each side (SD: 8)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def conditional(self) -> bool:
        return self.context is not None

    def eps(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """The U-Net's output (ε or v, as the scheduler's ``prediction_type``) at training step ``t``."""
        if self.context is not None:
            ctx = self.context.to(x.device, x.dtype).expand(x.shape[0], -1, -1)
            return self.unet(x, t, encoder_hidden_states=ctx).sample
        return self.unet(x, t).sample


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def resolve_base(base: str | Path | None) -> Path:
    """The folder ``base`` names: a diffusers folder, an HF cache ``models--…`` folder, or an ``org/name`` in the HF cache."""
    if base is None or str(base) == "":
        from semcom_bench.errors import MissingWeightsError
        from semcom_bench_baselines.ddsc.base_training import embedded_base

        if not (EMBEDDED_BASE / "unet").is_dir():
            raise UserError(f"the embedded ddsc base {EMBEDDED_BASE} is missing in this version (semcom-bench train "
                            "ddsc-base trains it); give base=PATH to a diffusers Stable Diffusion 2.x folder")
        try:
            embedded_base()  # its vae/, unet/ and scheduler/ against their declared sha256
        except MissingWeightsError as exc:
            raise UserError(f"the embedded ddsc base: {exc}") from None
        return EMBEDDED_BASE
    p = Path(str(base)).expanduser()
    if not p.exists() and "/" in str(base) and not str(base).startswith((".", "/", "~")):
        from semcom_bench.weights import hf_cache_dirs

        for d in hf_cache_dirs():
            cand = d / ("models--" + str(base).replace("/", "--"))
            if cand.is_dir():
                p = cand
                break
        else:
            raise UserError(f"ddsc base {base}: no such folder, and no Hugging Face cache holds it "
                            f"(looked in {', '.join(str(d) for d in hf_cache_dirs())}); nothing is downloaded: "
                            "give the path of a diffusers folder")
    if not p.is_dir():
        raise UserError(f"ddsc base {p} is not a folder; give a diffusers folder with vae/, unet/ and scheduler/")
    snaps = p / "snapshots"
    if snaps.is_dir() and not (p / "unet").exists():
        found = sorted((s for s in snaps.iterdir() if s.is_dir()), key=lambda s: s.stat().st_mtime)
        if not found:
            raise UserError(f"ddsc base {p} is a Hugging Face cache folder without snapshots; download the model first")
        p = found[-1]
    return p


def _check_component(folder: Path, sub: str, config: str = "config.json", weights: bool = True) -> dict[str, Any]:
    cfg = folder / sub / config
    if not cfg.is_file():
        raise UserError(f"ddsc base {folder}: {sub}/{config} missing; give a diffusers folder with vae/, unet/ "
                        "and scheduler/ (Stable Diffusion 2.x layout)")
    try:
        info = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"ddsc base {folder}: {sub}/{config} cannot be read ({_one_line(exc)})") from None
    if weights and not any((folder / sub / n).is_file() for n in WEIGHT_NAMES):
        raise UserError(f"ddsc base {folder}: {sub}/{WEIGHT_NAMES[0]} missing (nor .bin); the weights of {sub} are needed")
    return info


def check_folder(folder: Path) -> dict[str, dict[str, Any]]:
    """The configs of a base folder, or a one-line UserError naming the first missing piece."""
    configs = {"vae": _check_component(folder, "vae"), "unet": _check_component(folder, "unet"),
               "scheduler": _check_component(folder, "scheduler", "scheduler_config.json", weights=False)}
    kind = configs["unet"].get("_class_name")
    if kind not in UNETS:
        raise UserError(f"ddsc base {folder}: unet/config.json is a {kind!r}; a UNet2DModel or UNet2DConditionModel is needed")
    if configs["vae"].get("_class_name", "AutoencoderKL") != "AutoencoderKL":
        raise UserError(f"ddsc base {folder}: vae/config.json is a {configs['vae'].get('_class_name')!r}; "
                        "an AutoencoderKL is needed")
    if kind == "UNet2DConditionModel":
        for sub in ("text_encoder", "tokenizer"):
            if not (folder / sub).is_dir():
                raise UserError(f"ddsc base {folder}: the U-Net is a UNet2DConditionModel but {sub}/ is missing: the "
                                "empty-prompt embedding of guidance 0 needs text_encoder/ and tokenizer/ "
                                "(Stable Diffusion 2.x ships both)")
    return configs


def _quiet() -> None:
    """Silence the libraries' loading notices and progress bars (the CLI draws its own progress)."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _from_pretrained(cls: Any, folder: Path, sub: str) -> Any:
    _quiet()
    try:
        kwargs = {"low_cpu_mem_usage": False} if cls.__module__.startswith("diffusers") else {}
        return cls.from_pretrained(str(folder), subfolder=sub, local_files_only=True, **kwargs)
    except Exception as exc:  # diffusers/transformers raise many kinds on a broken folder
        raise UserError(f"ddsc base {folder}: {sub}/ cannot be loaded ({_one_line(exc)})") from None


def empty_prompt_embedding(folder: Path) -> torch.Tensor:
    """(1, L, D) text-encoder output for ``""`` (padded to the tokenizer's length), as guidance 0 needs."""
    from transformers import AutoTokenizer, CLIPTextModel

    tokenizer = _from_pretrained(AutoTokenizer, folder, "tokenizer")
    encoder = _from_pretrained(CLIPTextModel, folder, "text_encoder").eval()
    ids = tokenizer([""], padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    with torch.no_grad():
        return encoder(ids)[0].float()


def scheduler_for(config: dict[str, Any]) -> tuple[Any, list[str]]:
    """A ``DDIMScheduler`` from a scheduler config, with the official DDIM settings forced (see the module docstring)."""
    from diffusers import DDIMScheduler

    forced = {"clip_sample": False, "set_alpha_to_one": False, "timestep_spacing": "leading"}
    notes = [f"scheduler {config.get('_class_name', '?')} read as DDIMScheduler"] \
        if config.get("_class_name") != "DDIMScheduler" else []
    changed = [f"{k}={v}" for k, v in forced.items() if config.get(k, None if k != "timestep_spacing" else "leading") != v]
    if changed:
        notes.append("forced " + ", ".join(changed))
    cfg = {k: v for k, v in config.items() if not k.startswith("_")}
    cfg.update(forced)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DDIMScheduler.from_config(cfg), notes


def load_base(base: str | Path | None, device: str = "cpu") -> LatentModel:
    """The :class:`LatentModel` of ``base`` (None: the embedded folder) on ``device``, cached."""
    return _load(str(resolve_base(base)), device)


@lru_cache(maxsize=4)
def _load(folder_text: str, device: str) -> LatentModel:
    from diffusers import AutoencoderKL, UNet2DConditionModel, UNet2DModel

    folder = Path(folder_text)
    configs = check_folder(folder)
    vae = _from_pretrained(AutoencoderKL, folder, "vae")
    kind = configs["unet"]["_class_name"]
    unet = _from_pretrained(UNet2DConditionModel if kind == "UNet2DConditionModel" else UNet2DModel, folder, "unet")
    scheduler, notes = scheduler_for(configs["scheduler"])
    sf = getattr(vae.config, "scaling_factor", None)
    if sf is None:
        raise UserError(f"ddsc base {folder}: vae/config.json has no scaling_factor")
    context = empty_prompt_embedding(folder) if kind == "UNet2DConditionModel" else None
    if int(unet.config.in_channels) != int(vae.config.latent_channels):
        raise UserError(f"ddsc base {folder}: the U-Net takes {unet.config.in_channels} channels, the VAE's latent has "
                        f"{vae.config.latent_channels}")
    if context is not None:
        want = unet.config.cross_attention_dim
        if want is not None and int(context.shape[-1]) != int(want if isinstance(want, int) else want[0]):
            raise UserError(f"ddsc base {folder}: the text encoder gives {context.shape[-1]} features, the U-Net's "
                            f"cross_attention_dim is {want}")
    model = LatentModel(folder, vae.to(device).eval(), unet.to(device).eval(), scheduler, float(sf),
                        None if context is None else context.to(device), notes)
    for net in (model.vae, model.unet):
        net.requires_grad_(False)
    return model


__all__ = ["LatentModel", "EMBEDDED_BASE", "resolve_base", "check_folder", "load_base", "scheduler_for",
           "empty_prompt_embedding"]
