"""Training scenes: a data set's split rendered once into arrays and kept in an ``.npz`` cache.

A *render spec* is the data set as a dict: ``{"name": ..., **parameters}`` (for example
``{"name": "synthetic-streets", "split": "train", "size": 10000, "height": 64, "width": 128,
"seed": 0}``). It is the cache key: the file stores it (``json.dumps(spec, sort_keys=True)``) and
is used only when the stored spec equals the requested one; the default cache file is named after
its hash (:func:`default_data_cache`).

What is rendered is chosen by *fields* (each sample is rendered by the data set exactly as it is
anywhere else; the arrays only collect it):

==========  ===============================================================================
field       arrays
==========  ===============================================================================
images      ``images`` (N, H, W, 3) uint8
labels      ``labels`` (N, H, W) uint8 label ids (not train ids)
edges       ``edges`` (N, H, W) uint8 instance edges (8-neighbourhood; zeros without
            instances) and ``has_edges`` (a bool: some sample has instances)
depth       ``depth`` (N, H, W) float16 metres
boxes       ``boxes`` (M, 4) float32 ``x0, y0, x1, y1`` of every sample in turn,
            ``box_labels`` (M,) int64 label ids and ``box_index`` (N + 1,) int64 offsets:
            sample ``i`` owns rows ``box_index[i]:box_index[i + 1]``
==========  ===============================================================================

A cache file can hold more fields than a caller asks for; a missing field is rendered and added.
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from semcom_bench.errors import UserError

#: field -> the arrays stored for it
FIELD_KEYS: dict[str, tuple[str, ...]] = {
    "images": ("images",),
    "labels": ("labels",),
    "edges": ("edges", "has_edges"),
    "depth": ("depth",),
    "boxes": ("boxes", "box_labels", "box_index"),
}
FIELDS = tuple(FIELD_KEYS)


def spec_key(spec: dict[str, Any]) -> str:
    """The cache key of a render spec, as stored in the cache file."""
    return json.dumps(spec, sort_keys=True)


def default_data_cache(spec: dict[str, Any]) -> Path:
    """``<cache folder>/training-data/<first 16 hex digits of the spec's hash>.npz``."""
    from semcom_bench.config import default_cache_dir
    from semcom_bench.hashing import hash_obj

    return default_cache_dir() / "training-data" / f"{hash_obj(spec)[:16]}.npz"


def create_dataset(spec: dict[str, Any]) -> Any:
    """The data set of a render spec, from the registry."""
    from semcom_bench import registry

    return registry.datasets.create(spec["name"], **{k: v for k, v in spec.items() if k != "name"})


def _missing(sample: Any, spec: dict[str, Any], what: str) -> UserError:
    return UserError(f"sample {sample.key} of {spec['name']} has no {what}: the training set needs them")


def _render_range(job: tuple[dict[str, Any], tuple[str, ...], int, int]) -> dict[str, Any]:
    """The arrays of ``fields`` for samples ``start..stop-1`` (``box_counts`` in place of ``box_index``)."""
    spec, fields, start, stop = job
    ds = create_dataset(spec)
    cols: dict[str, list[Any]] = {k: [] for k in ("images", "labels", "edges", "depth", "boxes", "box_labels", "box_counts")}
    has_edges = False
    for i in range(start, stop):
        s = ds[i]
        if "images" in fields:
            cols["images"].append(s.image)
        if "labels" in fields or "edges" in fields:
            if s.labels is None:
                raise _missing(s, spec, "labels")
        if "labels" in fields:
            cols["labels"].append(np.asarray(s.labels, dtype=np.uint8))
        if "edges" in fields:
            from semcom_bench.semantics.onehot import instance_edges

            has_edges = has_edges or s.instances is not None
            edge = instance_edges(s.instances, eight_bit=True).numpy() if s.instances is not None else np.zeros(s.labels.shape, np.float32)
            cols["edges"].append(edge.astype(np.uint8))
        if "depth" in fields:
            if s.depth is None:
                raise _missing(s, spec, "depth")
            cols["depth"].append(np.asarray(s.depth).astype(np.float16))
        if "boxes" in fields:
            if s.boxes is None or s.box_labels is None:
                raise _missing(s, spec, "boxes")
            cols["boxes"].append(np.asarray(s.boxes).astype(np.float32).reshape(-1, 4))
            cols["box_labels"].append(np.asarray(s.box_labels).astype(np.int64))
            cols["box_counts"].append(len(cols["box_labels"][-1]))
    out: dict[str, Any] = {}
    for k in ("images", "labels", "edges", "depth"):
        if k in fields:
            out[k] = np.stack(cols[k])
    if "edges" in fields:
        out["has_edges"] = has_edges
    if "boxes" in fields:
        out["boxes"] = np.concatenate(cols["boxes"]).reshape(-1, 4)
        out["box_labels"] = np.concatenate(cols["box_labels"]).astype(np.int64)
        out["box_counts"] = np.asarray(cols["box_counts"], np.int64)
    return out


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)  # the pool's processes share the cores


def _render(spec: dict[str, Any], fields: tuple[str, ...], n: int, workers: int) -> dict[str, np.ndarray]:
    chunk = max(1, min(256, -(-n // max(workers * 4, 1))))
    jobs = [(spec, fields, a, min(a + chunk, n)) for a in range(0, n, chunk)]
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers, initializer=_worker_init) as pool:
            parts = pool.map(_render_range, jobs)
    else:
        parts = [_render_range(j) for j in jobs]
    data: dict[str, np.ndarray] = {}
    for k in ("images", "labels", "edges", "depth"):
        if k in fields:
            data[k] = np.concatenate([p[k] for p in parts])
    if "edges" in fields:
        data["has_edges"] = np.array(any(bool(p["has_edges"]) for p in parts))
    if "boxes" in fields:
        counts = np.concatenate([p["box_counts"] for p in parts])
        data["boxes"] = np.concatenate([p["boxes"] for p in parts]).reshape(-1, 4).astype(np.float32)
        data["box_labels"] = np.concatenate([p["box_labels"] for p in parts]).astype(np.int64)
        data["box_index"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return data


def _read_cache(cache: Path, key: str) -> dict[str, np.ndarray]:
    """The arrays of ``cache`` when it holds the spec ``key`` (else nothing; a broken file counts as none)."""
    try:
        with np.load(cache) as z:
            if "spec" not in z.files or str(z["spec"]) != key:
                return {}
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return {}


def _write_cache(cache: Path, data: dict[str, np.ndarray]) -> None:
    """Write ``data`` to ``cache`` atomically (a temporary file in the same folder, then a rename)."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{cache}.{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, **data)
        tmp.replace(cache)
    finally:
        tmp.unlink(missing_ok=True)


def render_training_set(spec: dict[str, Any], workers: int = 0, cache: str | Path | None = None,
                        log: Callable[[str], None] = print, *,
                        fields: Iterable[str] = ("images", "labels", "edges")) -> dict[str, np.ndarray]:
    """The arrays of ``fields`` (see the module docstring) for every sample of the render spec ``spec``.

    Args:
        spec: the data set, ``{"name": ..., **parameters}``; also the cache key.
        workers: rendering processes (0: one per core, at most 32; 1: in this process).
        cache: an ``.npz`` that keeps the arrays (read when it holds ``spec`` and the fields;
            otherwise the missing fields are rendered and the file is rewritten atomically).
            ``None``: no cache.
        log: where the one progress line goes.
        fields: which arrays to return.

    Returns:
        the arrays of ``fields``, by name; each sample ``i`` of the data set at index ``i``.
    """
    fields = tuple(fields)
    unknown = [f for f in fields if f not in FIELD_KEYS]
    if unknown:
        raise ValueError(f"unknown training-set fields {unknown}; use some of {', '.join(FIELDS)}")
    key = spec_key(spec)
    n = len(create_dataset(spec))
    cached = _read_cache(Path(cache), key) if cache is not None and Path(cache).is_file() else {}
    missing = tuple(f for f in fields if not all(k in cached for k in FIELD_KEYS[f]))
    if not missing:
        log(f"training scenes: {n} from {cache}")
        return {k: cached[k] for f in fields for k in FIELD_KEYS[f]}
    t0 = time.perf_counter()
    workers = workers or min(os.cpu_count() or 1, 32)
    data = {**cached, **_render(spec, missing, n, workers), "spec": np.array(key)}
    log(f"training scenes: rendered {n} in {time.perf_counter() - t0:.1f} s with {workers} processes")
    if cache is not None:
        _write_cache(Path(cache), data)
    return {k: data[k] for f in fields for k in FIELD_KEYS[f]}


__all__ = ["FIELDS", "FIELD_KEYS", "create_dataset", "default_data_cache", "render_training_set", "spec_key"]
