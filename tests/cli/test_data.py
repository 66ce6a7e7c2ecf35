"""``semcom-bench data show`` and ``data stats`` through Typer's runner."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from semcom_bench.cli.main import app, main
from tests.data.test_datasets import make_cityscapes

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, list(args), terminal_width=200)


def test_data_help_has_examples():
    for cmd in (["data"], ["data", "show"], ["data", "stats"]):
        res = _run(*cmd, "--help")
        assert res.exit_code == 0, res.output
    assert "Examples" in _run("data", "stats", "--help").output


def test_show_writes_a_preview_grid(tmp_path):
    out = tmp_path / "p" / "preview.png"
    res = _run("data", "show", "--dataset", "synthetic-streets(size=3)", "--n", "2", "--output", str(out))
    assert res.exit_code == 0, res.output
    with Image.open(out) as im:
        # 4 columns (image, labels, edges, depth) of 128 px enlarged to 256, 2 rows
        assert im.width == 4 * (256 + 4) + 4
        assert im.height == 16 + 2 * (128 + 4) + 4
        arr = np.asarray(im.convert("RGB"))
    assert arr.std() > 10


def test_stats_prints_class_and_bit_tables():
    res = _run("data", "stats", "--dataset", "synthetic-streets(size=2)", "--codecs", "labels-webp,g4")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "class frequencies" in out and "road" in out
    assert "bits per image" in out and "image raw RGB" in out and "196,608" in out
    assert "maps labels-webp" in out and "maps g4" in out and "saved vs PNG" in out


def test_stats_and_show_on_cityscapes_spec(tmp_path):
    make_cityscapes(tmp_path)
    spec = f"cityscapes(root={tmp_path},height=32,width=64)"
    res = _run("data", "stats", "--dataset", spec, "--limit", "2")
    assert res.exit_code == 0, res.output
    assert "car" in res.output and "35 classes" in res.output
    res = _run("data", "show", "--dataset", spec, "--output", str(tmp_path / "cs.png"))
    assert res.exit_code == 0, res.output
    assert (tmp_path / "cs.png").is_file()


def test_user_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    code = main(["data", "stats", "--dataset", f"cityscapes(root={tmp_path / 'missing'})"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "leftImg8bit/<split>/<city>" in err and len(err.splitlines()) <= 2
    assert main(["data", "stats", "--codecs", "zip"]) == 2
    assert main(["data", "show", "--dataset", "no-such-set"]) == 2
    assert main(["data", "stats", "--limit", "0"]) == 2


def test_data_module_import_is_cheap():
    code = ("import sys, semcom_bench.cli.data; "
            "print(int(any(m in sys.modules for m in ('torch', 'numpy', 'PIL.Image'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
