"""CI regression: the committed reference matrix must reproduce within stated tolerances.

Regenerate after an intended change: ``SEMCOM_REGENERATE_REFERENCE=1 python -m pytest tests/test_reference.py``.
"""

import math
import os
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from semcom_bench import api
from semcom_bench.config import build_config

REF = Path(__file__).resolve().parents[1] / "results" / "reference"
KEYS = ["method", "channel", "snr_db", "metric", "output"]


def _summary(frame: pd.DataFrame) -> pd.DataFrame:
    g = frame.groupby(KEYS, sort=True)["value"]
    return g.mean().rename("mean").reset_index()


def test_reference_matrix_reproduces(tmp_path):
    file = tomllib.loads((REF / "config.toml").read_text())
    config = build_config(file, out=tmp_path / "out", cache_dir=tmp_path / "cache")
    got = _summary(api.run(config)["frame"])
    path = REF / "summary.csv"
    if os.environ.get("SEMCOM_REGENERATE_REFERENCE") == "1":
        got.to_csv(path, index=False, float_format="%.17g")
        pytest.skip(f"regenerated {path}")
    want = pd.read_csv(path)
    tol = tomllib.loads((REF / "tolerances.toml").read_text())
    merged = want.merge(got, on=KEYS, how="outer", suffixes=("_ref", "_now"), indicator=True)
    missing = merged[merged["_merge"] != "both"]
    assert missing.empty, f"cells differ from the reference:\n{missing[KEYS + ['_merge']]}"
    bad = []
    for row in merged.itertuples():
        atol = tol["outputs"].get(row.output, tol["default"])
        a, b = row.mean_ref, row.mean_now
        same = (math.isinf(a) and a == b) or abs(a - b) <= atol
        if not same:
            bad.append(f"{row.method} {row.channel} {row.snr_db} dB {row.output}: reference {a}, now {b} (tol {atol})")
    assert not bad, "\n".join(bad)
