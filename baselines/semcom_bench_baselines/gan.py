"""The base of the GAN receivers (SPADE, OASIS, SMIS, CC-FPSE) over the received semantic maps.

A :class:`GanReceiver` is a :class:`~semcom_bench.methods.semantic.maps.MapMethod`: the sender,
the power normalisation, the map codec, the transports, FDS and re-binarisation are the map
methods' own, so in one run a GAN receiver gets exactly the symbols ``gesco`` and ``sdm`` get.
``fds`` stays off by default: the GAN baselines of the paper receive the noisy maps as they are.

The receiver (:meth:`GanReceiver.synthesise`):

1. the received maps (B, C + 1, H, W) are taken to the network's label space as ``gesco`` does:
   the C data classes are padded with zero maps up to the network's classes (34 synthetic-streets
   ids into the 35 of an official Cityscapes network), and the edge map (last channel) is kept
   only for a network that takes instance edges;
2. nearest-resized to the network's input size (its options' crop size and aspect ratio:
   256x512 for the official Cityscapes networks, 32x64 for the embedded ones);
3. the generator's noise (OASIS 3D noise, SMIS per-class latents, the VAE z of SPADE and CC-FPSE)
   is drawn per image from that image's receiver stream, so an image comes out the same in any
   batch and every method of a run starts from the same stream state;
4. the output in [-1, 1] is resized (bicubic) to the scene size and converted to uint8.

Weights: ``checkpoint=cityscapes`` (or ``coco-stuff``, where the authors released one) is a released
checkpoint, found through the weights search order (``$SEMCOM_WEIGHTS/<name>/<file>``, caches; see
``semcom-bench weights``), built from the options it was trained with (:class:`Released`) and
loaded strictly by the network module's ``load_official``. ``weights=PATH`` is such a file at a
path of your choice, with the options of ``checkpoint`` (Cityscapes unless set) or of
``options=FILE`` (a JSON object of the network's options dataclass fields, for a checkpoint
trained with other options). By default (``checkpoint=embedded``) the embedded network
``semcom_bench/assets/<method>/<method>-synthetic-streets.pt`` is used, built from the
``options`` of the JSON beside it, its float16 tensors (and, for a file stored as
:data:`semcom_bench.weight_codecs.INT8`, its int8 weights times their scales) turned into float32
and loaded strictly.
Networks are cached per (file, options, device), in eval mode on the run's device.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semcom_bench.components import Annotated, Doc, RunContext
from semcom_bench.errors import MissingWeightsError, UserError
from semcom_bench.methods.semantic.maps import MapMethod
from semcom_bench.weight_codecs import INT8, dequantise
from semcom_bench.weights import WeightFile, find, register_weights, resolve

Weights = Annotated[Path | None, Doc("an official generator checkpoint at this path (options: checkpoint's, "
                                     "Cityscapes unless set, or options=)")]
Checkpoint = Annotated[str, Doc("embedded (trained here on synthetic-streets) or a released one found through the "
                                "weights search: cityscapes, coco-stuff where released (semcom-bench weights lists them)")]
OptionsFile = Annotated[Path | None, Doc("with weights: a JSON object of the network's official options "
                                         "(default: the official Cityscapes options)")]


def embedded_weights(key: str, description: str, sha256: str | None = None) -> WeightFile:
    """Declare the shipped network ``assets/<key>/<key>-synthetic-streets.pt`` of method ``key``.

    ``sha256`` stays None until the training step fills it in: the file is then used unverified.
    """
    name = f"{key}-synthetic-streets"
    return register_weights(WeightFile(name=name, filename=f"{name}.pt", description=description, sha256=sha256,
                                       embedded=f"{key}/{name}.pt", used_by=(key,)))


@dataclass(frozen=True)
class Released:
    """A checkpoint the authors released: its file(s) and the options it was trained with.

    Attributes:
        generator: the declaration of the generator file (``semcom-bench weights`` lists it).
        options: fields of the network's options dataclass that differ from its defaults
            (the defaults are the Cityscapes model's).
        encoder: the declaration of the encoder file that the official test loads with it
            (CC-FPSE's ``net_E``), or None.
    """

    generator: WeightFile
    options: dict[str, Any] = field(default_factory=dict)
    encoder: WeightFile | None = None


def released_weights(key: str, dataset: str, filename: str, folder: str, url: str, what: str = "generator",
                     suffix: str = "") -> WeightFile:
    """Declare the released file ``<folder>/<filename>`` of method ``key`` trained on ``dataset``.

    Its name is ``<key>-<dataset><suffix>``; it is found at ``$SEMCOM_WEIGHTS/<name>/<filename>``
    (the released file names repeat across methods, so a folder per name keeps them apart).
    """
    return register_weights(WeightFile(
        name=f"{key}-{dataset}{suffix}", filename=filename, url=url, used_by=(key,), own_folder=True,
        description=f"official {key} {dataset} {what} ({folder}/{filename} of the released checkpoints)"))


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        raise UserError(f"{what} {path} cannot be read ({reason}); give a JSON object of the network's options") from None
    if not isinstance(info, dict):
        raise UserError(f"{what} {path} is not a JSON object; give a JSON object of the network's options")
    return info


@lru_cache(maxsize=8)
def _load(cls: type[GanReceiver], path: str, embedded: bool, options_file: str | None, extra: str | None,
          device: str, preset: tuple[tuple[str, Any], ...] = ()) -> tuple[nn.Module, Any]:
    """(generator in eval mode on ``device``, its options); cached per (file, options, device).

    ``preset``: the released checkpoint's option fields (``options_file`` overrides them).
    """
    p = Path(path)
    sidecar = p.with_suffix(".json")
    if embedded:  # the embedded network: options from the JSON beside it
        if not sidecar.is_file():
            raise UserError(f"embedded network {p} has no {sidecar.name} beside it; reinstall the package")
        info = _read_json(sidecar, "settings file")
        options = cls.make_options(info.get("options"), sidecar)
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch's safe unpickler raises many kinds on a foreign file
            raise UserError(f"embedded network {p} cannot be read ({type(exc).__name__}); reinstall the package") from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise UserError(f"embedded network {p} does not hold a state dict of tensors; reinstall the package")
        encoding = (info.get("weights") or {}).get("encoding")
        if encoding not in (None, INT8):
            raise UserError(f"embedded network {p} is stored as {encoding!r}, which this version cannot read; "
                            "reinstall the package")
        try:
            state = dequantise(state)  # int8 tensors with their scales (INT8) to float32, float16 to float32
        except ValueError as exc:
            raise UserError(f"embedded network {p}: {exc}; reinstall the package") from None
        net = cls.build(options)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            detail = next((ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()), "load_state_dict failed")
            raise UserError(f"embedded network {p} does not fit the options of {sidecar.name}: {detail[:200]}") from None
    else:
        info = _read_json(Path(options_file), "options file") if options_file else {}
        fields = info.get("options", info)
        if isinstance(fields, dict):
            fields = {**dict(preset), **fields}
        options = cls.make_options(fields, Path(options_file) if options_file else None)
        net = cls.load_official(p, options, extra)
    return net.to(device).eval(), options


@lru_cache(maxsize=32)
def _file_hash(path: str) -> str:
    from semcom_bench.hashing import hash_file

    return hash_file(path)


class GanReceiver(MapMethod):
    """Received semantic maps -> a conditional GAN generator (see the module docstring).

    Subclasses set ``name``, ``options_class``, ``embedded``, ``official_file`` and implement
    :meth:`load_official`, :meth:`build` (when the options alone do not say it),
    :meth:`layout`, :meth:`input_size` and :meth:`generate`.
    """

    version = "1"
    #: the network's options dataclass
    options_class: ClassVar[type]
    #: the embedded network's declaration (:func:`embedded_weights`)
    embedded: ClassVar[WeightFile]
    #: the official file's name, for messages (e.g. ``latest_net_G.pth``)
    official_file: ClassVar[str] = "latest_net_G.pth"
    #: the released checkpoints by data set (``checkpoint=``); ``cityscapes`` is the options' defaults
    released: ClassVar[dict[str, Released]] = {}

    def __init__(self, context: RunContext | None = None, *, checkpoint: Checkpoint = "embedded",
                 weights: Weights = None, options: OptionsFile = None, **shared: Any):
        super().__init__(context, **shared)
        if checkpoint != "embedded" and checkpoint not in self.released:
            raise UserError(f"parameter checkpoint of method {self.name!r} is {checkpoint!r}; choose embedded or "
                            f"{' or '.join(self.released)} (the released checkpoints of {self.name})")
        self.checkpoint, self.weights, self.options = checkpoint, weights, options
        if options is not None and self.official is None:
            raise UserError(f"parameter options of method {self.name!r} applies to an official checkpoint: "
                            "give weights=PATH or checkpoint= too (the embedded network carries its own options)")
        if weights is None and checkpoint == "embedded" and find(self.embedded.name) is None:
            raise UserError(self.no_network_message())

    # --- what a network module tells ----------------------------------------------------------

    @classmethod
    def no_network_message(cls) -> str:
        return (f"method {cls.name} has no embedded network in this version (semcom-bench train {cls.name} trains one); "
                f"pass checkpoint=cityscapes (the released file under $SEMCOM_WEIGHTS) or weights=PATH to an "
                f"official {cls.official_file}")

    @classmethod
    def make_options(cls, fields: Any, source: Path | None) -> Any:
        """The options dataclass from JSON fields (None: the official defaults); a misfit names ``source``."""
        if fields is None:
            return cls.options_class()
        if not isinstance(fields, dict):
            raise UserError(f"options in {source} must be a JSON object of {cls.options_class.__name__} fields")
        try:
            return cls.options_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
        except TypeError as exc:
            raise UserError(f"options in {source} do not fit {cls.options_class.__name__} ({exc}); "
                            "give only its fields") from None

    @classmethod
    def build(cls, options: Any) -> nn.Module:
        """The generator for ``options`` (random weights)."""
        raise NotImplementedError

    @classmethod
    def load_official(cls, path: Path, options: Any, extra: str | None) -> nn.Module:
        """The generator of an official checkpoint, loaded strictly (``extra``: a second file, e.g. net_E)."""
        raise NotImplementedError

    @classmethod
    def layout(cls, options: Any) -> tuple[int, bool]:
        """(class channels of the one-hot input, whether the instance-edge channel follows them)."""
        raise NotImplementedError

    @classmethod
    def input_size(cls, options: Any) -> tuple[int, int]:
        """(height, width) of the label map the network is built for (and of its output)."""
        raise NotImplementedError

    @classmethod
    def generate(cls, net: nn.Module, options: Any, y: torch.Tensor, rngs: list[torch.Generator]) -> torch.Tensor:
        """(B, 3, h, w) in [-1, 1] from the input ``y``, the noise drawn per image from ``rngs[i]``."""
        raise NotImplementedError

    # --- the method --------------------------------------------------------------------------

    def extra_file(self) -> str | None:
        """A second file the official checkpoint comes with (CC-FPSE's encoder), or None.

        For a released checkpoint found by name (``checkpoint=`` without ``weights=``), its
        declared encoder is resolved the same way.
        """
        if self.checkpoint != "embedded" and self.weights is None:
            encoder = self.released[self.checkpoint].encoder
            return str(resolve(encoder.name)) if encoder is not None else None
        return None

    @property
    def official(self) -> Released | None:
        """The released checkpoint whose options an official file is built with (None: embedded)."""
        if self.checkpoint != "embedded":
            return self.released[self.checkpoint]
        return self.released.get("cityscapes") if self.weights is not None else None

    def weights_path(self) -> Path:
        if self.weights is not None:
            p = Path(self.weights).expanduser()
            if not p.is_file():
                raise MissingWeightsError(f"weights file {p} does not exist (for method {self.name}); check the path")
            return p
        if self.checkpoint != "embedded":
            return resolve(self.released[self.checkpoint].generator.name)
        try:
            return resolve(self.embedded.name)
        except MissingWeightsError:
            raise UserError(self.no_network_message()) from None

    def network(self) -> tuple[nn.Module, Any]:
        official = self.official
        preset = tuple(sorted(official.options.items())) if official is not None else ()
        return _load(type(self), str(self.weights_path()), official is None, str(self.options) if self.options else None,
                     self.extra_file(), self.device, preset)

    def checkpoint_hash(self) -> str | None:
        files = [self.weights_path(), self.options, self.extra_file()]
        if self.official is None:
            files[1] = self.weights_path().with_suffix(".json")
        hashes = [_file_hash(str(f)) for f in files if f is not None and Path(f).is_file()]
        if len(hashes) == 1:
            return hashes[0]
        from semcom_bench.hashing import hash_obj

        return hash_obj(hashes)

    def default_classes(self) -> int:
        _, options = self.network()
        return self.layout(options)[0]

    def conditioning(self, maps: torch.Tensor, options: Any) -> torch.Tensor:
        """(B, classes + edges, h, w) network input from (B, C + 1, H, W) received maps."""
        classes, edges = self.layout(options)
        c = maps.shape[1] - 1  # data classes; the last channel is the edge map
        if c > classes:
            raise UserError(f"the {self.name} network knows {classes} classes but the data set has {c}; "
                            "use weights of a network trained on its label space")
        if c < classes:  # e.g. 34 label ids into the official 35-class network
            pad = maps.new_zeros((maps.shape[0], classes - c, *maps.shape[-2:]))
            maps = torch.cat([maps[:, :c], pad, maps[:, c:]], dim=1)
        if not edges:
            maps = maps[:, :classes]
        size = tuple(self.input_size(options))
        if tuple(maps.shape[-2:]) != size:
            maps = F.interpolate(maps, size=size, mode="nearest")
        return maps

    def synthesise(self, maps: torch.Tensor, size: tuple[int, int], rngs: list[torch.Generator]) -> list[np.ndarray]:
        from semcom_bench.diffusion.sampling import to_uint8

        net, options = self.network()
        dev = next(net.parameters()).device
        y = self.conditioning(maps.float(), options).to(dev)
        with torch.no_grad():
            x = self.generate(net, options, y, rngs)
            if tuple(x.shape[-2:]) != tuple(size):
                x = F.interpolate(x, size=tuple(size), mode="bicubic", align_corners=False)
        return [img.numpy() for img in to_uint8(x)]


__all__ = ["Checkpoint", "GanReceiver", "Released", "embedded_weights", "released_weights", "Weights", "OptionsFile"]
