"""``spade``: the semantic maps over the channel, the SPADE generator (Park et al., CVPR 2019) at the receiver.

The official Cityscapes generator (``latest_net_G.pth`` of NVlabs/SPADE's ``cityscapes_pretrained``:
35 classes + instance edges, 256x512, no VAE, so no noise) or the embedded one trained here on
synthetic-streets. With ``use_vae`` options the z of the generator is drawn from the receiver's
stream (a receiver has no image to encode). See :mod:`semcom_bench_baselines.gan`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from semcom_bench.registry import methods
from semcom_bench_baselines.gan import GanReceiver, Released, embedded_weights, released_weights
from semcom_bench_baselines.spade.network import SPADEGenerator, SpadeOptions, load_official

EMBEDDED = embedded_weights("spade", "SPADE generator trained on synthetic-streets maps (34 classes + edges, 32x64)",
                            sha256="68a3629dd2fa482d6adfbdaa5b22aae043d11233763514c511dbb3c0faef932f")

_URL = "https://github.com/NVlabs/SPADE (checkpoints.tar.gz, Google Drive)"
#: the released checkpoints: Cityscapes (the options' defaults) and COCO-Stuff (182 classes + dontcare
#: + instance edges, 256x256, ``coco_dataset.py``'s options, generator ``normal``)
RELEASED = {
    "cityscapes": Released(released_weights("spade", "cityscapes", "latest_net_G.pth", "cityscapes_pretrained", _URL)),
    "coco-stuff": Released(released_weights("spade", "coco-stuff", "latest_net_G.pth", "coco_pretrained", _URL),
                           {"label_nc": 182, "contain_dontcare_label": True, "num_upsampling_layers": "normal",
                            "crop_size": 256, "aspect_ratio": 1.0}),
}


class SpadeReceiver(GanReceiver):
    """Received maps -> SPADE generator (official Cityscapes checkpoint or the embedded network)."""

    name = "spade"
    options_class = SpadeOptions
    embedded = EMBEDDED
    official_file = "latest_net_G.pth"
    released = RELEASED

    @classmethod
    def build(cls, options: SpadeOptions) -> nn.Module:
        return SPADEGenerator(options)

    @classmethod
    def load_official(cls, path: Path, options: SpadeOptions, extra: str | None) -> nn.Module:
        return load_official(path, options)

    @classmethod
    def layout(cls, options: SpadeOptions) -> tuple[int, bool]:
        return options.label_nc + int(options.contain_dontcare_label), not options.no_instance

    @classmethod
    def input_size(cls, options: SpadeOptions) -> tuple[int, int]:
        return options.output_size

    @classmethod
    def generate(cls, net: nn.Module, options: SpadeOptions, y: torch.Tensor, rngs: list[torch.Generator]) -> Any:
        if not options.use_vae:
            return net(y)
        z = torch.cat([torch.randn(1, options.z_dim, generator=g, device=g.device) for g in rngs])
        return net(y, z=z.to(y.device, y.dtype))


methods.register(
    summary="SPADE generator on the received maps: released Cityscapes and COCO-Stuff checkpoints "
            "(checkpoint=, weights=), "
            "embedded network trained on synthetic-streets",
    weights=EMBEDDED.name,
    payload="semantic maps",
)(SpadeReceiver)

__all__ = ["SpadeReceiver", "EMBEDDED"]
