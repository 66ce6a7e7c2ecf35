"""The official CDDM checkpoint files: finding them in a folder, and loading them strictly.

File names (``CDDM/main.py``)::

    <base>/JSCC/{DIV2K|CIFAR10}/{MSE|MSSSIM}/SNRs/encoder_snr{S}_channel_{awgn|rayleigh}_C{C}.pt
    <base>/JSCC/.../decoder_snr{S}_channel_{ch}_C{C}.pt
    <base>/JSCC/.../redecoder_snr{S-3}_channel_{ch}_C{C}.pt     (stage 3: the decoder re-trained through CDDM)
    <base>/CDDM/{DIV2K|CIFAR10}/{MSE|MSSSIM}/SNRs/CDDM_snr{S}_channel_{ch}_C{C}.pt

``S`` is the training SNR of the JSCC and the denoiser (13 in the release, tested at S − 3 = 10 dB),
``C`` the latent channels. The JSCC files are state dicts of the wrappers (keys ``encoder.*`` /
``decoder.*``), the denoiser's a bare ``UNet`` state dict. :func:`discover` indexes a folder
(searched recursively); :func:`load_state` reads one file with ``weights_only=True``;
:func:`load_strict` loads it into the official layout and turns any misfit into one line.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from semcom_bench.errors import MissingWeightsError, UserError
from semcom_bench_baselines.checkpoints import misfit_message

_FILE = re.compile(r"^(encoder|decoder|redecoder|CDDM)_snr(-?\d+)_channel_(awgn|rayleigh)_C(\d+)\.pt$")
KINDS = ("encoder", "decoder", "redecoder", "CDDM")


@dataclass(frozen=True)
class OfficialFile:
    """One official checkpoint file, as its name describes it."""

    kind: str
    snr: int
    channel: str
    C: int
    path: Path

    @property
    def label(self) -> str:
        return f"{self.kind} snr{self.snr} {self.channel} C{self.C}"


def parse_name(path: Path) -> OfficialFile | None:
    """The file's description from its official name, or None for any other name."""
    m = _FILE.match(Path(path).name)
    if not m:
        return None
    return OfficialFile(m.group(1), int(m.group(2)), m.group(3), int(m.group(4)), Path(path))


def discover(folder: str | Path) -> list[OfficialFile]:
    """Every official CDDM file under ``folder`` (recursively), sorted by path.

    Raises:
        MissingWeightsError: ``folder`` does not exist.
        UserError: two files of the same kind, SNR, channel and C (two data sets or losses under
            one folder): the message asks for a narrower folder.
    """
    root = Path(folder).expanduser()
    if root.is_file():
        root = root.parent
    if not root.is_dir():
        raise MissingWeightsError(f"CDDM weights folder {root} does not exist; give the folder holding the official "
                                  "encoder_/decoder_/CDDM_snr{S}_channel_{awgn|rayleigh}_C{C}.pt files")
    found = [f for p in sorted(root.rglob("*.pt")) if (f := parse_name(p)) is not None]
    seen: dict[tuple, Path] = {}
    for f in found:
        key = (f.kind, f.snr, f.channel, f.C)
        if key in seen:
            raise UserError(f"CDDM weights folder {root} holds two {f.label} files ({seen[key]} and {f.path}); point "
                            "weights= at a folder of one data set and loss (e.g. .../DIV2K/MSE)")
        seen[key] = f.path
    return found


def describe(files: list[OfficialFile]) -> str:
    """``encoder/decoder snr13 awgn C36; CDDM snr13 awgn C36, ...``: what a folder holds, for messages."""
    if not files:
        return "no official CDDM files"
    groups: dict[tuple, list[str]] = {}
    for f in files:
        groups.setdefault((f.snr, f.channel, f.C), []).append(f.kind)
    return "; ".join(f"snr{s} {ch} C{c}: {'/'.join(sorted(k))}" for (s, ch, c), k in sorted(groups.items()))


def load_state(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """A state dict of tensors from ``path`` (``weights_only=True``); one-line errors otherwise."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise MissingWeightsError(f"CDDM {what} file {p} does not exist; check the path")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError, KeyError,
            IndexError, UnicodeDecodeError) as exc:
        raise UserError(f"CDDM {what} file {p} cannot be read as a torch state dict ({type(exc).__name__}); "
                        "give the official file") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"CDDM {what} file {p} does not hold a state dict of tensors; give the official file")
    return {k: (v.float() if v.dtype in (torch.float16, torch.bfloat16) else v) for k, v in state.items()}


def load_strict(net: nn.Module, state: Mapping[str, torch.Tensor], what: str, path: str | Path, layout: str) -> None:
    """``net.load_state_dict(state, strict=True)``; a misfit is one UserError line naming the keys.

    ``what`` names the network (``encoder``...), ``layout`` the configuration it was built with
    (e.g. ``div2k C=36``), for the message.
    """
    try:
        net.load_state_dict(state, strict=True)
        return
    except RuntimeError:
        pass
    misfit = misfit_message(net.state_dict(), state) or "load_state_dict rejected it"
    raise UserError(f"CDDM {what} file {path} does not fit the official {layout} layout: {misfit}; "
                    "give the official file, or options=FILE with the configuration it was trained with")


def infer_arch(state: Mapping[str, torch.Tensor]) -> str | None:
    """``div2k`` (4 encoder stages) or ``cifar`` (2) from a JSCC encoder state dict, else None."""
    stages = {int(m.group(1)) for k in state if (m := re.match(r"^encoder\.layers\.(\d+)\.", k))}
    return {4: "div2k", 2: "cifar"}.get(len(stages))


__all__ = ["OfficialFile", "KINDS", "parse_name", "discover", "describe", "load_state", "load_strict", "infer_arch"]
