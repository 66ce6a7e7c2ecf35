"""Throughput of the semantic-diffusion U-Net: ``python -m semcom_bench.benchmark [--device cuda]``.

Prints, per precision and batch size, milliseconds per image and network pass, the sustained
TFLOP/s and the peak GPU memory; then what the first paper's Cityscapes matrix (500 validation
images x 7 PSNRs x 6 receivers = 21,000 images) costs at the best measured setting with the
paper's sampler (1000 guided steps: 2,000 passes per image), the respaced 40 steps (80) and a
guidance-distilled 40 steps (40), on one and on eight devices; and, with ``--images N``, how far
bf16 autocast moves the embedded ``gesco`` receiver's images from float32 (same maps, same noise).

``--network official`` builds the official Cityscapes network (654M parameters, 256x512) with
random weights: speed does not depend on them, and the official checkpoint is not needed.
FLOPs are counted once per network on the meta device (:class:`torch.utils.flop_counter.FlopCounterMode`:
convolutions and matrix products, two FLOPs per multiply-add).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Sequence

import numpy as np
import torch

#: the first paper's Cityscapes matrix: validation images x PSNRs x receivers
MATRIX_IMAGES = 500 * 7 * 6
#: network passes per image of each sampler
SAMPLER_PASSES = {"paper (1000 guided steps)": 2000, "respaced 40 guided steps": 80, "distilled 40 steps": 40}
#: the network's model grid (height, width) by default
SIZES = {"embedded": (32, 64), "official": (256, 512)}


def build(network: str, device: str) -> torch.nn.Module:
    """The U-Net of ``network``: the shipped ``gesco`` weights (embedded) or the official layout, random init."""
    from semcom_bench.nets.semantic_unet import SemanticUNet, official_config

    if network == "embedded":
        from semcom_bench import registry
        from semcom_bench.components import RunContext

        model, _ = registry.methods.create("gesco", RunContext(device=device), steps=1).network()
        return model
    return SemanticUNet(official_config()).to(device).eval()


def flops_per_pass(model: torch.nn.Module, size: tuple[int, int]) -> float:
    """FLOPs of one pass of one image (counted on a meta-device copy of the network's config)."""
    from torch.utils.flop_counter import FlopCounterMode

    from semcom_bench.nets.semantic_unet import SemanticUNet

    with torch.device("meta"):
        meta = SemanticUNet(model.config)
        x, t, y = _inputs(model, 1, size, "meta")
        with FlopCounterMode(display=False) as counter:
            meta(x, t, y)
    return float(counter.get_total_flops())


def _inputs(model: torch.nn.Module, batch: int, size: tuple[int, int], device: str,
            generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_t (B, 3, H, W), t (B,) int64, one-hot maps + edge channel (B, C + 1, H, W)) of random content."""
    cfg = model.config
    x = torch.randn(batch, cfg.in_channels, *size, generator=generator).to(device)
    t = torch.randint(0, 1000, (batch,), generator=generator).to(device)
    labels = torch.randint(0, cfg.num_classes, (batch, *size), generator=generator)
    y = torch.nn.functional.one_hot(labels, cfg.num_classes).permute(0, 3, 1, 2).float()
    y = torch.cat([y, torch.zeros(batch, int(cfg.instance_edges), *size)], 1).to(device)
    return x, t, y


def time_passes(model: torch.nn.Module, batch: int, size: tuple[int, int], device: str, precision: str,
                repeats: int) -> dict[str, Any]:
    """Milliseconds per image and pass at ``batch`` images per network batch (one warm-up pass first)."""
    x, t, y = _inputs(model, batch, size, device, torch.Generator().manual_seed(0))
    on_gpu = device.startswith("cuda")
    autocast = torch.autocast(device_type="cuda" if on_gpu else "cpu", dtype=torch.bfloat16,
                              enabled=precision == "bf16")
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    with torch.no_grad(), autocast:
        model(x, t, y)
        if on_gpu:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            model(x, t, y)
        if on_gpu:
            torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / repeats
    return {"precision": precision, "batch": batch, "ms_per_image_pass": 1000.0 * seconds / batch,
            "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if on_gpu else None}


def matrix_hours(ms_per_image_pass: float) -> dict[str, float]:
    """Hours of :data:`MATRIX_IMAGES` images on one device, per sampler of :data:`SAMPLER_PASSES`."""
    return {name: MATRIX_IMAGES * passes * ms_per_image_pass / 3.6e6 for name, passes in SAMPLER_PASSES.items()}


def bf16_image_difference(device: str, images: int, steps: int) -> dict[str, float]:
    """Grey levels (of 255) between the embedded ``gesco`` receiver's images in float32 and under bf16
    autocast: same test scenes, same channel noise (PSNR 10) and sampler noise; mean, p99 and max."""
    from semcom_bench import registry
    from semcom_bench.channels.awgn import AWGN
    from semcom_bench.components import RunContext
    from semcom_bench.data.synthetic_streets import SyntheticStreets
    from semcom_bench.methods.base import Delivery

    ds = SyntheticStreets(split="test", size=images)
    out = []
    for precision in ("fp32", "bf16"):
        method = registry.methods.create("gesco", RunContext(dataset=ds, device=device), steps=steps,
                                         sampler="respaced", precision=precision)
        samples = [ds[i] for i in range(images)]
        payloads = method.transmit_batch(samples, [torch.Generator().manual_seed(i) for i in range(images)])
        deliveries = [Delivery(AWGN()(p.symbols, 10.0, torch.Generator().manual_seed(100 + i)), p.side)
                      for i, p in enumerate(payloads)]
        received = method.receive_batch(deliveries, [torch.Generator().manual_seed(200 + i) for i in range(images)])
        out.append(torch.from_numpy(np.stack(received)).float())
    diff = (out[0] - out[1]).abs().flatten()
    return {"mean": diff.mean().item(), "p99": diff.quantile(0.99).item() if diff.numel() <= 2**24 else float("nan"),
            "max": diff.max().item()}


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark; print its table and return its rows."""
    from semcom_bench.components import resolve_device

    parser = argparse.ArgumentParser(prog="python -m semcom_bench.benchmark", description=__doc__.split("\n\n")[0])
    def one_line_error(message: str) -> None:  # argparse would print its usage block first
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)

    parser.error = one_line_error  # type: ignore[method-assign]
    parser.add_argument("--network", choices=sorted(SIZES), default="embedded")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--batch", default="1,8,16", help="images per network batch, comma-separated")
    parser.add_argument("--precision", default="fp32,bf16", help="fp32 and/or bf16 (autocast), comma-separated")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per setting, after one warm-up")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--images", type=int, default=0, help="test scenes for the bf16 image difference (0: skip)")
    parser.add_argument("--steps", type=int, default=40, help="sampler steps of the bf16 image difference")
    args = parser.parse_args(argv)
    try:
        batches = [int(b) for b in args.batch.split(",")]
        precisions = [p.strip() for p in args.precision.split(",")]
    except ValueError:
        parser.error(f"--batch {args.batch}: give whole numbers separated by commas, e.g. 1,8,16")
    if any(b < 1 for b in batches) or args.repeats < 1 or not set(precisions) <= {"fp32", "bf16"}:
        parser.error("--batch and --repeats must be at least 1, --precision fp32 and/or bf16")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = build(args.network, device)
    size = SIZES[args.network]
    flops = flops_per_pass(model, size)
    params = sum(p.numel() for p in model.parameters())
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else f"cpu, {torch.get_num_threads()} threads"
    print(f"{args.network} U-Net: {params / 1e6:.1f}M parameters, {size[0]}x{size[1]}, "
          f"{flops / 1e9:,.1f} GFLOP per image and pass; {name}")
    print(f"{'precision':>9} {'batch':>5} {'ms/image-pass':>14} {'TFLOP/s':>8} {'peak GiB':>9}")
    rows = []
    for precision in precisions:
        for batch in batches:
            row = time_passes(model, batch, size, device, precision, args.repeats)
            row["tflops"] = flops / (row["ms_per_image_pass"] / 1000.0) / 1e12
            rows.append(row)
            peak = f"{row['peak_gpu_gib']:.1f}" if row["peak_gpu_gib"] is not None else "-"
            print(f"{precision:>9} {batch:>5} {row['ms_per_image_pass']:>14.2f} {row['tflops']:>8.2f} {peak:>9}")
    best = min(rows, key=lambda r: r["ms_per_image_pass"])
    print(f"the Cityscapes matrix ({MATRIX_IMAGES:,} images) with this network at its best setting ({best['precision']}, batch "
          f"{best['batch']}), hours on 1 / 8 devices of this kind:")
    for sampler, hours in matrix_hours(best["ms_per_image_pass"]).items():
        print(f"  {sampler:<28} {SAMPLER_PASSES[sampler]:>5} passes  {hours:>9.1f} / {hours / 8:.1f}")
    if args.images:
        d = bf16_image_difference(device, args.images, args.steps)
        print(f"bf16 vs fp32, embedded gesco, {args.images} test scenes at PSNR 10, {args.steps} steps: "
              f"{d['mean']:.2f} grey levels on average, p99 {d['p99']:.0f}, max {d['max']:.0f} (of 255)")
    return rows


if __name__ == "__main__":
    from semcom_bench.errors import UserError

    try:
        main()
    except UserError as exc:  # e.g. --device cuda without a GPU: one line, exit code 2 as the CLI
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
