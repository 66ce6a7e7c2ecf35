"""``semcom-bench channels ber`` through Typer's test runner."""

import math
import re
import subprocess
import sys

from typer.testing import CliRunner

from semcom_bench.cli.main import app

runner = CliRunner()


def _rows(output: str) -> list[list[str]]:
    """Data rows of the rich table: cells between the vertical bars."""
    rows = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and re.fullmatch(r"-?\d+(\.\d+)?", cells[0]):
            rows.append(cells)
    return rows


def test_ber_table_matches_closed_form_awgn_bpsk():
    result = runner.invoke(app, ["channels", "ber", "--channel", "awgn", "--modulation", "bpsk",
                                 "--snr", "0:6:3", "--bits", "200000", "--seed", "1"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "closed form" in result.output and "Es/N0" in result.output
    rows = _rows(result.output)
    assert [r[0] for r in rows] == ["0", "3", "6"]
    for r in rows:
        snr = float(r[0])
        sim, ref = float(r[3]), float(r[4])
        assert ref == float(f"{0.5 * math.erfc(math.sqrt(10 ** (snr / 10))):.3e}")
        assert abs(sim - ref) < 5 * math.sqrt(ref / 200_000)


def test_ber_table_rayleigh_qpsk_eb_n0_column():
    result = runner.invoke(app, ["channels", "ber", "--channel", "rayleigh", "--modulation", "qpsk",
                                 "--snr", "10", "--bits", "100000"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    (row,) = _rows(result.output)
    assert row[1] == "6.99"  # Eb/N0 = Es/N0 - 3.01 dB for QPSK
    gamma_b = 10 ** (6.9897 / 10)
    ref = 0.5 * (1 - math.sqrt(gamma_b / (1 + gamma_b)))
    assert float(row[4]) == float(f"{ref:.3e}")
    assert abs(float(row[3]) - ref) < 0.1 * ref


def test_ber_user_errors_are_one_line_exit_2():
    for args in (["--modulation", "8psk"], ["--snr", "x:y"], ["--channel", "rayleighh"], ["--bits", "5"]):
        result = runner.invoke(app, ["channels", "ber", *args])
        assert result.exit_code == 2, (args, result.output)
        assert "error" in result.output.lower()
        assert "Traceback" not in result.output
    result = runner.invoke(app, ["channels", "ber", "--channel", "rayleighh"])
    assert "did you mean 'rayleigh'" in result.output.lower()


def test_channels_group_help_and_cheap_import():
    result = runner.invoke(app, ["channels", "--help"])
    assert result.exit_code == 0 and "ber" in result.output
    code = "import sys, semcom_bench.cli.channels; print('torch' in sys.modules, 'sionna' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
