"""The compact encodings of shipped weights: int8 within half a step, the XOR difference bit for bit."""

from __future__ import annotations

import lzma

import pytest
import torch

from semcom_bench.weight_codecs import (SCALE_SUFFIX, dequantise, quantise, read_xor, sidecar_path, tensors_sha256,
                                        write_xor)


def _state(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"conv.weight": torch.randn(8, 4, 3, 3, generator=g) * torch.linspace(0.01, 2.0, 8).view(8, 1, 1, 1),
            "conv.bias": torch.randn(8, generator=g), "bn.running_var": torch.rand(8, generator=g) + 0.5,
            "bn.num_batches_tracked": torch.tensor(7)}


def test_int8_keeps_each_channel_within_half_a_step_and_small_tensors_as_float16():
    state = _state(0)
    stored = quantise(state, min_dims=2)
    assert stored["conv.weight"].dtype == torch.int8 and stored["conv.weight" + SCALE_SUFFIX].shape == (8,)
    assert stored["conv.bias"].dtype == torch.float16 and stored["bn.num_batches_tracked"].dtype == torch.int64
    back = dequantise(stored)
    step = state["conv.weight"].abs().flatten(1).amax(1) / 127  # per output channel, 0.01..2.0 apart
    err = (back["conv.weight"] - state["conv.weight"]).abs().flatten(1).amax(1)
    assert torch.all(err <= step / 2 + 1e-7) and torch.all(err > 0)
    assert torch.equal(back["conv.bias"], state["conv.bias"].half().float())
    assert set(back) == set(state)
    del stored["conv.weight" + SCALE_SUFFIX]
    with pytest.raises(ValueError, match="conv.weight has no .delta_scale"):
        dequantise(stored)


def test_int8_difference_to_a_base_leaves_the_other_tensors_as_the_base_has_them():
    base, trained = _state(0), _state(1)
    stored = quantise({"conv.bias": trained["conv.bias"]}, base)
    back = dequantise(stored, base)
    assert torch.equal(back["conv.weight"], base["conv.weight"])
    assert (back["conv.bias"] - trained["conv.bias"]).abs().max() <= (trained["conv.bias"] - base["conv.bias"]).abs().max() / 254 + 1e-6
    with pytest.raises(ValueError, match="other is not a tensor of the base"):
        dequantise({"other": stored["conv.bias"], "other" + SCALE_SUFFIX: stored["conv.bias" + SCALE_SUFFIX]}, base)


def test_xor_difference_is_lossless_and_refuses_another_base(tmp_path):
    base = {k: v.half() for k, v in _state(0).items() if v.is_floating_point()}
    tuned = {k: (v.float() * 1.001 + 1e-4).half() for k, v in base.items()}
    path = tmp_path / "tuned.pt.xz"
    write_xor(path, tuned, base)
    back = read_xor(path, base)
    assert all(torch.equal(back[k].view(torch.int16), tuned[k].view(torch.int16)) for k in tuned)
    assert tensors_sha256(back) == tensors_sha256(tuned) != tensors_sha256(base)
    assert lzma.decompress(path.read_bytes())  # an lzma stream
    with pytest.raises(ValueError, match="conv.weight is not a tensor of the base"):
        read_xor(path, {"conv.bias": base["conv.bias"]})
    with pytest.raises(ValueError, match="not float16"):
        write_xor(tmp_path / "x.pt.xz", {k: v.float() for k, v in tuned.items()}, base)
    (tmp_path / "bad.pt.xz").write_bytes(b"not lzma")
    with pytest.raises(ValueError, match="not an lzma-compressed state dict"):
        read_xor(tmp_path / "bad.pt.xz", base)


def test_the_json_beside_a_compressed_file_drops_both_suffixes(tmp_path):
    assert sidecar_path(tmp_path / "net.pt.xz") == tmp_path / "net.json" == sidecar_path(tmp_path / "net.pt")


def test_the_tensor_hash_covers_names_dtypes_and_scalars():
    state = _state(0)
    assert tensors_sha256(state) == tensors_sha256(dict(state))
    assert tensors_sha256(state) != tensors_sha256({**state, "bn.num_batches_tracked": torch.tensor(8)})
    assert tensors_sha256(state) != tensors_sha256({**state, "conv.bias": state["conv.bias"].double()})
    assert tensors_sha256(state) != tensors_sha256({("x" + k): v for k, v in state.items()})
