import pytest

from semcom_bench import registry
from semcom_bench.config import build_config
from semcom_bench.errors import UserError
from semcom_bench.grids import GRIDS, parse_values, resolve_grid
from semcom_bench.specs import Spec, parse_spec, parse_specs, split_top_level


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UserError, match="Did you mean 'full-image'"):
        registry.methods.get("full-imag")


def test_duplicate_registration_is_refused():
    reg = registry.Registry("thing")
    reg.register("a", version="1", summary="x")(lambda: 1)
    with pytest.raises(ValueError, match="twice"):
        reg.register("a", version="1", summary="y")(lambda: 2)


def test_bad_parameters_are_a_user_error():
    with pytest.raises(UserError, match="method 'full-image' has no parameter nonsense; its parameters: ratio"):
        registry.methods.create("full-image", nonsense=3)
    with pytest.raises(UserError, match="channel 'rayleigh' has no parameter blok; its parameters: block, equalizer"):
        registry.channels.create("rayleigh", blok=3)


@pytest.mark.parametrize("kind, name, params, message", [
    ("methods", "gesco", {"steps": "abc"}, "parameter steps of method 'gesco' must be an integer or none, got 'abc'"),
    ("methods", "gesco", {"steps": 0}, r"parameter steps of method 'gesco' must be in \[1, 1000\], got 0"),
    ("methods", "gesco", {"fds": 3}, "parameter fds of method 'gesco' must be true or false, got 3"),
    ("methods", "sdm", {"power": "mean"}, "parameter power of method 'sdm' must be one of average, peak; got 'mean'"),
    ("methods", "gesco", {"guidance": float("nan")}, "parameter guidance of method 'gesco' must be a finite number"),
    ("channels", "mimo", {"antennas": 2.5}, "parameter antennas of channel 'mimo' must be an integer, got 2.5"),
    ("channels", "rayleigh", {"equalizer": "lmmse"}, "must be one of mmse, zf; got 'lmmse'"),
    ("metrics", "miou", {"evaluator": "drn"}, "parameter evaluator of metric 'miou' must be one of embedded"),
    ("metrics", "lpips", {"net": "squeeze"}, "parameter net of metric 'lpips' must be one of alex, vgg"),
    ("metrics", "miou", {"eval_size": "big"}, "eval_size of metric 'miou' must be HEIGHTxWIDTH"),
])
def test_bad_parameter_values_name_the_parameter_and_what_it_accepts(kind, name, params, message):
    with pytest.raises(UserError, match=message) as info:
        getattr(registry, kind).create(name, **params)
    assert "\n" not in str(info.value)


def test_parameters_come_from_the_constructor_signature():
    gesco, sdm = registry.methods.get("gesco"), registry.methods.get("sdm")
    by_name = {p.name: p for p in gesco.parameters()}
    assert by_name["power"].choices == ("average", "peak") and by_name["power"].default == "average"
    assert by_name["fds"].default is True and {p.name: p for p in sdm.parameters()}["fds"].default is False
    assert [p.name for p in gesco.parameters()] == [p.name for p in sdm.parameters()]
    m = registry.methods.create("gesco", steps="25", guidance=3)  # text and integers convert
    assert m.params()["steps"] == 25 and m.params()["guidance"] == 3.0
    # every parameter is in the cache key; options added later only when set, so old keys stay valid
    assert set(m.params()) == set(by_name) - {"guidance_from", "precision", "variance_scale"}
    later = registry.methods.create("gesco", guidance_from=500, precision="bf16", variance_scale=0.8).params()
    assert later["guidance_from"] == 500 and later["precision"] == "bf16" and later["variance_scale"] == 0.8
    assert set(later) == set(by_name)
    assert "| `power` | `average` | average|peak |" in type(m).__doc__  # the generated docstring table
    assert "decode_batch" not in registry.methods.create("digital").params()  # speed only


def test_every_entry_has_metadata():
    for reg in (registry.methods, registry.channels, registry.metrics, registry.datasets):
        assert reg.names(), reg.kind
        for e in reg.entries():
            assert e.version and e.summary
    for e in registry.metrics.entries():
        assert e.meta["lower_better"] in (True, False, "per output")
        assert e.meta["level"] in ("image", "set")
    assert registry.metrics.get("depth").meta["lower_better"] == "per output"


def test_spec_parsing():
    assert parse_spec("awgn") == Spec("awgn", {})
    s = parse_spec("digital(codec=jpeg, quality=50, ldpc=true, rate=0.5)")
    assert s.params == {"codec": "jpeg", "quality": 50, "ldpc": True, "rate": 0.5}
    assert s.label == "digital(codec=jpeg,ldpc=true,quality=50,rate=0.5)"
    assert split_top_level("a,b(x=1,y=2),c") == ["a", "b(x=1,y=2)", "c"]
    assert [p.name for p in parse_specs("a,b(x=1,y=2)")] == ["a", "b"]
    assert parse_spec({"name": "rayleigh", "params": {"block": 16}}).params == {"block": 16}
    with pytest.raises(UserError):
        parse_spec("a(b)")


def test_grids():
    assert resolve_grid("psnr", None) == ("psnr", GRIDS["psnr"][0])
    assert set(GRIDS["psnr"][0]) == {1, 5, 10, 15, 20, 30, 100}
    assert GRIDS["snr"][0] == (0, 3, 6, 9, 12)
    assert GRIDS["jscc"][0] == (0, 5, 10, 15, 20)
    assert resolve_grid("jscc", None) == ("jscc", GRIDS["jscc"][0])
    assert parse_values("0:20:5") == (0, 5, 10, 15, 20)
    assert parse_values("1, 2.5") == (1, 2.5)
    assert resolve_grid(None, "3,4") == ("custom", (3.0, 4.0))
    for bad in ("x", "0:10", "5:0:1", "1000"):
        with pytest.raises(UserError):
            parse_values(bad)
    with pytest.raises(UserError, match="unknown grid"):
        resolve_grid("pnsr", None)


def test_config_merging(tmp_path):
    file = {"methods": ["full-image"], "grid": "snr", "limit": 3, "seeds": [1, 2]}
    cfg = build_config(file, limit=5, out=tmp_path)
    assert cfg.limit == 5 and cfg.seeds == [1, 2] and cfg.values == (0, 3, 6, 9, 12)
    with pytest.raises(UserError, match="unknown config key"):
        build_config({"method": ["x"]})
    with pytest.raises(UserError, match="--limit"):
        build_config(limit=0)


def test_none_selects_the_default_of_an_optional_parameter():
    assert registry.methods.create("gesco", steps="none").steps == 40
    assert len(registry.datasets.create("synthetic-streets", size="none")) == 32
    with pytest.raises(UserError, match="must be an integer, got 'none'"):
        registry.channels.create("rayleigh", block="none")
