"""The GAN receivers spade, oasis, smis and cc-fpse over the received semantic maps.

Each runs on a tiny generator in the official layout (small width, 32x64 through the options
file), saved as the official code saves it (``torch.save(net.state_dict())``), on
synthetic-streets through :func:`semcom_bench.api.run`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from semcom_bench import api, registry, weights
from semcom_bench.config import build_config

#: tiny official-layout networks: 35 Cityscapes classes, 32x64 output (scenes are resized to it)
TINY = {
    "spade": {"label_nc": 35, "ngf": 2, "num_upsampling_layers": "normal", "crop_size": 64},
    "oasis": {"semantic_nc": 35, "z_dim": 4, "channels_G": 1, "crop_size": 64, "spade_hidden": 8},
    "smis": {"label_nc": 35, "ngf": 35, "num_upsampling_layers": "normal", "crop_size": 64,
             "block_groups": [35, 35, 5, 5, 5, 5, 1]},
    "cc-fpse": {"ngf": 2, "num_upsampling_layers": "normal", "crop_size": 64, "hidden": 8},
}


def _official_files(name: str, folder: Path) -> str:
    """A tiny random generator saved as the official code saves it; the method spec that uses it."""
    from semcom_bench_baselines.ccfpse.network import CcfpseOptions, CondConvGenerator, ConvEncoder
    from semcom_bench_baselines.oasis.network import OASIS_Generator, OasisOptions
    from semcom_bench_baselines.smis.network import SmisGenerator, SmisOptions
    from semcom_bench_baselines.spade.network import SPADEGenerator, SpadeOptions

    torch.manual_seed(0)
    fields = TINY[name]
    opts_file = folder / f"{name}-options.json"
    opts_file.write_text(json.dumps(fields))
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    if name == "spade":
        net, file = SPADEGenerator(SpadeOptions(**kw)), "latest_net_G.pth"
    elif name == "oasis":
        net, file = OASIS_Generator(OasisOptions(**kw)), "best_EMA.pth"
    elif name == "smis":
        net, file = SmisGenerator(SmisOptions(**kw)), "latest_net_G.pth"
    else:
        net, file = CondConvGenerator(CcfpseOptions(**kw)), "200_net_G.pth"
    with torch.no_grad():  # keep the random network's tanh out of saturation
        net.conv_img.weight.mul_(0.05)
    path = folder / name / file
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    spec = f"{name}(weights={path},options={opts_file}"
    if name == "cc-fpse":
        encoder = folder / name / "200_net_E.pth"
        torch.save(ConvEncoder(CcfpseOptions(**kw)).state_dict(), encoder)
        spec += f",encoder_weights={encoder}"
    return spec + ")"


def _pngs(cache: Path) -> dict[str, bytes]:
    return {str(p.relative_to(cache)): p.read_bytes() for p in sorted((cache / "images").rglob("*.png"))}


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("official")
    return {name: _official_files(name, folder) for name in TINY}


def test_every_receiver_runs_reproducibly_and_pairs_with_gesco(specs, tmp_path, monkeypatch):
    from semcom_bench.methods.semantic.maps import MapMethod

    seen: dict[str, list[torch.Tensor]] = {}
    original = MapMethod.receive_batch

    def recording(self, deliveries, rngs):
        seen.setdefault(self.name, []).extend(d.received.symbols.clone() for d in deliveries)
        return original(self, deliveries, rngs)

    monkeypatch.setattr(MapMethod, "receive_batch", recording)
    methods = ",".join([*specs.values(), "gesco(steps=1)"])
    frames, pngs = [], []
    for i in range(2):
        config = build_config(dataset="synthetic-streets(size=2)", methods=methods, channels="awgn", values="5",
                              metrics="psnr", out=tmp_path / f"out{i}", cache_dir=tmp_path / f"cache{i}", threads=1)
        frames.append(api.run(config)["frame"])
        pngs.append(_pngs(tmp_path / f"cache{i}"))

    data = registry.datasets.create("synthetic-streets", size=2)
    shape = data[0].image.shape
    assert len(pngs[0]) == 2 * 5  # two scenes, five methods
    for blob in pngs[0].values():
        image = np.asarray(Image.open(io.BytesIO(blob)))
        assert image.shape == shape and image.dtype == np.uint8
    assert pngs[0] == pngs[1]  # the generators' noise comes from the receiver streams
    frame = frames[0]
    assert set(frame["method"].str.split("(").str[0]) == {*TINY, "gesco"}
    assert frame["value"].notna().all()
    assert "spade" in api.report(tmp_path / "out0", "markdown")
    for name in TINY:  # one run, the same received symbols for every map receiver
        assert len(seen[name]) == 4 and len(seen["gesco"]) == 4  # two scenes, two runs
        for a, b in zip(seen[name], seen["gesco"]):
            assert torch.equal(a, b)


def test_a_batch_equals_its_images_alone(specs):
    """Each image's noise is drawn from its own stream: batching does not change an image."""
    from semcom_bench.config import parse_spec

    for name, text in specs.items():
        spec = parse_spec(text)
        method = registry.methods.create(spec.name, **spec.params)
        maps = torch.zeros(2, 35, 64, 128)
        maps[:, 7, :32] = 1.0
        maps[:, 23, 32:] = 1.0
        maps[1, 26, 20:40, 40:80] = 1.0
        maps[:, -1, 31:33] = 1.0

        def streams():
            return [torch.Generator().manual_seed(s) for s in (11, 12)]

        batch = method.synthesise(maps, (64, 128), streams())
        alone = [method.synthesise(maps[i:i + 1], (64, 128), [streams()[i]])[0] for i in range(2)]
        assert all(b.shape == (64, 128, 3) for b in batch), name
        for b, a in zip(batch, alone):
            assert np.abs(b.astype(int) - a.astype(int)).max() <= 1, name
        if name != "spade":  # spade without the VAE has no noise
            net, options = method.network()
            y = method.conditioning(maps[:1], options)
            with torch.no_grad():
                first = method.generate(net, options, y, [torch.Generator().manual_seed(11)])
                other = method.generate(net, options, y, [torch.Generator().manual_seed(99)])
            assert not torch.equal(first, other), name


def test_without_weights_or_embedded_network_the_cli_says_so_in_one_line(tmp_path, monkeypatch):
    from semcom_bench.cli.main import app

    monkeypatch.setattr(weights, "ASSETS", tmp_path / "no-assets")
    monkeypatch.delenv("SEMCOM_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    result = CliRunner().invoke(app, ["run", "--dataset", "synthetic-streets(size=2)", "--methods", "spade",
                                      "--values", "5", "--metrics", "psnr", "--out", str(tmp_path / "out"),
                                      "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 2, result.output
    message = ("method spade has no embedded network in this version (semcom-bench train spade trains one); "
               "pass checkpoint=cityscapes (the released file under $SEMCOM_WEIGHTS) or weights=PATH to an "
               "official latest_net_G.pth")
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_a_released_checkpoint_is_found_under_its_own_folder(specs, tmp_path, monkeypatch):
    """checkpoint=cityscapes finds $SEMCOM_WEIGHTS/<method>-cityscapes/<file> (and CC-FPSE's encoder
    beside it) and generates what weights=PATH generates; a file left loose is not taken."""
    from semcom_bench.config import parse_spec

    root = tmp_path / "weights"
    monkeypatch.setenv("SEMCOM_WEIGHTS", str(root))
    maps = torch.zeros(1, 35, 64, 128)
    maps[:, 7] = 1.0
    maps[:, -1, 31:33] = 1.0
    for name, text in specs.items():
        params = parse_spec(text).params
        method = registry.methods.create(name, **params)
        released = method.released["cityscapes"]
        files = [(released.generator, Path(params["weights"]))]
        if released.encoder is not None:
            files.append((released.encoder, Path(params["encoder_weights"])))
        for declared, source in files:
            loose = root / declared.filename
            loose.parent.mkdir(parents=True, exist_ok=True)
            loose.write_bytes(source.read_bytes())
        with pytest.raises(Exception, match=f"{name}-cityscapes/"):  # a loose latest_net_G.pth is ambiguous
            registry.methods.create(name, checkpoint="cityscapes", options=params["options"]).network()
        for declared, source in files:
            (root / declared.name).mkdir(exist_ok=True)
            (root / declared.filename).rename(root / declared.name / declared.filename)
        found = registry.methods.create(name, checkpoint="cityscapes", options=params["options"])
        assert found.weights_path() == root / released.generator.name / released.generator.filename
        streams = [torch.Generator().manual_seed(5)]
        expected = method.synthesise(maps, (64, 128), [torch.Generator().manual_seed(5)])
        assert np.array_equal(found.synthesise(maps, (64, 128), streams)[0], expected[0]), name
        for declared, _ in files:
            (root / declared.name / declared.filename).unlink()


def test_the_released_options_build_the_official_input_layouts():
    """COCO-Stuff: 182 classes + dontcare (+ instance edges for SPADE and CC-FPSE) at 256x256."""
    from semcom_bench_baselines.ccfpse.network import CondConvGenerator
    from semcom_bench_baselines.spade.network import SPADEGenerator

    for name, build, channels in (("spade", SPADEGenerator, 184), ("cc-fpse", CondConvGenerator, 184)):
        cls = registry.methods.get(name).factory
        options = cls.make_options(cls.released["coco-stuff"].options, None)
        assert cls.layout(options) == (183, True) and tuple(cls.input_size(options)) == (256, 256), name
        with torch.device("meta"):
            net = build(options)
        conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
        assert conv.in_channels in (channels, channels + 64), (name, conv.in_channels)
    for name in ("spade", "oasis", "smis", "cc-fpse"):
        cls = registry.methods.get(name).factory
        options = cls.make_options(cls.released["cityscapes"].options, None)
        assert cls.layout(options)[0] == 35 and tuple(cls.input_size(options)) == (256, 512), name
    with pytest.raises(Exception, match="choose embedded or cityscapes"):
        registry.methods.create("oasis", checkpoint="coco-stuff")


def test_list_methods_shows_them_as_plugins():
    from semcom_bench.cli.main import app

    result = CliRunner().invoke(app, ["list", "methods"], env={"COLUMNS": "400"}, terminal_width=400)
    assert result.exit_code == 0, result.output
    for name, module in (("spade", "spade"), ("oasis", "oasis"), ("smis", "smis"), ("cc-fpse", "ccfpse")):
        entry = registry.methods.get(name)
        assert entry.origin == f"semcom_bench_baselines.{module}.receiver"
        line = next(ln for ln in result.output.splitlines() if ln.strip("│ ").startswith(name + " "))
        assert f"plugin=semcom_bench_baselines.{module}.receiver" in line
        assert "payload=semantic maps" in result.output or "semantic maps" in result.output


@pytest.mark.parametrize("name", ["spade", "oasis", "smis", "cc-fpse"])
def test_the_embedded_networks_run_and_match_their_provenance(name, tmp_path):
    import inspect
    import json

    from semcom_bench import api
    from semcom_bench.cli.train_baselines import trainer
    from semcom_bench.config import build_config
    from semcom_bench.hashing import hash_file
    from semcom_bench.weights import find, resolve

    embedded = registry.methods.get(name).factory.embedded
    if find(embedded.name) is None:
        pytest.skip(f"{name} ships no embedded network in this version")
    path = resolve(embedded.name)  # checked against the declared sha256
    info = json.loads(path.with_suffix(".json").read_text())
    assert hash_file(path) == info["weights"]["sha256"] == embedded.sha256
    assert info["provenance"]["reproduce"].startswith(f"semcom-bench train {name} --steps ")
    # 'semcom-bench train <name>' without --steps trains as long as the shipped run did
    assert inspect.signature(trainer(name)).parameters["steps"].default == info["provenance"]["steps_done"]
    config = build_config(dataset="synthetic-streets(size=2)", methods=name, values="100", metrics="psnr",
                          out=tmp_path / "out", cache_dir=tmp_path / "cache", threads=1)
    frame = api.run(config)["frame"]
    assert len(frame) == 2 and frame["value"].between(5, 60).all()


def test_an_embedded_file_in_an_encoding_this_version_cannot_read_is_a_one_line_error(tmp_path):
    import json
    import shutil

    from semcom_bench.errors import UserError
    from semcom_bench.weight_codecs import FP16_XOR
    from semcom_bench.weights import resolve
    from semcom_bench_baselines.gan import _load

    cls = registry.methods.get("spade").factory
    path = resolve(cls.embedded.name)
    shutil.copy(path, tmp_path / path.name)
    info = json.loads(path.with_suffix(".json").read_text())
    info["weights"]["encoding"] = FP16_XOR
    (tmp_path / path.name).with_suffix(".json").write_text(json.dumps(info))
    with pytest.raises(UserError, match=r"is stored as .float16 bit patterns XOR.*which this version cannot read"):
        _load(cls, str(tmp_path / path.name), True, None, None, "cpu")
