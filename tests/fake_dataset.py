"""A tiny deterministic data set registered for tests only."""

from __future__ import annotations

from semcom_bench.registry import datasets
from tests.conftest import make_samples


class FakeDataset:
    name = "test-fake"
    num_classes = 5
    class_names = [f"c{i}" for i in range(5)]
    ignore_index = None

    def __init__(self, size: int = 6):
        self._samples = make_samples(size)

    def __len__(self):
        return len(self._samples)

    def __getitem__(self, i):
        return self._samples[i]

    def __iter__(self):
        return iter(self._samples)

    def describe(self):
        return {"name": self.name, "size": len(self)}


if "test-fake" not in datasets._entries:
    datasets.register("test-fake", version="1", summary="test data")(FakeDataset)
