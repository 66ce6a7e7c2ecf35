"""Shared fixtures: one torch thread per test process, an isolated cache and seeded global
generators per test (a test that draws from them gets the same numbers on every run)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from semcom_bench.data.base import Sample

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCOM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEMCOM_THREADS", "1")


@pytest.fixture(autouse=True)
def _seeded_global_generators():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def make_samples(n: int = 3, h: int = 16, w: int = 32, seed: int = 0) -> list[Sample]:
    """Small random samples with labels, for tests that need no real data set."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        labels = rng.integers(0, 5, (h, w), dtype=np.uint8)
        out.append(Sample(key=f"t/{i}", image=image, labels=labels))
    return out
