"""LPIPS and CLIP: loaders exercised with tiny random weights saved in the real formats, and
the missing-weights path (a one-line reason with the fix, never a download)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from semcom_bench.data.base import Sample
from semcom_bench.metrics import perceptual
from semcom_bench.metrics.base import Scored


needs_lpips = pytest.mark.skipif(importlib.util.find_spec("lpips") is None, reason="lpips not installed")
needs_transformers = pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers not installed")


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """A machine with nothing: empty $SEMCOM_WEIGHTS, empty home caches."""
    root = tmp_path / "weights"
    root.mkdir()
    monkeypatch.setenv("SEMCOM_WEIGHTS", str(root))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("TORCH_HOME", "HF_HOME", "HF_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    return root


def _pair(seed=0, h=48, w=64):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    return a, b


def _items():
    a, b = _pair()
    return [Scored(Sample("t/0", a), a.copy(), {}), Scored(Sample("t/1", a), b, {})]


def _no_network(monkeypatch):
    """Any attempt to fetch weights fails the test."""
    import torch.hub

    def refuse(*args, **kwargs):
        raise AssertionError("tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@needs_lpips
def test_lpips_missing_backbone_says_where_to_put_which_file(no_weights):
    for metric, name in ((perceptual.LPIPS(), "alexnet-owt-7be5be79.pth"), (perceptual.LPIPS(net="vgg"), "vgg16-397923af.pth")):
        reason = metric.unavailable()
        assert name in reason and "$SEMCOM_WEIGHTS" in reason and "download.pytorch.org" in reason
        assert "semcom-bench weights" in reason and "\n" not in reason


@needs_lpips
def test_lpips_loads_a_local_torchvision_state_dict(no_weights, monkeypatch):
    import torchvision

    _no_network(monkeypatch)
    monkeypatch.setenv("SEMCOM_ALLOW_UNVERIFIED_WEIGHTS", "1")  # a stand-in, not the published file
    # torchvision's format, only the convolutional part the loader uses (keeps the file small)
    state = {k: v for k, v in torchvision.models.alexnet(weights=None).state_dict().items() if k.startswith("features.")}
    torch.save(state, no_weights / "alexnet-owt-7be5be79.pth")
    metric = perceptual.LPIPS()
    assert metric.unavailable() is None
    values = metric.score(_items())
    assert values[0]["lpips"] == pytest.approx(0.0, abs=1e-6)
    assert values[1]["lpips"] > 0
    # the backbone really is the file's: its first convolution was loaded
    loaded = metric.model().net.slice1[0].weight
    assert torch.equal(loaded, state["features.0.weight"])
    fp = metric.fingerprint()
    assert fp["net"] == "alex" and fp["heads_sha256"] == perceptual.HEADS["alex"].sha256


@needs_lpips
def test_lpips_rejects_a_file_that_is_not_a_torchvision_alexnet(no_weights, monkeypatch):
    monkeypatch.setenv("SEMCOM_ALLOW_UNVERIFIED_WEIGHTS", "1")  # past the checksum, to the loader's own check
    torch.save({"features.0.weight": torch.zeros(3, 3)}, no_weights / "alexnet-owt-7be5be79.pth")
    with pytest.raises(ValueError, match="not a torchvision alex|shape"):
        perceptual.LPIPS().model()


@needs_transformers
def test_clip_missing_model_says_where_to_put_it(no_weights):
    reason = perceptual.CLIPSimilarity().unavailable()
    assert "openai/clip-vit-base-patch32" in reason and "$SEMCOM_WEIGHTS/clip-vit-base-patch32/" in reason
    assert "\n" not in reason


def _tiny_clip(folder):
    import transformers

    config = transformers.CLIPConfig(
        text_config=dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=16, intermediate_size=32,
                           num_hidden_layers=1, num_attention_heads=2),
        projection_dim=8,
    )
    torch.manual_seed(0)
    transformers.CLIPModel(config).save_pretrained(folder)
    transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)


@needs_transformers
def test_clip_image_image_cosine_with_a_tiny_local_model(no_weights):
    _tiny_clip(no_weights / "clip-vit-base-patch32")
    metric = perceptual.CLIPSimilarity()
    assert metric.unavailable() is None
    items = _items()
    values = metric.score(items)
    assert values[0]["clip"] == pytest.approx(1.0, abs=1e-6)
    assert -1.0 <= values[1]["clip"] < 1.0
    # the value is the cosine of the model's projected image embeddings
    model, processor = metric.loaded()
    pix = processor(images=[items[1].sample.image, items[1].recon], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        emb = perceptual.image_embeds(model, pix).double()
    assert values[1]["clip"] == pytest.approx(float(torch.nn.functional.cosine_similarity(emb[:1], emb[1:])), abs=1e-6)
    assert len(metric.fingerprint()["model_sha256"]) == 64


def test_image_embeds_accepts_tensors_and_output_objects():
    class Out:
        pooler_output = torch.ones(2, 4)

    class Old:
        def get_image_features(self, pixel_values):
            return torch.zeros(2, 4)

    class New:
        def get_image_features(self, pixel_values):
            return Out()

    assert torch.equal(perceptual.image_embeds(Old(), None), torch.zeros(2, 4))
    assert torch.equal(perceptual.image_embeds(New(), None), torch.ones(2, 4))


@needs_lpips
def test_a_backbone_that_fails_its_checksum_is_skipped_up_front(no_weights):
    torch.save({"features.0.weight": torch.zeros(3, 3)}, no_weights / "alexnet-owt-7be5be79.pth")
    reason = perceptual.LPIPS().unavailable()
    assert "sha256" in reason and "expected 7be5be79" in reason and "SEMCOM_ALLOW_UNVERIFIED_WEIGHTS" in reason
