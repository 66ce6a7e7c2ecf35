"""``smis``: the semantic maps over the channel, the SMIS generator (Zhu et al., CVPR 2020) at the receiver.

The official Cityscapes generator (``latest_net_G.pth`` of Seanseattle/SMIS: 35 classes + instance
edges, ngf 280, 256x512) or the embedded one trained here on synthetic-streets. The per-class
latent of every image is drawn from its receiver stream. See :mod:`semcom_bench_baselines.gan`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from semcom_bench.registry import methods
from semcom_bench_baselines.gan import GanReceiver, Released, embedded_weights, released_weights
from semcom_bench_baselines.smis.network import SmisGenerator, SmisOptions, load_official

EMBEDDED = embedded_weights("smis", "SMIS generator trained on synthetic-streets maps (34 classes + edges, 32x64)",
                            sha256="8cb4d2a62d1e1b97e907a68fefdb3d58be1a4da7cbe19b3487a8d1624a3f6d0f")

#: the released Cityscapes checkpoint (the authors released DeepFashion, Cityscapes and ADE20K; no COCO-Stuff)
RELEASED = {
    "cityscapes": Released(released_weights("smis", "cityscapes", "latest_net_G.pth", "cityscapes_smis",
                                            "https://github.com/Seanseattle/SMIS (pretrained tar, Google Drive)")),
}


class SmisReceiver(GanReceiver):
    """Received maps -> SMIS generator (official Cityscapes checkpoint or the embedded network)."""

    name = "smis"
    options_class = SmisOptions
    embedded = EMBEDDED
    official_file = "latest_net_G.pth"
    released = RELEASED

    @classmethod
    def build(cls, options: SmisOptions) -> nn.Module:
        return SmisGenerator(options)

    @classmethod
    def load_official(cls, path: Path, options: SmisOptions, extra: str | None) -> nn.Module:
        return load_official(path, options)

    @classmethod
    def layout(cls, options: SmisOptions) -> tuple[int, bool]:
        return options.semantic_nc, True  # the Cityscapes generator always takes the edge channel

    @classmethod
    def input_size(cls, options: SmisOptions) -> tuple[int, int]:
        return options.output_size

    @classmethod
    def generate(cls, net: nn.Module, options: SmisOptions, y: torch.Tensor, rngs: list[torch.Generator]) -> Any:
        z = torch.cat([net.sample_latent(1, g) for g in rngs])
        return net(y, z=z)


methods.register(
    summary="SMIS generator on the received maps: released Cityscapes checkpoint (checkpoint=, weights=), "
            "embedded network trained on synthetic-streets",
    weights=EMBEDDED.name,
    payload="semantic maps",
)(SmisReceiver)

__all__ = ["SmisReceiver", "EMBEDDED"]
