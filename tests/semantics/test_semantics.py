"""The semantic payload: one-hot maps, edges, codecs with exact bits, power normalisation, FDS."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from semcom_bench.channels.awgn import AWGN
from semcom_bench.data.base import Sample
from semcom_bench.errors import UserError
from semcom_bench.methods.semantic.maps import MapSender
from semcom_bench.semantics import (
    CODECS,
    FDS,
    SemanticSide,
    decode_code,
    decode_semantics,
    encode_maps,
    encode_semantics,
    fds,
    get_codec,
    hard_labels,
    hard_maps,
    instance_edges,
    map_error_rate,
    one_hot,
    pad_classes,
    present_classes,
    semantic_maps,
)
from semcom_bench.semantics.bits import bits_table, class_frequencies, image_bits, sample_bits
from semcom_bench.semantics.noise import GESCO_SIGMA, add_map_noise
from semcom_bench.semantics.payload import present_list_bits


def street_sample(h: int = 48, w: int = 96, seed: int = 0) -> Sample:
    """A small street-like scene: sky, building, road, sidewalk, two touching cars, a person."""
    rng = np.random.default_rng(seed)
    labels = np.full((h, w), 23, np.uint8)
    labels[h // 4 : h // 2] = 11
    labels[h // 2 :] = 7
    labels[h // 2 :, : w // 6] = 8
    labels[h - 2 :, :] = 1
    labels[0, 0] = 255  # one unlabelled pixel outside the label space
    inst = labels.astype(np.int32).copy()
    for k, (r, c) in enumerate([(h // 2 + 4, w // 3), (h // 2 + 4, w // 3 + 12)]):
        labels[r : r + 8, c : c + 12] = 26
        inst[r : r + 8, c : c + 12] = 26000 + k
    labels[h // 2 : h // 2 + 10, w - 10 : w - 6] = 24
    inst[h // 2 : h // 2 + 10, w - 10 : w - 6] = 24000
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Sample(key="t/street", image=image, labels=labels, instances=inst)


# ---------------------------------------------------------------- one-hot and edges


def test_one_hot_shapes_and_out_of_range():
    lab = np.array([[0, 2], [255, 1]], np.uint8)
    oh = one_hot(lab, 3)
    assert oh.shape == (3, 2, 2) and oh.dtype == torch.float32
    assert oh[:, 1, 0].sum() == 0  # 255 has no channel
    assert oh[2, 0, 1] == 1 and oh[0, 0, 0] == 1
    batch = one_hot(np.stack([lab, lab]), 3)
    assert batch.shape == (2, 3, 2, 2)
    assert present_classes(lab, 3) == [0, 1, 2]


def test_instance_edges_match_the_official_rule_with_8_bit_clipping():
    inst = np.array([[26000, 26001, 7], [26000, 26001, 7]], np.int32)
    # 8-bit: both cars become 255, only the car/road boundary is an edge (both sides)
    e8 = instance_edges(inst)
    assert e8.tolist() == [[0, 1, 1], [0, 1, 1]]
    # full ids: the boundary between the two cars is an edge too
    full = instance_edges(inst, eight_bit=False)
    assert full.tolist() == [[1, 1, 1], [1, 1, 1]]
    # the official code's formula, on a random map
    rng = np.random.default_rng(1)
    t = torch.from_numpy(rng.integers(0, 3, (1, 1, 9, 11)))
    edge = torch.zeros(t.shape, dtype=torch.uint8)
    edge[:, :, :, 1:] |= (t[:, :, :, 1:] != t[:, :, :, :-1]).to(torch.uint8)
    edge[:, :, :, :-1] |= (t[:, :, :, 1:] != t[:, :, :, :-1]).to(torch.uint8)
    edge[:, :, 1:, :] |= (t[:, :, 1:, :] != t[:, :, :-1, :]).to(torch.uint8)
    edge[:, :, :-1, :] |= (t[:, :, 1:, :] != t[:, :, :-1, :]).to(torch.uint8)
    assert torch.equal(instance_edges(t[0, 0]), edge[0, 0].float())


def test_semantic_maps_layout():
    s = street_sample()
    maps = semantic_maps(s.labels, 34, s.instances)
    assert maps.shape == (35, 48, 96)
    assert torch.equal(maps[34], instance_edges(s.instances))
    assert semantic_maps(s.labels, 34, None).shape == (35, 48, 96)
    assert semantic_maps(s.labels, 34, None)[34].sum() == 0


# ---------------------------------------------------------------- codecs and exact bits


@pytest.mark.parametrize("codec", list(CODECS))
def test_lossless_codecs_round_trip_and_count_exact_bytes(codec):
    s = street_sample()
    p = encode_semantics(s, 34, codec=codec)
    truth = semantic_maps(s.labels, 34, s.instances)[list(p.side.present) + [34]]
    assert torch.equal(p.maps, truth)
    assert torch.equal(decode_code(p.code, p.side), truth)
    assert p.map_bits == 8 * len(p.code)
    # the bytes are a real file of the codec's format
    if codec != "labels-png" and codec != "png":
        with Image.open(io.BytesIO(p.code)) as im:
            assert im.format in ("WEBP", "TIFF")


def test_g4_codes_any_binary_maps_and_joint_codecs_refuse_overlaps():
    rng = np.random.default_rng(0)
    planes = (rng.random((3, 16, 24)) < 0.3).astype(np.float32)
    g4 = get_codec("g4")
    assert np.array_equal(g4.decode(g4.encode(planes), planes.shape), planes)
    with pytest.raises(ValueError, match="one-hot"):
        get_codec("labels-webp").encode(planes, 3)
    with pytest.raises(UserError, match="unknown map codec"):
        get_codec("zip")


def test_jpeg_codec_is_lossy_and_the_analog_maps_follow_it():
    s = street_sample()
    p = encode_semantics(s, 34, codec="jpeg-30")
    assert p.side.codec == "jpeg-30" and p.map_bits == 8 * len(p.code)
    assert torch.allclose(decode_code(p.code, p.side), p.maps)
    truth = semantic_maps(s.labels, 34, s.instances)[list(p.side.present) + [34]]
    assert not torch.equal(p.maps, truth)
    assert (p.maps - truth).abs().mean() < 0.05


def test_side_bits_are_counted_exactly():
    s = street_sample()
    p = encode_semantics(s, 35)
    k = len(p.side.present)
    assert p.side.present == (1, 7, 8, 11, 23, 24, 26)
    assert present_list_bits(k, 35) == 6 + k * 6  # count field ceil(log2 36)=6, index ceil(log2 35)=6
    assert p.side_bits == 6 + 6 * k + 1 + 2 * 16 + 32
    payload, = MapSender(35).transmit_batch([s], [torch.Generator()])
    assert payload.source_bits == p.map_bits and payload.side_bits == p.side_bits and payload.side == p.side
    assert payload.channel_uses == (k + 1) * 48 * 96 // 2 and payload.scale == p.side.scale
    assert SemanticSide.from_dict(p.side.to_dict()) == p.side


def test_the_default_codec_is_the_smallest_lossless_one_on_streets():
    s = street_sample(96, 192)
    sizes = {c: encode_semantics(s, 34, codec=c).map_bits for c in CODECS}
    print("map bits by codec:", sizes)
    assert min(sizes, key=sizes.get) == "labels-webp"


# ---------------------------------------------------------------- analog transmission


def test_payload_round_trips_exactly_through_awgn_at_100_db():
    s = street_sample()
    for power in ("average", "peak"):
        p = encode_semantics(s, 34, power=power)
        energy = p.symbols.abs().square()
        if power == "average":
            assert abs(float(energy.mean()) - 1.0) < 1e-5
        else:  # a pair of ones has unit power: every map value of 1 is a component of 1/√2
            parts = torch.view_as_real(p.symbols)
            assert torch.all((parts.abs() < 1e-6) | ((parts - 2**-0.5).abs() < 1e-6))
            assert abs(float(energy.max()) - 1.0) < 1e-5 and float(energy.mean()) < 1.0
        rx = AWGN()(p.symbols, 100.0, torch.Generator().manual_seed(0))
        maps = decode_semantics(rx, p.side, fds=False)
        truth = semantic_maps(s.labels, 34, s.instances)
        assert maps.shape == (35, 48, 96)
        assert torch.equal(maps.round(), truth)
        assert (maps - truth).abs().max() < 1e-4
        assert torch.equal(hard_labels(maps, 34, p.side.present)[1:, 1:], torch.from_numpy(s.labels[1:, 1:]).long())


def test_peak_power_gives_the_papers_noise_on_the_maps():
    s = street_sample(96, 192)
    p = encode_semantics(s, 34, power="peak")
    rx = AWGN()(p.symbols, 10.0, torch.Generator().manual_seed(0))
    noise = decode_semantics(rx, p.side, fds=False) - semantic_maps(s.labels, 34, s.instances)
    sent = noise[list(p.side.present) + [34]]
    assert abs(float(sent.std()) - 0.1**0.5) < 0.01  # σ² = 10^(-PSNR/10) per map value
    assert float(noise[[c for c in range(34) if c not in p.side.present]].abs().max()) == 0.0


def test_batch_decoding_and_sender_object():
    samples = [street_sample(seed=i) for i in range(3)]
    payloads = MapSender(num_classes=34).transmit_batch(samples, [torch.Generator() for _ in samples])
    g = torch.Generator().manual_seed(0)
    rxs = [AWGN()(p.symbols, 20.0, g) for p in payloads]
    batch = decode_semantics(rxs, [p.side for p in payloads])
    assert batch.shape == (3, 35, 48, 96) and batch.dtype == torch.float32


def test_downsampled_maps_use_fewer_channel_uses():
    s = street_sample()
    full = encode_semantics(s, 34)
    half = encode_semantics(s, 34, downsample=2)
    assert half.side.map_shape[1:] == (24, 48)
    assert half.channel_uses * 4 == full.channel_uses + (full.side.num_maps - half.side.num_maps) * 48 * 96 // 2
    rx = AWGN()(half.symbols, 100.0, torch.Generator().manual_seed(0))
    maps = decode_semantics(rx, half.side, fds=False)
    assert maps.shape == (35, 48, 96)
    err = map_error_rate(hard_labels(maps, 34, half.side.present), s.labels, 34)
    assert err < 0.05
    with pytest.raises(UserError, match="divide"):
        encode_semantics(s, 34, downsample=5)


def test_no_labels_is_a_user_error():
    with pytest.raises(UserError, match="no labels"):
        encode_semantics(Sample(key="x", image=np.zeros((4, 4, 3), np.uint8)), 3)


# ---------------------------------------------------------------- FDS


def test_fds_matches_the_formula_on_a_hand_made_example():
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 9.0  # a single spike
    x[0, 0, 0, 4] = 9.0  # a spike in the corner
    y = fds(x)
    # AvgPool 3x3 / stride 1 / padding 1 (padding counted): the spike becomes 1 over its 3x3
    # neighbourhood; the corner spike has only 4 in-image neighbours but is still divided by 9.
    avg = torch.zeros(5, 5)
    avg[1:4, 1:4] = 1.0
    avg[0:2, 3:5] += 1.0
    assert torch.allclose(torch.nn.functional.avg_pool2d(x, 3, 1, 1)[0, 0], avg)
    # MaxPool 3x3 / stride 1 / padding 1 of that
    expected = torch.zeros(5, 5)
    for r in range(5):
        for c in range(5):
            expected[r, c] = avg[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].max()
    assert torch.equal(y[0, 0], expected)
    assert expected[0, 0] == 1.0 and expected[2, 2] == 2.0 and expected[4, 0] == 1.0
    assert torch.equal(FDS()(x), y)
    assert torch.equal(fds(x[0]), y[0])  # (K, H, W) input


def test_fds_pads_the_absent_classes_with_zeros():
    maps = torch.rand(3, 4, 5)
    full = pad_classes(maps, [2, 5], 6, edges=True)
    assert full.shape == (7, 4, 5)
    assert torch.equal(full[2], maps[0]) and torch.equal(full[5], maps[1]) and torch.equal(full[6], maps[2])
    assert full[[0, 1, 3, 4]].abs().sum() == 0


def test_fds_reduces_the_map_error_at_low_psnr():
    """FDS on received maps at the paper's PSNR (peak power) 1, 5, 10 dB, and at Es/N0."""
    from semcom_bench.data.synthetic_streets import SyntheticStreets

    ds = SyntheticStreets("test", size=4)
    print("\npower   snr  err(no FDS)  err(FDS)  mse(no FDS)  mse(FDS)")
    for power, snrs in (("peak", (10.0, 5.0, 1.0)), ("average", (0.0, -3.0))):
        for snr in snrs:
            e = {True: [], False: []}
            m = {True: [], False: []}
            for i, s in enumerate(ds):
                p = encode_semantics(s, 34, power=power)
                rx = AWGN()(p.symbols, snr, torch.Generator().manual_seed(i))
                truth = semantic_maps(s.labels, 34, s.instances)
                for with_fds in (False, True):
                    maps = decode_semantics(rx, p.side, fds=with_fds)
                    e[with_fds].append(map_error_rate(hard_labels(maps, 34, p.side.present), s.labels, 34))
                    m[with_fds].append(float((maps - truth).square().mean()))
            err0, err1, mse0, mse1 = map(np.mean, (e[False], e[True], m[False], m[True]))
            print(f"{power:8s}{snr:4.0f}  {err0:11.4f}  {err1:8.4f}  {mse0:11.4f}  {mse1:8.4f}")
            assert err1 < err0 and mse1 < mse0


def test_hard_maps_binarise_with_argmax_classes_and_thresholded_edges():
    maps = torch.tensor([[[0.9, 0.2], [0.3, 0.4]],
                         [[0.5, 0.7], [0.1, 0.6]],
                         [[0.6, 0.4], [0.51, -0.2]]])  # 2 class maps + the edge map
    out = hard_maps(maps, edges=True)
    assert torch.equal(out[0], torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    assert torch.equal(out[1], torch.tensor([[0.0, 1.0], [0.0, 1.0]]))
    assert torch.equal(out[2], torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    assert torch.equal(hard_maps(maps, edges=False).sum(0), torch.ones(2, 2))


def test_hard_decision_after_fds_recovers_clean_maps_and_removes_the_fds_floor():
    """At the paper's PSNR 5 the soft FDS output sits well above 0 on every map; the hard
    decision gives {0, 1} maps that are closer to the sent ones than the soft output."""
    s = street_sample()
    p = encode_semantics(s, 34, power="peak")
    rx = AWGN()(p.symbols, 5.0, torch.Generator().manual_seed(0))
    truth = semantic_maps(s.labels, 34, s.instances)
    soft = decode_semantics(rx, p.side, fds=True)
    hard = decode_semantics(rx, p.side, fds=True, hard=True)
    sent = list(p.side.present)
    assert float(soft[sent][truth[sent] == 0].mean()) > 0.1
    assert set(hard.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(hard[sent].sum(0), torch.ones(s.labels.shape))  # one class per pixel
    assert float((hard - truth).abs().mean()) < float((soft - truth).abs().mean())
    assert map_error_rate(hard_labels(hard, 34, sent), s.labels, 34) == map_error_rate(
        hard_labels(soft, 34, sent), s.labels, 34)  # the arg-max labels are the same


# ---------------------------------------------------------------- official noise table, bits


def test_official_noise_table_touches_present_channels_only():
    s = street_sample()
    maps = semantic_maps(s.labels, 34, s.instances)[None]
    noisy = add_map_noise(maps, GESCO_SIGMA[10], torch.Generator().manual_seed(0))
    absent = [c for c in range(34) if c not in present_classes(s.labels, 34)]
    assert torch.equal(noisy[0, absent], maps[0, absent])
    assert abs(float((noisy - maps)[0, 7].std()) - 0.36) < 0.02
    # training style: one field over every channel, absent ones included
    shared = add_map_noise(maps, 0.5, torch.Generator().manual_seed(0), shared_across_channels=True, only_present=False)
    d = shared - maps
    assert torch.allclose(d[0, 7], d[0, 11], atol=1e-6) and torch.allclose(d[0, 7], d[0, 0], atol=1e-6)


def test_gesco_code_channel_adds_the_official_sigma_to_the_transmitted_maps():
    from semcom_bench.channels.gesco_code import GescoCode

    s = street_sample(96, 192)
    payload, = MapSender(34).transmit_batch([s], [torch.Generator()])
    assert payload.scale == payload.side.scale
    rx = GescoCode()(payload.symbols, 10, torch.Generator().manual_seed(0), payload_scale=payload.scale)
    side = payload.side
    noise = decode_semantics(rx, side, fds=False) - semantic_maps(s.labels, 34, s.instances)
    assert abs(float(noise[list(side.present) + [34]].std()) - GESCO_SIGMA[10]) < 0.01
    assert float(noise[[c for c in range(34) if c not in side.present]].abs().max()) == 0.0


def test_bits_against_the_full_image():
    s = street_sample()
    ib = image_bits(s.image)
    assert ib["image_raw"] == 8 * 48 * 96 * 3
    buf = io.BytesIO()
    Image.fromarray(s.image).save(buf, format="PNG", optimize=True, compress_level=9)
    assert ib["image_png"] == 8 * len(buf.getvalue())
    sb = sample_bits(s, 34, codecs=("labels-webp", "g4"))
    assert sb["maps_labels-webp"] == encode_semantics(s, 34).map_bits
    table = {r["quantity"]: r for r in bits_table([s, street_sample(seed=1)], 34)}
    assert table["maps_labels-webp"]["vs_raw"] > 0.9
    assert table["image_raw"]["mean"] == 8 * 48 * 96 * 3
    freq = class_frequencies([s], 34)
    assert abs(sum(r["pixels"] for r in freq) - 1.0) < 1e-9
    assert any(r["id"] == -1 for r in freq)  # the 255 pixel
