"""OASIS (Schönfeld et al., ICLR 2021): the generator network and its official checkpoint loader.

Only the network is here; no receiver method is registered yet.
"""

from semcom_bench_baselines.oasis.network import (
    OASIS_Generator,
    OasisOptions,
    load_official,
    official_key_shapes,
    read_official,
)

__all__ = ["OASIS_Generator", "OasisOptions", "load_official", "official_key_shapes", "read_official"]
