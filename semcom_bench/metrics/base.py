"""The metric contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from semcom_bench.data.base import Sample


@dataclass
class Scored:
    """One reconstruction to score.

    Attributes:
        sample: the original sample with its ground truth.
        recon: (H, W, 3) uint8 RGB reconstruction.
        record: the cache sidecar of the reconstruction (bits, channel uses, seconds...).
    """

    sample: Sample
    recon: np.ndarray
    record: dict[str, Any]


class Metric:
    """Base class of every metric.

    Attributes:
        name: registry name.
        version: bumped whenever values change; part of the metric cache key.
        level: ``"image"`` (one value per image) or ``"set"`` (one value per set, e.g. FID).
        outputs: output name -> ``lower_better``. A metric may report several values
            (e.g. depth: ``absrel``, ``rmse``, ``delta1``).
    """

    name: str = "metric"
    version: str = "1"
    level: str = "image"
    outputs: dict[str, bool] = {}
    #: set by the runner before scoring: "cpu" / "cuda", and the data set being scored
    device: str = "cpu"
    dataset: Any = None
    cache_dir: Any = None

    def unavailable(self) -> str | None:
        """None when the metric can run here, else a one-line reason with the fix."""
        return None

    def fingerprint(self) -> dict[str, Any]:
        """Everything besides name and version that changes values (evaluator weights hash...)."""
        return {}

    def score(self, items: list[Scored]) -> list[dict[str, float]]:
        """Image-level metrics: one dict ``{output: value}`` per item."""
        raise NotImplementedError

    def score_set(self, items: list[Scored]) -> dict[str, float]:
        """Set-level metrics: one dict ``{output: value}`` for all items."""
        raise NotImplementedError
