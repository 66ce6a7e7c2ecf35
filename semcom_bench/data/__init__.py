"""Data sets: samples with images and exact ground truth."""

from semcom_bench.data.base import Dataset, Sample

__all__ = ["Dataset", "Sample"]
