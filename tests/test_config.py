"""Run options: every bad value is a one-line UserError naming the flag or config key, raised
while the configuration is built (before any work)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from semcom_bench.config import MAX_SEED, RunConfig, build_config, check_writable
from semcom_bench.errors import UserError
from semcom_bench.grids import parse_values, resolve_grid
from semcom_bench.specs import parse_spec, parse_specs


def _error(*args, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        build_config(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("file, needle", [
    ({"methods": 3}, "methods in the config file: cannot read components 3"),
    ({"methods": [3]}, "methods in the config file: cannot read component 3"),
    ({"methods": [{"name": 3}]}, "needs name = "),
    ({"methods": [{"name": "awgn", "params": 3}]}, "params of component 'awgn' must be a table, got 3"),
    ({"methods": [{"name": "awgn", "parms": {}}]}, "has unknown key(s) 'parms'"),
    ({"limit": "two"}, "limit in the config file must be a whole number, got 'two'"),
    ({"limit": 0}, "limit in the config file must be at least 1, got 0"),
    ({"limit": True}, "limit in the config file must be a whole number, got True"),
    ({"values": ["abc"]}, "values in the config file must hold numbers (dB), got 'abc'"),
    ({"values": [math.nan]}, "SNR value nan in values in the config file is not a finite number"),
    ({"values": [math.inf]}, "SNR value inf in values in the config file is not a finite number"),
    ({"values": [-60]}, "SNR value -60 dB in values in the config file is outside [-50, 200] dB"),
    ({"values": [201]}, "SNR value 201 dB in values in the config file is outside [-50, 200] dB"),
    ({"values": []}, "values in the config file is empty"),
    ({"values": [5, 5.0]}, "SNR value 5 dB is given twice in values in the config file"),
    ({"values": 5}, "values in the config file must be a list of SNR values"),
    ({"grid": 3}, "grid in the config file must be a grid name (psnr, snr, jscc), got 3"),
    ({"seeds": [1.5]}, "bad seed 1.5 in seeds in the config file: give whole numbers, e.g. seeds = [0, 1, 2]"),
    ({"seeds": []}, "seeds in the config file is empty"),
    ({"seeds": [1, 1]}, "seed 1 is given twice in seeds in the config file"),
    ({"seeds": [-1]}, "seed -1 in seeds in the config file is outside [0, 2**63-1]"),
    ({"seeds": [2**64]}, f"seed {2**64} in seeds in the config file is outside [0, 2**63-1]"),
    ({"seed": "a"}, "bad seed 'a' in seed in the config file"),
    ({"seed": 1, "seeds": [2]}, "gives both seed and seeds"),
    ({"out": 3}, "out in the config file must be a folder path, got 3"),
    ({"out": ""}, "out in the config file must be a folder path, got ''"),
    ({"cache_dir": [1]}, "cache_dir in the config file must be a folder path"),
    ({"device": 1}, "device in the config file must be cpu, cuda, cuda:N or auto, got 1"),
    ({"device": "tpu"}, "device in the config file must be cpu, cuda, cuda:N or auto, got 'tpu'"),
    ({"dataset": 5}, "dataset in the config file: cannot read component 5"),
    ({"dataset": ["a", "b"]}, "dataset in the config file: cannot read component ['a', 'b']"),
    ({"metrics": {}}, "metrics in the config file: component table {} needs name"),
    ({"metrics": []}, "no metric given in metrics in the config file"),
    ({"metrics": ["psnr", "psnr"]}, "metric psnr is given twice in metrics in the config file"),
    ({"channels": []}, "no channel given in channels in the config file: name at least one, e.g. channels = [\"awgn\"]"),
    ({"batch_size": 1.5}, "batch_size in the config file must be a whole number, got 1.5"),
    ({"batch_size": 0}, "batch_size in the config file must be at least 1, got 0"),
    ({"threads": "x"}, "threads in the config file must be a whole number, got 'x'"),
    ({"threads": 0}, "threads in the config file must be at least 1, got 0"),
    ({"method": ["x"]}, "unknown config key(s) 'method'"),
])
def test_every_config_key_with_a_wrong_value_is_named(file, needle):
    assert needle in _error(file)


@pytest.mark.parametrize("flags, needle", [
    ({"values": ""}, "--values is empty"),
    ({"values": "5,5"}, "SNR value 5 dB is given twice in --values"),
    ({"values": "nan"}, "SNR value nan in --values is not a finite number"),
    ({"values": "0:1e300:1e-300"}, "bad SNR values"),
    ({"values": "0:200:0.001"}, "makes 200001 SNR values; give at most 1000"),
    ({"values": "-inf:0:1"}, "bad SNR values"),
    ({"metrics": ""}, "no metric given in --metrics: name at least one, e.g. --metrics psnr,miou"),
    ({"methods": " , "}, "no method given in --methods"),
    ({"channels": "awgn,awgn"}, "channel awgn is given twice in --channels"),
    ({"seeds": ""}, "--seed is empty"),
    ({"seeds": "abc"}, "bad seed 'abc' in --seed"),
    ({"seeds": str(2**64)}, f"seed {2**64} in --seed is outside [0, 2**63-1]; give a seed from 0 to {MAX_SEED}"),
    ({"seeds": "-1"}, "seed -1 in --seed is outside [0, 2**63-1]"),
    ({"threads": -1}, "--threads must be at least 1, got -1"),
    ({"threads": 0}, "--threads must be at least 1, got 0"),
    ({"batch_size": 0}, "--batch-size must be at least 1, got 0"),
    ({"batch_size": 2**63}, f"--batch-size must be at most {2**63 - 1}, got {2**63}"),
    ({"threads": 1025}, "--threads must be at most 1024, got 1025"),
    ({"limit": 0}, "--limit must be at least 1, got 0"),
    ({"device": "tpu"}, "--device must be cpu, cuda, cuda:N or auto, got 'tpu'"),
    ({"methods": "gesco(steps=1"}, "--methods: cannot read component"),
    ({"methods": "gesco(steps=1,steps=2)"}, "parameter steps is given twice"),
    ({"methods": "gesco(=1)"}, "bad parameter name ''"),
])
def test_bad_flags_are_named(flags, needle):
    assert needle in _error(None, **flags)


def test_flags_override_the_file_and_good_values_pass():
    cfg = build_config({"seed": 3, "values": [0, 5.5], "limit": 2, "out": "o", "threads": 2},
                       seeds="7,2", limit=4, batch_size="3", device="cuda:1")
    assert cfg.seeds == [7, 2] and cfg.values == (0.0, 5.5) and cfg.grid == "custom" and cfg.limit == 4
    assert cfg.batch_size == 3 and cfg.threads == 2 and cfg.out == Path("o") and cfg.device == "cuda:1"
    assert build_config({"seed": 3}).seeds == [3]
    assert build_config(seeds=str(MAX_SEED)).seeds == [MAX_SEED]
    assert build_config(values="0:20:10").values == (0, 10, 20)


def test_run_config_built_directly_is_checked_the_same_way():
    with pytest.raises(UserError, match="--batch-size must be at least 1"):
        RunConfig(batch_size=0)
    with pytest.raises(UserError, match=r"seed -1 in --seed is outside"):
        RunConfig(seeds=[-1])
    with pytest.raises(UserError, match="SNR value 300 dB in --values"):
        RunConfig(values=(300.0,))
    assert RunConfig(values=[1, 2.5]).values == (1.0, 2.5)


def test_specs_and_grids_refuse_what_is_not_a_spec():
    for bad in ("a(b", "a)b(", "a(b=1))", "(x)", "a(x=1,x=2)", "a(1x=2)"):
        with pytest.raises(UserError):
            parse_spec(bad)
    assert parse_spec("a(b=(1))").params == {"b": "(1)"}
    assert [s.name for s in parse_specs({"name": "psnr"})] == ["psnr"]
    with pytest.raises(UserError, match="no value|is empty"):
        parse_values("  ")
    with pytest.raises(UserError, match="at most 1000"):
        resolve_grid(None, list(range(1001)))


def test_unwritable_output_folders_are_found_before_any_work(tmp_path):
    check_writable(tmp_path / "new" / "deeper", "--out")  # missing folders are fine: nothing is created
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match=r"--out .*file/sub is not a folder \(.*file is a file\)"):
        check_writable(tmp_path / "file" / "sub", "--out")
    with pytest.raises(UserError, match="is not a folder; choose a folder path"):
        check_writable(tmp_path / "file", "--out")
