"""Results are saved as a unit: a reader sees one run's complete set or the previous one; a
second writer is refused while the first lives; damaged results are a one-line error."""

import json
import os
import re
import signal
import subprocess
import sys

import pandas as pd
import pytest

import tests.fake_dataset  # noqa: F401  (registers test-fake)
from semcom_bench import api, results
from semcom_bench.cli.main import main
from semcom_bench.config import build_config
from semcom_bench.errors import UserError


def _frame(value: float) -> pd.DataFrame:
    rows = [{"dataset": "d", "method": "m", "channel": "awgn", "grid": "g", "snr_db": 5.0, "snr_definition": "Es/N0",
             "seed": 0, "sample": f"s{i}", "image_key": f"k{i}", "metric": "psnr", "output": "psnr", "value": value + i,
             "lower_better": False, "level": "image", "limited": False} for i in range(3)]
    return pd.DataFrame(rows)[results.COLUMNS]


def _prov(tag: str) -> dict:
    return {"config": {"methods": ["m"], "channels": ["awgn"]}, "tag": tag}


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err and err.rstrip().endswith(errors[0]), err
    return errors[0]


def test_a_run_is_a_folder_and_latest_points_at_it(tmp_path):
    out = tmp_path / "out"
    first = results.save(out, _frame(1.0), _prov("a"))
    second = results.save(out, _frame(2.0), _prov("b"))
    assert first.parent == second.parent == out / "runs" and first != second
    assert (out / "latest").read_text().strip() == second.name
    frame, prov = results.load(out)
    pd.testing.assert_frame_equal(frame, _frame(2.0))
    assert prov["tag"] == "b"
    for name in results.FILES:  # the top-level names still work, and are this run's
        assert (out / name).read_bytes() == (second / name).read_bytes()
    manifest = json.loads((second / "manifest.json").read_text())
    assert set(manifest["files"]) == set(results.FILES)
    for _ in range(results.KEEP_RUNS + 1):
        last = results.save(out, _frame(3.0), _prov("c"))
    assert sorted(p.name for p in (out / "runs").iterdir())[-1] == last.name
    assert len(list((out / "runs").iterdir())) == results.KEEP_RUNS


@pytest.mark.parametrize("fail_on", ["results.csv", "provenance.json", "manifest.json", "latest"])
def test_a_failure_part_way_leaves_the_previous_run_whole(tmp_path, monkeypatch, fail_on):
    out = tmp_path / "out"
    results.save(out, _frame(1.0), _prov("a"))
    real = results.atomic_write_bytes

    def failing(path, data):
        if path.name == fail_on:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(results, "atomic_write_bytes", failing)
    with pytest.raises(UserError, match="cannot write results into .* the previous results there are unchanged"):
        results.save(out, _frame(2.0), _prov("b"))
    monkeypatch.setattr(results, "atomic_write_bytes", real)
    frame, prov = results.load(out)
    pd.testing.assert_frame_equal(frame, _frame(1.0))
    assert prov["tag"] == "a"
    assert pd.read_parquet(out / "results.parquet").equals(_frame(1.0))
    # the next run clears the unfinished folder
    last = results.save(out, _frame(3.0), _prov("c"))
    assert all((p / "manifest.json").exists() for p in (out / "runs").iterdir()) and last.exists()


def test_a_run_killed_while_saving_leaves_the_previous_run_whole(tmp_path):
    """SIGKILL right after the new run's table is written, before its other files and ``latest``."""
    out = tmp_path / "out"
    results.save(out, _frame(1.0), _prov("a"))
    code = f"""
import os, signal, sys
import pandas as pd
from semcom_bench import results
real = results.atomic_write_bytes
def write_then_die(path, data):
    real(path, data)
    if path.name == "results.parquet":
        os.kill(os.getpid(), signal.SIGKILL)
results.atomic_write_bytes = write_then_die
results.save(results.Path({str(out)!r}), pd.read_parquet({str(out / 'results.parquet')!r}).assign(value=9.0), {{}})
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(list((out / "runs").iterdir())) == 2
    frame, prov = results.load(out)
    pd.testing.assert_frame_equal(frame, _frame(1.0))
    assert prov["tag"] == "a"


_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, f"{os.getpid()}\\n".encode())
print("locked", flush=True)
time.sleep(300)
"""


def test_a_second_run_into_the_same_out_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        config = build_config(dataset="test-fake", methods="full-image", values="5", metrics="psnr", out=out,
                              cache_dir=tmp_path / "cache", threads=1)
        with pytest.raises(UserError, match=rf"another run \(pid {holder.pid}\) is writing results into .*pass another --out"):
            api.run(config)
        assert not (tmp_path / "cache" / "images").exists()  # refused before any work
        with pytest.raises(UserError, match="another run"):
            results.save(out, _frame(1.0), _prov("a"))
        err = _one_line_error(capsys, ["run", "--dataset", "test-fake", "--methods", "full-image", "--values", "5",
                                       "--metrics", "psnr", "--out", str(out), "--cache-dir", str(tmp_path / "cache")])
        assert f"another run (pid {holder.pid}) is writing results into" in err
    finally:
        holder.kill()
        holder.wait()
    # the holder is dead: its pid is still in the lock file, but the lock went with it
    assert (out / ".lock").read_text().strip() == str(holder.pid)
    summary = api.run(config)
    assert summary["run_dir"].parent == out / "runs"
    assert (out / ".lock").read_text() == ""  # released


def test_a_stale_pid_without_a_lock_does_not_block(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".lock").write_text(dead.stdout)
    results.save(out, _frame(1.0), _prov("a"))
    assert results.load(out)[1]["tag"] == "a"


def test_the_lock_is_reentrant_within_the_process(tmp_path):
    out = tmp_path / "out"
    with results.lock(out):
        results.save(out, _frame(1.0), _prov("a"))
        with results.lock(out):
            pass
    assert results.load(out)[1]["tag"] == "a"


def _current(out):
    return out / "runs" / (out / "latest").read_text().strip()


@pytest.mark.parametrize("damage, needle", [
    (lambda out: (_current(out) / "results.parquet").write_bytes(b"PAR1 not a table"),
     "runs/.*/results.parquet does not match the sha256 in its manifest"),
    (lambda out: (_current(out) / "provenance.json").write_text("{}"),
     "runs/.*/provenance.json does not match the sha256 in its manifest"),
    (lambda out: (_current(out) / "manifest.json").unlink(), "manifest.json is missing or unreadable"),
    (lambda out: (_current(out) / "results.parquet").unlink(), "results.parquet is missing"),
    (lambda out: (out / "latest").write_text("../elsewhere\n"), "latest names no run folder"),
])
def test_damaged_results_are_one_line_errors_in_report(tmp_path, capsys, damage, needle):
    out = tmp_path / "out"
    results.save(out, _frame(1.0), _prov("a"))
    damage(out)
    err = _one_line_error(capsys, ["report", "--out", str(out)])
    assert "are damaged" in err and f"run 'semcom-bench run --out {out}' again" in err
    assert re.search(needle, err), err
    with pytest.raises(UserError):
        results.load(out)


def test_folders_of_older_versions_are_read_and_checked(tmp_path, capsys):
    out = tmp_path / "old"
    out.mkdir()
    _frame(1.0).to_parquet(out / "results.parquet", index=False)
    (out / "provenance.json").write_text(json.dumps(_prov("old")))
    frame, prov = results.load(out)
    pd.testing.assert_frame_equal(frame, _frame(1.0))
    assert prov["tag"] == "old"
    (out / "provenance.json").write_text("{truncated")
    err = _one_line_error(capsys, ["report", "--out", str(out)])
    assert "cannot read the provenance" in err
    (out / "results.parquet").write_bytes(b"garbage")
    err = _one_line_error(capsys, ["report", "--out", str(out)])
    assert "cannot read the results table" in err
    pd.DataFrame({"a": [1]}).to_parquet(out / "results.parquet")
    err = _one_line_error(capsys, ["report", "--out", str(out)])
    assert "lacks the column(s) method, metric, output, value" in err
    # a new run into an old folder replaces the loose files by links into runs/
    results.save(out, _frame(2.0), _prov("new"))
    assert (out / "results.parquet").is_symlink() and results.load(out)[1]["tag"] == "new"


def test_saved_files_honour_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        folder = results.save(tmp_path / "out", _frame(1.0), _prov("a"))
    finally:
        os.umask(old)
    for name in (*results.FILES, "manifest.json"):
        assert (folder / name).stat().st_mode & 0o777 == 0o664
    assert (tmp_path / "out" / "latest").stat().st_mode & 0o777 == 0o664


def test_report_of_a_missing_folder(tmp_path, capsys):
    err = _one_line_error(capsys, ["report", "--out", str(tmp_path / "nothing")])
    assert "no results in" in err
    assert not (tmp_path / "nothing").exists()
