"""``run --executor ray`` gives the local executor's results, value for value and byte for byte,
also when a worker process is killed part way; Ray is never imported by a local run.

The Ray tests share one local instance (2 CPUs, no dashboard) started here. Workers import the
modules that registered the run's components (this module and ``tests.fake_dataset``) themselves.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import tests.fake_dataset  # noqa: F401  (registers test-fake)
from semcom_bench import api
from semcom_bench.cache import Cache
from semcom_bench.cli.main import app
from semcom_bench.components import Annotated, Doc
from semcom_bench.config import build_config
from semcom_bench.errors import UserError
from semcom_bench.methods.classical.full_image import FullImage
from semcom_bench.registry import methods

ROOT = Path(__file__).resolve().parents[1]


class DieOnce(FullImage):
    """``full-image`` whose receiver kills its own process the first time it runs anywhere
    (the first caller to create ``marker``), and then runs normally."""

    name = "test-die-once"
    version = "1"
    speed_only = ("marker",)

    def __init__(self, context=None, *, marker: Annotated[str, Doc("file created by the one receiver that dies")] = ""):
        super().__init__(context)
        self.marker = marker

    def receive_batch(self, deliveries, rngs):
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return super().receive_batch(deliveries, rngs)
        os.kill(os.getpid(), signal.SIGKILL)


if "test-die-once" not in methods._entries:
    methods.register(summary="test: full-image whose first receiver kills its process")(DieOnce)


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield ray
    ray.shutdown()


def _args(tmp_path: Path, name: str, methods_: str) -> list[str]:
    return ["run", "--dataset", "test-fake", "--methods", methods_, "--channels", "awgn", "--values", "5,20",
            "--metrics", "psnr,bits", "--threads", "1", "--batch-size", "4",
            "--out", str(tmp_path / f"out-{name}"), "--cache-dir", str(tmp_path / f"cache-{name}")]


def _cli(args: list[str]) -> None:
    res = CliRunner().invoke(app, args, terminal_width=400)
    assert res.exit_code == 0, res.output


def _same_results(tmp_path: Path, a: str, b: str) -> pd.DataFrame:
    """The two runs' results frames are equal, and so are their images' PNG bytes and sidecars' batches and threads."""
    fa = pd.read_parquet(tmp_path / f"out-{a}" / "results.parquet")
    fb = pd.read_parquet(tmp_path / f"out-{b}" / "results.parquet")
    pd.testing.assert_frame_equal(fa, fb)
    ca, cb = Cache(tmp_path / f"cache-{a}"), Cache(tmp_path / f"cache-{b}")
    keys = fa.image_key.dropna().unique()
    for key in keys:
        assert ca.image_path(key).read_bytes() == cb.image_path(key).read_bytes()
        ra, rb = ca.get_record(key), cb.get_record(key)
        assert (ra["batch"], ra["torch_threads"]) == (rb["batch"], rb["torch_threads"])
        assert ra["torch_threads"] == 1
    return fa


def test_ray_equals_local(ray_instance, tmp_path):
    """full-image and a one-step gesco, psnr and bits: 2 methods x 2 SNRs x 6 samples in batches of 4
    (8 generation tasks, 8 scoring tasks) through --executor ray, then through the local loop."""
    _cli(_args(tmp_path, "ray", "full-image,gesco(steps=1)") + ["--executor", "ray"])
    _cli(_args(tmp_path, "local", "full-image,gesco(steps=1)"))
    frame = _same_results(tmp_path, "ray", "local")
    assert len(frame) == 2 * 2 * 6 * 4 and frame.value.notna().all()
    assert sorted({tuple(json.loads(Cache(tmp_path / "cache-ray").image_path(k).with_suffix(".json").read_text())["batch"])
                   for k in frame.image_key.dropna()}) == [(0, 4), (4, 6)]
    prov = json.loads((tmp_path / "out-ray" / "provenance.json").read_text())
    assert prov["config"]["executor"] == "ray" and prov["counts"]["generated"] == 24

    # a second run through Ray reads everything from the cache
    again = api.run(build_config(dataset="test-fake", methods="full-image,gesco(steps=1)", values="5,20",
                                 metrics="psnr,bits", threads=1, batch_size=4, out=tmp_path / "out-ray",
                                 cache_dir=tmp_path / "cache-ray", executor="ray"))
    assert again["counts"] == {"total": 24, "cached": 24, "generated": 0}


def test_a_killed_worker_is_retried_and_the_results_are_identical(ray_instance, tmp_path):
    """The first receiver to run kills its Ray worker with SIGKILL; Ray reruns the task and the run
    finishes with the local executor's results."""
    marker = tmp_path / "died"
    spec = f"test-die-once(marker={marker})"
    _cli(_args(tmp_path, "ray", spec) + ["--executor", "ray"])
    assert marker.exists()  # a worker did die, before writing its batch ...
    prov = json.loads((tmp_path / "out-ray" / "provenance.json").read_text())
    assert prov["counts"]["generated"] == 12  # ... which its rerun wrote
    _cli(_args(tmp_path, "local", spec))  # the marker exists: runs normally here
    frame = _same_results(tmp_path, "ray", "local")
    assert len(frame.image_key.dropna().unique()) == 12


def test_a_second_process_joins_the_cluster_with_address(ray_instance, tmp_path):
    """The command on a head node: another process joins the running instance with --address and
    its tasks run there (workers import semcom-bench and test-fake from where that process did)."""
    address = ray_instance.get_runtime_context().gcs_address
    code = "import tests.fake_dataset; from semcom_bench.cli.main import entry; entry()"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", code, *_args(tmp_path, "joined", "full-image"), "--executor", "ray",
                           "--address", address], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"on Ray ({address})" in " ".join(done.stderr.split())
    _cli(_args(tmp_path, "local", "full-image"))
    _same_results(tmp_path, "joined", "local")


def test_a_worker_that_does_not_see_the_cache_says_so(tmp_path):
    """A worker checks the head's cache id (a cache folder not shared by every node)."""
    from semcom_bench.executors.ray_executor import Job, _prepare, cache_identity

    config = build_config(dataset="test-fake", methods="full-image", metrics="psnr", values="5",
                          cache_dir=tmp_path / "cache", executor="ray")
    (tmp_path / "cache").mkdir()
    ident = cache_identity(tmp_path / "cache")
    assert cache_identity(tmp_path / "cache") == ident  # written once, then read
    _prepare(Job("run-1", config, 1, "cpu", (), ident))
    with pytest.raises(UserError, match="does not see this run's cache folder .*shared by every node"):
        _prepare(Job("run-1", config, 1, "cpu", (), "another id"))


def test_without_ray_the_ray_executor_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as if it were not installed
    res = CliRunner().invoke(app, _args(tmp_path, "x", "full-image") + ["--executor", "ray"], terminal_width=400)
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "pip install 'semcom-bench[ray]'" in lines[0], res.output
    assert not (tmp_path / "cache-x" / "images").exists()


def test_address_needs_the_ray_executor(tmp_path):
    with pytest.raises(UserError, match="add --executor ray"):
        build_config(address="auto", out=tmp_path / "out")
    with pytest.raises(UserError, match="--executor must be local or ray"):
        build_config(executor="dask")


def test_the_local_executor_never_imports_ray(tmp_path):
    code = (
        "import sys\n"
        "import tests.fake_dataset\n"
        "from semcom_bench.cli.main import main\n"
        f"code = main({_args(tmp_path, 'local', 'full-image')!r})\n"
        "assert code == 0, code\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out-local" / "results.parquet").exists()
