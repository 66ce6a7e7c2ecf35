"""Tables and plots built from a small fake results table."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from semcom_bench.cache import Cache
from semcom_bench.data.base import Sample
from semcom_bench.report import latex_document, plot_curves, plot_samples, render, summarise
from semcom_bench.report.plots import frontier_table, grid_layout, plot_frontier
from semcom_bench.results import COLUMNS
from tests.report.markdown import markdown_tables

GRID = [100.0, 30.0, 20.0, 15.0, 10.0, 5.0, 1.0]
METHODS = ["full-image", "digital(codec=jpeg,quality=50)"]
CHANNELS = ["awgn", "rayleigh_csi"]
SAMPLES = ["s/0", "s/1", "s/2"]
SEEDS = [0, 1]
DEFINITION = "Es/N0 per complex symbol, Es=1 (dB)"


def _image_key(method: str, channel: str, snr: float, seed: int, sample: str) -> str:
    return hashlib.sha256(repr((method, channel, snr, seed, sample)).encode()).hexdigest()


def fake_frame() -> pd.DataFrame:
    """2 methods x 2 channels x psnr grid x 2 seeds x 3 images: psnr, ssim, bits + set-level fid."""
    rng = np.random.default_rng(0)
    rows = []
    for method in METHODS:
        good = method == "full-image"
        for channel in CHANNELS:
            for snr in GRID:
                base = {"dataset": "synthetic-streets", "method": method, "channel": channel, "grid": "psnr",
                        "snr_db": snr, "snr_definition": DEFINITION, "limited": True}
                for seed in SEEDS:
                    for sample in SAMPLES:
                        key = _image_key(method, channel, snr, seed, sample)
                        img = {**base, "seed": seed, "sample": sample, "image_key": key, "level": "image"}
                        psnr = np.inf if (snr == 100.0 and good) else snr * (0.9 if good else 0.7) + rng.normal()
                        ssim = float(np.clip((0.95 if good else 0.6) - 0.2 / snr + 0.02 * rng.normal(), 0, 1))
                        bits = 1_464_000 if good else 119_000 + int(rng.integers(0, 5000))
                        for output, value, lower in (("psnr", psnr, False), ("ssim", ssim, False),
                                                     ("bits", float(bits), True)):
                            rows.append({**img, "metric": output, "output": output, "value": float(value),
                                         "lower_better": lower})
                    fid = (5.0 if good else 20.0) + 30.0 / snr + rng.normal()
                    rows.append({**base, "seed": seed, "sample": None, "image_key": None, "metric": "fid",
                                 "output": "fid", "value": fid, "lower_better": True, "level": "set"})
    return pd.DataFrame(rows)[COLUMNS]


def fake_provenance() -> dict:
    return {
        "config": {"methods": METHODS, "channels": CHANNELS, "metrics": ["psnr", "ssim", "bits", "fid", "miou"],
                   "grid": "psnr", "values": GRID, "seeds": SEEDS},
        "num_samples": 3,
        "limited": True,
        "skipped_metrics": {"miou": "needs the segmenter weights drn_d_105.pth; run 'semcom-bench weights'"},
        "versions": {"semcom-bench": "0.1.0"},
        "git": "abc123",
    }


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return fake_frame()


def _strip_bold(cell: str) -> str:
    return cell[2:-2] if cell.startswith("**") and cell.endswith("**") else cell


# ----------------------------------------------------------------------------------------
# summarise


def test_summarise_matches_direct_computation(frame):
    summary = summarise(frame)
    assert len(summary) == len(frame.groupby(["channel", "metric", "method", "snr_db"]))
    # image level: pooled over 3 images x 2 seeds
    sel = frame[(frame.method == METHODS[1]) & (frame.channel == "awgn") & (frame.output == "ssim") & (frame.snr_db == 10.0)]
    row = summary[(summary.method == METHODS[1]) & (summary.channel == "awgn") & (summary.output == "ssim")
                  & (summary.snr_db == 10.0)].iloc[0]
    assert row["n"] == 6
    assert row["mean"] == pytest.approx(np.mean(sel["value"]))
    assert row["std"] == pytest.approx(np.std(sel["value"], ddof=1))
    assert row["level"] == "image" and not row["lower_better"]
    # set level: one value per seed
    sel = frame[(frame.method == METHODS[0]) & (frame.channel == "rayleigh_csi") & (frame.output == "fid") & (frame.snr_db == 5.0)]
    row = summary[(summary.method == METHODS[0]) & (summary.channel == "rayleigh_csi") & (summary.output == "fid")
                  & (summary.snr_db == 5.0)].iloc[0]
    assert row["n"] == len(SEEDS) == len(sel)
    assert row["mean"] == pytest.approx(np.mean(sel["value"]))
    assert row["std"] == pytest.approx(np.std(sel["value"], ddof=1))
    assert row["level"] == "set" and row["lower_better"]
    # a mean containing +inf is +inf, its spread undefined
    row = summary[(summary.method == METHODS[0]) & (summary.output == "psnr") & (summary.snr_db == 100.0)].iloc[0]
    assert row["mean"] == np.inf and np.isnan(row["std"])


def test_summarise_single_value_has_zero_std(frame):
    one = frame[(frame.seed == 0) & (frame.output == "fid")]
    summary = summarise(one)
    assert (summary["n"] == 1).all() and (summary["std"] == 0).all()


# ----------------------------------------------------------------------------------------
# tables


def test_markdown_layout_order_bold_and_notes(frame):
    text = render(frame, fake_provenance(), "markdown")
    tables = markdown_tables(text)
    assert len(tables) == 4 * len(CHANNELS)  # psnr, ssim, bits, fid per channel
    for table in tables:
        widths = {len(r) for r in table}
        assert widths == {3 + len(GRID)}, table  # method, k/n, bits, the grid
        assert table[0][0] == "Method / PSNR"
        assert table[0][1:3] == ["k/n", "bits"]
        assert table[0][3:] == ["100", "30", "20", "15", "10", "5", "1"]  # the grid's order
        assert re.fullmatch(r"(:?-+:?\|?)+", "|".join(table[1]))
        assert [r[0] for r in table[2:]] == [m.replace("_", "\\_") for m in METHODS]
        # the fake run scored bits but not channel_uses: no k/n; full-image's bits are constant
        assert [r[1] for r in table[2:]] == ["–", "–"] and table[2][2] == "1,464,000"

    captions = re.findall(r"^\*\*Table \d+\.\*\* (.*)$", text, flags=re.M)
    assert len(captions) == len(tables)
    assert all("limited to 3 samples" in c for c in captions)
    assert captions[0].startswith("PSNR (dB) ↑") and "awgn" in captions[0]
    assert any(c.startswith("FID ↓") for c in captions) and any(c.startswith("bits ↓") for c in captions)
    assert any(c.startswith("SSIM ↑") for c in captions)

    psnr_awgn, _, ssim_awgn, _, bits_awgn, _, fid_awgn, _ = tables
    # +inf renders as ∞ (and is the best at 100); higher PSNR wins elsewhere
    assert psnr_awgn[2][3] == "**∞**"
    assert psnr_awgn[2][4].startswith("**") and not psnr_awgn[3][4].startswith("**")
    # lower is better for bits and fid: the digital codec wins every column
    assert all(c.startswith("**") for c in bits_awgn[3][3:]) and not any(c.startswith("**") for c in bits_awgn[2][3:])
    assert bits_awgn[2][3] == "1,464,000 ± 0"
    assert all(c.startswith("**") for c in fid_awgn[2][3:])
    # every cell is "mean ± std" with one precision per table
    for cell in ssim_awgn[2][3:] + ssim_awgn[3][3:]:
        assert re.fullmatch(r"\d\.\d{3} ± \d\.\d{3}", _strip_bold(cell)), cell
    for cell in psnr_awgn[3][3:]:
        assert re.fullmatch(r"−?\d+\.\d{2} ± \d+\.\d{2}", _strip_bold(cell)), cell

    assert text.count(DEFINITION) == 1
    assert "Skipped metric miou" in text and "drn\\_d\\_105.pth" in text


def test_best_values_checked_against_summary(frame):
    summary = summarise(frame)
    text = render(frame, fake_provenance(), "markdown", metrics=["ssim"])
    tables = markdown_tables(text)
    assert len(tables) == 2
    for channel, table in zip(CHANNELS, tables):
        for col, snr in enumerate(GRID, start=1):
            means = summary[(summary.output == "ssim") & (summary.channel == channel) & (summary.snr_db == snr)]
            best = means.set_index("method")["mean"].round(3)
            winners = set(best[best == best.max()].index)
            bold = {METHODS[i] for i, row in enumerate(table[2:]) if row[col + 2].startswith("**")}
            assert bold == winners


def test_ties_all_bold_and_nan_skipped():
    rows = []
    for method, values in (("a", [1.0, np.nan]), ("b", [1.0, 2.0]), ("c", [0.5, np.nan])):
        for snr, v in zip([0.0, 3.0], values):
            rows.append({"dataset": "d", "method": method, "channel": "awgn", "grid": "snr", "snr_db": snr,
                         "snr_definition": DEFINITION, "seed": 0, "sample": "x", "image_key": "k", "metric": "m",
                         "output": "m", "value": v, "lower_better": False, "level": "image", "limited": False})
    text = render(pd.DataFrame(rows), {"config": {"grid": "snr"}}, "markdown")
    table = markdown_tables(text)[0]
    assert table[0][0] == "Method / SNR (dB)"
    assert [r[1] for r in table[2:]] == ["**1.000**", "**1.000**", "0.500"]
    # a column with a single value has nothing to compare: no bold, missing values as a dash
    assert [r[2] for r in table[2:]] == ["–", "2.000", "–"]
    # no bits metric and no cache to read image records from: no bandwidth columns, and a note says why
    assert "*Bandwidth:* not available" in text


def test_latex_structure_and_escaping(frame):
    body = render(frame, fake_provenance(), "latex")
    assert body.count(r"\begin{table}") == body.count(r"\end{table}") == 8 + 1  # 8 tables + the notes
    assert body.count(r"\begin{tabular}") == body.count(r"\end{tabular}") == 8
    assert body.count(r"\toprule") == body.count(r"\midrule") == body.count(r"\bottomrule") == 8
    assert r"\_" in body and "rayleigh_csi" not in body and "rayleigh\\_csi" in body
    assert "drn_d_105" not in body
    assert r"$\infty$" in body and "∞" not in body and "±" not in body
    assert r"$\pm$" in body and r"\textbf{" in body
    assert r"$\uparrow$" in body and r"$\downarrow$" in body
    assert "limited to 3 samples" in body
    assert r"PSNR & $k/n$ & bits & 100 & 30 & 20 & 15 & 10 & 5 & 1 \\" in body
    assert r"\begin{tabular}{lrrccccccc}" in body and r"\cmidrule(lr){2-3} \cmidrule(lr){4-10}" in body
    assert "$^\\dagger$" in body  # the fake digital bit counts change with the SNR
    assert "1,464,000" in body
    assert body.count(DEFINITION) == 1
    doc = latex_document(body)
    assert doc.startswith(r"\documentclass{article}") and r"\usepackage{booktabs}" in doc
    assert doc.rstrip().endswith(r"\end{document}")


def test_latex_compiles(frame, tmp_path):
    if shutil.which("pdflatex") is None:  # .ci/run installs it: in CI its absence is a failure
        message = "pdflatex is not installed (Debian: texlive-latex-base texlive-latex-recommended)"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(message)
        pytest.skip(message)
    tex = tmp_path / "tables.tex"
    tex.write_text(latex_document(render(frame, fake_provenance(), "latex")))
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "tables.pdf").stat().st_size > 0


def test_csv_is_the_summary(frame):
    text = render(frame, fake_provenance(), "csv", metrics=["bits"])
    lines = text.strip().splitlines()
    assert lines[0].startswith("dataset,channel,metric,output,method,snr_db,level,mean,std,n")
    assert lines[0].endswith(",bandwidth_ratio,bits_per_image")
    assert len(lines) == 1 + len(METHODS) * len(CHANNELS) * len(GRID)
    psnr = render(frame, fake_provenance(), "csv", metrics=["psnr"])
    assert ",inf," in psnr


def test_unknown_format_and_metric(frame):
    from semcom_bench.errors import UserError

    with pytest.raises(UserError):
        render(frame, fake_provenance(), "html")
    with pytest.raises(UserError):
        render(frame, fake_provenance(), "markdown", metrics=["nope"])


# ----------------------------------------------------------------------------------------
# bandwidth columns

BW_SNRS = [0.0, 10.0]
BW_SHAPE = (16, 32, 3)  # n = 1536 pixel values per image
BW_N = 16 * 32 * 3
#: method -> (channel uses, bits) of sample i at SNR s; "adaptive" sends more at high SNR
BW_METHODS = {
    "gesco": lambda i, s: (int(2.25 * BW_N), 100_000 + 20_000 * i),
    "full-image": lambda i, s: (BW_N // 2, 8 * BW_N + 80),
    "adaptive": lambda i, s: (int(0.05 * BW_N) * (2 if s > 5 else 1), 1000 * (2 if s > 5 else 1)),
}
#: method -> mean mIoU at 0 and 10 dB (the two samples sit 0.01 either side)
BW_MIOU = {"gesco": (0.40, 0.42), "full-image": (0.03, 0.35), "adaptive": (0.05, 0.30)}


def bandwidth_frame(with_bits_metric: bool, prefix: str = "s/") -> pd.DataFrame:
    """3 methods x awgn x 2 SNRs x 2 samples: miou, and the bits metric's three outputs if asked."""
    rows = []
    for method, cost in BW_METHODS.items():
        for snr in BW_SNRS:
            for i in range(2):
                uses, bits = cost(i, snr)
                img = {"dataset": "d", "method": method, "channel": "awgn", "grid": "snr", "snr_db": snr,
                       "snr_definition": DEFINITION, "seed": 0, "sample": f"{prefix}{i}", "level": "image",
                       "image_key": _image_key(method, "awgn", snr, 0, f"{prefix}{i}"), "limited": False}
                outs = [("miou", "miou", BW_MIOU[method][BW_SNRS.index(snr)] + (0.01 if i else -0.01), False)]
                if with_bits_metric:
                    outs += [("bits", "bits", bits, True), ("bits", "channel_uses", uses, True),
                             ("bits", "bandwidth_ratio", uses / BW_N, True)]
                for metric, output, value, lower in outs:
                    rows.append({**img, "metric": metric, "output": output, "value": float(value),
                                 "lower_better": lower})
    return pd.DataFrame(rows)[COLUMNS]


def bandwidth_cache(root, prefix: str = "s/") -> Cache:
    """The image records the runner writes: bits and channel uses beside each reconstruction."""
    cache = Cache(root)
    for method, cost in BW_METHODS.items():
        for snr in BW_SNRS:
            for i in range(2):
                uses, bits = cost(i, snr)
                cache.put_image(_image_key(method, "awgn", snr, 0, f"{prefix}{i}"), np.zeros(BW_SHAPE, np.uint8),
                                {"bits": bits, "channel_uses": uses, "source_bits": bits - 80, "side_bits": 80})
    return cache


BW_EXPECTED = {  # method -> (k/n, bits) cells
    "gesco": ("2.250", "110,000"),
    "full-image": ("0.500", "12,368"),
    "adaptive": ("0.0742†", "1,500†"),  # 76 and 152 channel uses: mean k/n 0.0742
}


def _bandwidth_cells(text: str) -> dict[str, tuple[str, str]]:
    table = markdown_tables(text)[0]
    assert table[0][:3] == ["Method / SNR (dB)", "k/n", "bits"] and table[0][3:] == ["0", "10"]
    return {row[0]: (row[1], row[2]) for row in table[2:]}


def test_bandwidth_columns_from_the_bits_metric():
    frame = bandwidth_frame(with_bits_metric=True)
    prov = {"config": {"grid": "snr", "methods": list(BW_METHODS), "values": BW_SNRS}}
    text = render(frame, prov, "markdown", metrics=["miou"])
    assert len(markdown_tables(text)) == 1
    assert _bandwidth_cells(text) == BW_EXPECTED
    note = next(line for line in text.splitlines() if line.startswith("- *Bandwidth:*"))
    assert "from the bits metric" in note and "adaptive on awgn: bits 1,000 to 2,000" in note
    assert "gesco on" not in note  # constant over SNR: not marked
    # a summary instead of the tidy table gives the same columns (from the bits metric's means)
    assert _bandwidth_cells(render(summarise(frame), prov, "markdown", metrics=["miou"])) == BW_EXPECTED
    # switched off: the old layout
    plain = markdown_tables(render(frame, prov, "markdown", metrics=["miou"], bandwidth=False))[0]
    assert plain[0] == ["Method / SNR (dB)", "0", "10"]


def test_bandwidth_columns_from_the_image_records(tmp_path):
    """A run without the bits metric: the numbers come from the records in the run's cache."""
    frame = bandwidth_frame(with_bits_metric=False)
    bandwidth_cache(tmp_path / "cache")
    prov = {"config": {"grid": "snr", "methods": list(BW_METHODS), "values": BW_SNRS,
                       "cache_dir": str(tmp_path / "cache")}}
    text = render(frame, prov, "markdown")
    assert _bandwidth_cells(text) == BW_EXPECTED
    assert "from the image records" in text
    # the same numbers as when the run scored the bits metric
    scored = bandwidth_frame(with_bits_metric=True)
    assert _bandwidth_cells(render(scored, prov, "markdown", metrics=["miou"])) == BW_EXPECTED
    # a cache passed explicitly; the per-SNR values in CSV
    csv = pd.read_csv(io.StringIO(render(frame, {"config": {"grid": "snr"}}, "csv", cache=tmp_path / "cache")))
    row = csv[(csv.method == "adaptive") & (csv.snr_db == 10.0)].iloc[0]
    assert row["bits_per_image"] == 2000 and row["bandwidth_ratio"] == pytest.approx(152 / BW_N)
    assert set(csv[csv.method == "gesco"]["bandwidth_ratio"].round(6)) == {2.25}
    # LaTeX: two right-aligned columns under "bandwidth", the dagger typeset
    body = render(frame, prov, "latex")
    assert r"Method & \multicolumn{2}{c}{bandwidth} & \multicolumn{2}{c}{mIoU $\uparrow$} \\" in body
    assert r"adaptive & 0.0742$^\dagger$ & 1,500$^\dagger$ & " in body


def test_bandwidth_columns_from_result_columns():
    """Rows that carry channel_uses/bits themselves (results written with those columns)."""
    frame = bandwidth_frame(with_bits_metric=False)
    costs = [BW_METHODS[m](int(s[-1]), snr) for m, s, snr in zip(frame["method"], frame["sample"], frame["snr_db"])]
    frame = frame.assign(channel_uses=[c[0] for c in costs], bits=[c[1] for c in costs])
    cells = _bandwidth_cells(render(frame, {"config": {"grid": "snr"}}, "markdown"))
    # without the image size, k/n stays unknown; bits are there
    assert {m: c[1] for m, c in cells.items()} == {m: e[1] for m, e in BW_EXPECTED.items()}
    assert {c[0] for c in cells.values()} == {"–"}
    frame = frame.assign(bandwidth_ratio=[c[0] / BW_N for c in costs])
    assert _bandwidth_cells(render(frame, {"config": {"grid": "snr"}}, "markdown")) == BW_EXPECTED


def test_bandwidth_latex_compiles_when_available(tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed")
    frame = bandwidth_frame(with_bits_metric=True)
    tex = tmp_path / "bw.tex"
    tex.write_text(latex_document(render(frame, {"config": {"grid": "snr"}}, "latex")))
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]


# ----------------------------------------------------------------------------------------
# plots


def test_frontier_points_and_pareto(tmp_path):
    frame = bandwidth_frame(with_bits_metric=True)
    prov = {"config": {"grid": "snr", "methods": list(BW_METHODS), "values": BW_SNRS}}
    table = frontier_table(frame, prov)
    assert table.attrs["output"] == "miou" and table.attrs["x"] == "bits"
    got = {(r.method, r.snr_db): (r.x, round(r.y, 6), r.pareto) for r in table.itertuples()}
    assert got == {
        ("gesco", 0.0): (110_000, 0.40, True), ("gesco", 10.0): (110_000, 0.42, True),
        # at 0 dB full-image costs more than adaptive and keeps less meaning: dominated
        ("full-image", 0.0): (12_368, 0.03, False), ("full-image", 10.0): (12_368, 0.35, True),
        ("adaptive", 0.0): (1_000, 0.05, True), ("adaptive", 10.0): (2_000, 0.30, True),
    }
    assert list(table["method"]) == ["gesco", "gesco", "full-image", "full-image", "adaptive", "adaptive"]
    uses = frontier_table(frame, prov, x="channel_uses")
    assert list(uses["x"]) == [3456, 3456, 768, 768, 76, 152]

    paths = plot_frontier(frame, prov, tmp_path / "plots")
    assert [p.name for p in paths] == [f"frontier_{x}_miou.{ext}" for x in ("bits", "channel_uses")
                                       for ext in ("png", "pdf", "csv")]
    assert all(p.stat().st_size > 0 for p in paths)
    with Image.open(paths[0]) as im:
        assert im.width > 300 and im.height > 200
    written = pd.read_csv(paths[2])
    pd.testing.assert_frame_equal(written, table, check_dtype=False)

    # a run without the bits metric: the same points from the image records in its cache
    bandwidth_cache(tmp_path / "cache")
    bare = bandwidth_frame(with_bits_metric=False)
    from_records = frontier_table(bare, {**prov, "config": {**prov["config"], "cache_dir": str(tmp_path / "cache")}})
    pd.testing.assert_frame_equal(from_records, table)


def test_plot_command_draws_the_frontier(tmp_path):
    """``semcom-bench plot`` on a run without the bits metric: the frontier from the image records."""
    from typer.testing import CliRunner

    import tests.fake_dataset  # noqa: F401  (registers test-fake, whose samples t/0, t/1 are 16 x 32)
    from semcom_bench import results
    from semcom_bench.cli.main import app

    bandwidth_cache(tmp_path / "cache", prefix="t/")
    prov = {"config": {"dataset": "test-fake", "grid": "snr", "methods": list(BW_METHODS), "channels": ["awgn"],
                       "values": BW_SNRS, "seeds": [0], "cache_dir": str(tmp_path / "cache")}, "num_samples": 2}
    results.save(tmp_path / "run", bandwidth_frame(with_bits_metric=False, prefix="t/"), prov)
    res = CliRunner().invoke(app, ["plot", "--out", str(tmp_path / "run"), "--samples", "2"])
    assert res.exit_code == 0, res.output
    folder = tmp_path / "run" / "plots"
    for name in ("frontier_bits_miou.png", "frontier_bits_miou.pdf", "frontier_channel_uses_miou.png"):
        assert str(folder / name) in res.output.replace("\n", "") and (folder / name).stat().st_size > 0
    points = pd.read_csv(folder / "frontier_bits_miou.csv")
    assert sorted(points["x"].unique()) == [1_000, 2_000, 12_368, 110_000]
    # without a semantic metric the command says why there is no frontier before it goes on
    results.save(tmp_path / "psnr", fake_frame(), fake_provenance())
    res = CliRunner().invoke(app, ["plot", "--out", str(tmp_path / "psnr"), "--samples", "1"])
    assert "no bits-against-meaning plot" in res.output


def test_frontier_picks_a_semantic_output_and_skips_without_one(frame, tmp_path):
    # the psnr fake run has no semantic metric: nothing to draw
    assert frontier_table(frame, fake_provenance()).empty
    assert plot_frontier(frame, fake_provenance(), tmp_path / "none") == []
    # any output can be asked for; unknown ones are a one-line error
    assert frontier_table(frame, fake_provenance(), output="ssim").attrs["output"] == "ssim"
    from semcom_bench.errors import UserError

    with pytest.raises(UserError, match="no results for 'miou'"):
        frontier_table(frame, fake_provenance(), output="miou")
    with pytest.raises(UserError, match="unknown frontier axis"):
        frontier_table(frame, fake_provenance(), x="pixels")



def test_plot_curves_writes_png_and_pdf(frame, tmp_path):
    paths = plot_curves(frame, fake_provenance(), tmp_path / "plots", metrics=["psnr", "fid"])
    assert [p.suffix for p in paths] == [".png", ".pdf", ".png", ".pdf"]
    assert all(p.exists() and p.stat().st_size > 1000 for p in paths)
    assert paths[0].name == "curves_psnr.png"
    with Image.open(paths[0]) as im:
        assert im.width > im.height > 100


def test_plot_samples_grid_is_pixel_exact(frame, tmp_path):
    cache = Cache(tmp_path / "cache")
    rng = np.random.default_rng(1)
    h, w = 24, 40
    samples = [Sample(key=k, image=rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
                      labels=None if i == 1 else rng.integers(0, 20, (h, w), dtype=np.uint8))
               for i, k in enumerate(SAMPLES)]
    recons = {}
    for key in frame["image_key"].dropna().unique():
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        cache.put_image(key, img, {"bits": 0, "channel_uses": 0})
        recons[key] = img
    paths = plot_samples(frame, fake_provenance(), cache, samples, tmp_path / "plots", num_samples=2)
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 0 for p in paths)

    snrs = [100.0, 15.0, 1.0]  # three values spread over the grid, in its order
    ncols = 2 + len(METHODS) * len(snrs)
    layout = grid_layout([(h, w)] * 2, ncols)
    with Image.open(paths[0]) as im:
        png = np.asarray(im.convert("RGB"))
    assert png.shape == (layout.height, layout.width, 3)
    scale = layout.row_heights[0] // h
    assert scale > 1 and layout.col_width == w * scale

    def panel(row: int, col: int) -> np.ndarray:
        top, left = layout.panel_box(row, col)
        return png[top:top + h * scale:scale, left:left + w * scale:scale]

    np.testing.assert_array_equal(panel(0, 0), samples[0].image)
    np.testing.assert_array_equal(panel(1, 0), samples[1].image)
    assert (panel(1, 1) == 128).mean() > 0.8  # no labels: grey panel
    col = 2 + METHODS.index(METHODS[1]) * len(snrs) + snrs.index(15.0)
    key = _image_key(METHODS[1], CHANNELS[0], 15.0, SEEDS[0], SAMPLES[0])
    np.testing.assert_array_equal(panel(0, col), recons[key])


def test_the_snr_note_names_the_rows_on_the_papers_peak_power_convention(frame):
    from semcom_bench.report.paired import render_paired

    assert "peak amplitude 1" not in render(frame, fake_provenance(), "markdown")
    peak = frame.assign(method=frame["method"].replace({"full-image": "gesco(power=peak)"}))
    note = next(line for line in render(peak, fake_provenance(), "markdown").splitlines() if "*SNR:*" in line)
    assert "gesco(power=peak): the sender scales its symbols to peak amplitude 1" in note
    assert METHODS[1] not in note
    # in the paired view the reference is one of the rows the note names
    paired = render_paired(peak, fake_provenance(), "markdown", versus="gesco(power=peak)")
    assert "gesco(power=peak): the sender scales" in paired
