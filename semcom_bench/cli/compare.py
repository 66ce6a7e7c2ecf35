"""``semcom-bench compare``: receivers of one sender side by side at equal seeds.

A paired comparison: every method decodes the *same* received payloads (channel noise seeded
by ``(seed, SNR, image)``) with the same per-image sampler generators, so differences between
rows come from the receivers alone. See :mod:`semcom_bench.diffusion.bench`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from semcom_bench.cli.common import command, say

EPILOG = """**Examples**

    semcom-bench compare --methods "gesco(power=peak,sampler=ancestral),gesco(power=peak),gesco(power=peak,steps=25)" --values 10,1
    semcom-bench compare --methods "gesco(power=peak),gesco(power=peak,fds=false),gesco(power=peak,hard=true)" --values 10,5,1
    semcom-bench compare --methods "gesco,gesco(weights=runs/gesco-fds/gesco-synthetic-streets.pt)" --out compare.json
"""


def register(app: typer.Typer) -> None:
    @command(app, "compare", epilog=EPILOG,
             help="Receivers of one sender at equal seeds (same received maps, same sampler noise): mIoU and seconds per image.")
    def compare(
        methods: str = typer.Option(..., help="Comma-separated methods that send the same payload; the first is the speed reference."),
        values: str = typer.Option("10", help="SNRs in dB: '10,5,1' or 'start:stop:step'."),
        limit: int = typer.Option(32, help="Test scenes."),
        dataset: str = typer.Option("synthetic-streets", help="Data set, with parameters as name(k=v)."),
        channel: str = typer.Option("awgn", help="Channel."),
        seed: int = typer.Option(0, help="Seed of the channel noise and of the samplers."),
        device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or auto."),
        batch_size: int = typer.Option(16, help="Images per receiver batch."),
        threads: Optional[int] = typer.Option(None, help="Torch CPU threads. Default: all cores."),
        out: Optional[Path] = typer.Option(None, help="Write the rows as JSON to this file."),
    ) -> None:
        from semcom_bench.api import resolve_device
        from semcom_bench.cli.main import set_threads
        from semcom_bench.diffusion.bench import compare_samplers, markdown
        from semcom_bench.errors import UserError
        from semcom_bench.grids import parse_values

        if limit < 1 or batch_size < 1:
            raise UserError("--limit and --batch-size must be at least 1")
        set_threads(threads)
        rows = compare_samplers([methods], parse_values(values), limit, resolve_device(device), batch_size, seed, dataset, channel,
                                log=say)
        say(markdown(rows))
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({"rows": rows, "methods": methods, "values": values, "limit": limit,
                                       "dataset": dataset, "channel": channel, "seed": seed}, indent=2) + "\n")
            say(f"wrote {out}")
