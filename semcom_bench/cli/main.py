"""Top-level commands: run, report, plot, list. Sub-command groups are added at the bottom."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from semcom_bench import __version__
from semcom_bench.cli.common import RESUMES, command, err_console, out_console, print_error, say, writing_to
from semcom_bench.errors import UserError

app = typer.Typer(
    name="semcom-bench",
    help="Benchmark generative semantic communication: methods x channels x SNR grids, scored for meaning.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)

DEFAULT_OUT = Path("semcom-results")


def _version(value: bool) -> None:
    if value:
        out_console.print(f"semcom-bench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Benchmark generative semantic communication.

    **Examples**

        semcom-bench run --grid psnr
        semcom-bench report --format latex
        semcom-bench plot
        semcom-bench list methods
    """


@command(app, resumes=RESUMES, epilog="""**Examples**

    semcom-bench run --grid psnr
    semcom-bench run --grid snr --methods full-image --channels awgn --limit 4
    semcom-bench run --values 0:20:2 --metrics psnr,ssim
    semcom-bench run --metrics "miou(evaluator=embedded),psnr" --limit 8
    semcom-bench run --config paper.toml --out results/paper
    semcom-bench run --limit 4 --profile
    semcom-bench run --config paper.toml --executor ray --address auto --device cuda --threads 4
""")
def run(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file with the whole matrix; flags override it."),
    grid: Optional[str] = typer.Option(None, help="Named SNR grid: psnr (100,30,20,15,10,5,1), snr (0,3,6,9,12 dB) or jscc (0,5,10,15,20 dB)."),
    values: Optional[str] = typer.Option(None, help="Any other grid in dB: '0,5,10' or start:stop:step '0:20:2'."),
    methods: Optional[str] = typer.Option(None, help="Comma-separated methods, with parameters as name(k=v). Default: gesco,sdm,full-image."),
    channels: Optional[str] = typer.Option(None, help="Comma-separated channels. Default: awgn."),
    metrics: Optional[str] = typer.Option(None, help="Comma-separated metrics, with parameters as name(k=v), e.g. 'miou(evaluator=embedded),lpips(net=vgg)'. Default: psnr,ssim,ms-ssim,bits,miou,miou-set,detection,depth,fid,kid,lpips,clip (those whose weights are missing are skipped with the fix)."),
    dataset: Optional[str] = typer.Option(None, help="Data set, with parameters as name(k=v). Default: synthetic-streets."),
    limit: Optional[int] = typer.Option(None, help="Use only the first N samples (results are marked limited)."),
    seed: Optional[str] = typer.Option(None, help="Seed or comma-separated seeds. Default: 0."),
    out: Optional[Path] = typer.Option(None, help=f"Results folder. Default: {DEFAULT_OUT}."),
    cache_dir: Optional[Path] = typer.Option(None, help="Cache folder. Default: $SEMCOM_CACHE or ~/.cache/semcom-bench."),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:N or auto (with --executor ray, each task gets one GPU of its node). Default: cpu."),
    batch_size: Optional[int] = typer.Option(None, help="Images per batch. Default: 8."),
    threads: Optional[int] = typer.Option(None, help="Torch CPU threads (with --executor ray: of every task, and the CPUs each task asks for). Default: all cores."),
    executor: Optional[str] = typer.Option(None, help="Where the work runs: local (this process) or ray (Ray tasks, with identical results; needs pip install 'semcom-bench[ray]'). Default: local."),
    address: Optional[str] = typer.Option(None, help="With --executor ray: the Ray cluster to join (auto: the one started here with 'ray start'). Default: start a local Ray instance."),
    profile: bool = typer.Option(False, "--profile", help="Print the seconds spent per stage (transmit, channel, receive per method, each metric, cache I/O) and images per second; always saved in provenance.json."),
) -> None:
    """Run a matrix of methods x channels x SNR values, resuming from the cache."""
    from rich.markup import escape

    from semcom_bench import api
    from semcom_bench.progress import rich_progress

    file = api.load_toml(config) if config else None
    cfg = api.build_config(
        file, grid=grid, values=values, methods=methods, channels=channels, metrics=metrics, dataset=dataset,
        limit=limit, seeds=seed, out=out, cache_dir=cache_dir, device=device, batch_size=batch_size, threads=threads,
        executor=executor, address=address,
    )
    cfg.check_outputs()  # an unwritable folder fails now, not after the run
    writing_to(cfg.out, cfg.cache_dir)
    n_cells = len(cfg.methods) * len(cfg.channels) * len(cfg.values) * len(cfg.seeds)
    err_console.print(
        f"[bold]semcom-bench run[/]: {cfg.dataset.label} x {len(cfg.methods)} method(s) x {len(cfg.channels)} channel(s) "
        f"x {len(cfg.values)} SNR value(s) x {len(cfg.seeds)} seed(s) = {n_cells} cells"
        + (f", limited to {cfg.limit} samples" if cfg.limit else "")
        + (f", on Ray ({cfg.address or 'a local instance'})" if cfg.executor == "ray" else "")
    )
    try:
        summary = api.run(cfg, progress=rich_progress)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: finished images are cached; run the same command again to resume.")
        raise typer.Exit(130)
    counts, timings = summary["counts"], summary["timings"]
    for name, reason in summary["skipped"].items():
        err_console.print(f"[yellow]skipped metric {escape(name)}[/]: {escape(reason)}")
    out_console.print(
        f"{counts['generated']} image(s) generated, {counts['cached']} from cache "
        f"({timings['generate_s']:.1f} s generating, {timings['score_s']:.1f} s scoring)."
    )
    fixed = summary.get("integrity", {})
    if fixed.get("corrupt") or fixed.get("corrupt_values"):
        err_console.print(
            f"[yellow]warning:[/] cache: {fixed['corrupt'] + fixed['corrupt_values']} corrupt entry(ies) found and redone: "
            f"{fixed['corrupt']} image(s) regenerated, {fixed['corrupt_values']} metric value file(s) recomputed "
            f"(missing or undecodable file, or content not matching its sha256)", highlight=False, soft_wrap=True)
    if fixed.get("batch_mismatch"):
        err_console.print(
            f"[yellow]warning:[/] cache: {fixed['batch_mismatch']} cached image(s) differ from their regeneration in a "
            f"partly finished batch (the torch thread count or device differs from the run that cached them); "
            f"the cached ones were kept", highlight=False, soft_wrap=True)
    if fixed.get("temp_removed"):
        say(f"cache: removed {fixed['temp_removed']} temporary file(s) left by an interrupted run")
    if profile:
        from semcom_bench.profiling import render as render_profile

        where = ("" if summary["profile"]["executor"] == "local"
                 else " (stages run in Ray workers are not seen: profile with --executor local)")
        err_console.print(f"[bold]profile[/] of this process{where}:", highlight=False)
        out_console.print(escape(render_profile(summary["profile"])), highlight=False, soft_wrap=True)
    say(f"results: {cfg.out / 'results.parquet'} (and results.csv, provenance.json; run folder {summary['run_dir']})")
    say(f"next: semcom-bench report --out {cfg.out} --format latex")


@command(app, epilog="""**Examples**

    semcom-bench report
    semcom-bench report --format latex --output tables.tex
    semcom-bench report --format markdown --metrics psnr,ssim
    semcom-bench report --versus full-image --metrics psnr,ssim
""")
def report(
    out: Path = typer.Option(DEFAULT_OUT, help="Results folder written by 'run'."),
    format: str = typer.Option("markdown", "--format", "-f", help="latex, markdown or csv."),
    metrics: Optional[str] = typer.Option(None, help="Comma-separated metrics or outputs to include. Default: all."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of the terminal."),
    standalone: bool = typer.Option(False, help="LaTeX only: wrap the tables in a compilable document."),
    versus: Optional[str] = typer.Option(
        None, metavar="METHOD",
        help="Paired view instead of the mean ± std tables: per-image differences of every other method against "
             "METHOD (its label as in the results, e.g. --versus full-image or --versus 'gesco(power=peak)'), "
             "mean and 95% bootstrap interval per channel and SNR."),
) -> None:
    """Print the paper's tables: rows methods, columns SNR values, mean ± std, best in bold.

    With --versus METHOD, print the paired differences against METHOD instead.
    """
    from semcom_bench import api

    metric_list = None
    if metrics is not None:
        metric_list = [m.strip() for m in metrics.split(",") if m.strip()]
        if not metric_list:
            raise UserError("--metrics is empty: give metric names such as psnr,ssim, or leave it out for all")
    text = api.report(out, format, metric_list, versus=versus)
    if standalone and format == "latex":
        from semcom_bench.report.tables import latex_document

        text = latex_document(text)
    if output:
        try:
            output.write_text(text)
        except OSError as exc:
            raise UserError(f"cannot write {output} ({exc.strerror}); choose a writable --output path") from None
        err_console.print(f"wrote {output}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@command(app, epilog="""**Examples**

    semcom-bench plot
    semcom-bench plot --metrics psnr,ssim --snrs 20,10,1 --samples 3
    semcom-bench plot --frontier-metric miou-set
""")
def plot(
    out: Path = typer.Option(DEFAULT_OUT, help="Results folder written by 'run'."),
    metrics: Optional[str] = typer.Option(None, help="Comma-separated metrics to plot. Default: all."),
    snrs: Optional[str] = typer.Option(None, help="SNR values (dB) for the sample grid. Default: three spread over the grid."),
    samples: int = typer.Option(4, help="Number of samples in the sample grid."),
    plots_dir: Optional[Path] = typer.Option(None, help="Where to write the figures. Default: <out>/plots."),
    frontier_metric: Optional[str] = typer.Option(
        None, help="The meaning drawn against bits per image (and channel uses per image), a point per method and SNR "
                   "with the Pareto frontier at each SNR. Default: mIoU, else the first semantic metric present."),
) -> None:
    """Draw metric-vs-SNR curves (a panel per channel), bits against meaning and a sample grid, as PNG and PDF."""
    from semcom_bench import registry, results
    from semcom_bench.cache import Cache
    from semcom_bench.grids import parse_values
    from semcom_bench.report.plots import plot_curves, plot_frontier, plot_samples
    from semcom_bench.runner import select_samples
    from semcom_bench.specs import parse_spec

    frame, prov = results.load(out)
    target = plots_dir or out / "plots"
    metric_list = [m.strip() for m in metrics.split(",")] if metrics else None
    paths = plot_curves(frame, prov, target, metric_list)
    cfg = prov.get("config", {})
    frontier = plot_frontier(frame, prov, target, output=frontier_metric)
    if not frontier:
        err_console.print("no bits-against-meaning plot: the results hold no semantic metric (miou, detection, depth) "
                          "or no bits per image (score the bits metric)", highlight=False)
    paths += frontier
    ds = parse_spec(cfg.get("dataset", {"name": "synthetic-streets"}))
    dataset = registry.datasets.create(ds.name, **ds.params)
    chosen = select_samples(dataset, min(samples, prov.get("num_samples", samples)))
    snr_values = list(parse_values(snrs)) if snrs else None
    paths += plot_samples(frame, prov, Cache(cfg.get("cache_dir", ".")), chosen, target, snrs=snr_values, num_samples=samples)
    for p in paths:
        out_console.print(str(p))


@command(app, "list", epilog="""**Examples**

    semcom-bench list
    semcom-bench list metrics
""")
def list_(
    kind: Optional[str] = typer.Argument(None, help="methods, channels, metrics, datasets, grids or configs. Default: all."),
) -> None:
    """List methods, channels, metrics, data sets and grids with their metadata."""
    from semcom_bench import registry
    from semcom_bench.grids import GRIDS

    kinds = {"methods": registry.methods, "channels": registry.channels, "metrics": registry.metrics, "datasets": registry.datasets}
    if kind is not None and kind not in (*kinds, "grids", "configs"):
        raise UserError(f"cannot list {kind!r}: choose methods, channels, metrics, datasets, grids or configs")
    for name, reg in kinds.items():
        if kind not in (None, name):
            continue
        table = Table(title=name, title_justify="left")
        for col in ("name", "version", "summary", "metadata"):
            table.add_column(col)
        options = []
        for e in reg.entries():
            meta = ", ".join(f"{k}={v}" for k, v in e.meta.items())
            if e.aliases:
                meta = f"aliases={'/'.join(e.aliases)}" + (", " + meta if meta else "")
            if not e.origin.startswith("semcom_bench."):
                meta = f"plugin={e.origin}" + (", " + meta if meta else "")
            table.add_row(e.name, e.version, e.summary, meta)
            if e.parameters():
                options.append(f"{e.name}(" + ", ".join(p.name for p in e.parameters()) + ")")
                options += [f"    {p.describe()}" for p in e.parameters()]
        out_console.print(table)
        if options:
            say(f"{name} parameters (name=default (accepted): meaning):")
            for line in options:
                say(f"  {line}")
    if kind in (None, "configs"):
        from semcom_bench.config import shipped_configs

        table = Table(title="configs (semcom-bench run --config NAME)", title_justify="left")
        table.add_column("name")
        table.add_column("what it reproduces")
        for name, path in shipped_configs().items():
            first = next((ln[1:].strip() for ln in path.read_text().splitlines() if ln.startswith("#")), "")
            table.add_row(name, first)
        out_console.print(table)
    if kind in (None, "grids"):
        table = Table(title="grids", title_justify="left")
        table.add_column("name")
        table.add_column("values (dB)")
        table.add_column("summary")
        for name, (vals, desc) in GRIDS.items():
            table.add_row(name, ", ".join(f"{v:g}" for v in vals), desc)
        out_console.print(table)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 2 user mistake, 130 interrupted)."""
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except UserError as exc:  # raised outside a command (e.g. while parsing)
        print_error(str(exc))
        return 2
    return 0


def entry() -> None:
    sys.exit(main())


# Command groups, each in its own module exposing a ``app`` Typer object. Importing them must
# stay cheap: heavy libraries are imported inside the commands.
SUBCOMMANDS: list[tuple[str, str]] = [
    ("train", "semcom_bench.cli.train"),
    ("weights", "semcom_bench.cli.weights"),
    ("channels", "semcom_bench.cli.channels"),
    ("data", "semcom_bench.cli.data"),
]

for _name, _module in SUBCOMMANDS:
    import importlib

    app.add_typer(importlib.import_module(_module).app, name=_name)
