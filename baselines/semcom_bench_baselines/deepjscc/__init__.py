"""DeepJSCC (Bourtsoulatze, Kurka, Gündüz, IEEE TCCN 2019): the network (:mod:`.network`), the
``deepjscc`` method (:mod:`.receiver`) and the training recipe of its embedded models (:mod:`.training`)."""

from semcom_bench_baselines.deepjscc.network import (
    EMBEDDED,
    DeepJsccDecoder,
    DeepJsccEncoder,
    awgn,
    channels_for_ratio,
    load_embedded,
    load_state,
    load_weights,
    normalise,
    ratio_of,
    read_weights,
    state_dict,
)

__all__ = [
    "EMBEDDED", "DeepJsccDecoder", "DeepJsccEncoder", "awgn", "channels_for_ratio", "load_embedded", "load_state",
    "load_weights", "normalise", "ratio_of", "read_weights", "state_dict",
]
