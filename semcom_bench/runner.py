"""Expand a run's matrix into cells, generate every reconstruction, then score them.

A cell is data set x method(params) x channel(params) x SNR x seed. Generation and scoring
are separate phases: the first writes reconstructions to the cache, the second reads them and
caches metric values, so adding a metric never re-runs a model and a re-run skips everything
already done.

Random streams: every image draws its randomness from three generators, one per stage, each
seeded from a hash of what that stage depends on (:meth:`Cell.sender_stream`,
:meth:`Cell.channel_stream`, :meth:`Cell.receiver_stream`). The channel's and the receiver's
streams are keyed by the sample, the channel and its parameters, the SNR and its definition
and the seed, never by the method: in one run, every method with the same sender receives
identical symbols for the same sample and SNR, and every diffusion receiver starts from the
same noise. A run is a paired comparison (``semcom-bench report --versus``). The image's
cache key still holds everything that determines the image, the method's parameters included.

Batches: a cell's samples are cut into fixed slices of ``batch_size`` (:func:`_slices`), the same
whatever is already cached, because a batched receiver's output can depend on its batch (and on
the torch thread count, recorded in every image's sidecar). A batch with an image missing or
corrupt is regenerated whole; its images already validly cached are kept. Scoring slices the
same way.

Checks: generation reads every cached PNG against the sha256 in its sidecar and regenerates what
fails (:meth:`Cache.check_image`); scoring uses a cached metric value only when it matches its own
sha256 and was computed from the PNG bytes now cached (:meth:`Cache.load_values`). What was found
and repaired is counted (:func:`new_tally`) and saved in provenance.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from semcom_bench import __version__, registry
from semcom_bench.cache import CORRUPT, OK, Cache, encode_png, images_sha256, sha256
from semcom_bench.channels.base import Channel
from semcom_bench.config import RunConfig
from semcom_bench.data.base import Sample
from semcom_bench.errors import UserError
from semcom_bench.hashing import hash_obj, seed_from_key
from semcom_bench.components import RunContext
from semcom_bench.methods.base import Delivery, Method, Payload
from semcom_bench.metrics.base import Metric, Scored
from semcom_bench.profiling import profiling, stage
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
            "sender": self.method.sender.identity(),
            "channel": self.channel.name,
            "channel_version": self.channel.version,
            "channel_params": self.channel.params(),
            "snr_db": float(self.snr_db),
            "snr_definition": self.channel.snr_definition,
            "seed": int(self.seed),
            "streams": STREAMS_VERSION,
        }

    def image_key(self, sample: Sample) -> str:
        return hash_obj({**self.identity(), "sample": sample.content_hash})

    # --- the random streams of one image (see the module docstring) --------------------------

    def sender_stream(self, sample: Sample) -> torch.Generator:
        """Keyed by the sample, the sender and the seed."""
        return stream("sender", sample=sample.content_hash, sender=self.method.sender.key(), seed=self.seed)

    def channel_stream(self, sample: Sample) -> torch.Generator:
        """Keyed by what the channel sees: the sample, the channel, the SNR and the seed; not the method."""
        return stream("channel", sample=sample.content_hash, channel=self.channel.identity(), snr_db=float(self.snr_db),
                      seed=self.seed)

    def receiver_stream(self, sample: Sample) -> torch.Generator:
        """Keyed like the channel's stream, under another name; not the method."""
        return stream("receiver", sample=sample.content_hash, channel=self.channel.identity(), snr_db=float(self.snr_db),
                      seed=self.seed)


#: bumped when the derivation of the random streams changes (part of every image key)
STREAMS_VERSION = "per-stage-1"


def stream(stage: str, **key: Any) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``stage`` and ``key`` (same key, same numbers)."""
    return torch.Generator().manual_seed(seed_from_key(hash_obj({"stage": stage, **key})))


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


def build_components(config: RunConfig) -> tuple[Any, list[tuple[Spec, Method]], list[tuple[Spec, Channel]], list[tuple[Spec, Metric]]]:
    """Build the data set, then the methods, channels and metrics in the run's context."""
    dataset = registry.datasets.build(config.dataset)
    context = RunContext(device=config.device, dataset=dataset, cache_dir=config.cache_dir, threads=config.threads)
    methods = [(spec, registry.methods.build(spec, context)) for spec in config.methods]
    channels = [(spec, registry.channels.build(spec, context)) for spec in config.channels]
    metrics = [(spec, registry.metrics.build(spec, context)) for spec in config.metrics]
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


def _slices(n: int, size: int) -> list[range]:
    """The fixed batches of a cell: consecutive slices of its ``n`` samples, ``size`` at a time.

    Batches are a function of the cell's whole sample list, never of what is left to do, because
    a batched receiver's (or evaluator's) output can depend on what else is in its batch: a
    resumed run regenerates a partly finished batch whole, as the uninterrupted run did.
    """
    size = max(1, int(size))
    return [range(i, min(n, i + size)) for i in range(0, n, size)]


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def new_tally(cache: Cache | None = None) -> dict[str, int]:
    """What a run found wrong in the cache and repaired (saved in provenance beside the counts).

    ``corrupt``: images whose cache entry failed its check (missing PNG, hash mismatch, edited
    sidecar), regenerated; ``corrupt_values``: metric value files that failed theirs, recomputed;
    ``temp_removed``: orphaned temporary files swept; ``batch_mismatch``: already cached images of
    a partly finished batch whose regeneration gave other bytes (kept as cached: the torch thread
    count or the device differ from the run that cached them).
    """
    return {"corrupt": 0, "corrupt_values": 0, "temp_removed": cache.swept if cache is not None else 0,
            "batch_mismatch": 0}


def generate(
    cells: list[Cell],
    samples: list[Sample],
    cache: Cache,
    batch_size: int = 8,
    progress: ProgressFactory = _null_progress,
    tally: dict[str, int] | None = None,
    executor: Any = None,
) -> dict[str, int]:
    """Fill the cache with every (cell, sample) reconstruction; returns counts.

    Each image draws from three streams (:meth:`Cell.sender_stream`, ``channel_stream``,
    ``receiver_stream``), none keyed by the method, so any image can be regenerated alone and
    methods that share a sender see the same channel noise and the same sampler noise. Batches
    are fixed slices of the cell's samples (:func:`_slices`); a batch with any image missing or
    corrupt (:meth:`Cache.check_image`) is regenerated whole, and only the images not validly
    cached are written. Corrupt entries are counted in ``tally["corrupt"]``.

    Each batch to generate is one :class:`BatchUnit`, run by ``executor`` (default: this
    process, :class:`semcom_bench.executors.LocalExecutor`) through :func:`generate_batch`.
    """
    tally = new_tally() if tally is None else tally
    executor = _local_executor() if executor is None else executor
    counts = {"total": len(cells) * len(samples), "cached": 0, "generated": 0}
    units: list[BatchUnit] = []
    for cell in cells:
        keys = [cell.image_key(s) for s in samples]
        with stage("generate/cache-check", len(keys)):
            status = [cache.check_image(k, upgrade=True) for k in keys]
        counts["cached"] += status.count(OK)
        tally["corrupt"] += status.count(CORRUPT)
        for part in _slices(len(samples), batch_size):
            if any(status[i] != OK for i in part):
                units.append(BatchUnit(cell, part, [samples[i] for i in part], [keys[i] for i in part],
                                       [status[i] for i in part]))
    with progress("generating", counts["total"] - counts["cached"]) as bar:
        counts["generated"] = executor.generate(units, cache, tally, bar.advance)
    return counts


@dataclass
class BatchUnit:
    """One unit of generation: a fixed batch (``part``, a :func:`_slices` slice) of one cell's samples,
    with their image keys and cache status (images already validly cached are kept as they are)."""

    cell: Cell
    part: range
    samples: list[Sample]
    keys: list[str]
    status: list[str]


def _local_executor() -> Any:
    from semcom_bench.executors import LocalExecutor

    return LocalExecutor()


def transmit(cell: Cell, batch: list[Sample]) -> tuple[list[Payload], list[Delivery]]:
    """Send ``batch`` through the cell's sender and channel: (payloads, what the receiver gets)."""
    with stage(f"generate/transmit {cell.method_spec.label}", len(batch)):
        payloads = cell.method.transmit_batch(batch, [cell.sender_stream(s) for s in batch])
    with stage(f"generate/channel {cell.channel_spec.label}", len(batch)):
        deliveries = [Delivery(cell.channel(p.symbols, cell.snr_db, cell.channel_stream(s), payload_scale=p.scale), p.side)
                      for s, p in zip(batch, payloads)]
    return payloads, deliveries


def generate_batch(unit: BatchUnit, cache: Cache, tally: dict[str, int]) -> int:
    """Generate one fixed batch; write the images not validly cached; returns how many were written.

    The whole of a generation unit, wherever it runs: every executor calls this.
    """
    cell, batch, keys, status, part = unit.cell, unit.samples, unit.keys, unit.status, unit.part
    on_gpu = cell.method.device.startswith("cuda")
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    payloads, deliveries = transmit(cell, batch)
    cell.method.network_passes = None  # a receiver that runs a network per step sets it (passes per image)
    with stage(f"generate/receive {cell.method_spec.label}", len(batch)):
        images = cell.method.receive_batch(deliveries, [cell.receiver_stream(s) for s in batch])
    passes = cell.method.network_passes
    seconds = (time.perf_counter() - start) / len(batch)
    gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if on_gpu else None
    threads = torch.get_num_threads()
    written = 0
    for s, key, st, p, img in zip(batch, keys, status, payloads, images):
        if img.shape != s.image.shape or img.dtype != np.uint8:
            raise RuntimeError(f"method {cell.method.name} returned {img.dtype} {img.shape}, expected uint8 {s.image.shape}")
        if st == OK:  # cached by an earlier run: kept as is (a cache entry never changes once valid)
            if _cached_png_hash(cache, key) != sha256(encode_png(img)):
                tally["batch_mismatch"] += 1
            continue
        record = {
            **cell.identity(),
            "sample": s.key,
            "sample_hash": s.content_hash,
            "bits": p.total_bits,
            "source_bits": p.source_bits,
            "side_bits": p.side_bits,
            "channel_uses": p.channel_uses,
            "seconds": seconds,
            "network_passes": passes,
            "peak_rss_mb": _peak_rss_mb(),
            "peak_gpu_mb": gpu_peak,
            "torch_threads": threads,
            "batch": [part.start, part.stop],
            "tool_version": __version__,
        }
        with stage("generate/cache-write"):
            cache.put_image(key, img, record)
        written += 1
    return written


def _cached_png_hash(cache: Cache, key: str) -> str:
    """The sha256 of a cached image's PNG bytes, from its checked sidecar."""
    try:
        record = cache.get_record(key)
        return record.get("png_sha256") or sha256(cache.image_path(key).read_bytes())
    except OSError:
        raise UserError(f"the cached image {key} changed or vanished during this run (another run sharing the cache "
                        f"{cache.root}?); run the same command again") from None


def _scored(cache: Cache, sample: Sample, key: str) -> Scored:
    """A cached image with its sidecar, for a metric (both checked)."""
    try:
        return Scored(sample, cache.get_image(key), cache.get_record(key))
    except OSError:
        raise UserError(f"the cached image {key} changed or vanished during this run (another run sharing the cache "
                        f"{cache.root}?); run the same command again") from None


def score(
    cells: list[Cell],
    samples: list[Sample],
    metrics: list[tuple[Spec, Metric]],
    cache: Cache,
    batch_size: int = 8,
    progress: ProgressFactory = _null_progress,
    tally: dict[str, int] | None = None,
    executor: Any = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Score every cached reconstruction; returns (tidy rows, skipped metric -> reason).

    Cached metric values are used only when they pass their check and were computed from the
    PNG bytes now cached (:meth:`Cache.load_values`); corrupt ones are counted in
    ``tally["corrupt_values"]``. Per-image metrics score fixed slices of the cell's samples, like
    generation, so a resumed run scores every image in the batch it would have had.

    Each (cell, metric) is one :class:`ScoreUnit`, run by ``executor`` (default: this process)
    through :func:`score_unit`; the rows come back in cell, then metric order.
    """
    tally = new_tally() if tally is None else tally
    executor = _local_executor() if executor is None else executor
    skipped: dict[str, str] = {}
    active = []
    for spec, m in metrics:
        reason = m.unavailable()
        if reason:
            skipped[spec.label] = reason
        else:
            active.append((spec, m))
    units: list[ScoreUnit] = []
    for cell in cells:
        keys = [cell.image_key(s) for s in samples]
        with stage("score/cache-read", len(keys) if active else 0):
            pngs = [_cached_png_hash(cache, k) for k in keys] if active else []
        for spec, metric in active:
            units.append(ScoreUnit(cell, spec, metric, samples, [s.key for s in samples], keys, pngs))
    with progress("scoring", len(units)) as bar:
        parts = executor.score(units, cache, batch_size, tally, bar.advance)
    return [row for rows in parts for row in rows], skipped


@dataclass
class ScoreUnit:
    """One unit of scoring: one metric over every image of one cell.

    ``samples`` is any sequence of the cell's samples (read by index); ``sample_keys``, ``keys``
    and ``pngs`` are their keys, their images' cache keys and those images' PNG hashes.
    """

    cell: Cell
    spec: Spec
    metric: Metric
    samples: Sequence[Sample]
    sample_keys: list[str]
    keys: list[str]
    pngs: list[str]


def score_unit(unit: ScoreUnit, cache: Cache, batch_size: int, tally: dict[str, int]) -> list[dict[str, Any]]:
    """The rows of one metric over one cell's images, from cached values or computed and cached.

    The whole of a scoring unit, wherever it runs: every executor calls this.
    """
    metric, label, samples, keys, pngs = unit.metric, unit.spec.label, unit.samples, unit.keys, unit.pngs
    base = _cell_columns(unit.cell)
    rows: list[dict[str, Any]] = []
    ident = metric.identity()
    if metric.level == "set":
        vkey = hash_obj({**ident, "images": sorted(keys)})
        images = images_sha256([h for _, h in sorted(zip(keys, pngs))])
        with stage("score/cache-read"):
            values = _load_values(cache, vkey, images, tally)
        if values is None:
            with stage("score/cache-read", len(keys)):
                items = [_scored(cache, samples[i], k) for i, k in enumerate(keys)]
            with stage(f"score/{label}", len(keys)):
                values = metric.score_set(items)
            cache.put_values(vkey, values, images)
        for out, v in _ordered(metric, values):
            rows.append({**base, "sample": None, "image_key": None, "metric": label, "output": out,
                         "value": v, "lower_better": metric.outputs[out], "level": "set"})
        return rows
    vkeys = [hash_obj({**ident, "image": k}) for k in keys]
    with stage("score/cache-read", len(keys)):
        got = [_load_values(cache, vk, h, tally) for vk, h in zip(vkeys, pngs)]
    for part in _slices(len(keys), batch_size):
        if all(got[i] is not None for i in part):
            continue
        with stage("score/cache-read", len(part)):
            items = [_scored(cache, samples[i], keys[i]) for i in part]
        with stage(f"score/{label}", len(part)):
            scored = metric.score(items)
        for i, values in zip(part, scored):
            if got[i] is None:
                cache.put_values(vkeys[i], values, pngs[i])
                got[i] = values
    for sample_key, k, values in zip(unit.sample_keys, keys, got):
        for out, v in _ordered(metric, values):
            rows.append({**base, "sample": sample_key, "image_key": k, "metric": label, "output": out,
                         "value": v, "lower_better": metric.outputs[out], "level": "image"})
    return rows


def _load_values(cache: Cache, key: str, images: str, tally: dict[str, int]) -> dict[str, float] | None:
    status, values = cache.load_values(key, images)
    if status == CORRUPT:
        tally["corrupt_values"] += 1
    return values


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


def run_matrix(config: RunConfig, progress: ProgressFactory = _null_progress, executor: Any = None) -> dict[str, Any]:
    """Run the whole matrix of ``config``; returns rows, skipped metrics, counts, timings and
    ``integrity`` (what was found wrong in the cache and repaired, :func:`new_tally`).

    ``executor`` runs the work units (:mod:`semcom_bench.executors`; default: this process)."""
    cache = Cache(config.cache_dir, writable=True)
    tally = new_tally(cache)
    dataset, methods, channels, metrics = build_components(config)
    samples = select_samples(dataset, config.limit)
    if not samples:
        raise UserError(f"data set {config.dataset.label} has no samples")
    cells = expand_cells(config, methods, channels)
    with profiling() as profile:
        t0 = time.perf_counter()
        counts = generate(cells, samples, cache, config.batch_size, progress, tally, executor)
        t1 = time.perf_counter()
        rows, skipped = score(cells, samples, metrics, cache, config.batch_size, progress, tally, executor)
        t2 = time.perf_counter()
    return {
        "rows": rows,
        "skipped": skipped,
        "counts": counts,
        "integrity": tally,
        "timings": {"generate_s": t1 - t0, "score_s": t2 - t1},
        "profile": {**profile.to_dict(), "executor": getattr(executor, "name", "local")},
        "dataset": dataset.describe(),
        "num_samples": len(samples),
        "limited": config.limit is not None and config.limit < len(dataset),
    }


__all__ = ["Cell", "run_matrix", "generate", "score", "expand_cells", "build_components", "stream", "transmit",
           "BatchUnit", "ScoreUnit", "generate_batch", "score_unit"]
