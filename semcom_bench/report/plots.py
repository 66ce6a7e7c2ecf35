"""Figures from the results: metric-vs-SNR curves and sample grids (PNG + PDF).

Figures are drawn on :class:`matplotlib.figure.Figure` objects directly (Agg for PNG, the
PDF backend for PDF), so nothing here touches pyplot's global state or the user's backend.

Curves (:func:`plot_curves`)
    x is the SNR in dB on a linear, ascending axis. Grid values at or above
    :data:`~semcom_bench.report.tables.NOISELESS_DB` (the first paper's "PSNR 100") would
    squash every other point into a corner, so they are drawn on a separate slot to the
    right of a dotted break line, labelled ``noiseless`` with their dB value, as single
    points with error bars (not joined to the curve). Each method is a line with a
    ``mean ± std`` band; methods whose name starts with ``digital`` (classical codecs) are
    dashed. Infinite means (PSNR of a perfect reconstruction) are marked with ``∞`` at the
    top edge of the panel instead of a point.

Bits against meaning (:func:`plot_frontier`)
    x is the cost of an image on the channel, bits per image or complex channel uses per
    image (:func:`semcom_bench.report.tables.bandwidth_by_snr`: the ``bits`` metric, else the
    image records), on a log axis; y is mIoU, or the first semantic output present
    (:data:`SEMANTIC_OUTPUTS`). One point per method and SNR, the points of one method
    joined in SNR order (a method whose cost does not depend on the SNR is a vertical
    segment: its meaning from the lowest to the highest SNR at one cost), each labelled with
    its SNR. The SNR is the channel's condition, not a choice of the sender, so the Pareto
    frontier is taken per SNR: at each SNR, the points that no other method beats on both
    axes (fewer or equal bits and at least the same meaning, one strictly) are ringed in
    black and joined by a grey staircase (darker for higher SNR). The points come out as
    ``frontier_<x>_<output>.csv`` beside the figures (:func:`frontier_table`).

Sample grids (:func:`plot_samples`)
    rows = samples; columns = original | colourised label map | each method at each chosen
    SNR. Images are placed pixel for pixel (no resampling), enlarged by an integer factor
    (nearest neighbour) when narrower than :data:`MIN_PANEL_WIDTH` and reduced by an integer
    factor (box filter; nearest neighbour for label maps) when wider than
    :data:`MAX_PANEL_WIDTH`. :func:`grid_layout` gives the exact pixel geometry.
"""

from __future__ import annotations

import importlib
import math
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from PIL import Image

from semcom_bench.errors import UserError
from semcom_bench.report import tables as T

#: Resolution of the PNG files.
CURVE_DPI = 150
SAMPLE_DPI = 100
#: Sample panels narrower than this are enlarged by an integer factor (nearest neighbour).
MIN_PANEL_WIDTH = 160
#: Sample panels wider than this are reduced by an integer factor.
MAX_PANEL_WIDTH = 512
#: Pixel geometry of sample grids: outer margin, gap between panels, title band, left band.
MARGIN = 6
GAP = 4
TITLE_HEIGHT = 46
LEFT_WIDTH = 18
#: Title lines per column (method label wrapped, then the SNR).
_TITLE_LINES = 3


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", str(text)).strip("_") or "x"


def _prepare(frame: pd.DataFrame, provenance: dict[str, Any] | None, metrics: list[str] | None) -> pd.DataFrame:
    summary = frame if T.is_summary(frame) else T.summarise(frame)
    return T.select_metrics(summary, metrics, provenance)


def _limited_note(provenance: dict[str, Any] | None) -> str:
    prov = provenance or {}
    if not prov.get("limited"):
        return ""
    n = prov.get("num_samples")
    return f" (limited to {n} samples)" if n is not None else " (limited run)"


# ----------------------------------------------------------------------------------------
# curves


@dataclass
class _Axis:
    """Where each SNR value goes on the x axis, and how its tick reads."""

    positions: dict[float, float]
    labels: dict[float, str]
    finite: list[float]
    noiseless: list[float]
    break_at: float | None


def _x_axis(snrs: list[float]) -> _Axis:
    finite = sorted(s for s in snrs if s < T.NOISELESS_DB)
    noiseless = sorted(s for s in snrs if s >= T.NOISELESS_DB)
    positions = {s: s for s in finite}
    labels = {s: T.format_snr(s) for s in finite}
    break_at = None
    if noiseless:
        top = finite[-1] if finite else 0.0
        span = (finite[-1] - finite[0]) if len(finite) > 1 else 10.0
        step = max(0.15 * span, 2.0)
        break_at = top + step / 2 if finite else None
        for i, s in enumerate(noiseless):
            positions[s] = top + step * (i + 1)
            labels[s] = f"noiseless\n({T.format_snr(s)} dB)"
    return _Axis(positions, labels, finite, noiseless, break_at)


def _method_styles(methods: list[str]) -> dict[str, dict[str, Any]]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"] if len(methods) <= 10 else colormaps["tab20"]
    markers = "osD^vP*Xh<>"
    return {
        m: {"color": cmap(i % cmap.N), "marker": markers[i % len(markers)],
            "linestyle": "--" if m.startswith("digital") else "-"}
        for i, m in enumerate(methods)
    }


def _draw_panel(ax: Any, part: pd.DataFrame, methods: list[str], axis: _Axis, styles: dict[str, dict[str, Any]]) -> None:
    from matplotlib.transforms import blended_transform_factory

    top_edge = blended_transform_factory(ax.transData, ax.transAxes)
    infinite = False
    for m in methods:
        rows = part[part["method"] == m]
        if rows.empty:
            continue
        st = styles[m]
        by_snr = {T._key(r.snr_db): (float(r.mean), float(r.std)) for r in rows.itertuples(index=False)}
        xs, ys, ss = [], [], []
        for s in axis.finite:
            if s not in by_snr:
                continue
            mean, std = by_snr[s]
            if np.isfinite(mean):
                xs.append(axis.positions[s])
                ys.append(mean)
                ss.append(std if np.isfinite(std) else 0.0)
        xs_a, ys_a, ss_a = np.array(xs), np.array(ys), np.array(ss)
        ax.plot(xs_a, ys_a, color=st["color"], marker=st["marker"], linestyle=st["linestyle"],
                markersize=4, linewidth=1.5, label=m)
        if len(xs):
            ax.fill_between(xs_a, ys_a - ss_a, ys_a + ss_a, color=st["color"], alpha=0.15, linewidth=0)
        for s in axis.noiseless:
            if s in by_snr and np.isfinite(by_snr[s][0]):
                mean, std = by_snr[s]
                ax.errorbar([axis.positions[s]], [mean], yerr=[std if np.isfinite(std) else 0.0],
                            color=st["color"], marker=st["marker"], markersize=4, capsize=3, linestyle="none")
        for s, (mean, _) in by_snr.items():
            if s in axis.positions and np.isinf(mean):
                infinite = True
                ax.text(axis.positions[s], 0.98 if mean > 0 else 0.02, "∞" if mean > 0 else "−∞",
                        transform=top_edge, ha="center", va="top" if mean > 0 else "bottom",
                        color=st["color"], fontsize=11, fontweight="bold")
    if infinite:
        low, high = ax.get_ylim()
        ax.set_ylim(low, high + 0.12 * (high - low))
    if axis.break_at is not None:
        ax.axvline(axis.break_at, color="0.6", linestyle=":", linewidth=1)
    ticks = sorted(axis.positions.values())
    inverse = {v: k for k, v in axis.positions.items()}
    ax.set_xticks(ticks, [axis.labels[inverse[t]] for t in ticks])
    ax.grid(True, alpha=0.3)


#: inches a legend entry takes besides its text (marker, line and padding), and per character at font size 8
LEGEND_ENTRY_IN, LEGEND_CHAR_IN = 0.75, 0.062


def legend_columns(labels: Sequence[str], width_in: float, most: int = 4) -> int:
    """Legend columns (1 to ``most``) so that rows of the longest ``labels`` fit ``width_in`` inches."""
    entry = LEGEND_ENTRY_IN + LEGEND_CHAR_IN * max(len(str(label)) for label in labels)
    return max(1, min(len(labels), most, int(width_in // entry)))


def plot_curves(frame: pd.DataFrame, provenance: dict[str, Any] | None, out_dir: Path,
                metrics: list[str] | None = None) -> list[Path]:
    """One figure per metric output (and data set): value vs SNR, one panel per channel.

    Args:
        frame: the tidy results table or a :func:`~semcom_bench.report.tables.summarise` result.
        provenance: the run's provenance (orders methods, channels, metrics; limited note).
        out_dir: folder for ``curves_<metric>[-<output>].png`` and ``.pdf`` (created).
        metrics: metric or output names to plot (default: all).

    Returns:
        the written paths, PNG then PDF for each figure.
    """
    from matplotlib.figure import Figure

    summary = _prepare(frame, provenance, metrics)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create plot folder {out_dir} ({exc.strerror}); pass a writable folder") from None
    if summary.empty:
        return []
    methods = T.method_order(summary, provenance)
    styles = _method_styles(methods)
    grid = T.grid_name(provenance, frame)
    xlabel = "channel PSNR (dB)" if grid == "psnr" else "SNR (dB)"
    datasets = list(dict.fromkeys(summary["dataset"]))
    written: list[Path] = []
    for dataset in datasets:
        in_ds = summary[summary["dataset"] == dataset]
        for metric, output in T.output_order(in_ds, provenance):
            sel = in_ds[(in_ds["metric"] == metric) & (in_ds["output"] == output)]
            channels = T.channel_order(sel, provenance)
            axis = _x_axis(T.snr_order(sel, provenance))
            lower = bool(sel["lower_better"].iloc[0])
            name = T.display_name(output)
            if output != metric and output not in T.DISPLAY_NAMES:
                name = f"{name} ({metric})"
            ylabel = f"{name} {'↓' if lower else '↑'}"
            fig = Figure(figsize=(0.6 + 4.0 * len(channels), 3.6), layout="constrained")
            axes = fig.subplots(1, len(channels), sharey=True, squeeze=False)[0]
            ds_methods = [m for m in methods if m in set(sel["method"])]
            for ax, channel in zip(axes, channels):
                _draw_panel(ax, sel[sel["channel"] == channel], ds_methods, axis, styles)
                ax.set_title(str(channel), fontsize=10)
                ax.set_xlabel(xlabel)
            axes[0].set_ylabel(ylabel)
            title = ylabel + (f" — {dataset}" if dataset else "") + _limited_note(provenance)
            fig.suptitle(title, fontsize=11)
            handles, labels = axes[0].get_legend_handles_labels()
            if handles:
                fig.legend(handles, labels, loc="outside lower center", ncols=legend_columns(labels, fig.get_figwidth()),
                           fontsize=8, frameon=False)
            stem = "curves_" + (f"{_slug(dataset)}_" if len(datasets) > 1 else "") + _slug(metric)
            if output != metric:
                stem += "-" + _slug(output)
            for suffix, kwargs in ((".png", {"dpi": CURVE_DPI}), (".pdf", {})):
                path = out_dir / f"{stem}{suffix}"
                fig.savefig(path, **kwargs)
                written.append(path)
    return written


# ----------------------------------------------------------------------------------------
# bits against meaning

#: outputs that measure meaning, in the order the frontier plot prefers them
SEMANTIC_OUTPUTS = ("miou", "miou-set", "map", "map50", "delta1", "absrel", "rmse")
#: x axes of the frontier plot: bandwidth column -> axis label
FRONTIER_X = {"bits": "bits per image", "channel_uses": "complex channel uses per image"}
#: columns of :func:`frontier_table`
FRONTIER_COLUMNS = ["dataset", "channel", "method", "snr_db", "x", "y", "y_std", "n", "pareto"]


def frontier_output(summary: pd.DataFrame, output: str | None = None) -> tuple[str, str] | None:
    """(metric, output) drawn on the frontier's y axis, or None when the results hold none.

    ``output`` (a metric or output name) if given, else mIoU, else the first of
    :data:`SEMANTIC_OUTPUTS` present.
    """
    pairs = list(dict.fromkeys(zip(summary["metric"].astype(str), summary["output"].astype(str))))
    if output is not None:
        for metric, out in pairs:
            if output in (metric, out) and not T.is_bits_metric(metric):
                return metric, out
        have = ", ".join(dict.fromkeys(o for _, o in pairs)) or "none"
        raise UserError(f"no results for {output!r} to draw against bits; the results hold: {have}")
    for wanted in SEMANTIC_OUTPUTS:
        for metric, out in pairs:
            if out == wanted:
                return metric, out
    return None


def pareto_mask(x: Sequence[float], y: Sequence[float], lower_better: bool = False) -> list[bool]:
    """Which points no other point dominates (x no larger and y no worse, one strictly).

    x is a cost (smaller is better); y is better higher, or lower with ``lower_better``.
    Points with a non-finite coordinate are never on the frontier and dominate nothing.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float) * (-1.0 if lower_better else 1.0)
    ok = np.isfinite(xs) & np.isfinite(ys)
    out = []
    for i in range(len(xs)):
        if not ok[i]:
            out.append(False)
            continue
        better = ok & (xs <= xs[i]) & (ys >= ys[i]) & ((xs < xs[i]) | (ys > ys[i]))
        out.append(not bool(better.any()))
    return out


def frontier_table(frame: pd.DataFrame, provenance: dict[str, Any] | None = None, x: str = "bits",
                   output: str | None = None, cache: Any = None) -> pd.DataFrame:
    """The points of the bits-against-meaning plot, one per data set x channel x method x SNR.

    Args:
        frame: the tidy results table (or a summary holding the ``bits`` metric).
        provenance: the run's provenance (orders; its ``cache_dir`` for image records).
        x: ``"bits"`` (bits per image) or ``"channel_uses"`` (complex channel uses per image).
        output: the meaning on the y axis (metric or output name); default mIoU or the first
            semantic output present (:func:`frontier_output`).
        cache: a :class:`~semcom_bench.cache.Cache` or folder for the image records.

    Returns:
        :data:`FRONTIER_COLUMNS`: ``x`` the mean cost per image, ``y``/``y_std``/``n`` the
        metric's summary, ``pareto`` whether the point is on its SNR's Pareto frontier (within
        its data set and channel). Rows in the run's channel, method and SNR order; the
        chosen metric and output are in ``attrs``. Empty without a semantic output or costs.
    """
    if x not in FRONTIER_X:
        raise UserError(f"unknown frontier axis {x!r}: use {' or '.join(FRONTIER_X)}")
    summary = frame if T.is_summary(frame) else T.summarise(frame)
    empty = pd.DataFrame(columns=FRONTIER_COLUMNS)
    if summary.empty:
        return empty
    chosen = frontier_output(summary, output)
    if chosen is None:
        return empty
    metric, out = chosen
    costs = T.bandwidth_by_snr(frame, provenance, cache)
    sel = summary[(summary["metric"] == metric) & (summary["output"] == out)]
    lower = bool(sel["lower_better"].iloc[0]) if len(sel) else False
    cost = {(str(r.dataset), str(r.method), str(r.channel), T._key(r.snr_db)): float(getattr(r, x))
            for r in costs.itertuples(index=False)}
    methods = T.method_order(sel, provenance)
    channels = T.channel_order(sel, provenance)
    snrs = T.snr_order(sel, provenance)
    rows = []
    for r in sel.itertuples(index=False):
        rows.append({"dataset": str(r.dataset), "channel": str(r.channel), "method": str(r.method),
                     "snr_db": T._key(r.snr_db),
                     "x": cost.get((str(r.dataset), str(r.method), str(r.channel), T._key(r.snr_db)), math.nan),
                     "y": float(r.mean), "y_std": float(r.std), "n": int(r.n)})
    table = pd.DataFrame(rows, columns=FRONTIER_COLUMNS[:-1])
    table = table[np.isfinite(table["x"].to_numpy(dtype=float)) & (table["x"] > 0)]
    if table.empty:
        return empty
    rank = {"channel": {c: i for i, c in enumerate(channels)}, "method": {m: i for i, m in enumerate(methods)},
            "snr_db": {s: i for i, s in enumerate(snrs)}}
    table = table.sort_values(["dataset", "channel", "method", "snr_db"],
                              key=lambda col: col.map(rank[col.name]) if col.name in rank else col, kind="stable")
    table["pareto"] = False
    for _, part in table.groupby(["dataset", "channel", "snr_db"], sort=False):
        table.loc[part.index, "pareto"] = pareto_mask(part["x"], part["y"], lower)
    table = table.reset_index(drop=True)[FRONTIER_COLUMNS]
    table.attrs.update({"metric": metric, "output": out, "lower_better": lower, "x": x})
    return table


def _draw_frontier_panel(ax: Any, part: pd.DataFrame, methods: list[str], styles: dict[str, dict[str, Any]],
                         snrs: list[float]) -> None:
    from matplotlib import colormaps

    greys = colormaps["Greys"]
    for i, s in enumerate(snrs):  # one staircase per SNR, drawn first (under the points)
        front = part[(part["snr_db"] == s) & part["pareto"]].sort_values("x")
        if front.empty:
            continue
        shade = greys(0.35 + 0.5 * (i / max(1, len(snrs) - 1)))
        ax.plot(front["x"], front["y"], drawstyle="steps-post" if len(front) > 1 else "default", color=shade,
                linewidth=1.0, linestyle="--", zorder=1)
    for m in methods:
        rows = part[part["method"] == m]
        if rows.empty:
            continue
        st = styles[m]
        ax.plot(rows["x"], rows["y"], color=st["color"], marker=st["marker"], linestyle=st["linestyle"],
                markersize=5, linewidth=1.2, label=m, zorder=2)
        on = rows[rows["pareto"]]
        ax.scatter(on["x"], on["y"], s=70, facecolors="none", edgecolors="black", linewidths=1.0, zorder=3)
        for r in rows.itertuples(index=False):
            ax.annotate(T.format_snr(r.snr_db), (r.x, r.y), textcoords="offset points", xytext=(7, 0),
                        fontsize=6, color=st["color"], va="center")
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="both", labelsize=8)
    ax.grid(True, which="both", alpha=0.25)


def plot_frontier(frame: pd.DataFrame, provenance: dict[str, Any] | None, out_dir: Path,
                  axes: Sequence[str] = ("bits", "channel_uses"), output: str | None = None,
                  cache: Any = None) -> list[Path]:
    """Bits (and channel uses) per image against meaning, one panel per channel.

    Args:
        frame: the tidy results table (or a summary holding the ``bits`` metric).
        provenance: the run's provenance (orders; ``cache_dir``; limited note).
        out_dir: folder for ``frontier_<x>_<output>.png``, ``.pdf`` and ``.csv`` (created).
        axes: the x axes to draw, one figure each: ``"bits"``, ``"channel_uses"``.
        output: the meaning on the y axis; default mIoU or the first semantic output present.
        cache: a :class:`~semcom_bench.cache.Cache` or folder for the image records (when the
            run did not score the ``bits`` metric); default the provenance's ``cache_dir``.

    Returns:
        the written paths, PNG, PDF and CSV per figure; empty when the results hold no
        semantic output or no costs (see :func:`frontier_table`).
    """
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    written: list[Path] = []
    summary = frame if T.is_summary(frame) else T.summarise(frame)
    store = T.open_cache(provenance, cache)
    for x in axes:
        table = frontier_table(frame, provenance, x, output, store)
        if table.empty:
            continue
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create plot folder {out_dir} ({exc.strerror}); pass a writable folder") from None
        out, lower = table.attrs["output"], table.attrs["lower_better"]
        methods = T.method_order(summary, provenance)
        styles = _method_styles(methods)
        name = T.display_name(out)
        ylabel = f"{name} {'↓' if lower else '↑'}"
        datasets = list(dict.fromkeys(table["dataset"]))
        for dataset in datasets:
            in_ds = table[table["dataset"] == dataset]
            channels = list(dict.fromkeys(in_ds["channel"]))
            snrs = list(dict.fromkeys(sorted(in_ds["snr_db"])))
            fig = Figure(figsize=(max(6.4, 0.8 + 4.6 * len(channels)), 4.4), layout="constrained")
            panels = fig.subplots(1, len(channels), sharey=True, squeeze=False)[0]
            ds_methods = [m for m in methods if m in set(in_ds["method"])]
            for ax, channel in zip(panels, channels):
                _draw_frontier_panel(ax, in_ds[in_ds["channel"] == channel], ds_methods, styles, snrs)
                ax.set_title(str(channel), fontsize=10)
                ax.set_xlabel(FRONTIER_X[x] + " (log)")
            panels[0].set_ylabel(ylabel)
            subtitle = (dataset or "") + _limited_note(provenance)
            fig.suptitle(f"{ylabel} against {FRONTIER_X[x]}" + (f"\n{subtitle.strip()}" if subtitle.strip() else ""),
                         fontsize=10)
            handles, labels = panels[0].get_legend_handles_labels()
            from matplotlib.lines import Line2D

            handles.append(Line2D([], [], color="0.5", linestyle="--", marker="o", markerfacecolor="none",
                                  markeredgecolor="black", markersize=8))
            labels.append("Pareto frontier per SNR (point labels: SNR in dB)")
            fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 2), fontsize=8,
                       frameon=False)
            stem = "frontier_" + (f"{_slug(dataset)}_" if len(datasets) > 1 else "") + f"{_slug(x)}_{_slug(out)}"
            for suffix, kwargs in ((".png", {"dpi": CURVE_DPI}), (".pdf", {})):
                path = out_dir / f"{stem}{suffix}"
                fig.savefig(path, **kwargs)
                written.append(path)
            path = out_dir / f"{stem}.csv"
            in_ds.to_csv(path, index=False)
            written.append(path)
    return written


# ----------------------------------------------------------------------------------------
# sample grids


def _fallback_palette() -> np.ndarray:
    rng = np.random.default_rng(20240601)
    palette = rng.integers(32, 256, (256, 3), dtype=np.uint8)
    palette[0] = 0
    palette[255] = 0
    return palette


def colourise_labels(labels: np.ndarray) -> np.ndarray:
    """(H, W) label ids -> (H, W, 3) uint8 colours.

    Uses the Cityscapes palette (``semcom_bench.data.cityscapes_labels.colourise``) when that
    module is available, else a fixed deterministic palette (ids 0 and 255 black).
    """
    try:
        module = importlib.import_module("semcom_bench.data.cityscapes_labels")
        colourise = getattr(module, "colourise")
    except (ImportError, AttributeError):
        colourise = None
    if colourise is not None:
        return np.asarray(colourise(labels), dtype=np.uint8)
    return _fallback_palette()[np.asarray(labels).astype(np.int64) % 256]


def panel_scale(width: int) -> tuple[int, int]:
    """(up, down) integer factors applied to an image ``width`` pixels wide."""
    if width < MIN_PANEL_WIDTH:
        return math.ceil(MIN_PANEL_WIDTH / width), 1
    if width > MAX_PANEL_WIDTH:
        return 1, math.ceil(width / MAX_PANEL_WIDTH)
    return 1, 1


def _scaled_size(h: int, w: int) -> tuple[int, int]:
    up, down = panel_scale(w)
    if down > 1:
        return math.ceil(h / down), math.ceil(w / down)
    return h * up, w * up


@dataclass(frozen=True)
class GridLayout:
    """Pixel geometry of a sample grid (origin top left).

    Attributes:
        height, width: size of the PNG in pixels.
        row_tops: top pixel row of each sample row; row_heights: its panel height.
        col_lefts: left pixel column of each column; col_width: width of every column.
    """

    height: int
    width: int
    row_tops: tuple[int, ...]
    row_heights: tuple[int, ...]
    col_lefts: tuple[int, ...]
    col_width: int

    def panel_box(self, row: int, col: int) -> tuple[int, int]:
        """(top, left) of the panel in ``row``, ``col``."""
        return self.row_tops[row], self.col_lefts[col]


def grid_layout(image_sizes: Sequence[tuple[int, int]], num_columns: int) -> GridLayout:
    """Layout for samples of (H, W) ``image_sizes`` (one per row) and ``num_columns`` columns."""
    scaled = [_scaled_size(h, w) for h, w in image_sizes]
    col_w = max(w for _, w in scaled)
    col_lefts = tuple(MARGIN + LEFT_WIDTH + c * (col_w + GAP) for c in range(num_columns))
    tops, y = [], MARGIN + TITLE_HEIGHT
    for h, _ in scaled:
        tops.append(y)
        y += h + GAP
    height = y - GAP + MARGIN
    width = col_lefts[-1] + col_w + MARGIN
    return GridLayout(height, width, tuple(tops), tuple(h for h, _ in scaled), col_lefts, col_w)


def _fit(image: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    """Scale ``image`` to ``size`` (H, W): integer nearest/box scaling when possible."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    ih, iw = image.shape[:2]
    if h % ih == 0 and w % iw == 0 and h // ih == w // iw:
        f = h // ih
        return np.repeat(np.repeat(image, f, axis=0), f, axis=1)
    pil = Image.fromarray(image)
    return np.asarray(pil.resize((w, h), Image.NEAREST if nearest else Image.BOX))


def _grid_snrs(frame_snrs: list[float], count: int = 3) -> list[float]:
    if len(frame_snrs) <= count:
        return list(frame_snrs)
    idx = np.linspace(0, len(frame_snrs) - 1, count).round().astype(int)
    return [frame_snrs[i] for i in dict.fromkeys(idx.tolist())]


def plot_samples(frame: pd.DataFrame, provenance: dict[str, Any] | None, cache: Any, samples: Sequence[Any],
                 out_dir: Path, snrs: list[float] | None = None, methods: list[str] | None = None,
                 num_samples: int = 4, channel: str | None = None, seed: int | None = None,
                 colour_labels: Callable[[np.ndarray], np.ndarray] | None = None) -> list[Path]:
    """A grid of samples: original | label map | each method at each chosen SNR.

    Args:
        frame: the tidy results table (needs ``sample`` and ``image_key``).
        provenance: the run's provenance (orders methods and SNRs).
        cache: a :class:`semcom_bench.cache.Cache` holding the reconstructions.
        samples: :class:`semcom_bench.data.base.Sample` objects; those whose ``key`` appears
            in the results are shown, the first ``num_samples`` of them.
        out_dir: folder for ``samples_<channel>_seed<seed>.png`` and ``.pdf`` (created).
        snrs: SNR values (dB) to show; default up to 3 spread over the grid in its order.
        methods: methods to show; default every method, in the run's order.
        num_samples: number of rows.
        channel: channel label; default the run's first channel.
        seed: seed; default the run's first seed.
        colour_labels: label ids -> RGB; default :func:`colourise_labels`.

    Returns:
        [PNG path, PDF path]. A reconstruction missing from the cache shows as a grey panel
        marked "missing"; a sample without labels gets a grey "no labels" panel.
    """
    from matplotlib.figure import Figure

    needed = {"sample", "image_key", "method", "channel", "snr_db"}
    if not needed.issubset(frame.columns):
        raise UserError("the results table has no per-image rows (columns sample/image_key); re-run 'semcom-bench run'")
    rows = frame[frame["image_key"].notna() & frame["sample"].notna()]
    if rows.empty:
        raise UserError("the results hold no per-image rows to draw samples from")
    config = T.config_of(provenance)
    channels = T._ordered(list(config.get("channels") or []), list(rows["channel"]))
    channel = channels[0] if channel is None else channel
    rows = rows[rows["channel"] == channel]
    if rows.empty:
        raise UserError(f"no results for channel {channel!r}; the results hold: {', '.join(map(str, channels))}")
    if "seed" in rows.columns:
        seeds = T._ordered([int(s) for s in config.get("seeds") or []], [int(s) for s in rows["seed"]])
        seed = seeds[0] if seed is None else int(seed)
        rows = rows[rows["seed"].astype(int) == seed]
    rows = rows.drop_duplicates(subset=["method", "snr_db", "sample"])
    all_methods = T.method_order(rows, provenance)
    if methods:
        unknown = [m for m in methods if m not in all_methods]
        if unknown:
            raise UserError(f"no results for method(s) {', '.join(unknown)}; the results hold: {', '.join(all_methods)}")
        all_methods = list(methods)
    grid_snrs = T.snr_order(rows, provenance)
    if snrs:
        chosen = [T._key(s) for s in snrs]
        absent = [T.format_snr(s) for s in chosen if s not in set(grid_snrs)]
        if absent:
            raise UserError(f"no results at SNR {', '.join(absent)} dB; the results hold: "
                            f"{', '.join(T.format_snr(s) for s in grid_snrs)}")
    else:
        chosen = _grid_snrs(grid_snrs)
    keys = {(r.method, T._key(r.snr_db), r.sample): r.image_key for r in rows.itertuples(index=False)}
    present = set(rows["sample"])
    shown = [s for s in samples if s.key in present][:max(1, int(num_samples))]
    if not shown:
        raise UserError("none of the given samples appear in the results (their keys do not match the 'sample' column)")

    header = T.grid_header(provenance, frame)
    columns: list[tuple[str, str | None, float | None]] = [("original", None, None), ("labels", None, None)]
    columns += [("recon", m, s) for m in all_methods for s in chosen]
    layout = grid_layout([(s.height, s.width) for s in shown], len(columns))
    colourise = colour_labels or colourise_labels

    fig = Figure(figsize=(layout.width / SAMPLE_DPI, layout.height / SAMPLE_DPI), dpi=SAMPLE_DPI)
    fig.patch.set_facecolor("white")
    chars = max(8, int(layout.col_width / 6.5))

    def text(x: float, y: float, s: str, **kw: Any) -> None:
        fig.text(x / layout.width, 1 - y / layout.height, s, **kw)

    for c, (kind, method, snr) in enumerate(columns):
        left = layout.col_lefts[c]
        if kind == "recon":
            snr_text = f"{header} {T.format_snr(snr)}" if header == "PSNR" else f"{T.format_snr(snr)} dB"
            lines = textwrap.wrap(str(method), chars, break_on_hyphens=False)[:_TITLE_LINES - 1] + [snr_text]
        else:
            lines = [kind]
        text(left + layout.col_width / 2, MARGIN + TITLE_HEIGHT - 4, "\n".join(lines), ha="center", va="bottom",
             fontsize=8, linespacing=1.1)

    for r, sample in enumerate(shown):
        top = layout.row_tops[r]
        h = layout.row_heights[r]
        w = _scaled_size(sample.height, sample.width)[1]
        text(MARGIN + LEFT_WIDTH / 2, top + h / 2, str(sample.key), rotation=90, ha="center", va="center", fontsize=7)
        for c, (kind, method, snr) in enumerate(columns):
            note = None
            if kind == "original":
                panel = _fit(np.asarray(sample.image, dtype=np.uint8), (h, w), nearest=False)
            elif kind == "labels":
                if sample.labels is None:
                    panel, note = np.full((h, w, 3), 128, np.uint8), "no labels"
                else:
                    panel = _fit(colourise(np.asarray(sample.labels)), (h, w), nearest=True)
            else:
                key = keys.get((method, snr, sample.key))
                image = None
                if key is not None:
                    try:
                        image = cache.get_image(key)
                    except (FileNotFoundError, OSError):
                        image = None
                if image is None:
                    panel, note = np.full((h, w, 3), 128, np.uint8), "missing"
                else:
                    panel = _fit(image, (h, w), nearest=False)
            left = layout.col_lefts[c]
            fig.figimage(panel, xo=left, yo=layout.height - top - h, origin="upper")
            if note:
                text(left + w / 2, top + h / 2, note, ha="center", va="center", fontsize=8, color="white")

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create plot folder {out_dir} ({exc.strerror}); pass a writable folder") from None
    stem = f"samples_{_slug(channel)}" + (f"_seed{seed}" if seed is not None else "")
    written = []
    for suffix in (".png", ".pdf"):
        path = out_dir / f"{stem}{suffix}"
        fig.savefig(path, dpi=SAMPLE_DPI, facecolor="white")
        written.append(path)
    return written
