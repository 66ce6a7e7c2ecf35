"""The maps' digital transport: the map codec's bytes through digital's LDPC + QAM chain."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from semcom_bench import registry
from semcom_bench.channels.awgn import AWGN
from semcom_bench.components import RunContext
from semcom_bench.config import build_config
from semcom_bench.errors import UserError
from semcom_bench.methods.base import Delivery
from semcom_bench.methods.semantic.maps import CodedMapsSide, decode_map_stream
from semcom_bench.runner import run_matrix
from semcom_bench.semantics import decode_semantics, encode_semantics
from tests.methods.semantic.test_gesco import tiny_weights  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(importlib.util.find_spec("sionna") is None, reason="sionna-no-rt not installed")


@pytest.fixture(scope="module")
def streets():
    from semcom_bench.data.synthetic_streets import SyntheticStreets

    return SyntheticStreets(split="test", size=3, height=32, width=64)


def _send(method, samples, snr_db: float):
    payloads = method.transmit_batch(samples, [torch.Generator() for _ in samples])
    return payloads, [Delivery(AWGN()(p.symbols, snr_db, torch.Generator().manual_seed(i)), p.side)
                      for i, p in enumerate(payloads)]


def test_payload_is_the_map_codec_bytes_over_the_ldpc_chain(streets):
    ctx = RunContext(dataset=streets)
    digital = registry.methods.create("gesco", ctx, transport="digital")
    analog = registry.methods.create("gesco", ctx)
    samples = [streets[i] for i in range(3)]
    payloads, _ = _send(digital, samples, math.inf)
    for s, p, q in zip(samples, payloads, analog.transmit_batch(samples, [torch.Generator() for _ in samples])):
        code = encode_semantics(s, streets.num_classes).code
        assert isinstance(p.side, CodedMapsSide) and p.side.nbytes == len(code)
        assert p.source_bits == 8 * len(code) == q.source_bits  # the same exact bits, now actually sent
        assert p.side_bits == q.side_bits  # the byte count (32 bits) replaces the analog scale (32 bits)
        assert p.channel_uses == math.ceil(8 * len(code) / 1024) * 2048 // 2 < q.channel_uses
        assert p.scale is None and p.symbols.dtype == torch.complex64
        assert p.symbols.abs().square().mean().item() == pytest.approx(1.0, abs=0.05)  # unit-power QPSK


def test_above_the_cliff_the_maps_arrive_exactly_below_they_are_concealed(streets):
    m = registry.methods.create("gesco", RunContext(dataset=streets), transport="digital")
    samples = [streets[i] for i in range(3)]
    exact = torch.stack([decode_semantics(encode_semantics(s, streets.num_classes).symbols,
                                          encode_semantics(s, streets.num_classes).side, fds=False) for s in samples])
    for snr_db in (math.inf, 4.0):  # QPSK rate 1/2: threshold near 1-2 dB
        _, items = _send(m, samples, snr_db)
        maps, statuses = m.received_maps_with_status(items)
        assert [s.outcome for s in statuses] == ["decoded"] * 3
        torch.testing.assert_close(maps, exact, rtol=0, atol=0)  # no FDS, no noise: the sent maps
    _, items = _send(m, samples, -3.0)
    maps, statuses = m.received_maps_with_status(items)
    assert [s.outcome for s in statuses] == ["concealed"] * 3 and all(s.message for s in statuses)
    assert maps.shape == exact.shape and torch.count_nonzero(maps) == 0  # the null label


def test_damaged_streams_never_raise(streets):
    sem = encode_semantics(streets[0], streets.num_classes)
    maps, status = decode_map_stream(sem.code, sem.side)
    assert status.outcome == "decoded" and maps.shape == (35, 32, 64)
    for bad in (b"", b"\x00" * 64, sem.code[: len(sem.code) // 2], bytes(b ^ 0x5A for b in sem.code)):
        maps, status = decode_map_stream(bad, sem.side)
        assert status.outcome == "concealed" and torch.count_nonzero(maps) == 0 and maps.shape == (35, 32, 64)


def test_identity_separates_the_transports_and_keeps_the_analog_key(streets):
    ctx = RunContext(dataset=streets)
    analog = registry.methods.create("gesco", ctx)
    digital = registry.methods.create("gesco", ctx, transport="digital")
    sixteen = registry.methods.create("gesco", ctx, transport="digital", bits_per_symbol=4)
    keys = {m.sender.key() for m in (analog, digital, sixteen)}
    assert len(keys) == 3
    assert analog.sender.identity()["transport"] == "analog" and digital.sender.identity()["transport"] == "digital"
    assert "power" not in digital.sender.settings()  # QAM is unit power whatever power says
    assert analog.params()["transport"] == "analog"
    assert {"transport", "rate", "bits_per_symbol", "k", "n", "decoder"} <= set(digital.params())
    # gesco and sdm of one transport share the sender: paired in a run
    assert registry.methods.create("sdm", ctx, transport="digital").sender.key() == digital.sender.key()


def test_parameters_and_errors():
    m = registry.methods.create("sdm", transport="digital", rate=0.75, bits_per_symbol=6)
    assert (m.transport, m.link.rate, m.link.bits_per_symbol, m.link.k) == ("digital", 0.75, 6, 1024)
    with pytest.raises(UserError, match="does not apply to transport=digital"):
        registry.methods.create("gesco", transport="digital", power="peak")
    for bad in ({"transport": "optical"}, {"rate": 0.95}, {"bits_per_symbol": 3}):
        with pytest.raises(UserError):
            registry.methods.create("gesco", **bad)


def test_through_the_runner_with_bits_and_outcomes(tiny_weights, tmp_path):  # noqa: F811
    w = tiny_weights
    methods = f"gesco(weights={w},steps=2),gesco(weights={w},steps=2,transport=digital)"
    cfg = build_config(None, methods=methods, values="-3,8", metrics="bits", limit=2,
                       dataset="synthetic-streets(height=32,width=64)", cache_dir=tmp_path / "c", out=tmp_path / "o")
    res = run_matrix(cfg)
    assert res["counts"] == {"total": 8, "cached": 0, "generated": 8}  # the transports do not share images
    uses = {(r["method"], r["snr_db"], r["sample"]): r["value"] for r in res["rows"] if r["output"] == "channel_uses"}
    digital = {k: v for k, v in uses.items() if "transport=digital" in k[0]}
    analog = {k: v for k, v in uses.items() if "transport=digital" not in k[0]}
    assert len(digital) == len(analog) == 4 and max(digital.values()) < min(analog.values())
    # outcomes of the digital receiver, and a concealed image is the network's unconditional sample
    from semcom_bench.data.synthetic_streets import SyntheticStreets

    ds = SyntheticStreets(split="test", size=1, height=32, width=64)
    m = registry.methods.create("gesco", RunContext(dataset=ds), weights=str(w), steps=2, transport="digital")
    _, items = _send(m, [ds[0]], -3.0)
    (img, status), = m.receive_with_status(items, [torch.Generator().manual_seed(3)])
    assert status.outcome == "concealed" and img.shape == (32, 64, 3) and img.dtype == np.uint8
    null = m.synthesise(torch.zeros(1, 35, 32, 64), (32, 64), [torch.Generator().manual_seed(3)])[0]
    np.testing.assert_array_equal(img, null)
