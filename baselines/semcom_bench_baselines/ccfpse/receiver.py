"""``cc-fpse``: the semantic maps over the channel, the CC-FPSE generator (Liu et al., NeurIPS 2019) at the receiver.

The official Cityscapes generator (``200_net_G.pth`` of xh-liu/CC-FPSE's ``cs_best``: 35 classes +
instance edges, 256x512, ``--use_vae``) or the embedded one trained here on synthetic-streets.
The official options use the VAE, so an official checkpoint comes with its encoder
(``encoder_weights=200_net_E.pth``), which is loaded strictly with it; but a receiver has no
image to encode, so z ~ N(0, I) is drawn per image from the receiver's stream and the encoder
is not run. The embedded network is trained without the VAE (no z, no encoder; see its
recipe). See :mod:`semcom_bench_baselines.gan`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from semcom_bench.components import Annotated, Doc, RunContext
from semcom_bench.errors import UserError
from semcom_bench.registry import methods
from semcom_bench_baselines.ccfpse.network import CcfpseOptions, CondConvGenerator, load_official, sample_z
from semcom_bench_baselines.gan import GanReceiver, Released, embedded_weights, released_weights

EMBEDDED = embedded_weights("cc-fpse", "CC-FPSE generator trained on synthetic-streets maps (34 classes + edges, "
                                       "32x64; without the VAE)",
                            sha256="8e41f09058864bdbbf36b8546fc3fbf15dffc1045036fded4c95b14d001ff9eb")

_URL = "https://github.com/xh-liu/CC-FPSE (pretrained models, Google Drive)"
#: the released checkpoints: Cityscapes (``test_cityscapes.sh``: cs_best, epoch 200, the options'
#: defaults) and COCO-Stuff (``test_coco.sh``: coco_best, epoch 100; 182 classes + dontcare + edges,
#: 256x256, generator ``normal``); both use the VAE, so each comes with its encoder
RELEASED = {
    "cityscapes": Released(released_weights("cc-fpse", "cityscapes", "200_net_G.pth", "cs_best", _URL),
                           encoder=released_weights("cc-fpse", "cityscapes", "200_net_E.pth", "cs_best", _URL,
                                                    what="encoder", suffix="-encoder")),
    "coco-stuff": Released(released_weights("cc-fpse", "coco-stuff", "100_net_G.pth", "coco_best", _URL),
                           {"label_nc": 182, "contain_dontcare_label": True, "num_upsampling_layers": "normal",
                            "crop_size": 256, "aspect_ratio": 1.0},
                           encoder=released_weights("cc-fpse", "coco-stuff", "100_net_E.pth", "coco_best", _URL,
                                                    what="encoder", suffix="-encoder")),
}


class CcfpseReceiver(GanReceiver):
    """Received maps -> CC-FPSE generator (official Cityscapes checkpoint or the embedded network)."""

    name = "cc-fpse"
    options_class = CcfpseOptions
    embedded = EMBEDDED
    official_file = "200_net_G.pth"
    released = RELEASED

    def __init__(self, context: RunContext | None = None, *,
                 encoder_weights: Annotated[Path | None, Doc("with weights: the official encoder net_E "
                                                             "(200_net_E.pth), needed when the options use the "
                                                             "VAE (the official ones do)")] = None,
                 **rest: Any):
        super().__init__(context, **rest)
        self.encoder_weights = encoder_weights
        if encoder_weights is not None and self.official is None:
            raise UserError("parameter encoder_weights of method 'cc-fpse' goes with an official generator: "
                            "give weights=PATH to its 200_net_G.pth (or checkpoint=cityscapes) too")

    def extra_file(self) -> str | None:
        return str(self.encoder_weights) if self.encoder_weights is not None else super().extra_file()

    @classmethod
    def build(cls, options: CcfpseOptions) -> nn.Module:
        return CondConvGenerator(options)

    @classmethod
    def load_official(cls, path: Path, options: CcfpseOptions, extra: str | None) -> nn.Module:
        if options.use_vae and extra is None:
            raise UserError(f"method cc-fpse: the official options use the VAE, so the generator {path.name} comes "
                            "with its encoder: pass encoder_weights=PATH to 200_net_E.pth (beside it in checkpoints/cs_best)")
        generator, _ = load_official(path, extra, options)  # the encoder is checked, not run: z comes from the stream
        return generator

    @classmethod
    def layout(cls, options: CcfpseOptions) -> tuple[int, bool]:
        return options.label_nc + int(options.contain_dontcare_label), not options.no_instance

    @classmethod
    def input_size(cls, options: CcfpseOptions) -> tuple[int, int]:
        return options.image_size

    @classmethod
    def generate(cls, net: nn.Module, options: CcfpseOptions, y: torch.Tensor, rngs: list[torch.Generator]) -> Any:
        if not options.use_vae:
            return net(y)
        z = torch.cat([sample_z(1, options.z_dim, g) for g in rngs])
        return net(y, z.to(y.device))


methods.register(
    summary="CC-FPSE generator on the received maps: released Cityscapes and COCO-Stuff checkpoints "
            "(checkpoint=, weights=, encoder_weights=), "
            "embedded network trained on synthetic-streets",
    weights=EMBEDDED.name,
    payload="semantic maps",
)(CcfpseReceiver)

__all__ = ["CcfpseReceiver", "EMBEDDED"]
