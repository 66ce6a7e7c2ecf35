"""``cost``: what generating an image cost, read from its cache record (the third paper's Table V)."""

from __future__ import annotations

import math

from semcom_bench.metrics.base import Metric, Scored
from semcom_bench.registry import metrics


@metrics.register(summary="seconds and peak memory per image, as measured when the image was generated", weights=None)
class Cost(Metric):
    """Read from the reconstruction's record, written when the image was generated (a cached image
    keeps the cost of the run that made it):

    - ``seconds``: wall-clock seconds per image (s): sender, channel and receiver of the image's
      batch, divided by the batch's size;
    - ``peak_memory_mb``: MiB; on a GPU the peak allocated GPU memory during the batch, on a CPU
      the process's peak resident memory so far (ru_maxrss: it includes everything the run
      loaded before, so measure one method per run for a per-method figure). Which of the two it
      is follows from the run's device (``provenance.json``: ``config.device``).
    """

    name = "cost"
    version = "1"
    outputs = {"seconds": True, "peak_memory_mb": True}

    def score(self, items: list[Scored]) -> list[dict[str, float]]:
        out = []
        for it in items:
            gpu = it.record.get("peak_gpu_mb")
            memory = gpu if gpu is not None else it.record.get("peak_rss_mb")
            out.append({"seconds": float(it.record.get("seconds", math.nan)),
                        "peak_memory_mb": float(memory) if memory is not None else math.nan})
        return out
