"""Fuzzing the spec parser and the run-config builder: whatever a user writes (text on the
command line, any JSON-like value under any known TOML key), the outcome is a valid
:class:`RunConfig` or a one-line :class:`UserError`, never another exception."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semcom_bench.config import KNOWN_KEYS, MAX_SEED, RunConfig, build_config
from semcom_bench.errors import UserError
from semcom_bench.grids import HIGHEST_DB, LOWEST_DB
from semcom_bench.specs import Spec, parse_spec, parse_specs

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: text biased towards the characters specs are made of
SPEC_TEXT = st.text(alphabet="ab_-.1(),= 'x\"\t\n:", max_size=24) | st.text(max_size=24)
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | SPEC_TEXT)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: (st.lists(inner, max_size=4)
                   | st.dictionaries(st.sampled_from(["name", "params", "x"]) | st.text(max_size=6), inner, max_size=3)
                   | st.fixed_dictionaries({"name": SPEC_TEXT | inner}, optional={"params": inner})),
    max_leaves=8,
)


def _only_user_errors(build):
    try:
        result = build()
    except UserError as exc:
        assert str(exc) and "\n" not in str(exc), repr(str(exc))
        return None
    return result


def _valid(cfg: RunConfig) -> None:
    assert isinstance(cfg, RunConfig)
    assert isinstance(cfg.dataset, Spec) and cfg.methods and cfg.channels and cfg.metrics
    for specs in (cfg.methods, cfg.channels, cfg.metrics):
        assert all(isinstance(s, Spec) and isinstance(s.name, str) for s in specs)
        assert len({s.label for s in specs}) == len(specs)
    assert cfg.values and len(set(cfg.values)) == len(cfg.values)
    assert all(math.isfinite(v) and LOWEST_DB <= v <= HIGHEST_DB for v in cfg.values)
    assert cfg.seeds and all(type(s) is int and 0 <= s <= MAX_SEED for s in cfg.seeds)
    assert len(set(cfg.seeds)) == len(cfg.seeds)
    assert cfg.limit is None or (type(cfg.limit) is int and cfg.limit >= 1)
    assert type(cfg.batch_size) is int and cfg.batch_size >= 1
    assert cfg.threads is None or (type(cfg.threads) is int and 1 <= cfg.threads <= 1024)
    assert isinstance(cfg.device, str) and str(cfg.out) and str(cfg.cache_dir)
    cfg.to_dict()


@FUZZ
@given(SPEC_TEXT)
def test_parse_spec_text(text):
    spec = _only_user_errors(lambda: parse_spec(text))
    if spec is not None:
        assert isinstance(spec, Spec) and spec.name and spec.label


@FUZZ
@given(SPEC_TEXT | JSONISH)
def test_parse_specs_anything(value):
    specs = _only_user_errors(lambda: parse_specs(value))
    if specs is not None:
        assert all(isinstance(s, Spec) for s in specs)


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(KNOWN_KEYS)), JSONISH, max_size=6))
def test_build_config_from_any_toml_values(file):
    cfg = _only_user_errors(lambda: build_config(file))
    if cfg is not None:
        _valid(cfg)


TEXT_FLAGS = ("grid", "values", "methods", "channels", "metrics", "dataset", "seeds", "out", "cache_dir", "device")
INT_FLAGS = ("limit", "batch_size", "threads")


@FUZZ
@given(st.fixed_dictionaries({}, optional={**{k: SPEC_TEXT for k in TEXT_FLAGS},
                                           **{k: st.integers() | st.integers(-10, 10) for k in INT_FLAGS}}),
       st.none() | st.dictionaries(st.sampled_from(sorted(KNOWN_KEYS)), JSONISH, max_size=3))
def test_build_config_from_any_flag_text(flags, file):
    cfg = _only_user_errors(lambda: build_config(file, **flags))
    if cfg is not None:
        _valid(cfg)


def test_the_fuzzed_shapes_reach_valid_configs_too():
    """The strategies are not all errors: well-formed inputs of the same shapes pass."""
    _valid(build_config({"methods": [{"name": "x", "params": {"a": [1]}}], "values": [1, 2.5], "seed": 4},
                        channels="a(b=1),c", seeds="9", limit=3, device=" auto"))
