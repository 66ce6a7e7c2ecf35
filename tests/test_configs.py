"""The shipped configs (one per table of the first paper) build, and name only components that exist."""

from __future__ import annotations

import pytest

from semcom_bench import registry
from semcom_bench.config import build_config, load_toml, shipped_configs


@pytest.mark.parametrize("name", sorted(shipped_configs()))
def test_a_shipped_config_builds_by_name(name):
    config = build_config(load_toml(name))
    for spec in config.methods:
        registry.methods.create(spec.name, **spec.params)  # exists, and runs on the embedded default
    for spec in config.metrics:
        registry.metrics.get(spec.name)
    assert config.dataset.name == "synthetic-streets"


def test_shipped_configs_cover_the_first_papers_tables():
    assert {f"gesco-table{i}" for i in range(1, 6)} <= set(shipped_configs())
