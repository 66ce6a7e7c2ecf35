"""SPADE (Park et al., CVPR 2019) as a network: the official generator layout and its loader.

Only the network lives here so far (:mod:`.network`): :class:`SPADEGenerator` and
:class:`ConvEncoder` with the module tree and state-dict keys of NVlabs/SPADE, the options
that shape them (:class:`SpadeOptions`) and :func:`load_official`, which loads a released
``latest_net_G.pth`` with ``strict=True``. Nothing is registered in the catalog yet.
"""

from semcom_bench_baselines.spade.network import (
    SPADE,
    ConvEncoder,
    SPADEGenerator,
    SPADEResnetBlock,
    SpadeOptions,
    instance_edges,
    load_official,
    load_official_encoder,
    semantic_input,
)

__all__ = [
    "SPADE", "ConvEncoder", "SPADEGenerator", "SPADEResnetBlock", "SpadeOptions", "instance_edges",
    "load_official", "load_official_encoder", "semantic_input",
]
