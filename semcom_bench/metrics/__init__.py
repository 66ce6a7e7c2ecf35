"""Metrics: per-image and set-level scores of reconstructions."""

from semcom_bench.metrics.base import Metric, Scored

__all__ = ["Metric", "Scored"]
