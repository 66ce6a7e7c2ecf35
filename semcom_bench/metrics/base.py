"""The metric contract."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semcom_bench.components import Component
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


class Metric(Component):
    """Base class of every metric; its constructor's keyword-only arguments are its parameters
    (:mod:`semcom_bench.components`), and they enter its cache key.

    Attributes:
        name: registry name.
        version: bumped whenever values change; part of the metric cache key.
        level: ``"image"`` (one value per image) or ``"set"`` (one value per set, e.g. FID).
        outputs: output name -> ``lower_better``. A metric may report several values
            (e.g. depth: ``absrel``, ``rmse``, ``delta1``).
    """

    name = "metric"
    version = "1"
    level: str = "image"
    outputs: dict[str, bool] = {}

    @property
    def cache_dir(self) -> Path | None:
        """The run's cache folder (set-level metrics keep reference statistics there)."""
        return self.context.cache_dir

    @classmethod
    def listing(cls) -> dict[str, Any]:
        """What ``semcom-bench list`` shows besides the summary: level and direction."""
        directions = set(cls.outputs.values())
        lower = directions.pop() if len(directions) == 1 else "per output"
        return {"level": cls.level, "lower_better": lower}

    def identity(self) -> dict[str, Any]:
        """Everything that determines the metric's values: name, version, parameters, fingerprint."""
        return {"metric": self.name, "version": self.version, "params": self.params(), **self.fingerprint()}

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
