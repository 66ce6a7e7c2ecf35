"""``bits``: bits and complex channel uses per image, and the bandwidth ratio k/n."""

from __future__ import annotations

from semcom_bench.metrics.base import Metric, Scored
from semcom_bench.registry import metrics


@metrics.register(summary="bits and complex channel uses per image, bandwidth ratio k/n", weights=None)
class Bits(Metric):
    """Read from the reconstruction's record:

    - ``bits``: source bits + side-information bits sent for the image;
    - ``channel_uses``: complex channel uses (k);
    - ``bandwidth_ratio``: k / n with n = H·W·3 real source dimensions, as JSCC papers report it.
    """

    name = "bits"
    version = "1"
    outputs = {"bits": True, "channel_uses": True, "bandwidth_ratio": True}

    def score(self, items: list[Scored]) -> list[dict[str, float]]:
        out = []
        for it in items:
            n = it.sample.image.size
            k = it.record["channel_uses"]
            out.append({"bits": float(it.record["bits"]), "channel_uses": float(k), "bandwidth_ratio": k / n})
        return out
