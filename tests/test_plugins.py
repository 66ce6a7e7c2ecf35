"""Plugins: a package adds a method through the ``semcom_bench.plugins`` entry point."""

from __future__ import annotations

import shutil
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from semcom_bench import api, registry
from semcom_bench.config import build_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "median-plugin"


@pytest.fixture
def installed_example(tmp_path, monkeypatch):
    """The example plugin as pip would leave it: the module and a dist-info with its entry point."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(EXAMPLE / "semcom_median.py", site)
    info = site / "semcom_median-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: semcom-median\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[semcom_bench.plugins]\nmedian = semcom_median\n")
    monkeypatch.syspath_prepend(str(site))
    yield
    if "median-image" in registry.methods._entries:
        registry.methods.unregister("median-image")
    sys.modules.pop("semcom_median", None)


def test_the_example_plugin_runs_through_run_and_pairs_with_full_image(installed_example, tmp_path):
    registry.methods.names()  # the catalog is loaded before the plugin appears
    assert "median" in registry.load_plugins()
    entry = registry.methods.get("median-image")
    assert entry.origin == "semcom_median" and [p.name for p in entry.parameters()] == ["size"]
    config = build_config(dataset="synthetic-streets(size=3)", methods="median-image,full-image", values="0,20",
                          metrics="psnr", out=tmp_path / "out", cache_dir=tmp_path / "cache", threads=1)
    frame = api.run(config)["frame"]
    psnr = frame.groupby(["method", "snr_db"])["value"].mean()
    assert psnr[("median-image", 0.0)] > psnr[("full-image", 0.0)] + 1.0  # the filter removes noise at 0 dB
    assert psnr[("median-image", 20.0)] < psnr[("full-image", 20.0)]  # and blurs a clean image
    paired = api.report(tmp_path / "out", "csv", versus="full-image")
    assert "median-image" in paired
    with pytest.raises(Exception, match="must be odd"):
        registry.methods.create("median-image", size=4)


def test_the_readme_shows_the_example_whole():
    readme = (ROOT / "README.md").read_text()
    assert (EXAMPLE / "semcom_median.py").read_text() in readme
    assert 'median = "semcom_median"' in readme


def test_a_broken_plugin_is_skipped_with_a_warning(tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    info = site / "broken_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[semcom_bench.plugins]\nbroken = no_such_module_here\n")
    monkeypatch.syspath_prepend(str(site))
    assert "broken" not in registry.load_plugins()
    assert "plugin 'broken'" in capsys.readouterr().err and "broken" in registry.plugin_errors
    registry.plugin_errors.pop("broken")
    assert registry.methods.get("full-image")  # the tool's own components still work


def test_the_baselines_package_is_installed_through_the_entry_point():
    names = {ep.name: ep.value for ep in entry_points(group=registry.PLUGIN_GROUP)}
    assert names.get("baselines") == "semcom_bench_baselines.catalog"
    registry.methods.names()
    assert "baselines" not in registry.plugin_errors and "semcom_bench_baselines.catalog" in sys.modules
