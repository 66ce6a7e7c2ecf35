"""``gesco`` / ``sdm`` through the runner: payload, batched receiver, parameters, weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from semcom_bench import registry
from semcom_bench.config import build_config
from semcom_bench.errors import UserError
from semcom_bench.components import RunContext
from semcom_bench.methods.base import Delivery
from semcom_bench.methods.semantic.gesco import EMBEDDED, SemanticDiffusion, network_state
from semcom_bench.nets.semantic_unet import SemanticUNet, embedded_config
from semcom_bench.runner import run_matrix
from semcom_bench.weight_codecs import FP16_XOR, sidecar_path, tensors_sha256


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A small random network saved as ``semcom-bench train`` exports it (NAME.pt + NAME.json)."""
    folder = tmp_path_factory.mktemp("w")
    cfg = embedded_config(num_classes=34, model_channels=16, channel_mult=(1, 2), num_head_channels=16, spade_hidden=8,
                          image_size=16, attention_resolutions=(8,))
    model = SemanticUNet(cfg)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    path = folder / "tiny.pt"
    torch.save({k: v.half() for k, v in model.state_dict().items()}, path)
    info = {"net": cfg.to_dict(), "diffusion": {"steps": 1000, "schedule": "linear"}, "train": {"model_downsample": 2}}
    (folder / "tiny.json").write_text(json.dumps(info))
    return path


def test_round_trip_through_the_runner(tiny_weights, tmp_path):
    w = tiny_weights
    methods = f"gesco(weights={w},steps=2),ours(weights={w},steps=2,fds=false),sdm(weights={w},sampler=ddim,steps=2)"
    cfg = build_config(None, methods=methods, values="5", metrics="bits", limit=2,
                       dataset="synthetic-streets(height=32,width=64)", cache_dir=tmp_path / "c", out=tmp_path / "o")
    res = run_matrix(cfg)
    assert res["counts"] == {"total": 6, "cached": 0, "generated": 6}
    bits = {(r["method"], r["sample"]): r["value"] for r in res["rows"] if r["output"] == "bits"}
    assert len(bits) == 6 and all(v > 100 for v in bits.values())
    labels = {r["method"] for r in res["rows"]}
    assert any(lbl.startswith("ours(") for lbl in labels)
    again = run_matrix(cfg)
    assert again["counts"]["generated"] == 0


def test_receiver_batches_with_one_generator_per_image(tiny_weights):
    from semcom_bench.channels.awgn import AWGN
    from semcom_bench.data.synthetic_streets import SyntheticStreets

    ds = SyntheticStreets(split="test", size=2, height=32, width=64)
    m = registry.methods.create("gesco", RunContext(dataset=ds), weights=str(tiny_weights), steps=2)
    payloads = m.transmit_batch([ds[0], ds[1]], [torch.Generator().manual_seed(i) for i in range(2)])
    items = []
    for i, p in enumerate(payloads):
        assert p.source_bits > 0 and p.side_bits > 0 and p.symbols.is_complex()
        items.append(Delivery(AWGN()(p.symbols, 10.0, torch.Generator().manual_seed(10 + i)), p.side))
    both = m.receive_batch(items, [torch.Generator().manual_seed(s) for s in (7, 8)])
    alone = m.receive_batch(items[1:], [torch.Generator().manual_seed(8)])
    assert both[0].shape == (32, 64, 3) and both[0].dtype == np.uint8
    assert np.abs(both[1].astype(int) - alone[0].astype(int)).max() <= 1
    # FDS changes what the network sees
    cond_fds = m.conditioning(m.received_maps(items))
    m.fds = False
    assert not torch.equal(cond_fds, m.conditioning(m.received_maps(items)))
    assert cond_fds.shape == (2, 35, 16, 32)


def test_parameters_and_errors():
    g = registry.methods.create("gesco")
    s = registry.methods.create("sdm")
    assert (g.checkpoint, g.fds, g.sampler, g.steps, g.guidance, g.upsample) == ("gesco", True, "distilled", 40, 2.0, "bicubic")
    assert (s.checkpoint, s.fds, s.sampler) == ("sdm", False, "distilled")
    # the distilled network is the default only where it gives the requested output
    for other in ({"guidance": 3.0}, {"guidance_from": 500}, {"checkpoint": "gesco-fds"}, {"weights": __file__},
                  {"fds": False}):
        assert registry.methods.create("gesco", **other).sampler == "respaced", other
    assert registry.methods.create("sdm", fds=True).sampler == "respaced"  # its student saw raw maps
    assert registry.methods.create("sdm", fds=True, sampler="ancestral").steps == 1000
    assert isinstance(registry.methods.create("ours"), SemanticDiffusion)
    assert registry.methods.create("gesco", hard=True).params()["hard"] is True
    for bad in ({"sampler": "euler"}, {"checkpoint": "x"}, {"fds": "maybe"}, {"hard": "yes"}, {"steps": 0}, {"power": "x"}):
        with pytest.raises(UserError):
            registry.methods.create("gesco", **bad)
    with pytest.raises(UserError, match="does not exist"):
        registry.methods.create("gesco", weights="/nonexistent/ema_0.9999_000000.pt").checkpoint_hash()


def test_a_file_that_is_not_a_state_dict_is_a_user_error(tmp_path):
    path = tmp_path / "ema_0.9999_000000.pt"
    path.write_text("not weights\n")
    with pytest.raises(UserError, match="is not a torch state-dict file"):
        registry.methods.create("gesco", weights=str(path)).network()


def test_official_checkpoint_through_the_method(tmp_path):
    """An official-layout state dict (35 classes + edges) receives 34-class street maps."""
    from tests.nets.test_semantic_unet import _official_state

    path = tmp_path / "ema_0.9999_000000.pt"
    torch.save(_official_state(False), path)
    from semcom_bench.channels.awgn import AWGN
    from semcom_bench.data.synthetic_streets import SyntheticStreets

    ds = SyntheticStreets(split="test", size=1, height=32, width=64)
    m = registry.methods.create("gesco", RunContext(dataset=ds), weights=str(path), steps=1, guidance=1.0)
    p, = m.transmit_batch([ds[0]], [torch.Generator()])
    item = Delivery(AWGN()(p.symbols, 100.0, torch.Generator()), p.side)
    cond = m.conditioning(m.received_maps([item]))
    assert cond.shape == (1, 36, 32, 64)
    assert torch.count_nonzero(cond[:, 34]) == 0  # the official extra class stays empty; edges last
    assert torch.count_nonzero(cond[:, 35]) > 0
    img, = m.receive_batch([item], [torch.Generator().manual_seed(0)])
    assert img.shape == (32, 64, 3)


def test_embedded_weights_are_declared():
    for key, w in EMBEDDED.items():  # the FDS fine-tune as its lossless difference to gesco (.pt.xz)
        assert w.embedded == f"{key}/{key}-synthetic-streets.pt" + (".xz" if key == "gesco-fds" else "")


def test_shipped_networks_load_and_match_their_provenance():
    from semcom_bench.hashing import hash_file
    from semcom_bench.weights import resolve

    for key, w in EMBEDDED.items():
        path = resolve(w.name)
        info = json.loads(sidecar_path(path).read_text())
        assert hash_file(path) == info["weights"]["sha256"] == w.sha256
        assert info["provenance"]["steps"] > 0 and info["provenance"]["git_commit"] != "unknown"
        assert info["train"]["noise"] == ("none" if key == "sdm" else "channel")
        assert info["train"]["fds"] is (key == "gesco-fds") if "fds" in info["train"] else key != "gesco-fds"
        if key == "gesco-fds":  # fine-tuned from the shipped gesco network, stored as its lossless difference to it
            assert info["provenance"]["init"]["sha256"] == info["base"]["sha256"] == EMBEDDED["gesco"].sha256
            assert info["weights"]["encoding"] == FP16_XOR
        m = registry.methods.create(key.split("-")[0], checkpoint=key, steps=1)
        model, settings = m.network()
        assert settings["model_downsample"] == 2 and model.config.num_classes == 34
        state = network_state(path)
        assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
        if "tensors_sha256" in info["weights"]:
            assert tensors_sha256(state) == info["weights"]["tensors_sha256"]
        SemanticUNet(embedded_config()).load_state_dict({k: v.float() for k, v in state.items()}, strict=True)


def test_bf16_autocast_stays_close_to_float32_on_the_embedded_network():
    """precision=bf16 runs the U-Net passes under bfloat16 autocast (here on the CPU's code path):
    the images differ from float32 but stay close, the defaults keep their cache keys."""
    from semcom_bench.channels.awgn import AWGN
    from semcom_bench.data.synthetic_streets import SyntheticStreets

    ds = SyntheticStreets(split="test", size=2)
    fp32 = registry.methods.create("gesco", RunContext(dataset=ds), steps=10)
    bf16 = registry.methods.create("gesco", RunContext(dataset=ds), steps=10, precision="bf16")
    assert "precision" not in fp32.params() and bf16.params()["precision"] == "bf16"
    payloads = fp32.transmit_batch([ds[0], ds[1]], [torch.Generator().manual_seed(i) for i in range(2)])
    items = [Delivery(AWGN()(p.symbols, 10.0, torch.Generator().manual_seed(10 + i)), p.side)
             for i, p in enumerate(payloads)]
    a = np.stack(fp32.receive_batch(items, [torch.Generator().manual_seed(s) for s in (7, 8)])).astype(float)
    b = np.stack(bf16.receive_batch(items, [torch.Generator().manual_seed(s) for s in (7, 8)])).astype(float)
    diff = np.abs(a - b)
    assert diff.max() > 0  # the autocast path ran
    assert diff.mean() < 4.0, diff.mean()  # grey levels of 255; measured 0.6 (p99 2) on 8 scenes at 40 steps
