"""Expand a run's matrix into cells, generate every reconstruction, then score them.

A cell is data set x method(params) x channel(params) x SNR x seed. Generation and scoring
are separate phases: the first writes reconstructions to the cache, the second reads them and
caches metric values, so adding a metric never re-runs a model and a re-run skips everything
already done.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch

from semcom_bench import __version__, registry
from semcom_bench.cache import Cache
from semcom_bench.channels.base import Channel
from semcom_bench.config import RunConfig
from semcom_bench.data.base import Sample
from semcom_bench.errors import UserError
from semcom_bench.hashing import hash_obj, seed_from_key
from semcom_bench.methods.base import Method
from semcom_bench.metrics.base import Metric, Scored
from semcom_bench.specs import Spec


@dataclass
class Cell:
    """One point of the matrix."""

    method_spec: Spec
    channel_spec: Spec
    method: Method
    channel: Channel
    snr_db: float
    seed: int

    def identity(self) -> dict[str, Any]:
        """Everything about the cell that determines its reconstructions (sample aside)."""
        return {
            "method": self.method.name,
            "method_version": self.method.version,
            "method_params": self.method.params(),
            "checkpoint": self.method.checkpoint_hash(),
            "channel": self.channel.name,
            "channel_version": self.channel.version,
            "channel_params": self.channel.params(),
            "snr_db": float(self.snr_db),
            "snr_definition": self.channel.snr_definition,
            "seed": int(self.seed),
        }

    def image_key(self, sample: Sample) -> str:
        return hash_obj({**self.identity(), "sample": sample.content_hash})


ProgressFactory = Callable[[str, int], Any]


class _NullProgress:
    def advance(self, n: int = 1) -> None:
        pass

    def __enter__(self) -> "_NullProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def _null_progress(description: str, total: int) -> _NullProgress:
    return _NullProgress()


def build_components(config: RunConfig) -> tuple[Any, list[tuple[Spec, Method]], list[tuple[Spec, Channel]], list[Metric]]:
    """Instantiate the data set, methods, channels and metrics named in ``config``."""
    dataset = registry.datasets.create(config.dataset.name, **config.dataset.params)
    methods = []
    for spec in config.methods:
        m = registry.methods.create(spec.name, **spec.params)
        m.device = config.device
        m.dataset = dataset  # receivers may need the label space (number of classes)
        methods.append((spec, m))
    channels = [(spec, registry.channels.create(spec.name, **spec.params)) for spec in config.channels]
    metrics = []
    for name in config.metrics:
        metric = registry.metrics.create(name)
        metric.device = config.device
        metric.dataset = dataset  # evaluators are chosen per data set (label space, ground truth)
        metric.cache_dir = config.cache_dir  # where set-level metrics keep reference statistics
        metrics.append(metric)
    return dataset, methods, channels, metrics


def select_samples(dataset: Any, limit: int | None) -> list[Sample]:
    n = len(dataset) if limit is None else min(limit, len(dataset))
    return [dataset[i] for i in range(n)]


def expand_cells(config: RunConfig, methods: list[tuple[Spec, Method]], channels: list[tuple[Spec, Channel]]) -> list[Cell]:
    return [
        Cell(ms, cs, m, c, float(snr), int(seed))
        for ms, m in methods
        for cs, c in channels
        for snr in config.values
        for seed in config.seeds
    ]


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def generate(
    cells: list[Cell],
    samples: list[Sample],
    cache: Cache,
    batch_size: int = 8,
    progress: ProgressFactory = _null_progress,
) -> dict[str, int]:
    """Fill the cache with every (cell, sample) reconstruction; returns counts.

    Each image gets its own ``torch.Generator`` seeded from its key, so any image can be
    regenerated alone and the same key always gives the same bits.
    """
    todo = [(cell, s) for cell in cells for s in samples if not cache.has_image(cell.image_key(s))]
    counts = {"total": len(cells) * len(samples), "cached": len(cells) * len(samples) - len(todo), "generated": 0}
    by_cell: dict[int, list[Sample]] = {}
    for cell, s in todo:
        by_cell.setdefault(id(cell), []).append(s)
    with progress("generating", len(todo)) as bar:
        for cell in cells:
            pending = by_cell.get(id(cell), [])
            for batch in _batches(pending, batch_size):
                _generate_batch(cell, batch, cache)
                counts["generated"] += len(batch)
                bar.advance(len(batch))
    return counts


def _generate_batch(cell: Cell, batch: list[Sample], cache: Cache) -> None:
    keys = [cell.image_key(s) for s in batch]
    gens = [torch.Generator().manual_seed(seed_from_key(k)) for k in keys]
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    payloads = [cell.method.transmit(s, g) for s, g in zip(batch, gens)]
    received = [cell.channel(p.symbols, cell.snr_db, g, payload_scale=p.side.get("scale")) for p, g in zip(payloads, gens)]
    images = cell.method.receive_batch([(p.side, r) for p, r in zip(payloads, received)], gens)
    seconds = (time.perf_counter() - start) / len(batch)
    gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    for s, key, p, img in zip(batch, keys, payloads, images):
        if img.shape != s.image.shape or img.dtype != np.uint8:
            raise RuntimeError(f"method {cell.method.name} returned {img.dtype} {img.shape}, expected uint8 {s.image.shape}")
        record = {
            **cell.identity(),
            "sample": s.key,
            "sample_hash": s.content_hash,
            "bits": p.total_bits,
            "source_bits": p.source_bits,
            "side_bits": p.side_bits,
            "channel_uses": p.channel_uses,
            "seconds": seconds,
            "peak_rss_mb": _peak_rss_mb(),
            "peak_gpu_mb": gpu_peak,
            "tool_version": __version__,
        }
        cache.put_image(key, img, record)


def metric_identity(metric: Metric) -> dict[str, Any]:
    return {"metric": metric.name, "version": metric.version, **metric.fingerprint()}


def score(
    cells: list[Cell],
    samples: list[Sample],
    metrics: list[Metric],
    cache: Cache,
    batch_size: int = 8,
    progress: ProgressFactory = _null_progress,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Score every cached reconstruction; returns (tidy rows, skipped metric -> reason)."""
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    active = []
    for m in metrics:
        reason = m.unavailable()
        if reason:
            skipped[m.name] = reason
        else:
            active.append(m)
    with progress("scoring", len(cells) * len(active)) as bar:
        for cell in cells:
            keys = [cell.image_key(s) for s in samples]
            base = _cell_columns(cell)
            for metric in active:
                ident = metric_identity(metric)
                if metric.level == "set":
                    vkey = hash_obj({**ident, "images": sorted(keys)})
                    values = cache.get_values(vkey)
                    if values is None:
                        items = [Scored(s, cache.get_image(k), cache.get_record(k)) for s, k in zip(samples, keys)]
                        values = metric.score_set(items)
                        cache.put_values(vkey, values)
                    for out, v in _ordered(metric, values):
                        rows.append({**base, "sample": None, "image_key": None, "metric": metric.name, "output": out,
                                     "value": v, "lower_better": metric.outputs[out], "level": "set"})
                else:
                    vkeys = [hash_obj({**ident, "image": k}) for k in keys]
                    got = [cache.get_values(vk) for vk in vkeys]
                    missing = [i for i, g in enumerate(got) if g is None]
                    for idx in _batches(missing, batch_size):
                        items = [Scored(samples[i], cache.get_image(keys[i]), cache.get_record(keys[i])) for i in idx]
                        for i, values in zip(idx, metric.score(items)):
                            cache.put_values(vkeys[i], values)
                            got[i] = values
                    for s, k, values in zip(samples, keys, got):
                        for out, v in _ordered(metric, values):
                            rows.append({**base, "sample": s.key, "image_key": k, "metric": metric.name, "output": out,
                                         "value": v, "lower_better": metric.outputs[out], "level": "image"})
                bar.advance(1)
    return rows, skipped


def _ordered(metric: Metric, values: dict[str, float]) -> list[tuple[str, float]]:
    """Values in the metric's declared output order (cached values come back key-sorted)."""
    missing = set(metric.outputs) - set(values)
    if missing:
        raise RuntimeError(f"metric {metric.name} returned no value for {sorted(missing)}")
    return [(out, values[out]) for out in metric.outputs]


def _cell_columns(cell: Cell) -> dict[str, Any]:
    return {
        "method": cell.method_spec.label,
        "channel": cell.channel_spec.label,
        "snr_db": cell.snr_db,
        "snr_definition": cell.channel.snr_definition,
        "seed": cell.seed,
    }


def check_metrics_exist(config: RunConfig) -> None:
    for name in config.metrics:
        registry.metrics.get(name)


def run_matrix(config: RunConfig, progress: ProgressFactory = _null_progress) -> dict[str, Any]:
    """Run the whole matrix of ``config``; returns rows, skipped metrics, counts and timings."""
    check_metrics_exist(config)
    cache = Cache(config.cache_dir)
    dataset, methods, channels, metrics = build_components(config)
    samples = select_samples(dataset, config.limit)
    if not samples:
        raise UserError(f"data set {config.dataset.label} has no samples")
    cells = expand_cells(config, methods, channels)
    t0 = time.perf_counter()
    counts = generate(cells, samples, cache, config.batch_size, progress)
    t1 = time.perf_counter()
    rows, skipped = score(cells, samples, metrics, cache, config.batch_size, progress)
    t2 = time.perf_counter()
    return {
        "rows": rows,
        "skipped": skipped,
        "counts": counts,
        "timings": {"generate_s": t1 - t0, "score_s": t2 - t1},
        "dataset": dataset.describe(),
        "num_samples": len(samples),
        "limited": config.limit is not None and config.limit < len(dataset),
    }


__all__ = ["Cell", "run_matrix", "generate", "score", "expand_cells", "build_components"]
