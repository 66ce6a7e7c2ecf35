"""Every user mistake through the CLI: one line, exit code 2, no traceback, before any work.

The run options (flags and TOML keys), unwritable output folders and a full disk; the data
and weights cases are at the bottom.
"""

from __future__ import annotations

import errno
import os
import subprocess

import pandas as pd
import pytest
from typer.testing import CliRunner

import tests.fake_dataset  # noqa: F401  (registers test-fake)
from semcom_bench.cli.main import app

runner = CliRunner()


def _invoke(args, **kwargs):
    res = runner.invoke(app, [str(a) for a in args], terminal_width=400, **kwargs)
    return res


def _one_line_error(res, needle):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and not (res.exception and not isinstance(res.exception, SystemExit))
    lines = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, res.output
    assert needle in lines[0], res.output
    return lines[0]


def _small_run(tmp_path, *extra):
    return ["run", "--dataset", "test-fake", "--methods", "full-image", "--metrics", "psnr", "--values", "10",
            "--limit", "2", "--out", tmp_path / "out", "--cache-dir", tmp_path / "cache", *extra]


def _nothing_generated(tmp_path):
    assert not (tmp_path / "cache" / "images").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags, needle", [
    (["--methods", "gesco(steps=abc)"], "parameter steps of method 'gesco' must be an integer or none, got 'abc'"),
    (["--seed", "abc"], "bad seed 'abc' in --seed: give whole numbers, e.g. --seed 0,1,2"),
    (["--seed", str(2**64)], f"seed {2**64} in --seed is outside [0, 2**63-1]; give a seed from 0 to {2**63 - 1}"),
    (["--seed", "-1"], "seed -1 in --seed is outside [0, 2**63-1]"),
    (["--seed", ""], "--seed is empty: give one or more seeds, e.g. --seed 0,1,2"),
    (["--seed", "1,1"], "seed 1 is given twice in --seed; give each seed once"),
    (["--threads", "-1"], "--threads must be at least 1, got -1"),
    (["--threads", "0"], "--threads must be at least 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--values", ""], "--values is empty: give dB values as '0,5,10' or 'start:stop:step' such as '0:20:2'"),
    (["--values", "5,5"], "SNR value 5 dB is given twice in --values; give each value once"),
    (["--values", "nan"], "SNR value nan in --values is not a finite number; give dB values in [-50, 200]"),
    (["--values", "300"], "SNR value 300 dB in --values is outside [-50, 200] dB; give values in that range"),
    (["--metrics", ""], "no metric given in --metrics: name at least one, e.g. --metrics psnr,miou"),
    (["--methods", ""], "no method given in --methods: name at least one, e.g. --methods full-image"),
    (["--channels", ""], "no channel given in --channels: name at least one, e.g. --channels awgn"),
    (["--device", "tpu"], "--device must be cpu, cuda, cuda:N or auto, got 'tpu'"),
])
def test_bad_run_flags(flags, needle, tmp_path):
    _one_line_error(_invoke(_small_run(tmp_path, *flags)), needle)
    _nothing_generated(tmp_path)


GOOD = {"dataset": '"test-fake"', "methods": '["full-image"]', "metrics": '["psnr"]', "values": "[10]", "limit": "2"}


@pytest.mark.parametrize("line, needle", [
    ("methods = 3", "methods in the config file: cannot read components 3: give a comma-separated text or a list of names"),
    ('limit = "two"', "limit in the config file must be a whole number, got 'two'"),
    ('values = ["abc"]', "values in the config file must hold numbers (dB), got 'abc'"),
    ("seeds = [1.5]", "bad seed 1.5 in seeds in the config file: give whole numbers, e.g. seeds = [0, 1, 2]"),
    ("out = 3", "out in the config file must be a folder path, got 3"),
    ("device = 1", "device in the config file must be cpu, cuda, cuda:N or auto, got 1"),
    ("dataset = 5", "dataset in the config file: cannot read component 5: write a name, name(key=value,...) or a table"),
    ("metrics = {}", 'metrics in the config file: component table {} needs name = "<component name>" (text)'),
    ("values = [nan]", "SNR value nan in values in the config file is not a finite number; give dB values in [-50, 200]"),
    ("values = [inf]", "SNR value inf in values in the config file is not a finite number"),
    ("values = [-51]", "SNR value -51 dB in values in the config file is outside [-50, 200] dB"),
    ("values = [250]", "SNR value 250 dB in values in the config file is outside [-50, 200] dB"),
    ("values = []", "values in the config file is empty: give at least one SNR value in dB"),
    ("values = [5, 5]", "SNR value 5 dB is given twice in values in the config file; give each value once"),
    ("metrics = []", 'no metric given in metrics in the config file: name at least one, e.g. metrics = ["psnr", "miou"]'),
    ("methods = []", "no method given in methods in the config file"),
    ("channels = []", "no channel given in channels in the config file"),
    ("seeds = []", "seeds in the config file is empty: give one or more seeds, e.g. seeds = [0, 1, 2]"),
    ("seeds = [-1]", "seed -1 in seeds in the config file is outside [0, 2**63-1]"),
    ("batch_size = 0", "batch_size in the config file must be at least 1, got 0"),
    ("threads = 0", "threads in the config file must be at least 1, got 0"),
    ("grid = 3", "grid in the config file must be a grid name (psnr, snr, jscc), got 3"),
    ("cache_dir = true", "cache_dir in the config file must be a folder path, got True"),
])
def test_bad_toml_keys(line, needle, tmp_path):
    key = line.split("=")[0].strip()
    body = {**GOOD, "out": f'"{tmp_path / "out"}"', "cache_dir": f'"{tmp_path / "cache"}"'}
    body[key] = line.split("=", 1)[1].strip()
    cfg = tmp_path / "run.toml"
    cfg.write_text("".join(f"{k} = {v}\n" for k, v in body.items()))
    _one_line_error(_invoke(["run", "--config", cfg]), needle)
    _nothing_generated(tmp_path)


def test_a_config_file_that_is_not_text(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_bytes(b"\xff\xfe\x00")
    _one_line_error(_invoke(["run", "--config", cfg]), f"config file {cfg} is not UTF-8 text")


# ------------------------------------------------------------------------------ output folders


def test_an_out_path_under_a_file_fails_before_generation(tmp_path):
    (tmp_path / "taken").write_text("x")
    args = _small_run(tmp_path)
    args[args.index("--out") + 1] = tmp_path / "taken" / "out"
    line = _one_line_error(_invoke(args), f"--out (out) {tmp_path / 'taken' / 'out'} is not a folder")
    assert f"({tmp_path / 'taken'} is a file); choose a folder path" in line
    assert not (tmp_path / "cache" / "images").exists()


def _mount(target, options):
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")


def _umount(target):
    subprocess.run(["umount", str(target)], check=True)


@pytest.fixture
def read_only_folder(tmp_path):
    target = tmp_path / "ro"
    _mount(target, "size=64k,ro")
    yield target
    _umount(target)


def test_read_only_out_and_cache_fail_before_generation(tmp_path, read_only_folder):
    args = _small_run(tmp_path)
    args[args.index("--out") + 1] = read_only_folder / "out"
    _one_line_error(_invoke(args), f"--out (out) {read_only_folder / 'out'} is not writable (Read-only file system); "
                                   "choose a writable folder")
    args = _small_run(tmp_path)
    args[args.index("--cache-dir") + 1] = read_only_folder / "cache"
    _one_line_error(_invoke(args), f"--cache-dir (cache_dir) {read_only_folder / 'cache'} is not writable")
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not bind root")
def test_unwritable_out_by_permissions(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    args = _small_run(tmp_path)
    args[args.index("--out") + 1] = locked / "out"
    _one_line_error(_invoke(args), "is not writable (Permission denied)")


# ------------------------------------------------------------------------------ a full disk


def _results(out):
    return pd.read_parquet(out / "results.parquet")


def test_simulated_full_disk_is_one_line_and_a_rerun_completes(tmp_path, monkeypatch):
    """ENOSPC from the cache's writes after some images: one line naming the folders, then a
    re-run with space restored finishes only what is missing and writes the full results."""
    import semcom_bench.cache as cache
    import semcom_bench.results  # noqa: F401  (binds the real writer before it is replaced below)

    real = cache.atomic_write_bytes
    writes = {"n": 0}

    def full_after_ten(path, data):
        writes["n"] += 1
        if writes["n"] > 10:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, data)

    monkeypatch.setattr(cache, "atomic_write_bytes", full_after_ten)
    args = ["run", "--dataset", "test-fake", "--methods", "full-image", "--metrics", "psnr,bits", "--values", "0,10,100",
            "--out", tmp_path / "out", "--cache-dir", tmp_path / "cache"]
    line = _one_line_error(_invoke(args), "no space left on device (ENOSPC) writing ")
    assert f"{tmp_path / 'out'} or {tmp_path / 'cache'}" in line
    assert line.endswith("finished work is cached and running the same command again resumes")
    assert not (tmp_path / "out" / "results.parquet").exists()

    monkeypatch.setattr(cache, "atomic_write_bytes", real)
    res = _invoke(args)
    assert res.exit_code == 0, res.output
    assert "13 image(s) generated, 5 from cache" in " ".join(res.output.split())  # 10 writes: 5 images + sidecars
    frame = _results(tmp_path / "out")
    assert len(frame[frame.metric == "psnr"]) == 6 * 3 and set(frame.snr_db) == {0.0, 10.0, 100.0}


@pytest.fixture
def small_disk(tmp_path):
    target = tmp_path / "small"
    _mount(target, "size=64k")
    yield target
    _umount(target)


def test_real_full_disk_then_more_space(tmp_path, small_disk):
    """A 64 KiB tmpfs fills up during the run; after growing it, the same command completes."""
    args = ["run", "--dataset", "test-fake", "--methods", "full-image", "--metrics", "psnr", "--values", "0,10,100",
            "--out", small_disk / "out", "--cache-dir", small_disk / "cache"]
    line = _one_line_error(_invoke(args), "no space left on device (ENOSPC) writing ")
    assert str(small_disk) in line and line.endswith("running the same command again resumes")
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    res = _invoke(args)
    assert res.exit_code == 0, res.output
    assert "from cache" in res.output and " 0 from cache" not in " ".join(res.output.split())
    frame = _results(small_disk / "out")
    assert len(frame) == 6 * 3 and frame.value.notna().all()


# ------------------------------------------------------------------------------ data sets


@pytest.fixture
def corrupt_folder(tmp_path):
    import numpy as np
    from PIL import Image

    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 16, 3), 40 * i, np.uint8)).save(root / "images" / f"img{i}.png")
        Image.fromarray(np.zeros((8, 16), np.uint8)).save(root / "labels" / f"img{i}.png")
    (root / "images" / "img1.png").write_bytes(b"\x89PNG garbage")
    return root


def test_corrupt_image_in_a_folder_data_set_stops_the_run_before_generation(tmp_path, corrupt_folder):
    args = _small_run(tmp_path)
    args[args.index("--dataset") + 1] = f"folder(root={corrupt_folder},num_classes=2)"
    args[args.index("--limit") + 1] = "3"
    _one_line_error(_invoke(args), f"cannot read image {corrupt_folder / 'images' / 'img1.png'} (not an image file PIL can "
                                   "read); replace the file or remove it from the data set")
    assert not (tmp_path / "cache" / "images").exists()
    args[args.index("--limit") + 1] = "1"  # the samples a run does not use are not read
    assert _invoke(args).exit_code == 0


def test_corrupt_image_in_data_stats(corrupt_folder):
    res = _invoke(["data", "stats", "--dataset", f"folder(root={corrupt_folder},num_classes=2)"])
    _one_line_error(res, f"cannot read image {corrupt_folder / 'images' / 'img1.png'}")


def test_report_with_an_empty_metric_list(tmp_path):
    res = _invoke(["report", "--out", tmp_path, "--metrics", " , "])
    _one_line_error(res, "--metrics is empty: give metric names such as psnr,ssim, or leave it out for all")


# ------------------------------------------------------------------------------ weights


def _tampered_gesco(tmp_path):
    """The shipped gesco network with one weight changed, under its own name (with its JSON)."""
    import torch

    from semcom_bench.weights import ASSETS

    root = tmp_path / "weights"
    root.mkdir()
    state = torch.load(ASSETS / "gesco" / "gesco-synthetic-streets.pt", map_location="cpu", weights_only=True)
    state["out.2.bias"] = state["out.2.bias"] + 0.5
    torch.save(state, root / "gesco-synthetic-streets.pt")
    (root / "gesco-synthetic-streets.json").write_bytes((ASSETS / "gesco" / "gesco-synthetic-streets.json").read_bytes())
    return root / "gesco-synthetic-streets.pt"


def test_weights_with_another_checksum_are_refused_unless_allowed(tmp_path, monkeypatch):
    import hashlib
    import json

    tampered = _tampered_gesco(tmp_path)
    digest = hashlib.sha256(tampered.read_bytes()).hexdigest()
    monkeypatch.setenv("SEMCOM_WEIGHTS", str(tampered.parent))
    monkeypatch.delenv("SEMCOM_ALLOW_UNVERIFIED_WEIGHTS", raising=False)
    args = ["run", "--dataset", "synthetic-streets(size=1)", "--methods", "gesco(sampler=respaced,steps=1)", "--metrics", "bits",
            "--values", "10", "--out", tmp_path / "out", "--cache-dir", tmp_path / "cache"]
    line = _one_line_error(_invoke(args), f"weights 'gesco-synthetic-streets' at {tampered} ($SEMCOM_WEIGHTS) have "
                                          f"sha256 {digest}, expected 7daf6c401a7f740c")
    assert line.endswith("remove it to use the file shipped with the package, or use this file anyway by passing its "
                         "path explicitly or setting SEMCOM_ALLOW_UNVERIFIED_WEIGHTS=1")
    assert not (tmp_path / "cache" / "images").exists()
    monkeypatch.setenv("SEMCOM_ALLOW_UNVERIFIED_WEIGHTS", "1")
    res = _invoke(args)
    assert res.exit_code == 0, res.output
    records = [json.loads(p.read_text()) for p in (tmp_path / "cache" / "images").rglob("*.json")]
    assert records and {r["checkpoint"] for r in records} == {digest}  # the hash of the file actually used


def _gesco_run(tmp_path, weights_file):
    return ["run", "--dataset", "synthetic-streets(size=1)", "--methods", f"gesco(steps=1,weights={weights_file})",
            "--metrics", "bits", "--values", "10", "--out", tmp_path / "out", "--cache-dir", tmp_path / "cache"]


def test_gesco_weights_that_are_not_a_network(tmp_path):
    import torch

    text = tmp_path / "notes.pt"
    text.write_text("these are not weights")
    _one_line_error(_invoke(_gesco_run(tmp_path, text)),
                    f"weights {text} is not a torch state-dict file; pass an official ema_*.pt or a file written by "
                    "'semcom-bench train gesco|sdm'")
    other = tmp_path / "other.pt"
    torch.save({"a.weight": torch.zeros(2, 2)}, other)
    _one_line_error(_invoke(_gesco_run(tmp_path, other)),
                    f"weights {other} does not hold an SDM/GESCO network (no time_embed.0.weight)")
    assert not (tmp_path / "cache" / "images").exists()


@pytest.mark.parametrize("sidecar, content, needle", [
    ("net.json", "{not json", "beside the weights net.pt cannot be read (Expecting property name enclosed in double "
                              "quotes: line 1 column 2 (char 1)); restore the JSON written with the weights"),
    ("net.json", "[1, 2]", "beside the weights net.pt is not a JSON object; restore the JSON written with the weights"),
    ("net.json", '{"net": {"model_channels": 8}}', "does not describe a network (no 'channel_mult')"),
    ("config.json", "{{", "beside the weights net.pt cannot be read"),
])
def test_gesco_corrupt_settings_beside_the_weights(tmp_path, sidecar, content, needle):
    from semcom_bench.weights import ASSETS

    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "net.pt").write_bytes((ASSETS / "gesco" / "gesco-synthetic-streets.pt").read_bytes())
    (folder / sidecar).write_text(content)
    _one_line_error(_invoke(_gesco_run(tmp_path, folder / "net.pt")), f"settings file {folder / sidecar} ")
    _one_line_error(_invoke(_gesco_run(tmp_path, folder / "net.pt")), needle)


# ------------------------------------------------------------------------------ train options


@pytest.fixture
def no_rendering(monkeypatch):
    """Training scenes must not be rendered (nor the evaluator's scenes)."""
    import semcom_bench.diffusion.training as diffusion_training
    import semcom_bench.evaluators.training as evaluator_training

    def refuse(*a, **k):
        raise AssertionError("training scenes were rendered before the options were checked")

    monkeypatch.setattr(diffusion_training, "render_training_set", refuse)
    monkeypatch.setattr(evaluator_training, "render", refuse)


def _bad_init_files(tmp_path):
    import torch

    text = tmp_path / "notes.pt"
    text.write_text("not weights\n")
    other = tmp_path / "other.pt"
    torch.save({"a.weight": torch.zeros(2, 2)}, other)
    return text, other


@pytest.mark.parametrize("flags, needle", [
    (["--lr", "-1"], "--lr must be a finite number above 0, got -1.0"),
    (["--lr", "0"], "--lr must be a finite number above 0, got 0.0"),
    (["--lr", "nan"], "--lr must be a finite number above 0, got nan"),
    (["--time-limit", "-5"], "--time-limit must be a finite number above 0, got -5.0"),
    (["--checkpoint-every", "0"], "--checkpoint-every must be at least 1, got 0"),
    (["--log-every", "0"], "--log-every must be at least 1, got 0"),
    (["--workers", "-1"], "--workers must be at least 0, got -1"),
    (["--threads", "0"], "--threads must be at least 1, got 0"),
    (["--threads", "5000"], "--threads must be at most 1024, got 5000"),
    (["--seed", "-1"], "--seed must be at least 0, got -1"),
    (["--steps", "0"], "--steps must be at least 1, got 0"),
    (["--ema", "1.5"], "--ema must be in [0, 1), got 1.5"),
    (["--drop-rate", "nan"], "--drop-rate must be in [0, 1), got nan"),
    (["--noise", "loud"], "unknown training noise 'loud'"),
    (["--init", "nowhere.pt"], "--init nowhere.pt: no such file"),
    (["--init", "TEXT"], "is not a torch state-dict file; give gesco, gesco-fds, sdm, an exported NAME.pt or a training folder"),
    (["--init", "OTHER"], "does not fit this recipe's network for synthetic-streets (34 classes): Missing key(s) in state_dict"),
    (["--dataset", "synthetic-streets(size=4,height=40,width=64)"],
     "--dataset scenes of 40x64 do not fit the network: height and width must be multiples of 16"),
    (["--seed", str(2**63)], f"--seed must be at most {2**63 - 1}, got {2**63}"),
    (["--dataset", "synthetic-streets(size=0)"], "parameter size of dataset 'synthetic-streets' must be in [1, "),
    (["--data-cache", "FOLDER"], "is a folder; give a file path"),
])
def test_bad_train_options_fail_before_rendering(flags, needle, tmp_path, no_rendering):
    text, other = _bad_init_files(tmp_path)
    flags = [{"TEXT": text, "OTHER": other, "FOLDER": tmp_path}.get(f, f) for f in flags]
    base = ["train", "gesco", "--dataset", "synthetic-streets(size=4,height=32,width=64)", "--steps", "1", "--device", "cpu",
            "--out", tmp_path / "run"]
    _one_line_error(_invoke(base + flags), needle)
    assert not list((tmp_path / "run").glob("*.pt"))


def test_train_out_under_a_file_fails_before_rendering(tmp_path, no_rendering):
    (tmp_path / "taken").write_text("x")
    res = _invoke(["train", "sdm", "--steps", "1", "--out", tmp_path / "taken" / "run"])
    _one_line_error(res, f"--out {tmp_path / 'taken' / 'run'} is not a folder")


@pytest.mark.parametrize("flags, needle", [
    (["--lr", "0"], "--lr must be a finite number above 0, got 0.0"),
    (["--steps", "0"], "--steps must be at least 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--train-size", "0"], "--train-size must be at least 1, got 0"),
    (["--val-size", "-3"], "--val-size must be at least 1, got -3"),
    (["--time-budget", "-1"], "--time-budget must be a finite number above 0, got -1.0"),
    (["--workers", "-2"], "--workers must be at least 0, got -2"),
    (["--device", "tpu"], "--device 'tpu' is not known; use cpu, cuda, cuda:N or auto"),
])
def test_bad_evaluator_train_options_fail_before_rendering(flags, needle, tmp_path, no_rendering):
    res = _invoke(["train", "evaluator", "--task", "seg", "--out", tmp_path / "ev", *flags])
    _one_line_error(res, needle)


def test_resume_from_a_checkpoint_that_is_not_data(tmp_path):
    import torch

    base = ["train", "sdm", "--dataset", "synthetic-streets(size=4,height=32,width=64)", "--batch-size", "2",
            "--device", "cpu", "--out", tmp_path / "run", "--workers", "1", "--data-cache", tmp_path / "scenes.npz"]
    assert _invoke(base + ["--steps", "1"]).exit_code == 0
    opt = tmp_path / "run" / "opt_000001.pt"
    torch.save({"step": 1, "payload": torch.optim.SGD}, opt)  # an object only a full unpickler would build
    line = _one_line_error(_invoke(base + ["--steps", "2", "--resume"]),
                           f"checkpoint file {opt} cannot be read safely (it holds objects other than tensors and plain "
                           "data, and loading those could run code)")
    assert line.endswith("remove its step's files to resume from the one before")
    (tmp_path / "run" / "config.json").write_text("{")
    _one_line_error(_invoke(base + ["--steps", "2", "--resume"]), f"cannot resume from {tmp_path / 'run'}: "
                                                                  f"{tmp_path / 'run' / 'config.json'} cannot be read")


def test_disk_errors_that_are_the_users_and_those_that_are_not(tmp_path):
    from semcom_bench.cli import common

    common.writing_to(tmp_path / "out")
    try:
        full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "elsewhere" / "x.npz"))
        assert common.disk_error_message(full) == (
            f"no space left on device (ENOSPC) writing {tmp_path / 'elsewhere' / 'x.npz'}; free some space there "
            "(or choose another --out / --cache-dir); then run the command again")
        wrapped = RuntimeError("save failed")
        wrapped.__cause__ = OSError(errno.EDQUOT, "Disk quota exceeded")
        assert common.disk_error_message(wrapped, "kept").startswith(f"disk quota exceeded (EDQUOT) writing {tmp_path / 'out'};")
        denied_out = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "out" / "results.csv"))
        assert "make it writable" in common.disk_error_message(denied_out)
        denied_elsewhere = PermissionError(errno.EACCES, "Permission denied", "/etc/passwd")
        assert common.disk_error_message(denied_elsewhere) is None  # not an output path: a real error, kept whole
        assert common.disk_error_message(FileNotFoundError(errno.ENOENT, "No such file")) is None
        assert common.disk_error_message(ValueError("x")) is None
    finally:
        common.writing_to()
