"""Paired differences against a reference method (report --versus) on a synthetic results table."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest

from semcom_bench.errors import UserError
from semcom_bench.report.paired import (
    DEFAULT_RESAMPLES,
    PAIRED_COLUMNS,
    bootstrap_interval,
    paired_differences,
    render_paired,
)
from semcom_bench.results import COLUMNS
from tests.report.markdown import markdown_tables

REF = "ref"
BETTER = "better(k=1,x=a_b)"  # a spec label: commas, parentheses and an underscore
WORSE = "worse"
SAME = "same"
METHODS = [REF, BETTER, WORSE, SAME]
SNRS = [10.0, 0.0]
SEEDS = [0, 1]
SAMPLES = [f"s/{i}" for i in range(10)]  # 2 seeds x 10 samples = 20 pairs per cell
MISSING = {"s/3", "s/7"}  # WORSE lacks these samples at 10 dB (4 pairs fewer)
EXTRA = "s/extra"  # only WORSE has this sample at 0 dB: nothing to pair it with
MIOU = "miou(evaluator=embedded)"  # a metric spec label: an opaque string
DEFINITION = "Es/N0 per complex symbol, Es=1 (dB)"


#: Per (seed, sample) noise of the differences, so that the bootstrap distribution is smooth.
NOISE = np.random.default_rng(3).normal(size=(len(SEEDS), len(SAMPLES) + 1))


def _offset(method: str, output: str, seed: int, index: int) -> float:
    """Known per-image difference from the reference (in the direction of "better")."""
    sign = -1.0 if output == "lpips" else 1.0  # lpips: lower is better
    noise = NOISE[seed, index]
    if method == BETTER:
        return sign * (0.05 + 0.01 * noise)
    if method == WORSE:
        return -sign * (0.03 + 0.01 * noise)
    if method == SAME:  # samples 2j and 2j+1 cancel: the mean difference is exactly 0
        return (1.0 if index % 2 else -1.0) * (0.02 + 0.005 * abs(NOISE[seed, index - index % 2]))
    return 0.0


def synthetic_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    base_values = {(snr, seed, sample, output): float(rng.uniform(0.3, 0.7))
                   for snr in SNRS for seed in SEEDS for sample in SAMPLES + [EXTRA] for output in ("miou", "lpips")}
    for method in METHODS:
        for snr in SNRS:
            base = {"dataset": "synthetic-streets", "method": method, "channel": "awgn", "grid": "snr", "snr_db": snr,
                    "snr_definition": DEFINITION, "limited": False}
            for seed in SEEDS:
                samples = list(SAMPLES)
                if method == WORSE and snr == 10.0:
                    samples = [s for s in samples if s not in MISSING]
                if method == WORSE and snr == 0.0:
                    samples.append(EXTRA)
                for sample in samples:
                    index = SAMPLES.index(sample) if sample in SAMPLES else len(SAMPLES)
                    img = {**base, "seed": seed, "sample": sample, "image_key": f"{method}|{snr}|{seed}|{sample}",
                           "level": "image"}
                    for metric, output, lower in ((MIOU, "miou", False), ("lpips", "lpips", True)):
                        value = base_values[(snr, seed, sample, output)] + _offset(method, output, seed, index)
                        rows.append({**img, "metric": metric, "output": output, "value": value,
                                     "lower_better": lower})
                rows.append({**base, "seed": seed, "sample": None, "image_key": None, "metric": "fid",
                             "output": "fid", "value": 10.0 + METHODS.index(method), "lower_better": True,
                             "level": "set"})
    return pd.DataFrame(rows)[COLUMNS]


def synthetic_provenance() -> dict:
    return {"config": {"methods": METHODS, "channels": ["awgn"], "metrics": ["lpips", MIOU, "fid"], "grid": "snr",
                       "values": SNRS, "seeds": SEEDS},
            "num_samples": len(SAMPLES), "limited": False}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic_frame()


@pytest.fixture(scope="module")
def paired(frame) -> pd.DataFrame:
    return paired_differences(frame, REF, synthetic_provenance())


def _row(paired: pd.DataFrame, method: str, output: str, snr: float) -> pd.Series:
    sel = paired[(paired.method == method) & (paired.output == output) & (paired.snr_db == snr)]
    assert len(sel) == 1
    return sel.iloc[0]


def _direct_differences(frame: pd.DataFrame, method: str, output: str, snr: float) -> np.ndarray:
    """The paired differences by an explicit dictionary match, in (seed, sample) order."""
    img = frame[(frame.level == "image") & (frame.output == output) & (frame.snr_db == snr)]
    ref = {(r.seed, r.sample): r.value for r in img[img.method == REF].itertuples()}
    other = {(r.seed, r.sample): r.value for r in img[img.method == method].itertuples()}
    return np.array([other[k] - ref[k] for k in sorted(set(ref) & set(other))])


# ----------------------------------------------------------------------------------------
# statistics


def test_columns_order_and_reference_left_out(paired):
    assert list(paired.columns) == PAIRED_COLUMNS
    assert REF not in set(paired.method) and (paired.reference == REF).all()
    assert set(paired.output) == {"miou", "lpips"}  # set-level fid has no pairs
    # report order: metrics as configured (lpips first), then methods, then the SNR grid
    assert list(dict.fromkeys(paired.output)) == ["lpips", "miou"]
    lpips = paired[paired.output == "lpips"]
    assert list(zip(lpips.method, lpips.snr_db)) == [(m, s) for m in (BETTER, WORSE, SAME) for s in SNRS]
    assert (paired.metric[paired.output == "miou"] == MIOU).all()


@pytest.mark.parametrize("method", [BETTER, WORSE, SAME])
@pytest.mark.parametrize("output", ["miou", "lpips"])
@pytest.mark.parametrize("snr", SNRS)
def test_mean_difference_is_the_exact_paired_mean(frame, paired, method, output, snr):
    diffs = _direct_differences(frame, method, output, snr)
    row = _row(paired, method, output, snr)
    assert row["n"] == len(diffs)
    assert row["delta"] == pytest.approx(diffs.mean(), abs=1e-12)
    assert row["method_mean"] - row["reference_mean"] == pytest.approx(row["delta"], abs=1e-12)
    assert row["lo"] <= row["delta"] <= row["hi"]


def test_unmatched_samples_are_left_out(paired):
    full = len(SEEDS) * len(SAMPLES)
    assert _row(paired, BETTER, "miou", 10.0)["n"] == full == 20
    assert _row(paired, WORSE, "miou", 10.0)["n"] == full - len(SEEDS) * len(MISSING) == 16
    assert _row(paired, WORSE, "miou", 0.0)["n"] == full  # its extra sample has no reference row
    assert (paired["excluded"] == 0).all()


def test_interval_matches_a_plain_loop_with_the_same_seed(frame, paired):
    d = _direct_differences(frame, WORSE, "lpips", 10.0)
    n, B = len(d), DEFAULT_RESAMPLES
    index = np.random.default_rng(0).integers(0, n, size=(B, n))
    means = sorted(sum(d[i] for i in index[b]) / n for b in range(B))

    def percentile(q: float) -> float:  # linear interpolation between order statistics
        pos = q * (B - 1)
        below = int(np.floor(pos))
        return means[below] + (pos - below) * (means[min(below + 1, B - 1)] - means[below])

    row = _row(paired, WORSE, "lpips", 10.0)
    assert row["lo"] == pytest.approx(percentile(0.025), abs=1e-12)
    assert row["hi"] == pytest.approx(percentile(0.975), abs=1e-12)


def test_interval_agrees_with_scipy_percentile_bootstrap(frame, paired):
    stats = pytest.importorskip("scipy.stats")
    for method, output, snr in ((BETTER, "miou", 10.0), (WORSE, "lpips", 0.0), (SAME, "miou", 0.0)):
        d = _direct_differences(frame, method, output, snr)
        ci = stats.bootstrap((d,), np.mean, n_resamples=20000, method="percentile", confidence_level=0.95,
                             rng=np.random.default_rng(1)).confidence_interval
        row = _row(paired, method, output, snr)
        se = d.std(ddof=1) / np.sqrt(len(d))
        assert row["lo"] == pytest.approx(ci.low, abs=0.3 * se)
        assert row["hi"] == pytest.approx(ci.high, abs=0.3 * se)


def test_verdict_follows_the_interval_and_lower_better(paired):
    for snr in SNRS:
        # BETTER: higher mIoU (delta > 0) and lower LPIPS (delta < 0), both better
        miou, lpips = _row(paired, BETTER, "miou", snr), _row(paired, BETTER, "lpips", snr)
        assert miou["lo"] > 0 and miou["verdict"] == "better" and not miou["lower_better"]
        assert lpips["hi"] < 0 and lpips["verdict"] == "better" and lpips["lower_better"]
        # WORSE: the opposite
        assert _row(paired, WORSE, "miou", snr)["verdict"] == "worse"
        worse = _row(paired, WORSE, "lpips", snr)
        assert worse["lo"] > 0 and worse["verdict"] == "worse"
        # SAME: mean difference exactly 0, interval straddles it
        same = _row(paired, SAME, "miou", snr)
        assert same["delta"] == pytest.approx(0.0, abs=1e-12)
        assert same["lo"] < 0 < same["hi"] and same["verdict"] == ""


def test_deterministic_and_independent_of_the_metric_selection(frame, paired):
    again = paired_differences(frame, REF, synthetic_provenance())
    pd.testing.assert_frame_equal(paired, again)
    only = paired_differences(frame, REF, synthetic_provenance(), metrics=["miou"])
    assert set(only.output) == {"miou"}
    pd.testing.assert_frame_equal(only.reset_index(drop=True),
                                  paired[paired.output == "miou"].reset_index(drop=True))


def test_bootstrap_interval_edge_cases():
    assert all(np.isnan(bootstrap_interval(np.array([0.5]))))  # one pair: no interval
    assert bootstrap_interval(np.full(8, 2.0)) == (2.0, 2.0)  # no spread: a point
    lo, hi = bootstrap_interval(np.arange(10.0), confidence=0.5)
    lo95, hi95 = bootstrap_interval(np.arange(10.0))
    assert lo95 < lo < 4.5 < hi < hi95


def test_non_finite_pairs_are_excluded_and_counted(frame):
    broken = frame.copy()
    hit = (broken.method == BETTER) & (broken.output == "miou") & (broken.snr_db == 0.0) & (broken["sample"] == "s/0")
    broken.loc[hit, "value"] = [np.inf, np.nan]  # seeds 0 and 1
    row = _row(paired_differences(broken, REF), BETTER, "miou", 0.0)
    assert row["n"] == 18 and row["excluded"] == 2
    diffs = _direct_differences(broken, BETTER, "miou", 0.0)
    assert row["delta"] == pytest.approx(np.mean(diffs[np.isfinite(diffs)]), abs=1e-12)


def test_unknown_reference_is_a_one_line_error(frame):
    with pytest.raises(UserError) as info:
        paired_differences(frame, "wrose")
    message = str(info.value)
    assert "\n" not in message and "'wrose'" in message
    for method in METHODS:
        assert repr(method) in message
    assert "Did you mean 'worse'?" in message


# ----------------------------------------------------------------------------------------
# rendering


def test_markdown(frame, paired):
    text = render_paired(frame, synthetic_provenance(), "markdown", REF)
    tables = markdown_tables(text)
    assert len(tables) == 2  # lpips and miou on one channel
    captions = re.findall(r"^\*\*Paired table \d+\.\*\* (.*)$", text, flags=re.M)
    assert len(captions) == 2
    assert captions[0].startswith("LPIPS ↓ on channel awgn") and "lower is better, so Δ < 0 favours the method" in captions[0]
    assert captions[1].startswith("mIoU (miou(evaluator=embedded)) ↑") and "Δ > 0 favours the method" in captions[1]
    assert "n = 16–20 matched pairs" in captions[1]
    lpips, miou = tables
    assert lpips[0] == ["Method / SNR (dB)", "10", "0"]
    assert [r[0] for r in lpips[2:]] == [BETTER.replace("_", "\\_"), WORSE, SAME]
    cell = re.compile(r"(\*\*)?[+−]?\d\.\d{3} \[[+−]?\d\.\d{3}, [+−]?\d\.\d{3}\](\*\*)?( better| worse)?")
    for table in tables:
        for row in table[2:]:
            assert all(cell.fullmatch(c) for c in row[1:]), row
    assert miou[2][1].startswith("**+0.0") and miou[2][1].endswith("]** better")
    assert lpips[2][1].startswith("**−0.0") and lpips[2][1].endswith("]** better")
    assert miou[3][1].endswith("]** worse")
    assert not miou[4][1].startswith("**")  # SAME: interval contains 0
    assert "*Set-level metrics:* fid" in text and DEFINITION in text
    assert "2000 times" in text and "seed 0" in text


def test_latex(frame):
    body = render_paired(frame, synthetic_provenance(), "latex", REF)
    assert body.count(r"\begin{table}") == body.count(r"\end{table}") == 2 + 1  # 2 tables + the notes
    assert body.count(r"\toprule") == body.count(r"\midrule") == body.count(r"\bottomrule") == 2
    assert r"\cmidrule(lr){2-3}" in body and r"\begin{tabular}{lcc}" in body
    assert r"better(k=1,x=a\_b)" in body and "a_b" not in body
    assert "Δ" not in body and "−" not in body and "±" not in body and r"$\Delta$" in body
    assert r"\textbf{" in body and "} better" in body and "} worse" in body
    assert r"\label{tab:paired-ref-synthetic-streets-lpips-lpips-awgn}" in body
    assert r"miou(evaluator=embedded)" in body
    assert "95\\,\\%" in body


def test_csv(frame, paired):
    text = render_paired(frame, synthetic_provenance(), "csv", REF, metrics=["lpips"])
    lines = text.strip().splitlines()
    assert lines[0] == ",".join(PAIRED_COLUMNS)
    assert len(lines) == 1 + 3 * len(SNRS)
    back = pd.read_csv(io.StringIO(text))
    expected = paired[paired.output == "lpips"].reset_index(drop=True)
    np.testing.assert_allclose(back["delta"], expected["delta"], rtol=1e-12)
    assert list(back["n"]) == list(expected["n"])


def test_caption_names_the_metric_only_when_it_tells_outputs_apart(frame):
    bits = frame[frame.output == "lpips"].assign(metric="bits", output="channel_uses")
    text = render_paired(bits, synthetic_provenance(), "markdown", REF)
    assert "**Paired table 1.** channel uses ↓ on channel awgn" in text


def test_no_pairs_and_bad_format(frame):
    only_ref = frame[frame.method == REF]
    text = render_paired(only_ref, synthetic_provenance(), "markdown", REF)
    assert "No image-level results to pair with ref" in text and "|" not in text
    with pytest.raises(UserError):
        render_paired(frame, synthetic_provenance(), "html", REF)


# ----------------------------------------------------------------------------------------
# API and CLI


@pytest.fixture()
def run_folder(frame, tmp_path):
    from semcom_bench import results

    out = tmp_path / "run"
    results.save(out, frame, synthetic_provenance())
    return out


def test_api_report_versus(run_folder, frame):
    from semcom_bench import api

    for fmt in ("markdown", "latex", "csv"):
        assert api.report(run_folder, fmt, versus=REF) == render_paired(frame, synthetic_provenance(), fmt, REF)
    assert "Paired table" not in api.report(run_folder, "markdown")  # without versus: the mean ± std tables
    only = api.report(run_folder, "csv", ["lpips"], versus=WORSE)
    assert set(pd.read_csv(io.StringIO(only)).method) == {REF, BETTER, SAME}


def test_cli_versus(run_folder, tmp_path):
    from typer.testing import CliRunner

    from semcom_bench.cli.main import app

    runner = CliRunner()
    md = runner.invoke(app, ["report", "--out", str(run_folder), "--versus", REF])
    assert md.exit_code == 0, md.output
    assert "**Paired table 1.** LPIPS ↓" in md.output and "| better(k=1,x=a\\_b) |" in md.output
    assert "± " not in md.output.split("**Notes.**")[0]  # the paired view replaces the mean ± std tables
    tex = runner.invoke(app, ["report", "--out", str(run_folder), "--versus", BETTER, "--format", "latex",
                              "--standalone", "--metrics", "miou"])
    assert tex.exit_code == 0, tex.output
    assert tex.output.startswith(r"\documentclass") and r"\toprule" in tex.output and "vs better(k=1,x=a\\_b)" in tex.output
    target = tmp_path / "paired.csv"
    csv = runner.invoke(app, ["report", "--out", str(run_folder), "--versus", REF, "-f", "csv", "-o", str(target)])
    assert csv.exit_code == 0, csv.output
    assert target.read_text().splitlines()[0] == ",".join(PAIRED_COLUMNS)


def test_cli_unknown_versus_is_one_line_and_exit_2(run_folder):
    from typer.testing import CliRunner

    from semcom_bench.cli.main import app

    res = CliRunner().invoke(app, ["report", "--out", str(run_folder), "--versus", "full-image"])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in res.output
    assert lines[0].startswith("error: --versus 'full-image' is not a method in the results")
    assert all(repr(m) in lines[0] for m in METHODS)
