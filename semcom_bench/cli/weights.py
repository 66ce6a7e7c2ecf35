"""``semcom-bench weights``: what every metric and method needs, and what this machine has.

For every declared weight file (after loading the whole component catalog): found or
missing, where it was found (source and path), the SHA-256 of what was found and whether it
matches the declared checksum, and where the file is published. Then, per component that
needs weights, whether it is ready or skipped, with the reason and the fix.

Nothing here downloads; with ``--offline`` (or ``SEMCOM_OFFLINE``, on unless set to ``0``)
the Hugging Face offline switches are set for the whole process.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

import typer
from rich.table import Table

from semcom_bench.cli.common import err_console, examples, out_console, print_error
from semcom_bench.errors import UserError

#: packages whose modules may declare weights without registering a component (evaluators are
#: chosen per data set and imported lazily by the metrics); every module in them is imported
WEIGHT_PACKAGES = ("semcom_bench.evaluators", "semcom_bench.methods", "semcom_bench.metrics")

app = typer.Typer(
    help="List the weights every metric and method needs: found or missing, where, checksum, where published.",
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode="markdown",
)


@app.callback(invoke_without_command=True, epilog=examples("""**Examples**

    semcom-bench weights
    SEMCOM_WEIGHTS=~/weights semcom-bench weights --offline
    semcom-bench weights --dataset cityscapes
"""))
def weights_(
    offline: bool = typer.Option(False, "--offline", help="Make sure nothing tries the network (also SEMCOM_OFFLINE=1, the default)."),
    dataset: str = typer.Option("synthetic-streets", help="Data set whose evaluators decide which metrics are ready."),
) -> None:
    """List every declared weight file: found or missing, where, SHA-256, where it is published."""
    try:
        _list(offline, dataset)
    except UserError as exc:
        print_error(str(exc))
        raise typer.Exit(2) from None


def _import_declaring_modules() -> list[str]:
    """Import every module of :data:`WEIGHT_PACKAGES`; returns 'module: error' for failures."""
    problems = []
    for name in WEIGHT_PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.iter_modules(package.__path__, name + "."):
            try:
                importlib.import_module(info.name)
            except Exception as exc:  # a broken optional module must not hide the others
                problems.append(f"{info.name}: {type(exc).__name__}: {exc}")
    return problems


def _list(offline: bool, dataset_name: str) -> None:
    from semcom_bench import registry, weights
    from semcom_bench.components import RunContext
    from semcom_bench.specs import parse_spec

    if offline:
        os.environ["SEMCOM_OFFLINE"] = "1"
    weights.enforce_offline()
    for reg in (registry.metrics, registry.methods):
        reg.names()  # loads the catalog: every module declares its weights at import
    problems = _import_declaring_modules()
    declared = sorted(weights.WEIGHTS.values(), key=lambda w: w.name)

    if weights.offline():
        mode = "offline (" + ", ".join(f"{v}=1" for v in weights.OFFLINE_VARIABLES) + ")"
    else:
        mode = "SEMCOM_OFFLINE=0 (libraries may use the network; semcom-bench itself never downloads)"
    roots = os.environ.get("SEMCOM_WEIGHTS")
    out_console.print(
        f"weights: {mode}; $SEMCOM_WEIGHTS={roots or '(not set)'}; order: explicit path > $SEMCOM_WEIGHTS > "
        "Hugging Face / torch hub caches > installed packages > package assets",
        highlight=False,
    )

    table = Table(title="weight files", title_justify="left")
    table.add_column("weights", no_wrap=True)
    for col in ("used by", "status", "sha256"):
        table.add_column(col, overflow="fold")
    details: list[str] = []
    found_count = 0
    for w in declared:
        hit = weights.find(w.name)
        published = w.url or (f"huggingface.co/{w.hf_repo}" if w.hf_repo else "not stated")
        lines = [f"[bold]{w.name}[/] ({w.filename}): {w.description}"]
        if hit is None:
            status, check = "[red]missing[/]", "-"
            if w.own_folder:
                lines.append(f"  missing: put it at {w.place}")
            else:
                other = (f"the Hugging Face cache ({weights.hf_cache_dirs()[0]})" if w.is_folder
                         else f"{weights.torch_hub_dirs()[0]}/")
                lines.append(f"  missing: put it at {w.place} or in {other}")
            if w.sha256:
                lines.append(f"  declared sha256: {w.sha256}" + (" (prefix, as in torchvision's file name)" if len(w.sha256) < 64 else ""))
        else:
            found_count += 1
            source, path = hit
            digest = weights.cached_checksum(path)
            match = weights.checksum_matches(w, digest)
            verdict = {True: "[green]matches[/]", False: "[red]DIFFERS[/]", None: "none declared"}[match]
            status, check = f"[green]found[/] ({source})", f"{digest[:12]}… {verdict}"
            lines.append(f"  found at: {source}: {path}")
            lines.append(f"  sha256: {digest} (" + {True: "matches the declared checksum", False: f"[red]differs from the declared {w.sha256}[/]", None: "no checksum declared"}[match] + ")")
        lines.append(f"  published at: {published}")
        details.append("\n".join(lines))
        table.add_row(w.name, ", ".join(w.used_by) or "-", status, check)
    out_console.print(table)
    for block in details:
        out_console.print(block, highlight=False, soft_wrap=True)

    spec = parse_spec(dataset_name)
    data = registry.datasets.create(spec.name, **spec.params)
    comp = Table(title=f"components that need weights (data set {spec.label})", title_justify="left")
    comp.add_column("component", no_wrap=True)
    comp.add_column("state", overflow="fold")
    for kind, reg in (("metric", registry.metrics), ("method", registry.methods)):
        for entry in reg.entries():
            needs = entry.meta.get("weights") or ()
            if isinstance(needs, str):
                needs = (needs,)
            if not needs:
                continue
            reason = None
            if kind == "metric":  # cheap to build; unavailable() also checks packages
                metric = reg.create(entry.name, RunContext(dataset=data))  # evaluators depend on the data set
                reason = metric.unavailable()
            else:
                missing = [n for n in needs if n in weights.WEIGHTS and weights.find(n) is None]
                if missing:
                    reason = "; ".join(weights.missing_message(weights.get(n)) for n in missing)
            state = "[green]ready[/]" if reason is None else f"[yellow]skipped[/]: {reason}"
            comp.add_row(f"{kind} {entry.name}", state)
    out_console.print(comp)
    for problem in problems:
        err_console.print(f"[yellow]warning[/]: could not import {problem}", highlight=False)
    err_console.print(f"{found_count} of {len(declared)} weight files found.", highlight=False)
