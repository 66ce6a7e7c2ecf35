"""Paired differences against a reference method (``semcom-bench report --versus METHOD``).

Within one run every method receives the same channel noise and the same sampler noise for
the same (sample, channel, SNR, seed), so the difference between two methods on one image is
a paired observation: the noise cancels out of the comparison and what is left is the
methods. This module matches every other method's image-level rows with the reference
method's rows and summarises the per-image differences.

Inputs
    The tidy results table (:mod:`semcom_bench.results`: one row per image x metric output;
    columns dataset, method, channel, snr_db, snr_definition, seed, sample, metric, output,
    value, lower_better, level). Only image-level rows take part (``level == "image"`` and a
    ``sample``); set-level metrics (e.g. FID: one value per seed) have no per-image pairs.
    ``metric`` and ``method`` are opaque labels (``miou(evaluator=embedded)``,
    ``digital(codec=jpeg,quality=50)``), compared as strings.

Pairing
    A row of method M is paired with the reference row that has the same data set, channel,
    SNR (``snr_db``, compared to 1e-6 dB), seed, sample, metric and output. Samples that
    either side lacks are left out (they are not in ``n``). Pairs are pooled over seeds.
    Duplicate rows for one key (not written by ``run``) are averaged first. A pair with a
    missing or infinite value on either side (e.g. PSNR = +inf for an identical image) has
    no finite difference: it is left out of ``n`` and counted in ``excluded``.

Statistics (per data set x channel x metric output x method x SNR)
    - ``delta``: mean of the n differences ``method − reference``, in the output's own units
      (dB for PSNR, bits for bits, seconds for time, unitless for SSIM, mIoU, ...);
    - ``lo``, ``hi``: paired bootstrap percentile interval (95 % by default) of that mean:
      the n differences are resampled with replacement ``resamples`` times (default 2000;
      one ``(resamples, n)`` index draw from ``numpy.random.default_rng(seed)``, a fresh
      generator per cell so that a cell's interval depends only on its own pairs and the
      seed), and ``lo``/``hi`` are the percentiles of the resampled means. A cell with a
      single pair has no interval (NaN);
    - ``verdict``: ``"better"`` or ``"worse"`` when the interval excludes 0 (taking
      ``lower_better`` into account: for a lower-is-better output a negative ``delta`` is
      better), else ``""``.

Output
    :func:`paired_differences` returns a frame with :data:`PAIRED_COLUMNS`;
    :func:`render_paired` renders it as Markdown, LaTeX (booktabs) or CSV: one table per
    metric output and channel (and data set), rows = the other methods, columns = the SNR
    grid, cells ``Δ [lo, hi]``; a cell whose interval excludes 0 is bold and followed by
    ``better`` or ``worse``. Numbers, SNRs, orders and escaping follow
    :mod:`semcom_bench.report.tables`.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from semcom_bench.errors import UserError
from semcom_bench.report import tables as T

#: Bootstrap resamples per cell.
DEFAULT_RESAMPLES = 2000
#: Seed of the bootstrap generator (fixed: the same results give the same report).
DEFAULT_SEED = 0
#: Coverage of the bootstrap interval.
DEFAULT_CONFIDENCE = 0.95

#: Columns of :func:`paired_differences`' result, in order. ``method_mean`` and
#: ``reference_mean`` are the two sides' means over the same n pairs (``delta`` is their
#: difference up to rounding).
PAIRED_COLUMNS = [
    "dataset", "channel", "metric", "output", "method", "reference", "snr_db",
    "delta", "lo", "hi", "n", "excluded", "method_mean", "reference_mean", "lower_better", "verdict",
    "snr_definition",
]

_CELL_KEYS = ["dataset", "channel", "metric", "output", "method", "_snr"]
_PAIR_KEYS = ["dataset", "channel", "_snr", "seed", "sample", "metric", "output"]


# ----------------------------------------------------------------------------------------
# statistics


def bootstrap_interval(differences: np.ndarray, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                       confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of paired differences.

    Args:
        differences: the n per-pair differences (finite), any units.
        resamples: B, the number of resamples.
        seed: seed of ``numpy.random.default_rng``; the whole ``(B, n)`` index matrix is
            drawn at once from a fresh generator.
        confidence: coverage, e.g. 0.95 for the 2.5th and 97.5th percentiles.

    Returns:
        ``(lo, hi)`` in the units of ``differences``; ``(nan, nan)`` for fewer than two.
    """
    d = np.asarray(differences, dtype=float)
    n = d.size
    if n < 2:
        return math.nan, math.nan
    if resamples < 1:
        raise UserError(f"bootstrap resamples must be at least 1, got {resamples}")
    if not 0 < confidence < 1:
        raise UserError(f"bootstrap confidence must be between 0 and 1, got {confidence}")
    index = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    means = d[index].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.percentile(means, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(lo), float(hi)


def verdict(lo: float, hi: float, lower_better: bool) -> str:
    """``"better"``/``"worse"`` when ``[lo, hi]`` (of method − reference) excludes 0, else ``""``."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 <= hi:
        return ""
    higher = lo > 0
    return "better" if higher != bool(lower_better) else "worse"


def check_reference(frame: pd.DataFrame, versus: str) -> None:
    """A UserError (one line, listing the methods present) when ``versus`` is not a method label of ``frame``."""
    present = list(dict.fromkeys(frame["method"].astype(str))) if "method" in frame.columns else []
    if versus in present:
        return
    close = difflib.get_close_matches(versus, present, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    have = ", ".join(repr(m) for m in present) or "none"
    raise UserError(f"--versus {versus!r} is not a method in the results; methods present: {have}.{hint}")


def _image_rows(frame: pd.DataFrame) -> pd.DataFrame:
    df = frame.copy()
    for column, default in (("level", "image"), ("dataset", ""), ("snr_definition", None), ("lower_better", False)):
        if column not in df.columns:
            df[column] = default
    df = df[(df["level"].fillna("image") == "image") & df["sample"].notna()].copy()
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    df["snr_db"] = df["snr_db"].astype(float)
    df["_snr"] = [T._key(v) for v in df["snr_db"]]
    df["method"] = df["method"].astype(str)
    return df


def paired_differences(frame: pd.DataFrame, versus: str, provenance: dict[str, Any] | None = None,
                       metrics: list[str] | None = None, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                       confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Per-image differences ``method − versus``, summarised per cell (see the module docstring).

    Args:
        frame: the tidy results table (:func:`semcom_bench.results.load`).
        versus: the reference method's label, exactly as in the ``method`` column; an
            unknown label is a UserError that lists the methods present.
        provenance: the run's provenance (orders methods, channels, metrics and SNRs like
            the main report); may be None.
        metrics: metric or output names to keep (default: all).
        resamples, seed, confidence: the bootstrap's B, generator seed and coverage.

    Returns:
        one row per data set x channel x metric output x other method x SNR that has at
        least one matched pair, with :data:`PAIRED_COLUMNS`, in report order (metrics,
        channels, methods and SNRs in the run's order). ``n`` counts the pairs used,
        ``excluded`` the matched pairs without a finite difference.
    """
    check_reference(frame, versus)
    selected = T.select_metrics(frame, metrics, provenance)
    rows = _image_rows(selected)
    if len(rows) == 0:
        return pd.DataFrame(columns=PAIRED_COLUMNS)
    per_key = (rows.groupby(_PAIR_KEYS + ["method"], sort=False, dropna=False)
               .agg(value=("value", "mean"), snr_db=("snr_db", "first"), lower_better=("lower_better", "first"),
                    snr_definition=("snr_definition", "first"))
               .reset_index())
    reference = per_key[per_key["method"] == versus][_PAIR_KEYS + ["value"]].rename(columns={"value": "reference_value"})
    pairs = per_key[per_key["method"] != versus].merge(reference, on=_PAIR_KEYS, how="inner")
    if len(pairs) == 0:
        return pd.DataFrame(columns=PAIRED_COLUMNS)

    out = []
    for keys, group in pairs.groupby(_CELL_KEYS, sort=False, dropna=False):
        values = group["value"].to_numpy(dtype=float)
        ref_values = group["reference_value"].to_numpy(dtype=float)
        finite = np.isfinite(values) & np.isfinite(ref_values)
        diffs = values[finite] - ref_values[finite]
        n = int(diffs.size)
        lower_better = bool(group["lower_better"].iloc[0])
        lo, hi = bootstrap_interval(diffs, resamples, seed, confidence)
        out.append({
            **dict(zip(_CELL_KEYS, keys)),
            "reference": versus,
            "snr_db": float(group["snr_db"].iloc[0]),
            "delta": float(diffs.mean()) if n else math.nan,
            "lo": lo,
            "hi": hi,
            "n": n,
            "excluded": int((~finite).sum()),
            "method_mean": float(values[finite].mean()) if n else math.nan,
            "reference_mean": float(ref_values[finite].mean()) if n else math.nan,
            "lower_better": lower_better,
            "verdict": verdict(lo, hi, lower_better),
            "snr_definition": group["snr_definition"].iloc[0],
        })
    result = pd.DataFrame(out)
    return _in_report_order(result, provenance)[PAIRED_COLUMNS].reset_index(drop=True)


def _in_report_order(result: pd.DataFrame, provenance: dict[str, Any] | None) -> pd.DataFrame:
    ranks = {
        "dataset": {d: i for i, d in enumerate(dict.fromkeys(result["dataset"]))},
        "_output": {p: i for i, p in enumerate(T.output_order(result, provenance))},
        "channel": {c: i for i, c in enumerate(T.channel_order(result, provenance))},
        "method": {m: i for i, m in enumerate(T.method_order(result, provenance))},
        "_snr": {s: i for i, s in enumerate(T.snr_order(result, provenance))},
    }
    result = result.copy()
    result["_output"] = list(zip(result["metric"], result["output"]))
    order = np.lexsort([np.array([rank[v] for v in result[k]]) for k, rank in reversed(list(ranks.items()))])
    return result.iloc[order]


# ----------------------------------------------------------------------------------------
# tables


@dataclass
class PairedCell:
    delta: float
    lo: float
    hi: float
    n: int
    excluded: int
    verdict: str


@dataclass
class PairedTable:
    """One metric output over one channel (of one data set): rows = methods, columns = SNRs."""

    dataset: str
    channel: str
    metric: str
    output: str
    reference: str
    lower_better: bool
    methods: list[str]
    snrs: list[float]
    cells: dict[tuple[str, float], PairedCell]
    decimals: int

    @property
    def n_range(self) -> tuple[int, int]:
        ns = [c.n for c in self.cells.values() if c.n > 0]
        return (min(ns), max(ns)) if ns else (0, 0)

    @property
    def excluded(self) -> int:
        return sum(c.excluded for c in self.cells.values())


def build_paired_tables(paired: pd.DataFrame, provenance: dict[str, Any] | None) -> list[PairedTable]:
    """Split a :func:`paired_differences` result into :class:`PairedTable` objects in report order."""
    if len(paired) == 0:
        return []
    paired = paired.assign(snr_key=[T._key(v) for v in paired["snr_db"]])
    methods = T.method_order(paired, provenance)
    snrs = T.snr_order(paired, provenance)
    tables = []
    datasets = list(dict.fromkeys(paired["dataset"]))
    for dataset in datasets:
        in_ds = paired[paired["dataset"] == dataset]
        ds_methods = [m for m in methods if m in set(in_ds["method"])]
        ds_snrs = [s for s in snrs if s in set(in_ds["snr_key"])]
        for metric, output in T.output_order(in_ds, provenance):
            sel = in_ds[(in_ds["metric"] == metric) & (in_ds["output"] == output)]
            for channel in T.channel_order(sel, provenance):
                part = sel[sel["channel"] == channel]
                cells = {(r.method, r.snr_key): PairedCell(float(r.delta), float(r.lo), float(r.hi), int(r.n),
                                                        int(r.excluded), str(r.verdict))
                         for r in part.itertuples(index=False)}
                shown = part[["delta", "lo", "hi"]].to_numpy(dtype=float).ravel()
                tables.append(PairedTable(
                    dataset=str(dataset), channel=str(channel),
                    metric=str(metric), output=str(output), reference=str(part["reference"].iloc[0]),
                    lower_better=bool(part["lower_better"].iloc[0]), methods=ds_methods, snrs=ds_snrs, cells=cells,
                    decimals=T.decimals_for(output, shown),
                ))
    return tables


def _signed(value: float, decimals: int, latex: bool) -> str:
    """Like :func:`tables.format_number`, with a ``+`` before a positive (nonzero-looking) number."""
    num = {"minus": "$-$", "infinity": r"$\infty$"} if latex else {}
    text = T.format_number(value, decimals, **num)
    if value is not None and np.isfinite(value) and value > 0 and any(c in "123456789" for c in text):
        text = "+" + text
    return text


def _cell_text(cell: PairedCell | None, decimals: int, latex: bool) -> str:
    if cell is None or cell.n == 0 or math.isnan(cell.delta):
        return "--" if latex else "–"
    text = _signed(cell.delta, decimals, latex)
    if np.isfinite(cell.lo) and np.isfinite(cell.hi):
        text += f" [{_signed(cell.lo, decimals, latex)}, {_signed(cell.hi, decimals, latex)}]"
    if cell.verdict:
        text = (f"\\textbf{{{text}}}" if latex else f"**{text}**") + f" {cell.verdict}"
    return text


def _caption(table: PairedTable, provenance: dict[str, Any] | None, confidence: float, latex: bool) -> str:
    prov = provenance or {}
    esc = T.latex_escape if latex else (lambda s: s)
    arrow = (r"$\downarrow$" if table.lower_better else r"$\uparrow$") if latex else ("↓" if table.lower_better else "↑")
    delta = r"$\Delta$" if latex else "Δ"
    minus = "$-$" if latex else "−"
    name = T.display_name(table.output, latex)
    # a metric spec label (``miou(evaluator=embedded)``) tells two evaluations of one output apart
    if table.metric != table.output and (table.output not in T.DISPLAY_NAMES or "(" in table.metric):
        name = f"{name} ({esc(table.metric)})"
    ref = esc(table.reference)
    head = f"{name} {arrow} on channel {esc(table.channel)}"
    if table.dataset:
        head += f", data set {esc(table.dataset)}"
    lo, hi = table.n_range
    if latex:
        n = f"$n = {lo}$" if lo == hi else f"$n = {lo}$--${hi}$"
    else:
        n = f"n = {lo}" if lo == hi else f"n = {lo}–{hi}"
    pct = f"{100 * confidence:g}"
    pct = pct + (r"\," if latex else " ") + (r"\%" if latex else "%")
    sign, other = ("<", ">") if table.lower_better else (">", "<")
    parts = [
        head,
        f"paired against {ref}: {delta} = method {minus} {ref} per image, mean [{pct} bootstrap interval] "
        f"over {n} matched pairs per cell",
        f"{'lower' if table.lower_better else 'higher'} is better, so {delta} {esc(sign)} 0 favours the method "
        f"and {delta} {esc(other)} 0 favours {ref}",
        "bold: the interval excludes 0 (better or worse than the reference)",
    ]
    if table.excluded:
        parts.append(f"{table.excluded} matched pair(s) without a finite value left out")
    if prov.get("limited"):
        count = prov.get("num_samples")
        parts.append(f"limited to {count} samples" if count is not None else "limited to a subset of the samples")
    return "; ".join(parts) + "."


def _notes(paired: pd.DataFrame, frame: pd.DataFrame, provenance: dict[str, Any] | None, versus: str,
           resamples: int, seed: int, confidence: float) -> list[tuple[str, str]]:
    notes = [
        ("Paired", f"differences method − {versus} per image, matched on channel, SNR, seed and sample and pooled "
                   "over seeds; samples that either method lacks are left out."),
        ("Interval", f"{100 * confidence:g} % percentile bootstrap of the mean difference: the n pairs resampled with "
                     f"replacement {resamples} times (numpy default_rng, seed {seed}); none for a cell with one pair."),
    ]
    if "level" in frame.columns:
        names = list(dict.fromkeys(frame.loc[frame["level"] == "set", "output"].astype(str)))
        if names:
            notes.append(("Set-level metrics", f"{', '.join(names)}: one value per seed, no per-image pairs; "
                                               "not shown here (see the main report)."))
    excluded = int(paired["excluded"].sum()) if len(paired) else 0
    if excluded:
        notes.append(("Left out", f"{excluded} matched pair(s) with a missing or infinite value (e.g. PSNR of an "
                                  "identical image) are not counted in n."))
    snrs = T.snr_order(paired, provenance) if len(paired) else []
    methods = [*paired["method"], versus] if len(paired) else []
    return notes + T._notes(paired, provenance, snrs, methods=methods)


def _latex_label(table: PairedTable) -> str:
    raw = "-".join(p for p in ("paired", table.reference, table.dataset, table.metric, table.output, table.channel) if p)
    return "tab:" + re.sub(r"[^A-Za-z0-9.-]+", "-", raw).strip("-").lower()


def _latex_table(table: PairedTable, provenance: dict[str, Any] | None, header: str, confidence: float) -> str:
    ncols = len(table.snrs)
    arrow = r"$\downarrow$" if table.lower_better else r"$\uparrow$"
    title = rf"$\Delta$ {T.display_name(table.output, latex=True)} {arrow} vs {T.latex_escape(table.reference)}"
    lines = [
        r"\begin{table}[htbp]",
        r"  \centering",
        r"  \small",
        r"  \setlength{\tabcolsep}{4pt}",
        f"  \\caption{{{_caption(table, provenance, confidence, latex=True)}}}",
        f"  \\label{{{_latex_label(table)}}}",
        f"  \\begin{{tabular}}{{l{'c' * ncols}}}",
        r"    \toprule",
        f"    Method & \\multicolumn{{{ncols}}}{{c}}{{{title}}} \\\\",
        f"    \\cmidrule(lr){{2-{ncols + 1}}}",
        "    " + " & ".join([T.latex_escape(header)] + [T.latex_escape(T.format_snr(s)) for s in table.snrs]) + r" \\",
        r"    \midrule",
    ]
    for m in table.methods:
        cells = [_cell_text(table.cells.get((m, s)), table.decimals, latex=True) for s in table.snrs]
        lines.append("    " + " & ".join([T.latex_escape(m)] + cells) + r" \\")
    lines += [r"    \bottomrule", r"  \end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def _markdown_table(index: int, table: PairedTable, provenance: dict[str, Any] | None, header: str,
                    confidence: float) -> str:
    caption = _caption(table, provenance, confidence, latex=False)
    head = [f"Method / {header}"] + [T.format_snr(s) for s in table.snrs]
    lines = [
        f"**Paired table {index}.** {T._md_escape(caption)}",
        "",
        "| " + " | ".join(T._md_escape(h) for h in head) + " |",
        "|" + "|".join([":---"] + [":---:"] * len(table.snrs)) + "|",
    ]
    for m in table.methods:
        cells = [_cell_text(table.cells.get((m, s)), table.decimals, latex=False) for s in table.snrs]
        lines.append("| " + " | ".join([T._md_escape(m)] + cells) + " |")
    return "\n".join(lines)


def render_paired(frame: pd.DataFrame, provenance: dict[str, Any] | None, fmt: str, versus: str,
                  metrics: list[str] | None = None, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                  confidence: float = DEFAULT_CONFIDENCE) -> str:
    """Render the paired differences against ``versus`` as ``latex``, ``markdown`` or ``csv`` text.

    Args:
        frame: the tidy results table.
        provenance: the run's provenance dict (may be empty), as for :func:`tables.render`.
        fmt: ``"markdown"`` (pipe tables, then notes), ``"latex"`` (booktabs ``table``
            floats, then a notes float; wrap with :func:`tables.latex_document` for a
            standalone file) or ``"csv"`` (the :func:`paired_differences` rows, numbers
            unformatted).
        versus: the reference method label.
        metrics: metric or output names to keep (default: all).
        resamples, seed, confidence: the bootstrap's B, generator seed and coverage.
    """
    fmt = str(fmt).lower()
    if fmt not in T.FORMATS:
        raise UserError(f"unknown table format {fmt!r}: use one of {', '.join(T.FORMATS)}")
    paired = paired_differences(frame, versus, provenance, metrics, resamples, seed, confidence)
    selected = T.select_metrics(frame, metrics, provenance)
    if fmt == "csv":
        return paired.to_csv(index=False)
    tables = build_paired_tables(paired, provenance)
    header = T.grid_header(provenance, frame)
    notes = _notes(paired, selected, provenance, versus, resamples, seed, confidence)
    if fmt == "latex":
        blocks = [_latex_table(t, provenance, header, confidence) for t in tables]
        if not tables:
            blocks.append(rf"\noindent No image-level results to pair with {T.latex_escape(versus)}.")
        blocks.append(T.latex_notes(notes))
        return "\n\n".join(blocks) + "\n"
    blocks = [_markdown_table(i + 1, t, provenance, header, confidence) for i, t in enumerate(tables)]
    if not tables:
        blocks.append(f"_No image-level results to pair with {T._md_escape(versus)}._")
    blocks.append("\n".join(["**Notes.**", ""] + [f"- *{T._md_escape(label)}:* {T._md_escape(text)}"
                                                  for label, text in notes]))
    return "\n\n".join(blocks) + "\n"
