"""``cost``: what generating an image cost, read from its cache record (the third paper's Table V)."""

from __future__ import annotations

import math

from semcom_bench.metrics.base import Metric, Scored
from semcom_bench.registry import metrics


@metrics.register(summary="seconds, peak memory and network passes per image, as recorded when the image was generated",
                   weights=None)
class Cost(Metric):
    """Read from the reconstruction's record, written when the image was generated (a cached image
    keeps the cost of the run that made it):

    - ``seconds``: wall-clock seconds per image (s): sender, channel and receiver of the image's
      batch, divided by the batch's size;
    - ``peak_memory_mb``: MiB; on a GPU the peak allocated GPU memory during the batch, on a CPU
      the process's peak resident memory so far (ru_maxrss: it includes everything the run
      loaded before, so measure one method per run for a per-method figure). Which of the two it
      is follows from the run's device (``provenance.json``: ``config.device``);
    - ``network_passes``: network evaluations per image (a guided diffusion step counts 2), the
      machine-independent cost of a sampler; NaN for receivers that do not count them and for
      images generated before the count was recorded.
    """

    name = "cost"
    version = "1"
    outputs = {"seconds": True, "peak_memory_mb": True, "network_passes": True}

    def score(self, items: list[Scored]) -> list[dict[str, float]]:
        out = []
        for it in items:
            gpu = it.record.get("peak_gpu_mb")
            memory = gpu if gpu is not None else it.record.get("peak_rss_mb")
            passes = it.record.get("network_passes")
            out.append({"seconds": float(it.record.get("seconds", math.nan)),
                        "peak_memory_mb": float(memory) if memory is not None else math.nan,
                        "network_passes": float(passes) if passes is not None else math.nan})
        return out
