"""Samplers side by side at equal seeds: speed and mIoU of the same received maps.

The runner seeds every image from its cell key, which includes the method's parameters, so
two samplers never see the same channel noise or the same x_T there. This benchmark sends
each image once per SNR (channel noise seeded by ``(seed, snr, image)``), gives every sampler
the same received maps and the same per-image generators, times each receiver (after one
warm-up batch, synchronising the GPU) and scores the images with the ``miou`` metric::

    semcom-bench compare --device cuda \\
        --methods "gesco(sampler=ancestral),gesco(sampler=ancestral,steps=50),gesco(sampler=ddim)" \\
        --values 100,10,1 --out samplers.json

It prints a Markdown table (mIoU mean ± std, seconds per image, speed-up over the first method)
and writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from semcom_bench import registry
from semcom_bench.errors import UserError
from semcom_bench.hashing import hash_obj, seed_from_key
from semcom_bench.metrics.base import Scored
from semcom_bench.specs import parse_specs


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def compare_samplers(
    methods: Sequence[str],
    values: Sequence[float],
    limit: int = 32,
    device: str = "cpu",
    batch_size: int = 32,
    seed: int = 0,
    dataset: str = "synthetic-streets",
    channel: str = "awgn",
    metric: str = "miou",
    log: Any = print,
) -> list[dict[str, Any]]:
    """Rows ``{method, snr_db, miou, miou_std, seconds_per_image, speedup}`` (see the module docstring)."""
    specs = parse_specs(",".join(methods))
    ds_spec = parse_specs(dataset)[0]
    ds = registry.datasets.create(ds_spec.name, **ds_spec.params)
    samples = [ds[i] for i in range(min(limit, len(ds)))]
    chan = registry.channels.create(channel)
    met = registry.metrics.create(metric)
    met.device, met.dataset = device, ds
    receivers = []
    for spec in specs:
        m = registry.methods.create(spec.name, **spec.params)
        m.device, m.dataset = device, ds
        receivers.append((spec.label, m))
    sender = receivers[0][1]
    first = sender.transmit(samples[0], torch.Generator().manual_seed(0)).symbols
    for label, m in receivers[1:]:
        other = m.transmit(samples[0], torch.Generator().manual_seed(0)).symbols
        if other.shape != first.shape or not torch.equal(other, first):
            raise UserError(f"{label} sends a different payload from {receivers[0][0]}; compare receivers of one "
                            f"sender (same method family, same power and codec)")
    rows: list[dict[str, Any]] = []
    for snr in values:
        items = []
        for i, s in enumerate(samples):
            g = torch.Generator().manual_seed(seed_from_key(hash_obj({"seed": seed, "snr": snr, "image": i, "what": "channel"})))
            p = sender.transmit(s, g)
            items.append((p.side, chan(p.symbols, float(snr), g)))
        for label, m in receivers:
            def gens(idx: Sequence[int]) -> list[torch.Generator]:
                return [torch.Generator().manual_seed(seed_from_key(hash_obj({"seed": seed, "snr": snr, "image": i, "what": "x_T"})))
                        for i in idx]

            m.receive_batch(items[:1], gens([0]))  # warm-up (weights, cuDNN, scheduler import)
            images: list[np.ndarray] = []
            _sync(device)
            t0 = time.perf_counter()
            for a in range(0, len(items), batch_size):
                idx = list(range(a, min(a + batch_size, len(items))))
                images += m.receive_batch([items[i] for i in idx], gens(idx))
            _sync(device)
            seconds = (time.perf_counter() - t0) / len(items)
            scores = met.score([Scored(s, img, {}) for s, img in zip(samples, images)])
            vals = np.array([v[metric] for v in scores], dtype=np.float64)
            row = {"method": label, "snr_db": float(snr), metric: float(np.nanmean(vals)), f"{metric}_std": float(np.nanstd(vals)),
                   "seconds_per_image": seconds, "images": len(items), "device": device}
            rows.append(row)
            log(f"{label:45s} {snr:6.1f} dB  {metric} {row[metric]:.3f} ± {row[metric + '_std']:.3f}  {seconds:.4f} s/image")
    for r in rows:
        ref = next(x for x in rows if x["snr_db"] == r["snr_db"])
        r["speedup"] = ref["seconds_per_image"] / r["seconds_per_image"]
    return rows


def markdown(rows: list[dict[str, Any]], metric: str = "miou") -> str:
    lines = [f"| method | PSNR (dB) | {metric} | s / image | speed-up |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| `{r['method']}` | {r['snr_db']:g} | {r[metric]:.3f} ± {r[metric + '_std']:.3f} | "
                     f"{r['seconds_per_image']:.4f} | {r['speedup']:.1f}x |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Compare receivers (samplers) at equal seeds: speed and mIoU.")
    p.add_argument("--methods", required=True, help="comma-separated method specs; the first is the reference")
    p.add_argument("--values", default="10", help="SNRs in dB, comma-separated")
    p.add_argument("--limit", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", default="synthetic-streets")
    p.add_argument("--channel", default="awgn")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="JSON file for the rows")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    rows = compare_samplers([a.methods], [float(v) for v in a.values.split(",")], a.limit, a.device, a.batch_size, a.seed,
                            a.dataset, a.channel)
    print(markdown(rows))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({"rows": rows, "argv": list(argv) if argv else None,
                                     "torch": torch.__version__,
                                     "gpu": torch.cuda.get_device_name() if a.device.startswith("cuda") else None}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
