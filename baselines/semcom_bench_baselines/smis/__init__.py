"""SMIS (Zhu et al., CVPR 2020) as a receiver: the official Cityscapes generator.

Only the network and the strict loading of the official ``latest_net_G.pth`` for now; see
:mod:`semcom_bench_baselines.smis.network`.
"""

from semcom_bench_baselines.smis.network import (
    LATENT_CHANNELS_PER_CLASS,
    SmisGenerator,
    SmisOptions,
    interleave_edges,
    load_official,
)

__all__ = ["LATENT_CHANNELS_PER_CLASS", "SmisGenerator", "SmisOptions", "interleave_edges", "load_official"]
