import hashlib
import json

import pytest

from semcom_bench import weights
from semcom_bench.errors import MissingWeightsError, WeightsMismatchError


@pytest.fixture
def declared():
    w = weights.register_weights(weights.WeightFile("test-w", "test.pth", "a test file", sha256="ab" * 32, url="https://example.org/test.pth"))
    f = weights.register_weights(weights.WeightFile("test-hf", "config.json", "a test folder", hf_repo="org/tiny"))
    yield w, f
    weights.WEIGHTS.pop("test-w")
    weights.WEIGHTS.pop("test-hf")


def test_missing_weights_message_names_file_checksum_source_and_fix(declared, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SEMCOM_WEIGHTS", raising=False)
    monkeypatch.delenv("TORCH_HOME", raising=False)
    with pytest.raises(MissingWeightsError) as err:
        weights.resolve("test-w")
    msg = str(err.value)
    assert "test.pth" in msg and "abababab" in msg and "example.org" in msg and "semcom-bench weights" in msg
    assert "\n" not in msg


def test_resolution_order(declared, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("TORCH_HOME", raising=False)
    hub = tmp_path / ".cache" / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "test.pth").write_bytes(b"hub")
    assert weights.find("test-w") == ("torch hub cache", hub / "test.pth")
    env = tmp_path / "w"
    env.mkdir()
    (env / "test.pth").write_bytes(b"env")
    monkeypatch.setenv("SEMCOM_WEIGHTS", str(env))
    assert weights.find("test-w")[0] == "$SEMCOM_WEIGHTS"
    explicit = tmp_path / "mine.pth"
    explicit.write_bytes(b"x")
    assert weights.resolve("test-w", explicit) == explicit
    with pytest.raises(MissingWeightsError, match="does not exist"):
        weights.resolve("test-w", tmp_path / "nope.pth")


def test_hugging_face_cache_folder(declared, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("SEMCOM_WEIGHTS", raising=False)
    snap = tmp_path / "hf" / "models--org--tiny" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    assert weights.find("test-hf") is None
    (snap / "config.json").write_text("{}")
    assert weights.find("test-hf") == ("Hugging Face cache", snap)
    assert len(weights.checksum(snap)) == 64


# ------------------------------------------------------------------------------ verification


def _declare(name, filename, sha256):
    weights.register_weights(weights.WeightFile(name, filename, "a test file", sha256=sha256, url="https://example.org/w"))


@pytest.fixture
def weights_root(monkeypatch, tmp_path):
    root = tmp_path / "w"
    root.mkdir()
    monkeypatch.setenv("SEMCOM_WEIGHTS", str(root))
    monkeypatch.delenv(weights.ALLOW_UNVERIFIED, raising=False)
    yield root
    for name in [n for n in weights.WEIGHTS if n.startswith("verify-")]:
        weights.WEIGHTS.pop(name)


def test_a_found_file_with_another_checksum_is_refused(weights_root, monkeypatch, tmp_path):
    good, bad = b"the published bytes", b"something else"
    _declare("verify-full", "full.pth", hashlib.sha256(good).hexdigest())
    (weights_root / "full.pth").write_bytes(bad)
    with pytest.raises(WeightsMismatchError) as info:
        weights.resolve("verify-full")
    message = str(info.value)
    assert isinstance(info.value, MissingWeightsError) and "\n" not in message
    assert f"weights 'verify-full' at {weights_root / 'full.pth'} ($SEMCOM_WEIGHTS)" in message
    assert f"have sha256 {hashlib.sha256(bad).hexdigest()}, expected {hashlib.sha256(good).hexdigest()}" in message
    assert "https://example.org/w" in message and "SEMCOM_ALLOW_UNVERIFIED_WEIGHTS=1" in message
    # an explicit path is the user's choice, and so is the override
    elsewhere = tmp_path / "mine.pth"
    elsewhere.write_bytes(bad)
    assert weights.resolve("verify-full", elsewhere) == elsewhere
    monkeypatch.setenv(weights.ALLOW_UNVERIFIED, "1")
    assert weights.resolve("verify-full") == weights_root / "full.pth"
    monkeypatch.setenv(weights.ALLOW_UNVERIFIED, "0")
    with pytest.raises(WeightsMismatchError):
        weights.resolve("verify-full")
    (weights_root / "full.pth").write_bytes(good)
    assert weights.resolve("verify-full") == weights_root / "full.pth"


def test_declared_prefixes_match_as_prefixes(weights_root):
    data = b"torchvision publishes 8 hex digits"
    digest = hashlib.sha256(data).hexdigest()
    _declare("verify-prefix", f"net-{digest[:8]}.pth", digest[:8])
    _declare("verify-other", "other-00000000.pth", "00000000")
    (weights_root / f"net-{digest[:8]}.pth").write_bytes(data)
    (weights_root / "other-00000000.pth").write_bytes(data)
    assert weights.resolve("verify-prefix").read_bytes() == data
    with pytest.raises(WeightsMismatchError, match=r"expected 00000000 \(a prefix\)"):
        weights.resolve("verify-other")


def test_shipped_weights_match_their_declared_checksums():
    from semcom_bench.evaluators import embedded  # noqa: F401  (declares the evaluators' files)
    from semcom_bench.methods.semantic import gesco  # noqa: F401

    declared = [w for w in weights.WEIGHTS.values() if w.embedded]
    shipped = [w for w in declared if (weights.ASSETS / w.embedded).exists()]
    assert len(shipped) >= 6
    for w in shipped:
        assert w.sha256 and weights.resolve(w.name) == weights.ASSETS / w.embedded
    for w in set(declared) - set(shipped):  # declared for a network not trained yet: no checksum to claim
        assert w.sha256 is None, w.name


def test_large_file_hashes_are_remembered_across_runs(monkeypatch, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"\1" * weights.REMEMBER_BYTES)
    calls = []
    real = weights.hash_file
    monkeypatch.setattr(weights, "hash_file", lambda p: calls.append(p) or real(p))
    digest = weights.file_sha256(big)
    assert digest == hashlib.sha256(big.read_bytes()).hexdigest() and len(calls) == 1
    memo = tmp_path / "cache" / "weights-sha256.json"  # the test's $SEMCOM_CACHE
    assert json.loads(memo.read_text())[str(big.resolve())]["sha256"] == digest
    assert weights.file_sha256(big) == digest and len(calls) == 1  # a new process would not read it again
    big.write_bytes(b"\2" * weights.REMEMBER_BYTES)  # same size, new content: read again
    assert weights.file_sha256(big) == hashlib.sha256(big.read_bytes()).hexdigest() and len(calls) == 2
    memo.write_text("{broken")  # a broken memo is ignored and rewritten
    assert weights.file_sha256(big) == hashlib.sha256(big.read_bytes()).hexdigest() and len(calls) == 3
    small = tmp_path / "small.bin"
    small.write_bytes(b"x")
    weights.file_sha256(small)
    assert str(small.resolve()) not in json.loads(memo.read_text())


def test_the_shipped_assets_stay_under_50_mb():
    """The package's checkpoints, JSON and READMEs together (the budget every shipped network shares);
    the lower bound catches an install that lost them."""
    from pathlib import Path

    import semcom_bench

    assets = Path(semcom_bench.__file__).parent / "assets"
    total = sum(p.stat().st_size for p in assets.rglob("*") if p.is_file())
    assert 40e6 < total < 50e6, f"{total / 1e6:.1f} MB"
