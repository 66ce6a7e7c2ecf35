"""What a strict load of an official checkpoint would reject, for the one-line errors of the loaders."""

from __future__ import annotations

from typing import Mapping

import torch


def key_misfit(own: Mapping[str, torch.Tensor],
               state: Mapping[str, torch.Tensor]) -> tuple[list[str], list[str], list[str]]:
    """(missing, unexpected, mis-shaped) keys of loading ``state`` into a module whose state dict is ``own``.

    A file written before PyTorch's spectral norm stored ``weight_v`` holds ``<conv>.weight`` (the
    normalised weight) instead, and torch's own load hook rebuilds ``weight_v`` from it: that pair is
    no misfit. Keys keep the order of ``own`` (missing, mis-shaped) and of ``state`` (unexpected).
    """

    def old_spectral_norm(conv: str) -> bool:
        return conv + "weight_orig" in own and conv + "weight" in state and conv + "weight_v" not in state

    missing = [k for k in own if k not in state
               and not (k.endswith(".weight_v") and old_spectral_norm(k[: -len("weight_v")]))]
    unexpected = [k for k in state if k not in own
                  and not (k.endswith(".weight") and old_spectral_norm(k[: -len("weight")]))]
    mismatched = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    return missing, unexpected, mismatched


def name_keys(keys: list[str], n: int = 3) -> str:
    """The first ``n`` of ``keys`` (in their order) and how many more: ``"a, b, c (+4 more)"``."""
    keys = list(keys)
    return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def misfit_message(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> str:
    """What a strict load of ``state`` into a module whose state dict is ``own`` rejects, as one clause
    ("missing k1, k2; unexpected k3; shape of k4 [8, 3] in the file, [16, 3] here"), or "" when it fits
    (:func:`key_misfit`)."""
    missing, unexpected, shapes = key_misfit(own, state)
    parts = []
    if missing:
        parts.append(f"missing {name_keys(missing)}")
    if unexpected:
        parts.append(f"unexpected {name_keys(unexpected)}")
    if shapes:
        k = shapes[0]
        more = f" (+{len(shapes) - 1} more)" if len(shapes) > 1 else ""
        parts.append(f"shape of {k} {list(state[k].shape)} in the file, {list(own[k].shape)} here{more}")
    return "; ".join(parts)
