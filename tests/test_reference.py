"""CI regression: the committed reference matrix must reproduce within stated tolerances.

``results/reference/`` holds the matrix (``config.toml``: runs named parts), its per-cell means
(``summary.csv``), the identity of every metric it uses (``metrics.json``: version, parameters
and fingerprint, without machine-specific paths) and per-output tolerances. A metric whose
identity differs from ``metrics.json`` fails the test at once: its values are meant to move,
so the reference has to be regenerated with it.

Regenerate after an intended change::

    SEMCOM_REGENERATE_REFERENCE=1 python -m pytest tests/test_reference.py

It rewrites ``summary.csv`` and ``metrics.json``, and writes what moved to ``CHANGES.md``
(overwritten each time) and to the terminal: per metric output, the cells beyond tolerance
with old, new and delta, the cells added and removed, and how many stayed within tolerance.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from semcom_bench import api
from semcom_bench.config import RunConfig, build_config
from semcom_bench.runner import build_components

REF = Path(__file__).resolve().parents[1] / "results" / "reference"
KEYS = ["method", "channel", "snr_db", "metric", "output"]
REGENERATE = "SEMCOM_REGENERATE_REFERENCE=1 python -m pytest tests/test_reference.py"


def _summary(frame: pd.DataFrame) -> pd.DataFrame:
    g = frame.groupby(KEYS, sort=True)["value"]
    return g.mean().rename("mean").reset_index()


def load_parts(path: Path = REF / "config.toml") -> dict[str, dict[str, Any]]:
    """Part name -> its run config (the file's [defaults] under each [parts.NAME] table)."""
    file = tomllib.loads(path.read_text())
    defaults = file.get("defaults", {})
    return {name: {**defaults, **part} for name, part in file["parts"].items()}


def _portable(value: Any) -> Any:
    """``value`` with absolute paths reduced to their file name, as JSON would store it."""
    if isinstance(value, dict):
        return {str(k): _portable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_portable(v) for v in value]
    if isinstance(value, Path) or (isinstance(value, str) and os.path.isabs(value)):
        return Path(value).name
    return value


def metric_identities(configs: dict[str, RunConfig]) -> dict[str, dict[str, Any]]:
    """Metric label -> ``Metric.identity()`` (portable) over all parts, sorted by label."""
    out: dict[str, dict[str, Any]] = {}
    for config in configs.values():
        for spec, metric in build_components(config)[3]:
            ident = _portable(metric.identity())
            if out.setdefault(spec.label, ident) != ident:
                raise AssertionError(f"metric {spec.label} has different identities in two parts: "
                                     f"{out[spec.label]} and {ident}")
    return dict(sorted(out.items()))


def identity_problems(recorded: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]]) -> list[str]:
    """One line per metric whose identity differs from the recorded one (empty when all agree)."""
    lines = []
    for label in sorted(set(recorded) | set(now)):
        old, new = recorded.get(label), now.get(label)
        if old is None:
            lines.append(f"metric {label} is not recorded in metrics.json (new in config.toml)")
        elif new is None:
            lines.append(f"metric {label} is recorded in metrics.json but no part uses it")
        elif old.get("version") != new.get("version"):
            lines.append(f"metric {label} is version {new.get('version')} here but the reference was recorded "
                         f"with version {old.get('version')}: its values are meant to have changed")
        elif old != new:
            keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            diffs = "; ".join(f"{k}: recorded {old.get(k)!r}, now {new.get(k)!r}" for k in keys)
            lines.append(f"metric {label} (version {new.get('version')}) differs from the recorded identity: {diffs}")
    return lines


def _same(a: float, b: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol


def compare(want: pd.DataFrame, got: pd.DataFrame, tol: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Cells of two summaries split into ``changed`` (beyond tolerance: old, new, delta),
    ``unchanged`` (within tolerance), ``added`` (only in ``got``) and ``removed``."""
    merged = want.merge(got, on=KEYS, how="outer", suffixes=("_old", "_new"), indicator=True)
    merged = merged.sort_values(["metric", "output", "method", "channel", "snr_db"], kind="stable")
    both = merged[merged["_merge"] == "both"].copy()
    both["tol"] = [tol["outputs"].get(o, tol["default"]) for o in both["output"]]
    same = [_same(a, b, t) for a, b, t in zip(both["mean_old"], both["mean_new"], both["tol"])]
    both["delta"] = both["mean_new"] - both["mean_old"]
    cols = KEYS + ["mean_old", "mean_new", "delta", "tol"]
    return {
        "changed": both.loc[[not s for s in same], cols].reset_index(drop=True),
        "unchanged": both.loc[same, cols].reset_index(drop=True),
        "added": merged.loc[merged["_merge"] == "right_only", KEYS + ["mean_new"]].reset_index(drop=True),
        "removed": merged.loc[merged["_merge"] == "left_only", KEYS + ["mean_old"]].reset_index(drop=True),
    }


def _num(v: float) -> str:
    return f"{v:.6g}"


def _snrs(values: pd.Series) -> str:
    return ", ".join(_num(v) for v in sorted(set(values), reverse=True))


def changes_report(diff: dict[str, pd.DataFrame], recorded: dict[str, Any], now: dict[str, Any]) -> str:
    """Markdown: metric versions that moved, changed cells per output, cells added and removed."""
    lines = ["# Reference matrix: what the last regeneration changed", "",
             f"Written by `{REGENERATE}`; overwritten on each regeneration.", ""]
    n = {k: len(v) for k, v in diff.items()}
    lines += [f"{n['changed']} cells changed beyond tolerance, {n['unchanged']} unchanged (within tolerance), "
              f"{n['added']} added, {n['removed']} removed.", ""]
    moved = [(label, (recorded.get(label) or {}).get("version"), (now.get(label) or {}).get("version"))
             for label in sorted(set(recorded) | set(now)) if recorded.get(label) != now.get(label)]
    if moved:
        lines += ["## Metric identities", "", "| metric | recorded version | new version |", "|---|---|---|"]
        lines += [f"| {label} | {old or '-'} | {new or '-'} |" for label, old, new in moved]
        lines += [""]
    if n["changed"]:
        lines += ["## Changed cells", ""]
        for (metric, output), rows in diff["changed"].groupby(["metric", "output"], sort=False):
            lines += [f"### {metric} / {output} (tolerance {_num(rows['tol'].iloc[0])})", "",
                      "| method | channel | SNR dB | old | new | delta |", "|---|---|---|---|---|---|"]
            lines += [f"| {r.method} | {r.channel} | {_num(r.snr_db)} | {_num(r.mean_old)} | {_num(r.mean_new)} "
                      f"| {_num(r.delta)} |" for r in rows.itertuples()]
            lines += [""]
    for kind in ("added", "removed"):
        if n[kind]:
            lines += [f"## {kind.capitalize()} cells", "", "| method | channel | SNR dB | outputs |", "|---|---|---|---|"]
            for (method, channel), rows in diff[kind].groupby(["method", "channel"], sort=True):
                outputs = ", ".join(dict.fromkeys(f"{m}/{o}" if m != o else m for m, o in zip(rows.metric, rows.output)))
                lines.append(f"| {method} | {channel} | {_snrs(rows.snr_db)} | {outputs} |")
            lines += [""]
    return "\n".join(lines)


def _configs(tmp_path: Path) -> dict[str, RunConfig]:
    return {name: build_config(part, out=tmp_path / name, cache_dir=tmp_path / "cache")
            for name, part in load_parts().items()}


def test_reference_matrix_reproduces(tmp_path, capsys):
    regenerate = os.environ.get("SEMCOM_REGENERATE_REFERENCE") == "1"
    configs = _configs(tmp_path)
    now = metric_identities(configs)
    ids_path = REF / "metrics.json"
    recorded = json.loads(ids_path.read_text()) if ids_path.is_file() else {}
    if not regenerate:
        problems = identity_problems(recorded, now)
        assert not problems, ("the reference matrix was recorded with other metrics; after an intended change "
                              f"regenerate it ({REGENERATE}) and commit results/reference/:\n" + "\n".join(problems))
    parts = []
    for name, config in configs.items():
        summary = api.run(config)
        assert not summary["skipped"], f"part {name}: metrics skipped: {summary['skipped']}"
        parts.append(_summary(summary["frame"]))
    got = pd.concat(parts, ignore_index=True).sort_values(KEYS, kind="stable").reset_index(drop=True)
    shared = got[got.duplicated(KEYS, keep=False)]
    assert shared.empty, f"parts of config.toml share cells:\n{shared[KEYS]}"
    tol = tomllib.loads((REF / "tolerances.toml").read_text())
    path = REF / "summary.csv"
    if regenerate:
        old = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=KEYS + ["mean"])
        diff = compare(old, got, tol)
        report = changes_report(diff, recorded, now)
        (REF / "CHANGES.md").write_text(report)
        got.to_csv(path, index=False, float_format="%.17g")
        ids_path.write_text(json.dumps(now, indent=2, sort_keys=True) + "\n")
        with capsys.disabled():
            print("\n" + report)
        pytest.skip(f"regenerated {path} and metrics.json: {len(diff['changed'])} cells changed, "
                    f"{len(diff['added'])} added, {len(diff['removed'])} removed (see CHANGES.md)")
    want = pd.read_csv(path)
    diff = compare(want, got, tol)
    assert diff["added"].empty and diff["removed"].empty, (
        f"cells differ from the reference:\nonly now:\n{diff['added'][KEYS]}\nonly in summary.csv:\n{diff['removed'][KEYS]}")
    bad = [f"{r.method} {r.channel} {r.snr_db} dB {r.output}: reference {r.mean_old}, now {r.mean_new} (tol {r.tol})"
           for r in diff["changed"].itertuples()]
    assert not bad, "\n".join(bad)


# --- the bookkeeping itself, on small tables (no run) -----------------------------------------


def _table(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=KEYS + ["mean"])


def test_compare_and_report_list_what_moved():
    tol = {"default": 1e-6, "outputs": {"ssim": 1e-4}}
    old = _table([("a", "awgn", 5.0, "ssim", "ssim", 0.40), ("a", "awgn", 5.0, "psnr", "psnr", 18.0),
                  ("a", "awgn", 100.0, "psnr", "psnr", math.inf), ("b", "awgn", 5.0, "ssim", "ssim", 0.3)])
    new = _table([("a", "awgn", 5.0, "ssim", "ssim", 0.43), ("a", "awgn", 5.0, "psnr", "psnr", 18.0 + 1e-9),
                  ("a", "awgn", 100.0, "psnr", "psnr", math.inf), ("c", "mimo", 20.0, "fid", "fid", 12.0)])
    diff = compare(old, new, tol)
    assert len(diff["unchanged"]) == 2 and list(diff["removed"].method) == ["b"] and list(diff["added"].method) == ["c"]
    row = diff["changed"].iloc[0]
    assert (row.method, row.output, row.mean_old, row.mean_new) == ("a", "ssim", 0.40, 0.43)
    assert row.delta == pytest.approx(0.03)
    report = changes_report(diff, {"ssim": {"version": "1"}}, {"ssim": {"version": "2"}, "fid": {"version": "2"}})
    assert "1 cells changed beyond tolerance, 2 unchanged (within tolerance), 1 added, 1 removed" in report
    assert "| a | awgn | 5 | 0.4 | 0.43 | 0.03 |" in report
    assert "| ssim | 1 | 2 |" in report and "| fid | - | 2 |" in report
    assert "| c | mimo | 20 | fid |" in report and "| b | awgn | 5 | ssim |" in report


def test_identity_problems_name_the_metric_and_what_moved():
    recorded = {"ssim": {"metric": "ssim", "version": "1", "params": {}},
                "fid": {"metric": "fid", "version": "2", "params": {}, "extractor_sha256": "aa"},
                "old": {"metric": "old", "version": "1"}}
    now = {"ssim": {"metric": "ssim", "version": "2", "params": {}},
           "fid": {"metric": "fid", "version": "2", "params": {}, "extractor_sha256": "bb"},
           "new": {"metric": "new", "version": "1"}}
    problems = identity_problems(recorded, now)
    assert "metric ssim is version 2 here but the reference was recorded with version 1" in problems[-1]
    assert any("fid (version 2) differs" in p and "extractor_sha256: recorded 'aa', now 'bb'" in p for p in problems)
    assert any("new is not recorded" in p for p in problems) and any("old is recorded" in p for p in problems)
    assert identity_problems(now, now) == []


def test_recorded_identities_have_no_machine_paths(tmp_path):
    assert _portable({"weights": str(tmp_path / "w.pt"), "n": [1, Path("/x/y.bin")], "name": "seg"}) == {
        "weights": "w.pt", "n": [1, "y.bin"], "name": "seg"}
    recorded = json.loads((REF / "metrics.json").read_text())
    assert recorded == _portable(recorded)
    assert set(recorded) == {label for part in load_parts().values() for label in part["metrics"]}
