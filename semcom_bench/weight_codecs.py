"""How shipped weights are stored in less room than a float16 state dict.

Three encodings, each named in full in the ``weights.encoding`` field of the JSON beside the file
(a loader refuses a name it does not know):

- :data:`INT8_DELTA` — int8 differences to a base network with a float32 scale per output channel
  (the guidance-distilled students: only their trained tensors, over the network they start from).
- :data:`INT8` — int8 values with a float32 scale per output channel for the tensors of two or
  more dimensions (convolution and linear weights), float16 for the rest (biases, normalisation
  statistics, spectral-norm vectors). Lossy: 0.4 % of each channel's largest weight at most.
- :data:`FP16_XOR` — lossless: the float16 bit patterns XOR those of a base network (a fine-tune
  of it), split into high- and low-byte planes and lzma-compressed. A 300-step fine-tune changes
  most weights in their low bits only, so the high-byte plane compresses to little.

Scales are ``max |value| / 127`` per output channel (dim 0), one scale for a 1-d tensor.
"""

from __future__ import annotations

import hashlib
import io
import lzma
from collections.abc import Mapping
from pathlib import Path

import torch

INT8_DELTA = "int8 difference to the base, float32 scale per output channel"
INT8 = "int8 per output channel with a float32 scale (tensors of two or more dims), float16 otherwise"
FP16_XOR = "float16 bit patterns XOR the base's, high and low byte planes, lzma"
#: the key of a quantised tensor's scale: ``name + SCALE_SUFFIX``
SCALE_SUFFIX = ".delta_scale"
#: the name ending of an :data:`FP16_XOR` file (``NAME.pt.xz``; its JSON is ``NAME.json``)
XZ_SUFFIX = ".xz"


def _per_channel(shape_of: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return scale.view(-1, *([1] * (shape_of.dim() - 1))) if shape_of.dim() > 1 else scale


def quantise(state: Mapping[str, torch.Tensor], base: Mapping[str, torch.Tensor] | None = None,
             min_dims: int = 1) -> dict[str, torch.Tensor]:
    """``{name: int8 (value - base) / scale, name + SCALE_SUFFIX: float32 scale}`` per floating tensor.

    Args:
        state: the tensors to store (any float dtype, any device).
        base: the tensors they differ from (:data:`INT8_DELTA`); None: from zero (:data:`INT8`).
        min_dims: tensors with fewer dimensions are kept as float16 (integer tensors as they are).
    """
    out: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        value = value.detach().cpu()
        if not value.is_floating_point() or value.dim() < min_dims:
            out[name] = value.half() if value.is_floating_point() else value
            continue
        diff = value.float() - (base[name].detach().float().cpu() if base is not None else 0.0)
        peak = diff.abs().flatten(1).amax(1) if diff.dim() > 1 else diff.abs().max().reshape(1)
        scale = (peak / 127.0).clamp_min(1e-30)
        out[name] = (diff / _per_channel(diff, scale)).round().clamp(-127, 127).to(torch.int8)
        out[name + SCALE_SUFFIX] = scale
    return out


def dequantise(stored: Mapping[str, torch.Tensor],
               base: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The float32 tensors of a :func:`quantise` dict: ``base + int8 · scale`` (the other base tensors as they are).

    Raises:
        ValueError: an int8 tensor without its scale, or (with a base) one the base does not have.
    """
    full = {k: v.float() for k, v in base.items()} if base is not None else {}
    for name, value in stored.items():
        if name.endswith(SCALE_SUFFIX):
            continue
        if value.dtype != torch.int8:
            full[name] = value.float() if value.is_floating_point() else value
            continue
        if base is not None and name not in base:
            raise ValueError(f"{name} is not a tensor of the base network")
        if name + SCALE_SUFFIX not in stored:
            raise ValueError(f"{name} has no {SCALE_SUFFIX}")
        step = value.float() * _per_channel(value, stored[name + SCALE_SUFFIX].float())
        full[name] = full[name] + step if base is not None else step
    return full


def _bits(t: torch.Tensor, name: str) -> torch.Tensor:
    if t.dtype != torch.float16:
        raise ValueError(f"{name} is {t.dtype}, not float16")
    return t.detach().cpu().contiguous().view(torch.int16).flatten()


def write_xor(path: str | Path, state: Mapping[str, torch.Tensor], base: Mapping[str, torch.Tensor]) -> None:
    """Write the float16 ``state`` as :data:`FP16_XOR` over the float16 ``base`` (same names and shapes) to ``path``.

    Raises:
        ValueError: a tensor that is not float16 or whose name or shape the base lacks.
    """
    planes: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        if name not in base or base[name].shape != value.shape:
            raise ValueError(f"{name} is not a tensor of the base network")
        x = (_bits(value, name) ^ _bits(base[name], name)).view(torch.uint8).view(-1, 2)  # little endian: low, high
        planes[name] = torch.stack([x[:, 1], x[:, 0]]).contiguous()
    raw = io.BytesIO()
    torch.save(planes, raw)
    Path(path).write_bytes(lzma.compress(raw.getvalue(), preset=9 | lzma.PRESET_EXTREME))


def read_xor(path: str | Path, base: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float16 state dict of a :func:`write_xor` file, bit for bit.

    Raises:
        ValueError: the file is not lzma-compressed torch data, or its tensors do not fit the base.
    """
    try:
        planes = torch.load(io.BytesIO(lzma.decompress(Path(path).read_bytes())), map_location="cpu",
                            weights_only=True)
    except (lzma.LZMAError, RuntimeError, EOFError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path} is not an lzma-compressed state dict ({type(exc).__name__})") from None
    if not isinstance(planes, dict):
        raise ValueError(f"{path} does not hold a state dict")
    state: dict[str, torch.Tensor] = {}
    for name, plane in planes.items():
        if name not in base or not isinstance(plane, torch.Tensor) or plane.shape != (2, base[name].numel()):
            raise ValueError(f"{name} is not a tensor of the base network")
        x = torch.stack([plane[1], plane[0]], dim=1).contiguous().view(torch.int16).flatten()
        state[name] = (x ^ _bits(base[name], name)).view(torch.float16).view(base[name].shape).clone()
    return state


def tensors_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over each tensor's name, dtype, shape and bytes in key order: the identity of decoded weights."""
    digest = hashlib.sha256()
    for name, value in state.items():
        value = value.detach().cpu().contiguous()
        digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def sidecar_path(path: str | Path) -> Path:
    """The JSON written beside a weights file: ``NAME.json`` for ``NAME.pt`` and ``NAME.pt.xz``."""
    p = Path(path)
    if p.suffix == XZ_SUFFIX:
        p = p.with_suffix("")
    return p.with_suffix(".json")


__all__ = ["FP16_XOR", "INT8", "INT8_DELTA", "SCALE_SUFFIX", "XZ_SUFFIX", "dequantise", "quantise", "read_xor",
           "sidecar_path", "tensors_sha256", "write_xor"]
