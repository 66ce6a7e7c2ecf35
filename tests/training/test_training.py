"""The shared training package: scene cache, provenance beside a checkpoint, checkpoints and resuming."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from semcom_bench.data.synthetic_streets import SyntheticStreets
from semcom_bench.training import (checkpoint_files, default_data_cache, file_record, latest_ema, latest_step, load_checkpoint,
                                   provenance_path, render_training_set, reproduce_command, restore_generator, run_provenance,
                                   save_checkpoint, write_provenance)

SPEC = {"name": "synthetic-streets", "split": "train", "size": 5, "height": 32, "width": 64, "seed": 0}
ALL = ("images", "labels", "edges", "depth", "boxes")


def test_scenes_are_the_data_set_samples():
    data = render_training_set(SPEC, workers=1, log=lambda _: None, fields=ALL)
    ds = SyntheticStreets(split="train", size=5, height=32, width=64, seed=0)
    assert data["images"].shape == (5, 32, 64, 3) and data["images"].dtype == np.uint8
    assert data["depth"].dtype == np.float16 and bool(data["has_edges"])
    for i in range(5):
        s = ds[i]
        assert np.array_equal(data["images"][i], s.image) and np.array_equal(data["labels"][i], s.labels)
        assert np.array_equal(data["depth"][i], s.depth.astype(np.float16))
        a, b = data["box_index"][i], data["box_index"][i + 1]
        assert np.array_equal(data["boxes"][a:b], s.boxes) and np.array_equal(data["box_labels"][a:b], s.box_labels)
    # worker processes give the same arrays, in the same order
    pooled = render_training_set(SPEC, workers=2, log=lambda _: None, fields=ALL)
    assert set(pooled) == set(data) and all(np.array_equal(pooled[k], data[k]) for k in data)
    with pytest.raises(ValueError, match="unknown training-set fields"):
        render_training_set(SPEC, workers=1, log=lambda _: None, fields=("images", "instances"))


def test_scene_cache_is_keyed_by_the_spec_and_gains_missing_fields(tmp_path):
    cache = default_data_cache(SPEC)
    assert cache.parent == tmp_path / "cache" / "training-data" and cache.suffix == ".npz"
    # the default file of the shipped recipes' data set keeps the name it always had
    shipped = {"size": 10000, "height": 64, "width": 128, "seed": 0, "name": "synthetic-streets", "split": "train"}
    assert default_data_cache(shipped).name == "0a393951b2144ff9.npz"
    lines: list[str] = []
    first = render_training_set(SPEC, 1, cache, lines.append)
    assert set(first) == {"images", "labels", "edges", "has_edges"} and "rendered 5" in lines[-1]
    assert render_training_set(SPEC, 1, cache, lines.append)["images"].shape == (5, 32, 64, 3)
    assert lines[-1] == f"training scenes: 5 from {cache}"
    more = render_training_set(SPEC, 1, cache, lines.append, fields=("labels", "depth", "boxes"))
    assert "rendered 5" in lines[-1] and np.array_equal(more["labels"], first["labels"])
    with np.load(cache) as z:  # one file with every field rendered so far; no temporary file left
        assert set(z.files) == {"images", "labels", "edges", "has_edges", "depth", "boxes", "box_labels", "box_index", "spec"}
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]
    render_training_set(SPEC, 1, cache, lines.append, fields=ALL)
    assert lines[-1].endswith(f"from {cache}")
    # another spec does not read this file; it rewrites it
    other = {**SPEC, "seed": 1}
    assert not np.array_equal(render_training_set(other, 1, cache, lines.append)["images"], first["images"])
    assert "rendered" in lines[-1]
    cache.write_bytes(b"not an npz")  # a broken cache is rendered again
    assert np.array_equal(render_training_set(SPEC, 1, cache, lines.append)["images"], first["images"])


def test_provenance_beside_the_checkpoint(tmp_path, monkeypatch):
    ckpt = tmp_path / "net-synthetic-streets.pt"
    ckpt.write_bytes(b"weights")
    rec = file_record(ckpt)
    assert rec == {"file": ckpt.name, "sha256": hashlib.sha256(b"weights").hexdigest(), "bytes": 7}
    monkeypatch.setenv("SEMCOM_GIT_COMMIT", "0123abc")
    run = run_provenance("cpu")
    assert run["git_commit"] == "0123abc" and run["versions"] == {"torch": torch.__version__}
    assert run["device_name"].startswith("cpu (") and run["date"].endswith("Z")
    path = write_provenance(ckpt, {**rec, "git_commit": run["git_commit"]})
    assert path == provenance_path(ckpt) == tmp_path / "net-synthetic-streets.json"
    assert json.loads(path.read_text())["sha256"] == rec["sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net-synthetic-streets.json", "net-synthetic-streets.pt"]


def test_reproduce_command_sets_the_steps_done():
    cmd = "semcom-bench train gesco --device cuda --steps 100000 --time-limit 400 --out '/tmp/my runs' --export assets"
    assert reproduce_command(cmd, 3208) == ("semcom-bench train gesco --steps 3208 --device cuda --out '/tmp/my runs' "
                                            "--export assets")
    assert reproduce_command("semcom-bench train sdm --steps=5 --time-limit=9", 4) == "semcom-bench train sdm --steps 4"


def test_checkpoints_round_trip_and_resume_state(tmp_path):
    assert latest_step(tmp_path) is None and latest_ema(tmp_path) is None
    net = torch.nn.Linear(3, 2)
    gen = torch.Generator().manual_seed(5)
    for step in (1, 12):
        state = {"step": step, "generator": gen.get_state(), "generator_device": "cpu"}
        files = save_checkpoint(tmp_path, step, 0.99, net.state_dict(), {k: v + 1 for k, v in net.state_dict().items()}, state)
    assert files == checkpoint_files(tmp_path, 12, 0.99)
    assert [p.name for p in files.values()] == ["model_000012.pt", "ema_0.99_000012.pt", "opt_000012.pt"]
    (tmp_path / "model_backup.pt").write_bytes(b"")  # not a checkpoint
    assert latest_step(tmp_path) == 12 and latest_ema(tmp_path) == files["ema"]
    model, ema, state = load_checkpoint(tmp_path, 12, 0.99, "cpu")
    assert torch.equal(model["weight"], net.weight) and torch.equal(ema["bias"], net.bias + 1) and state["step"] == 12
    files["ema"].unlink()
    assert load_checkpoint(tmp_path, 12, 0.99, "cpu")[1] is None
    expected = torch.rand(4, generator=gen)
    fresh = torch.Generator().manual_seed(0)
    assert restore_generator(fresh, state["generator"], "cpu", reseed=7)
    assert torch.equal(torch.rand(4, generator=fresh), expected)
    assert not restore_generator(fresh, state["generator"], "cuda:0", reseed=7)  # another device: reseeded
    assert torch.equal(torch.rand(4, generator=fresh), torch.rand(4, generator=torch.Generator().manual_seed(7)))


def test_evaluator_and_diffusion_scenes_share_the_render_spec():
    from semcom_bench.diffusion.training import training_data_spec
    from semcom_bench.evaluators.training import scene_spec

    assert scene_spec("train", 10000) == training_data_spec("synthetic-streets")
    assert training_data_spec("synthetic-streets(size=4,height=32)") == {**scene_spec("train", 4), "height": 32}


class _RunsCode:
    """Pickles to a call of ``Path.touch``: loading it would create ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        from pathlib import Path

        return (Path.touch, (Path(self.marker),))


def test_checkpoints_are_read_as_data_only(tmp_path):
    from semcom_bench.errors import UserError

    net = torch.nn.Linear(3, 2)
    files = save_checkpoint(tmp_path, 3, 0.99, net.state_dict(), net.state_dict(), {"step": 3})
    marker = tmp_path / "code-ran"
    torch.save({"step": 3, "payload": _RunsCode(marker)}, files["opt"])
    with pytest.raises(UserError) as info:
        load_checkpoint(tmp_path, 3, 0.99, "cpu")
    assert not marker.exists()  # nothing in the file ran
    message = str(info.value)
    assert message == (f"checkpoint file {files['opt']} cannot be read safely (it holds objects other than tensors and "
                       "plain data, and loading those could run code); remove its step's files to resume from the one before")
    files["opt"].write_bytes(b"garbage")
    with pytest.raises(UserError, match=r"cannot be read safely \(not a torch file this version can read\)"):
        load_checkpoint(tmp_path, 3, 0.99, "cpu")
    torch.save([1, 2], files["opt"])
    with pytest.raises(UserError, match="holds no training state"):
        load_checkpoint(tmp_path, 3, 0.99, "cpu")
    files["opt"].unlink()
    with pytest.raises(UserError, match=f"checkpoint file {files['opt']} is missing"):
        load_checkpoint(tmp_path, 3, 0.99, "cpu")


def test_a_training_state_with_optimiser_and_generator_loads_weights_only(tmp_path):
    """What the diffusion trainer saves (AdamW state, a CPU generator's state, history, config) needs no pickle."""
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    gen = torch.Generator().manual_seed(3)
    torch.rand(2, generator=gen)
    state = {"optimizer": opt.state_dict(), "step": 7, "generator": gen.get_state(), "generator_device": "cpu",
             "history": [{"loss": 0.5, "step": 7}], "seconds": 1.5, "config": {"lr": 1e-3, "init": None, "net": {}}}
    save_checkpoint(tmp_path, 7, 0.9, net.state_dict(), net.state_dict(), state)
    _, _, back = load_checkpoint(tmp_path, 7, 0.9, "cpu")
    again = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=1e-3)
    again.load_state_dict(back["optimizer"])
    assert back["history"] == state["history"] and back["config"] == state["config"]
    fresh = torch.Generator()
    assert restore_generator(fresh, back["generator"], back["generator_device"], reseed=0)
    assert torch.equal(torch.rand(5, generator=fresh), torch.rand(5, generator=gen))


def test_a_full_disk_leaves_no_partial_checkpoint(tmp_path, monkeypatch):
    """Files are written whole or not at all, the weights last: the latest step stays resumable."""
    import errno
    import os

    net = torch.nn.Linear(3, 2)
    save_checkpoint(tmp_path, 1, 0.9, net.state_dict(), net.state_dict(), {"step": 1})
    real_fsync, calls = os.fsync, []

    def full_on_third(fd):
        calls.append(fd)
        if len(calls) == 3:  # the weights file of step 2
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_on_third)
    with pytest.raises(OSError) as info:
        save_checkpoint(tmp_path, 2, 0.9, net.state_dict(), net.state_dict(), {"step": 2})
    assert info.value.errno == errno.ENOSPC
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert latest_step(tmp_path) == 1 and not list(tmp_path.glob(".*.tmp"))
    assert load_checkpoint(tmp_path, latest_step(tmp_path), 0.9, "cpu")[2]["step"] == 1
