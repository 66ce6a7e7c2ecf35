"""``semcom-bench compare``: paired receivers of one sender."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from semcom_bench.cli.main import app


def test_compare_pairs_the_receivers_and_writes_rows(tmp_path):
    out = tmp_path / "rows.json"
    methods = "gesco(power=peak,steps=2),gesco(power=peak,steps=2),gesco(power=peak,steps=2,fds=false)"
    res = CliRunner().invoke(app, ["compare", "--methods", methods, "--values", "10", "--limit", "3",
                                   "--batch-size", "2", "--threads", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = json.loads(out.read_text())["rows"]
    assert [r["method"] for r in rows] == ["gesco(power=peak,steps=2)"] * 2 + ["gesco(fds=false,power=peak,steps=2)"]
    assert all(r["images"] == 3 and 0.0 <= r["miou"] <= 1.0 for r in rows)
    assert rows[0]["miou"] == rows[1]["miou"]  # same received maps, same sampler noise: same images
    assert rows[2]["miou"] != rows[0]["miou"]
    assert "| method | PSNR (dB) | miou |" in res.output


def test_compare_refuses_methods_with_different_payloads():
    res = CliRunner().invoke(app, ["compare", "--methods", "gesco(steps=2),gesco(power=peak,steps=2)", "--limit", "1"])
    assert res.exit_code == 2
    assert "sends a different payload" in res.output and "Traceback" not in res.output
