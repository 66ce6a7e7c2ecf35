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
