"""``oasis``: the semantic maps over the channel, the OASIS generator (Schönfeld et al., ICLR 2021) at the receiver.

The official Cityscapes EMA generator (``best_EMA.pth`` of boschresearch/OASIS: 35 classes, no
instance edges, 256x512, 64-channel 3D noise) or the embedded one trained here on
synthetic-streets. The 3D noise of every image is drawn from its receiver stream (the official
code draws it from the global generator). See :mod:`semcom_bench_baselines.gan`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from semcom_bench.registry import methods
from semcom_bench_baselines.gan import GanReceiver, Released, embedded_weights, released_weights
from semcom_bench_baselines.oasis.network import OASIS_Generator, OasisOptions, load_official

EMBEDDED = embedded_weights("oasis", "OASIS generator trained on synthetic-streets maps (34 classes, 32x64; int8 weights)",
                            sha256="c8bf30e8c018374c69d019211397126c55b806a08cf2416e7a6910e342e14563")

#: the released Cityscapes checkpoint (the README of the snapshot read announces COCO-Stuff "soon")
RELEASED = {
    "cityscapes": Released(released_weights("oasis", "cityscapes", "best_EMA.pth", "oasis_cityscapes_pretrained/models",
                                            "https://github.com/boschresearch/OASIS (pretrained zips, Dropbox)")),
}


class OasisReceiver(GanReceiver):
    """Received maps -> OASIS generator (official Cityscapes checkpoint or the embedded network)."""

    name = "oasis"
    options_class = OasisOptions
    embedded = EMBEDDED
    official_file = "best_EMA.pth"
    released = RELEASED

    @classmethod
    def build(cls, options: OasisOptions) -> nn.Module:
        return OASIS_Generator(options)

    @classmethod
    def load_official(cls, path: Path, options: OasisOptions, extra: str | None) -> nn.Module:
        return load_official(path, options)

    @classmethod
    def layout(cls, options: OasisOptions) -> tuple[int, bool]:
        return options.semantic_nc, False

    @classmethod
    def input_size(cls, options: OasisOptions) -> tuple[int, int]:
        return options.output_size

    @classmethod
    def generate(cls, net: nn.Module, options: OasisOptions, y: torch.Tensor, rngs: list[torch.Generator]) -> Any:
        if options.no_3dnoise:
            return net(y)
        z = torch.cat([net.draw_noise(1, g) for g in rngs])
        return net(y, z=z)


methods.register(
    summary="OASIS generator on the received maps: released Cityscapes checkpoint (checkpoint=, weights=), "
            "embedded network trained on synthetic-streets",
    weights=EMBEDDED.name,
    payload="semantic maps",
)(OasisReceiver)

__all__ = ["OasisReceiver", "EMBEDDED"]
