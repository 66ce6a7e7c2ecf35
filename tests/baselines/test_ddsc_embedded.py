"""The shipped ddsc F_d/F_u on the embedded base: provenance, a short run, and the paper's configs."""

from __future__ import annotations

import json

import pytest

from semcom_bench import api, registry
from semcom_bench.config import build_config, load_toml, shipped_configs
from semcom_bench.hashing import hash_file
from semcom_bench.weights import resolve
from semcom_bench_baselines.ddsc.compression import load_official
from semcom_bench_baselines.ddsc.receiver import EMBEDDED, SHIPPED


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_a_shipped_compression_matches_its_provenance(name):
    path = resolve(name)  # checked against the declared sha256
    info = json.loads(path.with_suffix(".json").read_text())
    assert hash_file(path) == info["weights"]["sha256"] == EMBEDDED[name].sha256
    assert info["provenance"]["reproduce"].startswith("semcom-bench train ddsc --steps ")
    en, de, _ = load_official(path, latent_channels=4, c=SHIPPED[name][0])
    assert info["sizes"]["c"] == SHIPPED[name][0] == en.c
    assert path.stat().st_size < 1_000_000


def test_the_embedded_default_runs_on_every_shipped_c(tmp_path):
    methods = "ddsc(steps=50),ddsc(c=8,steps=50),ddsc(c=0,steps=50)"
    config = build_config(dataset="synthetic-streets(size=2)", methods=methods, channels="awgn", values="9",
                          metrics="psnr,bits", out=tmp_path / "out", cache_dir=tmp_path / "cache", threads=1)
    frame = api.run(config)["frame"]
    psnr = frame[frame["metric"] == "psnr"]
    assert len(psnr) == 6 and psnr["value"].between(12, 60).all()
    uses = frame[frame["output"] == "channel_uses"].groupby("method")["value"].first().to_dict()
    assert uses == {"ddsc(steps=50)": 1792, "ddsc(c=8,steps=50)": 512, "ddsc(c=0,steps=50)": 1024}


def test_the_ddsc_configs_build_and_cover_the_third_papers_tables():
    names = {n for n in shipped_configs() if n.startswith("ddsc-")}
    assert {"ddsc-table1", "ddsc-table3", "ddsc-fig6"} <= names
    for name in names:
        config = build_config(load_toml(name))
        for spec in config.methods:
            registry.methods.create(spec.name, **spec.params)
