"""Learned perceptual metrics, per image: LPIPS (lower is better) and CLIP similarity (higher).

LPIPS (``lpips`` AlexNet, as the DDSC evaluation; ``lpips-vgg`` VGG16)
    The ``lpips`` package (0.1.4) ships only the linear heads (``lpips/weights/v0.1/*.pth``);
    its backbones are torchvision's ImageNet networks, which no package ships. Both nets are
    built with random initialisation (``pnet_rand=True``, so neither lpips nor torchvision ever
    tries a download) and then loaded from local files resolved by
    :mod:`semcom_bench.weights`: the backbone from torchvision's published checkpoint
    (``alexnet-owt-7be5be79.pth`` / ``vgg16-397923af.pth``, e.g. in the torch hub cache or
    ``$SEMCOM_WEIGHTS``; only its ``features.*`` tensors are used), the heads from the
    installed lpips package. Images are compared at their own resolution, scaled to [-1, 1].

CLIP (``clip``)
    Cosine similarity in [-1, 1] of the CLIP ViT-B/32 image embeddings of the original and of
    the reconstruction (the DDSC paper's image-image CLIP score, without torchmetrics'
    ``100 x max(cos, 0)`` scaling). The model is a Hugging Face folder
    (``$SEMCOM_WEIGHTS/clip-vit-base-patch32/`` or the hub cache, read offline) loaded with
    transformers' ``CLIPModel``; images are preprocessed as CLIP was trained (PIL bicubic
    resize of the short side to 224, centre crop 224 x 224, CLIP mean/std), with the
    settings of the folder's ``preprocessor_config.json``.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from semcom_bench import weights
from semcom_bench.components import Annotated, Doc, Literal, RunContext
from semcom_bench.metrics.base import Metric, Scored
from semcom_bench.registry import metrics

# --- LPIPS ------------------------------------------------------------------------------------

BACKBONES = {
    "alex": weights.register_weights(
        weights.WeightFile(
            name="torchvision-alexnet",
            filename="alexnet-owt-7be5be79.pth",
            description="torchvision AlexNet ImageNet weights (LPIPS backbone; features.* used)",
            sha256="7be5be79",
            url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            used_by=("lpips",),
        )
    ),
    "vgg": weights.register_weights(
        weights.WeightFile(
            name="torchvision-vgg16",
            filename="vgg16-397923af.pth",
            description="torchvision VGG16 ImageNet weights (LPIPS-VGG backbone; features.* used)",
            sha256="397923af",
            url="https://download.pytorch.org/models/vgg16-397923af.pth",
            used_by=("lpips-vgg",),
        )
    ),
}

HEADS = {
    "alex": weights.register_weights(
        weights.WeightFile(
            name="lpips-alex-heads",
            filename="alex.pth",
            description="LPIPS v0.1 linear heads for AlexNet",
            sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
            url="pypi.org/project/lpips (file lpips/weights/v0.1/alex.pth)",
            used_by=("lpips",),
            package="lpips/weights/v0.1/alex.pth",
        )
    ),
    "vgg": weights.register_weights(
        weights.WeightFile(
            name="lpips-vgg-heads",
            filename="vgg.pth",
            description="LPIPS v0.1 linear heads for VGG16",
            sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
            url="pypi.org/project/lpips (file lpips/weights/v0.1/vgg.pth)",
            used_by=("lpips-vgg",),
            package="lpips/weights/v0.1/vgg.pth",
        )
    ),
}


NET_LABELS = {"alex": "AlexNet", "vgg": "VGG16"}


def _where(weight: weights.WeightFile) -> str:
    return f"$SEMCOM_WEIGHTS/{weight.filename} or the torch hub cache ($TORCH_HOME/hub/checkpoints/{weight.filename})"


def build_lpips(net: str, backbone_path: Path, heads_path: Path, device: str = "cpu") -> Any:
    """An ``lpips.LPIPS`` model with the backbone and heads loaded from local files only.

    Raises ValueError when a file does not hold the expected tensors.
    """
    import torch

    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's notice about lpips' 'pretrained=' argument
        model = lpips.LPIPS(pretrained=False, net=net, version="0.1", pnet_rand=True, verbose=False)
    state = torch.load(backbone_path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    # lpips keeps torchvision's ``features[i]`` modules as ``net.slice<k>.<i>``
    target: dict[str, Any] = {}
    for key, value in model.net.state_dict().items():
        _, index, param = key.split(".")
        source = f"features.{index}.{param}"
        if source not in state:
            raise ValueError(f"{backbone_path} has no {source}: not a torchvision {net} state dict")
        if tuple(state[source].shape) != tuple(value.shape):
            raise ValueError(f"{backbone_path}: {source} has shape {tuple(state[source].shape)}, expected {tuple(value.shape)}")
        target[key] = state[source].float()
    model.net.load_state_dict(target, strict=True)
    heads = torch.load(heads_path, map_location="cpu", weights_only=True)
    # the heads are registered twice (``lin<k>`` and the ``lins`` list); files hold ``lin<k>``
    wanted = {k for k in model.state_dict() if k.startswith("lin") and not k.startswith("lins.")}
    if set(heads) != wanted:
        raise ValueError(f"{heads_path} is not an LPIPS v0.1 {net} head file (keys {sorted(heads)[:3]}…)")
    model.load_state_dict(heads, strict=False)
    return model.to(device).eval()


Net = Annotated[Literal["alex", "vgg"], Doc("LPIPS backbone: alex (AlexNet, as the DDSC evaluation) or vgg (VGG16)")]
BackbonePath = Annotated[Path | None, Doc("explicit torchvision backbone weights file")]


@metrics.register(summary="LPIPS v0.1, AlexNet backbone by default (as the DDSC evaluation); net=vgg for VGG16",
                  weights=(BACKBONES["alex"].name, HEADS["alex"].name))
class LPIPS(Metric):
    """Learned perceptual image patch similarity (v0.1) between original and reconstruction.

    The output is ``lpips`` for the AlexNet backbone and ``lpips-vgg`` for VGG16.
    """

    name = "lpips"
    version = "1"
    outputs = {"lpips": True}

    def __init__(self, context: RunContext | None = None, *, net: Net = "alex", backbone_path: BackbonePath = None):
        super().__init__(context)
        self.net = net
        self.backbone_path = backbone_path
        self.output = "lpips" if net == "alex" else f"lpips-{net}"
        self.outputs = {self.output: True}
        self._model: Any = None

    def unavailable(self) -> str | None:
        if importlib.util.find_spec("lpips") is None:
            return "needs the lpips package: pip install lpips"
        backbone = BACKBONES[self.net]
        if weights.find(backbone.name, self.backbone_path) is None:
            if self.backbone_path:
                return f"backbone file {self.backbone_path} does not exist; check the path"
            return (
                f"torchvision {NET_LABELS[self.net]} weights ({backbone.filename}) not found; download "
                f"{backbone.url} to {_where(backbone)}; check with 'semcom-bench weights'"
            )
        if weights.find(HEADS[self.net].name) is None:
            return f"LPIPS heads ({HEADS[self.net].package}) not found; pip install lpips==0.1.4"
        return weights.verification_problem((backbone.name, self.backbone_path), (HEADS[self.net].name, None))

    def _paths(self) -> tuple[Path, Path]:
        return weights.resolve(BACKBONES[self.net].name, self.backbone_path), weights.resolve(HEADS[self.net].name)

    def fingerprint(self) -> dict[str, Any]:
        backbone, heads = self._paths()
        return {
            "net": self.net,
            "lpips_version": "0.1",
            "backbone_sha256": weights.cached_checksum(backbone),
            "heads_sha256": weights.cached_checksum(heads),
            "resize": "none",
        }

    def model(self) -> Any:
        if self._model is None:
            self._model = build_lpips(self.net, *self._paths(), device=self.device)
        return self._model

    def score(self, items: list[Scored]) -> list[dict[str, float]]:
        import torch

        model = self.model()
        out = []
        for it in items:  # one at a time: images of a set may differ in size
            a = torch.from_numpy(it.sample.image).permute(2, 0, 1)[None].float() / 255.0
            b = torch.from_numpy(it.recon).permute(2, 0, 1)[None].float() / 255.0
            with torch.no_grad():
                value = model(a.to(self.device), b.to(self.device), normalize=True)
            out.append({self.output: float(value.flatten()[0])})
        return out


# --- CLIP -------------------------------------------------------------------------------------

CLIP_B32 = weights.register_weights(
    weights.WeightFile(
        name="clip-vit-base-patch32",
        filename="config.json",
        description="CLIP ViT-B/32, Hugging Face format (image tower used)",
        url="https://huggingface.co/openai/clip-vit-base-patch32",
        hf_repo="openai/clip-vit-base-patch32",
        used_by=("clip",),
    )
)


def image_embeds(model: Any, pixel_values: Any) -> Any:
    """CLIP image embeddings as a tensor, whatever ``get_image_features`` returns.

    transformers 4 returns the projected embeddings; transformers 5 returns an output object
    whose ``pooler_output`` holds them (``image_embeds`` on some models).
    """
    import torch

    out = model.get_image_features(pixel_values=pixel_values)
    if isinstance(out, torch.Tensor):
        return out
    for attr in ("image_embeds", "pooler_output"):
        value = getattr(out, attr, None)
        if isinstance(value, torch.Tensor):
            return value
    raise TypeError(f"cannot find image embeddings in {type(out).__name__}")


def load_clip(folder: Path, device: str = "cpu") -> tuple[Any, Any]:
    """(CLIPModel, image processor) from a local Hugging Face folder, never the network."""
    weights.enforce_offline()
    import transformers

    transformers.utils.logging.disable_progress_bar()  # the CLI draws its own progress
    processor_cls = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    model = transformers.CLIPModel.from_pretrained(str(folder), local_files_only=True)
    if (Path(folder) / "preprocessor_config.json").is_file():
        processor = processor_cls.from_pretrained(str(folder), local_files_only=True)
    else:  # the defaults are CLIP's own preprocessing
        processor = processor_cls()
    return model.to(device).eval(), processor


@metrics.register(summary="CLIP ViT-B/32 image-image cosine similarity", weights=(CLIP_B32.name,))
class CLIPSimilarity(Metric):
    """Cosine similarity of CLIP image embeddings of the original and the reconstruction."""

    name = "clip"
    version = "1"
    outputs = {"clip": False}

    def __init__(self, context: RunContext | None = None, *,
                 model_path: Annotated[Path | None, Doc("a CLIP ViT-B/32 Hugging Face model folder")] = None):
        super().__init__(context)
        self.model_path = model_path
        self._loaded: tuple[Any, Any] | None = None

    def unavailable(self) -> str | None:
        if importlib.util.find_spec("transformers") is None:
            return "needs transformers: pip install transformers"
        if weights.find(CLIP_B32.name, self.model_path) is None:
            if self.model_path:
                return f"model folder {self.model_path} does not exist or has no config.json; check the path"
            return (
                f"CLIP ViT-B/32 ({CLIP_B32.hf_repo}) not found; put the Hugging Face model folder at "
                f"$SEMCOM_WEIGHTS/{CLIP_B32.name}/ (e.g. 'hf download {CLIP_B32.hf_repo} --local-dir "
                f"$SEMCOM_WEIGHTS/{CLIP_B32.name}' on a connected machine) or in the Hugging Face cache; check with 'semcom-bench weights'"
            )
        return weights.verification_problem((CLIP_B32.name, self.model_path))

    def fingerprint(self) -> dict[str, Any]:
        folder = weights.resolve(CLIP_B32.name, self.model_path)
        return {"model_sha256": weights.cached_checksum(folder), "preprocess": "clip-pil-bicubic-centre-crop"}

    def loaded(self) -> tuple[Any, Any]:
        if self._loaded is None:
            self._loaded = load_clip(weights.resolve(CLIP_B32.name, self.model_path), self.device)
        return self._loaded

    def score(self, items: list[Scored]) -> list[dict[str, float]]:
        import torch

        model, processor = self.loaded()
        images = [it.sample.image for it in items] + [it.recon for it in items]
        pixels = processor(images=[np.asarray(im) for im in images], return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            emb = image_embeds(model, pixels.to(self.device)).double()
        n = len(items)
        cos = torch.nn.functional.cosine_similarity(emb[:n], emb[n:], dim=-1).clamp(-1.0, 1.0)
        return [{"clip": float(c)} for c in cos.cpu()]


@metrics.register(summary="LPIPS v0.1, VGG16 backbone (lpips with net=vgg)", weights=(BACKBONES["vgg"].name, HEADS["vgg"].name))
class LPIPSVGG(LPIPS):
    """``lpips`` with the VGG16 backbone by default."""

    name = "lpips-vgg"

    def __init__(self, context: RunContext | None = None, *, net: Net = "vgg", backbone_path: BackbonePath = None):
        super().__init__(context, net=net, backbone_path=backbone_path)
