"""A run killed with SIGKILL part way resumes to results identical to an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ARGS = ["run", "--methods", "full-image", "--values", "0:30:2", "--metrics", "psnr,bits", "--limit", "24", "--threads", "1"]


def _cli(*extra, env=None):
    code = "from semcom_bench.cli.main import entry; entry()"
    return [sys.executable, "-c", code, *ARGS, *extra]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _count_sidecars(cache: Path) -> int:
    return len(list((cache / "images").rglob("*.json"))) if (cache / "images").exists() else 0


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    total = 16 * 24
    cache, out = tmp_path / "cache", tmp_path / "out"
    proc = subprocess.Popen(_cli("--cache-dir", str(cache), "--out", str(out)), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while _count_sidecars(cache) < 40 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _count_sidecars(cache)
    assert 0 < done_before < total, f"kill landed at {done_before}/{total}; the run was too fast or too slow"
    assert not (out / "results.parquet").exists()

    resumed = subprocess.run(_cli("--cache-dir", str(cache), "--out", str(out)), env=_env(),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{total - done_before} image(s) generated, {done_before} from cache" in " ".join(resumed.stdout.split())

    ref_out = tmp_path / "ref"
    ref = subprocess.run(_cli("--cache-dir", str(tmp_path / "ref-cache"), "--out", str(ref_out)), env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr
    a = pd.read_parquet(out / "results.parquet")
    b = pd.read_parquet(ref_out / "results.parquet")
    pd.testing.assert_frame_equal(a, b)
    # and the images themselves are byte-identical
    for key in a.image_key.dropna().unique()[:50]:
        sub = key[:2]
        assert (cache / "images" / sub / f"{key}.png").read_bytes() == (tmp_path / "ref-cache" / "images" / sub / f"{key}.png").read_bytes()


GESCO = ["run", "--dataset", "synthetic-streets(size=3)", "--methods", "gesco(steps=2)", "--values", "5",
         "--metrics", "bits", "--threads", "1", "--batch-size", "8"]

#: The CLI, killed with SIGKILL by itself right after it has cached its second image: the three
#: images of the cell form one batch, so the kill lands deterministically inside a batch.
KILLED_AFTER_TWO = """
import os, signal
from semcom_bench.cache import Cache
put = Cache.put_image
done = []
def put_then_die(self, *args, **kwargs):
    put(self, *args, **kwargs)
    done.append(1)
    if len(done) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
Cache.put_image = put_then_die
from semcom_bench.cli.main import entry; entry()
"""


def test_batched_diffusion_receiver_resumes_to_identical_pngs(tmp_path):
    """gesco's batched sampler: its output depends on the batch, so a resumed run must regenerate
    the partly finished batch whole; the PNG bytes then equal an uninterrupted run's."""
    cache, out = tmp_path / "cache", tmp_path / "out"
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_TWO, *GESCO, "--cache-dir", str(cache), "--out", str(out)],
                            env=_env(), capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _count_sidecars(cache) == 2

    code = "from semcom_bench.cli.main import entry; entry()"
    resumed = subprocess.run([sys.executable, "-c", code, *GESCO, "--cache-dir", str(cache), "--out", str(out)], env=_env(),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 image(s) generated, 2 from cache" in " ".join(resumed.stdout.split())
    assert "differ from their regeneration" not in resumed.stderr

    ref = tmp_path / "ref-cache"
    whole = subprocess.run([sys.executable, "-c", code, *GESCO, "--cache-dir", str(ref), "--out", str(tmp_path / "ref")],
                           env=_env(), capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    pngs = sorted(p.relative_to(ref) for p in ref.rglob("*.png"))
    assert len(pngs) == 3 and pngs == sorted(p.relative_to(cache) for p in cache.rglob("*.png"))
    for p in pngs:
        assert (cache / p).read_bytes() == (ref / p).read_bytes(), p
        record = json.loads((cache / p).with_suffix(".json").read_text())
        assert record["torch_threads"] == 1 and record["batch"] == [0, 3]
