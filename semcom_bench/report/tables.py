"""Paper-style tables from the tidy results table.

:func:`summarise` reduces the tidy table (one row per image x metric output, plus set-level
rows) to one row per data set x channel x metric output x method x SNR, with the mean, the
sample standard deviation and the count. :func:`render` turns that summary into the layout
of the papers' tables: one table per metric output and channel (and data set), rows =
methods, columns = the SNR grid in the run's order, cells ``mean ± std``, the best value of
each column in bold, ``↑``/``↓`` after the output name.

Statistics
    ``std`` is the sample standard deviation (``ddof=1``). A group with a single value
    (one image, or a set-level metric with one seed) has ``std = 0``. When the mean is not
    finite (e.g. PSNR of identical images is +inf, and so is any mean containing +inf) the
    spread is undefined and ``std`` is NaN. NaN values are left out of ``mean``/``std`` and
    are not counted in ``n``.

Formatting
    - precision is chosen per metric output and shared by the whole table: integers with
      thousands separators for bit counts and channel uses, 2 decimals for values in dB
      (PSNR), otherwise 3 decimals when every |mean| < 10, 2 decimals below 1000 and
      integers with thousands separators above;
    - a cell shows ``mean ± std``, or only the mean when it rests on a single value or is
      infinite; ``+inf``/``-inf`` show as ``∞``/``−∞``; a missing value shows as ``–``;
    - the best mean of each column is bold (highest, or lowest for ``lower_better``
      outputs), compared at the displayed precision so that equal-looking values are all
      bold; NaN never wins; a column with fewer than two values has no bold cell.

Bandwidth
    Methods differ in what they put on the channel (``gesco``'s maps take about 2.25 complex
    channel uses per pixel value, ``full-image`` 0.5, a coded JPEG a few hundredths), so a
    comparison at equal SNR needs the bandwidth beside it. Every table therefore has two
    columns after the method name, per method and channel: ``k/n``, complex channel uses per
    real pixel value (k channel uses per image, n = H·W·3; the ``bandwidth_ratio`` of the
    ``bits`` metric) and ``bits``, the source + side bits per image; both are means over the
    images (and seeds). They come, per image, from the ``bits`` metric's rows when the run
    scored it, else from ``channel_uses``/``bits`` columns of the rows if the results carry
    them, else from the image records in the run's cache (``channel_uses`` and ``bits`` of
    each reconstruction's record; n from the cached image's size), see
    :func:`image_bandwidth`. A method whose numbers change with the SNR shows their mean
    over the grid, marked ``†``, and a note says so. The CSV format gets the per-SNR values
    as the columns ``bandwidth_ratio`` and ``bits_per_image``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from semcom_bench.errors import UserError

FORMATS = ("latex", "markdown", "csv")

#: Columns a summary is grouped by (``level``: ``"image"`` or ``"set"``).
GROUP_KEYS = ["dataset", "channel", "metric", "output", "method", "snr_db", "level"]
#: Columns of :func:`summarise`'s result, in order.
SUMMARY_COLUMNS = GROUP_KEYS + ["mean", "std", "n", "lower_better", "snr_definition"]
#: the method parameter of the first paper's SNR convention (peak, not average, symbol power)
PEAK_POWER = "power=peak"

#: Grid values at or above this many dB are treated as "noiseless" in captions and plots.
NOISELESS_DB = 60.0

#: output name -> (plain text name, LaTeX name). Unknown outputs show their own name.
DISPLAY_NAMES: dict[str, tuple[str, str]] = {
    "psnr": ("PSNR (dB)", "PSNR (dB)"),
    "ssim": ("SSIM", "SSIM"),
    "ms-ssim": ("MS-SSIM", "MS-SSIM"),
    "ms_ssim": ("MS-SSIM", "MS-SSIM"),
    "lpips": ("LPIPS", "LPIPS"),
    "fid": ("FID", "FID"),
    "kid": ("KID", "KID"),
    "miou": ("mIoU", "mIoU"),
    "map": ("mAP", "mAP"),
    "clip": ("CLIP similarity", "CLIP similarity"),
    "absrel": ("AbsRel", "AbsRel"),
    "rmse": ("RMSE", "RMSE"),
    "delta1": ("δ<1.25", r"$\delta<1.25$"),
    "bits": ("bits", "bits"),
    "channel_uses": ("channel uses", "channel uses"),
    "bandwidth_ratio": ("bandwidth ratio k/n", "bandwidth ratio $k/n$"),
    "seconds": ("time (s)", "time (s)"),
    "peak_memory_mb": ("peak memory (MB)", "peak memory (MB)"),
    "network_passes": ("network passes", "network passes"),
}

_INTEGER_OUTPUTS = {"bits", "channel_uses"}
_DB_OUTPUTS = {"psnr"}


# ----------------------------------------------------------------------------------------
# summary


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std (ddof=1), count per data set x channel x metric output x method x SNR.

    Image-level rows are pooled across images and seeds; set-level rows (``level == "set"``)
    hold one value per seed, so their mean ± std is across seeds. Groups keep the order in
    which they first appear in ``frame``. See the module docstring for NaN/inf handling.

    Returns:
        a frame with :data:`SUMMARY_COLUMNS`.
    """
    if frame is None or len(frame) == 0:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    df = frame.copy()
    if "level" not in df.columns:
        df["level"] = "image"
    if "dataset" not in df.columns:
        df["dataset"] = ""
    if "snr_definition" not in df.columns:
        df["snr_definition"] = None
    if "lower_better" not in df.columns:
        df["lower_better"] = False
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    df["snr_db"] = df["snr_db"].astype(float)
    grouped = df.groupby(GROUP_KEYS, sort=False, dropna=False)
    stats = grouped["value"].agg(["mean", "std", "count"])
    firsts = grouped[["lower_better", "snr_definition"]].first()
    out = stats.join(firsts).reset_index().rename(columns={"count": "n"})
    out["n"] = out["n"].astype(int)
    finite = np.isfinite(out["mean"].to_numpy(dtype=float))
    single = (out["n"] == 1).to_numpy()
    std = out["std"].to_numpy(dtype=float).copy()
    std[single & finite] = 0.0
    std[~finite] = np.nan
    out["std"] = std
    out["lower_better"] = out["lower_better"].astype(bool)
    return out[SUMMARY_COLUMNS]


def is_summary(frame: pd.DataFrame) -> bool:
    """True when ``frame`` already is a :func:`summarise` result."""
    return {"mean", "std", "n"}.issubset(frame.columns) and "value" not in frame.columns


def select_metrics(summary: pd.DataFrame, metrics: list[str] | None, provenance: dict[str, Any] | None = None) -> pd.DataFrame:
    """Keep the rows whose metric or output is named in ``metrics`` (all rows when None).

    A name that is neither in the results nor among the skipped metrics is a UserError.
    """
    if not metrics:
        return summary
    wanted = [m.strip() for m in metrics if m and m.strip()]
    skipped = set((provenance or {}).get("skipped_metrics") or {})
    known = set(summary["metric"].astype(str)) | set(summary["output"].astype(str))
    unknown = [m for m in wanted if m not in known and m not in skipped]
    if unknown:
        have = ", ".join(sorted(known)) or "none"
        raise UserError(f"no results for metric(s) {', '.join(unknown)}; the results hold: {have}")
    mask = summary["metric"].astype(str).isin(wanted) | summary["output"].astype(str).isin(wanted)
    return summary[mask]


# ----------------------------------------------------------------------------------------
# layout shared by tables and plots


def _key(snr: float) -> float:
    return round(float(snr), 6)


def _ordered(preferred: list[Any], present: list[Any]) -> list[Any]:
    """``preferred`` items that are present, then the other present items in their order."""
    seen = set(present)
    out = [p for p in dict.fromkeys(preferred) if p in seen]
    out += [p for p in dict.fromkeys(present) if p not in set(out)]
    return out


def config_of(provenance: dict[str, Any] | None) -> dict[str, Any]:
    return dict((provenance or {}).get("config") or {})


def grid_name(provenance: dict[str, Any] | None, frame: pd.DataFrame | None = None) -> str | None:
    grid = config_of(provenance).get("grid")
    if grid is None and frame is not None and "grid" in frame.columns and len(frame):
        grid = frame["grid"].iloc[0]
    return grid


def grid_header(provenance: dict[str, Any] | None, frame: pd.DataFrame | None = None) -> str:
    """``"PSNR"`` for the first paper's grid, else ``"SNR (dB)"``."""
    return "PSNR" if grid_name(provenance, frame) == "psnr" else "SNR (dB)"


def snr_order(summary: pd.DataFrame, provenance: dict[str, Any] | None) -> list[float]:
    """SNR values present in ``summary``, in the order of the run's grid (then frame order)."""
    present = [_key(v) for v in summary["snr_db"]]
    preferred = [_key(v) for v in config_of(provenance).get("values") or []]
    return _ordered(preferred, present)


def method_order(summary: pd.DataFrame, provenance: dict[str, Any] | None) -> list[str]:
    return _ordered(list(config_of(provenance).get("methods") or []), list(summary["method"]))


def channel_order(summary: pd.DataFrame, provenance: dict[str, Any] | None) -> list[str]:
    return _ordered(list(config_of(provenance).get("channels") or []), list(summary["channel"]))


def output_order(summary: pd.DataFrame, provenance: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(metric, output) pairs: metrics in the run's order, outputs in frame order."""
    pairs = list(dict.fromkeys(zip(summary["metric"], summary["output"])))
    metric_rank = {m: i for i, m in enumerate(_ordered(list(config_of(provenance).get("metrics") or []),
                                                         [p[0] for p in pairs]))}
    return sorted(pairs, key=lambda p: metric_rank[p[0]])  # stable: outputs keep frame order


def display_name(output: str, latex: bool = False) -> str:
    if output in DISPLAY_NAMES:
        return DISPLAY_NAMES[output][1 if latex else 0]
    return latex_escape(output) if latex else output


def format_snr(value: float) -> str:
    return f"{value:g}"


# ----------------------------------------------------------------------------------------
# numbers


def decimals_for(output: str, means: list[float] | np.ndarray) -> int:
    """Decimals used for every cell of one output's table (see the module docstring)."""
    name = str(output).lower()
    if name in _INTEGER_OUTPUTS or name.endswith("bits") or name.endswith("channel_uses"):
        return 0
    if name in _DB_OUTPUTS or name.endswith("_db"):
        return 2
    finite = [abs(float(m)) for m in means if m is not None and np.isfinite(m)]
    largest = max(finite, default=0.0)
    if largest < 10:
        return 3
    if largest < 1000:
        return 2
    return 0


def format_number(value: float, decimals: int, minus: str = "−", infinity: str = "∞") -> str:
    """Fixed-point text with thousands separators; ±inf as ``infinity``; NaN as ``–``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    value = float(value)
    if math.isinf(value):
        return infinity if value > 0 else minus + infinity
    text = f"{value:,.{decimals}f}"
    if text.startswith("-"):
        # "-0.000" after rounding is plain zero
        text = text[1:] if float(text[1:].replace(",", "")) == 0 else minus + text[1:]
    return text


def _rounded(value: float, decimals: int) -> float:
    return value if not np.isfinite(value) else round(value, decimals)


# ----------------------------------------------------------------------------------------
# bandwidth

#: outputs of the ``bits`` metric that describe what an image cost on the channel
BANDWIDTH_OUTPUTS = ("bits", "channel_uses", "bandwidth_ratio")
#: what identifies one image of a run (its cache key is a function of these)
IMAGE_KEYS = ["dataset", "method", "channel", "snr_db", "seed", "sample"]
#: columns of :func:`image_bandwidth`
IMAGE_BANDWIDTH_COLUMNS = IMAGE_KEYS + ["image_key", "bits", "channel_uses", "bandwidth_ratio", "source"]
#: columns of :func:`bandwidth_by_snr`
BANDWIDTH_COLUMNS = ["dataset", "method", "channel", "snr_db", "bits", "channel_uses", "bandwidth_ratio", "n", "source"]
#: relative spread across the SNR grid above which a method's bandwidth "varies with SNR"
VARIES_RTOL = 1e-6
#: marks a bandwidth cell that is a mean over SNR values
VARIES_MARK = "†"


def is_bits_metric(label: Any) -> bool:
    """True for the ``bits`` metric's label (``bits`` or ``bits(...)``)."""
    return str(label).split("(", 1)[0].strip() == "bits"


def open_cache(provenance: dict[str, Any] | None, cache: Any = None) -> Any:
    """The run's image cache, or None when it is not there.

    ``cache`` may be a :class:`semcom_bench.cache.Cache`, a folder, or None for the
    provenance's ``config.cache_dir``. A folder that does not exist is not created.
    """
    if cache is not None and not isinstance(cache, (str, Path)):
        return cache
    root = cache if cache is not None else config_of(provenance).get("cache_dir")
    if not root or not Path(root).expanduser().is_dir():
        return None
    from semcom_bench.cache import Cache

    try:
        return Cache(root)
    except UserError:
        return None


def _plain(value: Any) -> Any:
    """A hashable, NaN-free key part (NaN and None -> None; numbers as float or int)."""
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _record_bandwidth(cache: Any, key: str) -> dict[str, float]:
    """bits, channel_uses and bandwidth_ratio of one cached reconstruction (what is readable)."""
    out: dict[str, float] = {}
    try:
        record = cache.get_record(key)
    except (OSError, ValueError):
        return out
    for name in ("bits", "channel_uses"):
        v = _finite(record.get(name))
        if v is not None:
            out[name] = v
    if "channel_uses" in out:
        try:
            from PIL import Image

            with Image.open(cache.image_path(key)) as im:  # the header only
                width, height = im.size
            out["bandwidth_ratio"] = out["channel_uses"] / (3 * width * height)
        except (OSError, ValueError):
            pass
    return out


def image_bandwidth(frame: pd.DataFrame, provenance: dict[str, Any] | None = None, cache: Any = None) -> pd.DataFrame:
    """Bits, channel uses and k/n of every image of a tidy results table.

    Per image (data set x method x channel x SNR x seed x sample), each number comes from the
    first source that has it: the ``bits`` metric's rows; ``bits``/``channel_uses``/
    ``bandwidth_ratio`` columns of the rows (if the results carry them); the image's record
    in the run's cache (``cache``, default the provenance's ``cache_dir``; k/n from the cached
    image's size, n = H·W·3). ``source`` names where they came from.

    Returns:
        a frame with :data:`IMAGE_BANDWIDTH_COLUMNS` (NaN where no source has a number).
    """
    if frame is None or len(frame) == 0 or is_summary(frame) or "method" not in frame.columns:
        return pd.DataFrame(columns=IMAGE_BANDWIDTH_COLUMNS)
    df = frame
    if "level" in df.columns:
        df = df[df["level"].fillna("image").astype(str) == "image"]
    n = len(df)
    column = {c: (df[c].tolist() if c in df.columns else [None] * n) for c in IMAGE_KEYS + ["image_key", "metric", "output", "value"]}
    carried = [c for c in BANDWIDTH_OUTPUTS if c in df.columns]
    carried_values = {c: df[c].tolist() for c in carried}
    images: dict[tuple, dict[str, Any]] = {}
    for i in range(n):
        key = tuple(_key(v) if k == "snr_db" and _plain(v) is not None else _plain(v)
                    for k, v in ((k, column[k][i]) for k in IMAGE_KEYS))
        if key[0] is None:
            key = ("",) + key[1:]
        rec = images.get(key)
        if rec is None:
            rec = images[key] = {"image_key": None, "metric": {}, "results": {}}
        image_key = column["image_key"][i]
        if rec["image_key"] is None and isinstance(image_key, str) and image_key:
            rec["image_key"] = image_key
        output = column["output"][i]
        if output in BANDWIDTH_OUTPUTS and is_bits_metric(column["metric"][i]):
            v = _finite(column["value"][i])
            if v is not None:
                rec["metric"][output] = v
        for c in carried:
            v = _finite(carried_values[c][i])
            if v is not None:
                rec["results"].setdefault(c, v)
    store = None
    rows = []
    for key, rec in images.items():
        values: dict[str, float] = {}
        sources = []
        for source, got in (("bits metric", rec["metric"]), ("results", rec["results"])):
            new = {k: v for k, v in got.items() if k not in values}
            if new:
                values.update(new)
                sources.append(source)
        if any(k not in values for k in BANDWIDTH_OUTPUTS) and rec["image_key"]:
            if store is None:
                store = open_cache(provenance, cache) or False
            if store:
                new = {k: v for k, v in _record_bandwidth(store, rec["image_key"]).items() if k not in values}
                if new:
                    values.update(new)
                    sources.append("image records")
        rows.append({**dict(zip(IMAGE_KEYS, key)), "image_key": rec["image_key"],
                     **{k: values.get(k, math.nan) for k in BANDWIDTH_OUTPUTS},
                     "source": ", ".join(sources) if sources else None})
    return pd.DataFrame(rows, columns=IMAGE_BANDWIDTH_COLUMNS)


def bandwidth_by_snr(frame: pd.DataFrame, provenance: dict[str, Any] | None = None, cache: Any = None) -> pd.DataFrame:
    """Mean bits, channel uses and k/n per image for each data set x method x channel x SNR.

    ``frame`` is the tidy results table (see :func:`image_bandwidth` for the sources) or a
    :func:`summarise` result (then only its ``bits`` metric rows are used).

    Returns:
        a frame with :data:`BANDWIDTH_COLUMNS`; ``n`` counts the images with a bit count.
    """
    if frame is None or len(frame) == 0:
        return pd.DataFrame(columns=BANDWIDTH_COLUMNS)
    keys = ["dataset", "method", "channel", "snr_db"]
    if is_summary(frame):
        sel = frame[frame["metric"].map(is_bits_metric) & frame["output"].isin(BANDWIDTH_OUTPUTS)]
        if sel.empty:
            return pd.DataFrame(columns=BANDWIDTH_COLUMNS)
        sel = sel.assign(snr_db=[_key(v) for v in sel["snr_db"]])
        wide = sel.pivot_table(index=keys, columns="output", values="mean", aggfunc="first", sort=False)
        counts = sel.groupby(keys, sort=False)["n"].max()
        out = wide.reindex(columns=list(BANDWIDTH_OUTPUTS)).join(counts).reset_index()
        out["source"] = "bits metric"
        return out[BANDWIDTH_COLUMNS]
    images = image_bandwidth(frame, provenance, cache)
    if images.empty:
        return pd.DataFrame(columns=BANDWIDTH_COLUMNS)
    grouped = images.groupby(keys, sort=False, dropna=False)
    out = grouped[list(BANDWIDTH_OUTPUTS)].mean()
    out["n"] = grouped["bits"].count()
    out["source"] = grouped["source"].agg(lambda s: ", ".join(dict.fromkeys(
        part for v in s if isinstance(v, str) for part in v.split(", "))) or None)
    out = out.reset_index()
    out["n"] = out["n"].astype(int)
    return out[BANDWIDTH_COLUMNS]


@dataclass
class Bandwidth:
    """One method's bandwidth on one channel, for a table's extra columns.

    Attributes:
        ratio: mean complex channel uses per real pixel value (k/n), NaN if unknown.
        bits: mean bits per image (source + side), NaN if unknown.
        channel_uses: mean complex channel uses per image, NaN if unknown.
        varies: the numbers differ between SNR values (they are then means over the grid).
        low, high: smallest and largest per-SNR mean bits (k/n when no bits are known).
    """

    ratio: float
    bits: float
    channel_uses: float
    varies: bool = False
    low: float = math.nan
    high: float = math.nan


def _spread(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return False
    scale = max(abs(float(finite.max())), abs(float(finite.min())), 1e-300)
    return float(finite.max() - finite.min()) > VARIES_RTOL * scale


def method_bandwidth(per_snr: pd.DataFrame, snrs: list[float] | None = None) -> dict[tuple[str, str, str], Bandwidth]:
    """(data set, method, channel) -> :class:`Bandwidth` from :func:`bandwidth_by_snr`.

    Restricted to ``snrs`` when given (the SNR columns of the report); the means are over
    the per-SNR means, so every SNR counts once.
    """
    out: dict[tuple[str, str, str], Bandwidth] = {}
    if per_snr is None or per_snr.empty:
        return out
    df = per_snr
    if snrs is not None:
        wanted = {_key(s) for s in snrs}
        df = df[[_key(v) in wanted for v in df["snr_db"]]]
    for (dataset, method, channel), part in df.groupby(["dataset", "method", "channel"], sort=False, dropna=False):
        bits = part["bits"].to_numpy(dtype=float)
        ratio = part["bandwidth_ratio"].to_numpy(dtype=float)
        uses = part["channel_uses"].to_numpy(dtype=float)
        if not (np.isfinite(bits).any() or np.isfinite(ratio).any() or np.isfinite(uses).any()):
            continue

        def mean(a: np.ndarray) -> float:
            return float(np.mean(a[np.isfinite(a)])) if np.isfinite(a).any() else math.nan

        varies = _spread(bits) or _spread(ratio) or _spread(uses)
        shown = bits if np.isfinite(bits).any() else ratio
        finite = shown[np.isfinite(shown)]
        out[(str(dataset), str(method), str(channel))] = Bandwidth(
            ratio=mean(ratio), bits=mean(bits), channel_uses=mean(uses), varies=varies,
            low=float(finite.min()) if finite.size else math.nan, high=float(finite.max()) if finite.size else math.nan)
    return out


def format_ratio(value: float) -> str:
    """k/n as text: 3 decimals, or 3 significant digits below 0.1; NaN as ``–``."""
    if value is None or not np.isfinite(value):
        return "–"
    if abs(value) >= 0.1 or value == 0:
        return f"{value:.3f}"
    return f"{value:.{2 - int(math.floor(math.log10(abs(value))))}f}"


# ----------------------------------------------------------------------------------------
# tables


@dataclass
class Cell:
    mean: float
    std: float
    n: int


@dataclass
class Table:
    """One paper table: one metric output over one channel (of one data set)."""

    dataset: str
    channel: str
    metric: str
    output: str
    level: str
    lower_better: bool
    methods: list[str]
    snrs: list[float]
    cells: dict[tuple[str, float], Cell]
    decimals: int
    best: set[tuple[str, float]] = field(default_factory=set)
    #: method -> its bandwidth on this table's channel; None: the table has no bandwidth columns
    bandwidth: dict[str, Bandwidth] | None = None

    @property
    def n_range(self) -> tuple[int, int]:
        ns = [c.n for c in self.cells.values() if c.n > 0]
        return (min(ns), max(ns)) if ns else (0, 0)


def _best_cells(table: Table) -> set[tuple[str, float]]:
    best: set[tuple[str, float]] = set()
    for snr in table.snrs:
        values = {}
        for m in table.methods:
            c = table.cells.get((m, snr))
            if c is not None and not math.isnan(c.mean):
                values[m] = _rounded(c.mean, table.decimals)
        if len(values) < 2:
            continue
        target = min(values.values()) if table.lower_better else max(values.values())
        best |= {(m, snr) for m, v in values.items() if v == target}
    return best


def build_tables(summary: pd.DataFrame, provenance: dict[str, Any] | None,
                 bandwidth: dict[tuple[str, str, str], Bandwidth] | None = None) -> list[Table]:
    """Split a summary into :class:`Table` objects in report order.

    ``bandwidth`` (:func:`method_bandwidth`) gives every table its bandwidth columns; None
    leaves them out.
    """
    if len(summary) == 0:
        return []
    methods = method_order(summary, provenance)
    snrs = snr_order(summary, provenance)
    tables = []
    datasets = list(dict.fromkeys(summary["dataset"]))
    for dataset in datasets:
        in_ds = summary[summary["dataset"] == dataset] if len(datasets) > 1 else summary
        ds_methods = [m for m in methods if m in set(in_ds["method"])]
        ds_snrs = [s for s in snrs if s in {_key(v) for v in in_ds["snr_db"]}]
        for metric, output in output_order(in_ds, provenance):
            sel = in_ds[(in_ds["metric"] == metric) & (in_ds["output"] == output)]
            for channel in channel_order(sel, provenance):
                part = sel[sel["channel"] == channel]
                cells = {(r.method, _key(r.snr_db)): Cell(float(r.mean), float(r.std), int(r.n))
                         for r in part.itertuples(index=False)}
                table = Table(
                    dataset=str(dataset), channel=str(channel), metric=str(metric), output=str(output),
                    level=str(part["level"].iloc[0]), lower_better=bool(part["lower_better"].iloc[0]),
                    methods=ds_methods, snrs=ds_snrs, cells=cells,
                    decimals=decimals_for(output, part["mean"].to_numpy(dtype=float)),
                )
                table.best = _best_cells(table)
                if bandwidth is not None:
                    table.bandwidth = {m: bandwidth[key] for m in ds_methods
                                       if (key := (str(dataset), str(m), str(channel))) in bandwidth}
                tables.append(table)
    return tables


def _cell_text(cell: Cell | None, decimals: int, latex: bool) -> str:
    if latex:
        num = {"minus": "$-$", "infinity": r"$\infty$"}
        pm = r" $\pm$ "
    else:
        num = {}
        pm = " ± "
    if cell is None or math.isnan(cell.mean):
        return "--" if latex else "–"
    text = format_number(cell.mean, decimals, **num)
    if cell.n > 1 and np.isfinite(cell.mean) and not math.isnan(cell.std):
        text += pm + format_number(cell.std, decimals, **num)
    return text


def _bandwidth_texts(table: Table, method: str) -> list[str]:
    """[k/n, bits] cells of ``method`` (plain text; ``†`` when they are means over SNR)."""
    bw = (table.bandwidth or {}).get(method)
    if bw is None:
        return ["–", "–"]
    mark = VARIES_MARK if bw.varies else ""
    ratio = format_ratio(bw.ratio)
    bits = format_number(bw.bits, 0)
    return [ratio + (mark if ratio != "–" else ""), bits + (mark if bits != "–" else "")]


def _bandwidth_note(tables: list[Table], sources: list[str], asked: bool) -> tuple[str, str] | None:
    """The note that explains the bandwidth columns (or says why there are none)."""
    shown = [t for t in tables if t.bandwidth is not None]
    if not shown:
        if asked and tables:
            return ("Bandwidth", "not available: the run did not score the bits metric and the image records "
                                 "(channel uses, bits) were not found in its cache.")
        return None
    text = ("k/n = complex channel uses per real pixel value (k channel uses per image, n = H·W·3); "
            "bits = source + side bits per image; means over the images of each method and channel")
    if sources:
        text += f", from the {' and the '.join(sources)}"
    varying: dict[tuple[str, str], Bandwidth] = {}
    for t in shown:
        for m, bw in (t.bandwidth or {}).items():
            if bw.varies:
                varying.setdefault((m, t.channel), bw)
    if varying:
        parts = []
        for (m, channel), bw in varying.items():
            unit = "bits" if np.isfinite(bw.bits) else "k/n"
            lo, hi = ((format_number(bw.low, 0), format_number(bw.high, 0)) if unit == "bits"
                      else (format_ratio(bw.low), format_ratio(bw.high)))
            parts.append(f"{m} on {channel}: {unit} {lo} to {hi}")
        text += (f". {VARIES_MARK} changes with the SNR: the mean over the SNR columns ({'; '.join(parts)})")
    missing = sorted({m for t in shown for m in t.methods if m not in (t.bandwidth or {})})
    if missing:
        text += f". – not recorded for {', '.join(missing)}"
    return ("Bandwidth", text + ".")


def _spread_text(table: Table, provenance: dict[str, Any] | None, latex: bool) -> str:
    lo, hi = table.n_range
    if latex:
        n = f"$n = {lo}$" if lo == hi else f"$n = {lo}$--${hi}$"
    else:
        n = f"n = {lo}" if lo == hi else f"n = {lo}–{hi}"
    pm = r"$\pm$" if latex else "±"
    if table.level == "set":
        return f"set-level metric: mean {pm} std across seeds ({n} per cell)"
    return f"mean {pm} std over images and seeds ({n} per cell)"


def _caption(table: Table, provenance: dict[str, Any] | None, latex: bool) -> str:
    prov = provenance or {}
    arrow = (r"$\downarrow$" if table.lower_better else r"$\uparrow$") if latex else ("↓" if table.lower_better else "↑")
    esc = latex_escape if latex else (lambda s: s)
    name = display_name(table.output, latex)
    if table.output != table.metric and table.output not in DISPLAY_NAMES:
        name = f"{name} ({esc(table.metric)})"
    parts = [f"{name} {arrow} on channel {esc(table.channel)}"]
    if table.dataset:
        parts[0] += f", data set {esc(table.dataset)}"
    parts.append(_spread_text(table, provenance, latex))
    if table.best:
        parts.append("best per column in bold")
    if prov.get("limited"):
        count = prov.get("num_samples")
        parts.append(f"limited to {count} samples" if count is not None else "limited to a subset of the samples")
    return "; ".join(parts) + "."


def _notes(summary: pd.DataFrame, provenance: dict[str, Any] | None, snrs: list[float],
           bandwidth_note: tuple[str, str] | None = None, methods: list[str] | None = None) -> list[tuple[str, str]]:
    """(label, text) notes printed once after the tables, in plain text (escaped later).

    ``methods``: the methods the tables show (default: those of ``summary``).
    """
    prov = provenance or {}
    notes: list[tuple[str, str]] = []
    definitions = [d for d in dict.fromkeys(summary["snr_definition"]) if isinstance(d, str) and d]
    grid = grid_name(provenance, summary)
    text = "; ".join(definitions) if definitions else "not recorded"
    if grid:
        text += f". Grid: {grid}"
    noiseless = [s for s in snrs if s >= NOISELESS_DB]
    if noiseless:
        text += f"; {', '.join(format_snr(s) for s in noiseless)} dB is effectively noiseless"
    if methods is None:
        methods = list(summary["method"]) if "method" in summary.columns else []
    peak = [m for m in dict.fromkeys(methods) if PEAK_POWER in str(m)]
    if peak:
        text += (f". {', '.join(map(str, peak))}: the sender scales its symbols to peak amplitude 1, not unit "
                 f"average power, so the value is the first paper's PSNR (N0 against the peak symbol energy)")
    notes.append(("SNR", text + "."))
    if bandwidth_note is not None:
        notes.append(bandwidth_note)
    if prov.get("limited"):
        notes.append(("Limited", f"results limited to {prov.get('num_samples', 'a subset of the')} samples (--limit); "
                                 "not comparable with full-set numbers."))
    for name, reason in (prov.get("skipped_metrics") or {}).items():
        reason = str(reason).rstrip()
        end = "" if reason.endswith((".", "!", "?")) else "."
        notes.append((f"Skipped metric {name}", f"not computed, no values reported: {reason}{end}"))
    run = []
    if prov.get("versions", {}).get("semcom-bench"):
        run.append(f"semcom-bench {prov['versions']['semcom-bench']}")
    if prov.get("git"):
        run.append(f"git {prov['git']}")
    if prov.get("date"):
        run.append(str(prov["date"]))
    if run:
        notes.append(("Run", ", ".join(run) + "."))
    return notes


# ----------------------------------------------------------------------------------------
# LaTeX

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
    "±": r"$\pm$", "∞": r"$\infty$", "−": "$-$", "↑": r"$\uparrow$", "↓": r"$\downarrow$",
    "→": r"$\rightarrow$", "×": r"$\times$", "≤": r"$\leq$", "≥": r"$\geq$", "δ": r"$\delta$",
    "σ": r"$\sigma$", "µ": r"$\mu$", "μ": r"$\mu$", "—": "---", "–": "--", "…": r"\ldots{}",
    "‘": "`", "’": "'", "“": "``", "”": "''", "†": r"$^\dagger$", "·": r"$\cdot$",
}


def latex_escape(text: Any) -> str:
    """Escape LaTeX special characters; characters pdflatex cannot typeset become ``?``."""
    out = []
    previous = ""
    for ch in str(text):
        if ch == "-" and previous == "-":
            out.append("{}-")  # keep "--" as two hyphens, not an en dash
        elif ch in _LATEX_SPECIAL:
            out.append(_LATEX_SPECIAL[ch])
        elif ord(ch) < 128 or 0xC0 <= ord(ch) <= 0xFF:
            out.append(ch)
        else:
            out.append("?")
        previous = ch
    return "".join(out)


def _latex_label(table: Table) -> str:
    raw = "-".join(p for p in (table.dataset, table.output, table.channel) if p)
    return "tab:" + re.sub(r"[^A-Za-z0-9.-]+", "-", raw).strip("-").lower()


def _latex_table(table: Table, provenance: dict[str, Any] | None, header: str) -> str:
    ncols = len(table.snrs)
    arrow = r"$\downarrow$" if table.lower_better else r"$\uparrow$"
    bw = table.bandwidth is not None
    first = 4 if bw else 2  # first SNR column
    bw_head = r"\multicolumn{2}{c}{bandwidth} & "
    metric_head = f"\\multicolumn{{{ncols}}}{{c}}{{{display_name(table.output, latex=True)} {arrow}}}"
    lines = [
        r"\begin{table}[htbp]",
        r"  \centering",
        r"  \small",
        r"  \setlength{\tabcolsep}{4pt}",
        f"  \\caption{{{_caption(table, provenance, latex=True)}}}",
        f"  \\label{{{_latex_label(table)}}}",
        f"  \\begin{{tabular}}{{l{'rr' if bw else ''}{'c' * ncols}}}",
        r"    \toprule",
        "    Method & " + (bw_head if bw else "") + metric_head + r" \\",
        ("    \\cmidrule(lr){2-3} " if bw else "    ") + f"\\cmidrule(lr){{{first}-{ncols + first - 1}}}",
        "    " + " & ".join([latex_escape(header)] + ([r"$k/n$", "bits"] if bw else [])
                            + [latex_escape(format_snr(s)) for s in table.snrs]) + r" \\",
        r"    \midrule",
    ]
    for m in table.methods:
        cells = [latex_escape(t) for t in _bandwidth_texts(table, m)] if bw else []
        for s in table.snrs:
            text = _cell_text(table.cells.get((m, s)), table.decimals, latex=True)
            cells.append(f"\\textbf{{{text}}}" if (m, s) in table.best else text)
        lines.append("    " + " & ".join([latex_escape(m)] + cells) + r" \\")
    lines += [r"    \bottomrule", r"  \end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def _render_latex(tables: list[Table], notes: list[tuple[str, str]], provenance: dict[str, Any] | None,
                  header: str) -> str:
    blocks = [_latex_table(t, provenance, header) for t in tables]
    if not tables:
        blocks.append(r"\noindent No results to report.")
    blocks.append(latex_notes(notes))
    return "\n\n".join(blocks) + "\n"


def latex_notes(notes: list[tuple[str, str]]) -> str:
    """The notes as a float of their own: floats keep their order, so they follow the last table."""
    note_lines = [f"  \\textit{{{latex_escape(label)}:}} {latex_escape(text)}\\par" for label, text in notes]
    return "\n".join([r"\begin{table}[htbp]", r"  \footnotesize", r"  \raggedright"] + note_lines + [r"\end{table}"])


def latex_document(body: str) -> str:
    """Wrap rendered LaTeX tables in a minimal compilable document (pdflatex).

    Landscape pages, because a seven-column ``mean ± std`` table is wider than a portrait
    text block.
    """
    return "\n".join([
        r"\documentclass{article}",
        r"\usepackage[T1]{fontenc}",
        r"\usepackage[utf8]{inputenc}",
        r"\usepackage[a4paper,landscape,margin=1.5cm]{geometry}",
        r"\usepackage{booktabs}",
        r"\begin{document}",
        body.rstrip("\n"),
        r"\end{document}",
        "",
    ])


# ----------------------------------------------------------------------------------------
# Markdown


def _md_escape(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def _markdown_table(index: int, table: Table, provenance: dict[str, Any] | None, header: str) -> str:
    caption = _caption(table, provenance, latex=False)
    bw = table.bandwidth is not None
    head = [f"Method / {header}"] + (["k/n", "bits"] if bw else []) + [format_snr(s) for s in table.snrs]
    lines = [
        f"**Table {index}.** {_md_escape(caption)}",
        "",
        "| " + " | ".join(_md_escape(h) for h in head) + " |",
        "|" + "|".join([":---"] + (["---:", "---:"] if bw else []) + [":---:"] * len(table.snrs)) + "|",
    ]
    for m in table.methods:
        cells = _bandwidth_texts(table, m) if bw else []
        for s in table.snrs:
            text = _cell_text(table.cells.get((m, s)), table.decimals, latex=False)
            cells.append(f"**{text}**" if (m, s) in table.best else text)
        lines.append("| " + " | ".join([_md_escape(m)] + cells) + " |")
    return "\n".join(lines)


def _render_markdown(tables: list[Table], notes: list[tuple[str, str]], provenance: dict[str, Any] | None,
                     header: str) -> str:
    blocks = [_markdown_table(i + 1, t, provenance, header) for i, t in enumerate(tables)]
    if not tables:
        blocks.append("_No results to report._")
    blocks.append("\n".join(["**Notes.**", ""] + [f"- *{_md_escape(label)}:* {_md_escape(text)}" for label, text in notes]))
    return "\n\n".join(blocks) + "\n"


# ----------------------------------------------------------------------------------------
# entry point


def _with_bandwidth_columns(summary: pd.DataFrame, per_snr: pd.DataFrame) -> pd.DataFrame:
    """``summary`` with the per-SNR ``bandwidth_ratio`` and ``bits_per_image`` of its method and channel."""
    lookup = {(str(r.dataset), str(r.method), str(r.channel), _key(r.snr_db)): (r.bandwidth_ratio, r.bits)
              for r in per_snr.itertuples(index=False)}
    found = [lookup.get((str(d), str(m), str(c), _key(s)), (math.nan, math.nan))
             for d, m, c, s in zip(summary["dataset"], summary["method"], summary["channel"], summary["snr_db"])]
    out = summary.copy()
    out["bandwidth_ratio"] = [float(f[0]) for f in found]
    out["bits_per_image"] = [float(f[1]) for f in found]
    return out



def render(frame: pd.DataFrame, provenance: dict[str, Any] | None, fmt: str, metrics: list[str] | None = None, *,
           bandwidth: bool = True, cache: Any = None) -> str:
    """Render the results as ``latex``, ``markdown`` or ``csv`` text.

    Args:
        frame: the tidy results table (as :func:`semcom_bench.results.load` returns it) or
            a :func:`summarise` result.
        provenance: the run's provenance dict (may be empty): its ``config`` orders methods,
            channels, metrics and SNR columns; ``limited``/``num_samples`` and
            ``skipped_metrics`` become notes.
        fmt: ``"latex"`` (``table`` environments; wrap with :func:`latex_document` for a
            standalone file), ``"markdown"`` (GitHub pipe tables) or ``"csv"`` (the summary,
            numbers unformatted).
        metrics: metric or output names to keep (default: all).
        bandwidth: add the bandwidth columns (k/n and bits per image, see the module
            docstring); in CSV, the per-SNR columns ``bandwidth_ratio`` and ``bits_per_image``.
        cache: where to read image records when the run did not score the ``bits`` metric: a
            :class:`semcom_bench.cache.Cache` or a folder; default the provenance's ``cache_dir``.
    """
    fmt = str(fmt).lower()
    if fmt not in FORMATS:
        raise UserError(f"unknown table format {fmt!r}: use one of {', '.join(FORMATS)}")
    full = frame if is_summary(frame) else summarise(frame)
    summary = select_metrics(full, metrics, provenance)
    per_snr = bandwidth_by_snr(frame, provenance, cache) if bandwidth and len(summary) else None
    if fmt == "csv":
        if per_snr is not None:
            summary = _with_bandwidth_columns(summary, per_snr)
        return summary.to_csv(index=False)
    snrs = snr_order(summary, provenance) if len(summary) else []
    per_method = method_bandwidth(per_snr, snrs) if per_snr is not None else None
    tables = build_tables(summary, provenance, per_method or None)
    sources = [] if per_snr is None else list(dict.fromkeys(
        part for v in per_snr["source"] if isinstance(v, str) for part in v.split(", ")))
    header = grid_header(provenance, frame)
    notes = _notes(summary, provenance, snrs, _bandwidth_note(tables, sources, asked=bandwidth))
    if fmt == "latex":
        return _render_latex(tables, notes, provenance, header)
    return _render_markdown(tables, notes, provenance, header)
