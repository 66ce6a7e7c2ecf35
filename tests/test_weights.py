import pytest

from semcom_bench import weights
from semcom_bench.errors import MissingWeightsError


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
