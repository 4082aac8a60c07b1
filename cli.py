"""`logosim`: the command line of the whole product (crawl, import, index, cluster, similar, export, run, status, demo).

Commands only declare options, build the one ``Config`` (``common.config``: the options, then the environment)
and hand off to ``pipeline.stages``; this module prints. Our own exceptions are caught here and printed as one
line with exit code 1. Human output goes to stderr through rich; ``--json`` prints JSON on stdout.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from common.config import Config
from common.errors import LogosimError
from common.text import json_text, printable
from pipeline import stages
from pipeline.stages import ClusterOptions, IndexOptions, Reporter, Stage

app = typer.Typer(name="logosim", help="Which websites share a logo? Crawl, embed, group, query.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
err = Console(stderr=True)
out = Console()

# -- shared options (each also has an environment variable, read by common.config) -------------------------
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", "-d",
                                                    help="Data folder [env LOGOSIM_DATA_DIR; default: ./data]")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Redo work that is already current.")]
CollectionOpt = Annotated[str, typer.Option("--collection", help="Qdrant collection name.")]
AllowPrivateOpt = Annotated[bool | None, typer.Option(
    "--allow-private-addresses", help="Intranet use only: let URLs (and pages) reach loopback and private "
                                      "addresses [env LOGOSIM_ALLOW_PRIVATE_ADDRESSES].")]
QdrantUrlOpt = Annotated[str | None, typer.Option(
    "--qdrant-url", help="Qdrant server URL [env QDRANT_URL]; embedded on-disk Qdrant when unset.")]
WeightsOpt = Annotated[str, typer.Option("--weights", help="imagenet (ResNet50; EfficientNet-Lite0 where its weights cannot be had) | efficientnet-lite0 | random | PATH to a ResNet50 state dict.")]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", min=1, help="Images per forward pass [default: by device].")]
WorkersOpt = Annotated[int | None, typer.Option(
    "--workers", min=0, help="Processes decoding logos beside the model [env LOGOSIM_INDEX_WORKERS; default: 0 on "
                             "CPU, cores-1 on a GPU, fitted to /dev/shm].")]
MinClusterOpt = Annotated[int, typer.Option("--min-cluster-size", min=2)]
ProxyOpt = Annotated[str | None, typer.Option(
    "--proxy", help="A forward proxy for every request of the crawl and of `similar URL` [env LOGOSIM_PROXY].")]


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class ExportFormat(str, Enum):
    npy = "npy"
    parquet = "parquet"


DeviceOpt = Annotated[Device, typer.Option("--device", help="Where the model runs.")]


def _safe(text: object) -> str:
    """Text for rich: control characters escaped (a page, a server or Redis may have written it), markup too."""
    return escape(printable(text))


def _config(data_dir: Path | None = None, **options: Any) -> Config:
    return Config.from_env(data_dir=data_dir, **options)


def _guard(func: Callable[[], Any]) -> Any:
    try:
        return func()
    except LogosimError as exc:
        err.print(f"[bold red]error:[/] {_safe(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _emit_json(data: Any) -> None:
    sys.stdout.write(json_text(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


class RichReporter(Reporter):
    """Progress bars (transient: the summary that follows stays) and stage rules on stderr."""

    @contextmanager
    def task(self, name: str) -> Iterator[Any]:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                      console=err, transient=True) as progress:
            task = progress.add_task(name, total=None, status="")

            def tick(*, completed: int | None = None, total: int | None = None, advance: int = 0,
                     status: str = "") -> None:
                progress.update(task, completed=completed, total=total, advance=advance, status=_safe(status))

            yield tick

    def note(self, message: str) -> None:
        err.print(message, markup=False, highlight=False)

    def stage(self, index: int, count: int, stage: Stage) -> None:
        err.rule(f"{index}/{count} {stage.value}")

    def done(self, stage: Stage, summary: Any) -> None:
        if stage == Stage.crawl:
            _print_crawl(summary.to_dict())
        elif stage == Stage.index:
            _print_index(summary.to_dict())


# -- crawl / import ---------------------------------------------------------------------------------------
def _print_crawl(report: dict) -> None:
    err.print(f"[bold]{report['ok']}/{report['total']}[/] domains have a logo ({report['found_pct']}%), "
              f"{report['no_logo']} without, {report['failed']} unreachable; {report['skipped']} were already done"
              + (f" ({report['processes']} crawl processes)." if report.get("processes", 1) > 1 else "."))
    _counter_table("found by source", report["by_source"])
    _counter_table("not found, by reason", report["by_reason"])
    for rejected in report["rejected_lines"][:20]:
        err.print(f"  line {rejected['line']}: {_safe(repr(rejected['text']))} skipped ({_safe(rejected['reason'])})",
                  highlight=False)
    if report["rejected_total"] > 20:
        err.print(f"  … and {report['rejected_total'] - 20} more unusable lines")


def _counter_table(title: str, counts: dict[str, int]) -> None:
    if not counts:
        return
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    for key, value in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(_safe(str(key)), str(value))
    err.print(table)


class BrowserMode(str, Enum):
    auto = "auto"
    never = "never"
    always = "always"


BrowserOpt = Annotated[BrowserMode | None, typer.Option(
    "--browser", help="Read script-built pages in headless Chromium: auto (when the served page shows no header "
                      "logo and looks script-built), never, always [env LOGOSIM_BROWSER]")]
ProcessesOpt = Annotated[int | None, typer.Option(
    "--processes", "-p", min=1,
    help="Crawl processes on this machine (default: one per core) [env LOGOSIM_CRAWL_PROCESSES]")]
FrontierOpt = Annotated[str | None, typer.Option(
    "--frontier", help="A shared Redis frontier, redis://HOST:PORT/DB [env LOGOSIM_FRONTIER]: many workers, one list.")]


@app.command()
def crawl(file: Annotated[Path | None, typer.Argument(
              help="Domains: .parquet (column domain), .csv or .txt (with --frontier: queued there; optional)")] = None,
          data_dir: DataDirOpt = None, force: ForceOpt = False, as_json: JsonOpt = False,
          user_agent: Annotated[str | None, typer.Option("--user-agent", help="[env LOGOSIM_USER_AGENT]")] = None,
          frontier: FrontierOpt = None, allow_private_addresses: AllowPrivateOpt = None, proxy: ProxyOpt = None,
          processes: ProcessesOpt = None, browser: BrowserOpt = None,
          explain: Annotated[str | None, typer.Option("--explain", metavar="DOMAIN",
                                                      help="Print one site's scored logo candidates; write nothing")] = None,
          ) -> None:
    """Visit every site, find its logo, save it as PNG, one manifest record per domain."""
    config = _config(data_dir, user_agent=user_agent, frontier=frontier,
                     allow_private_addresses=allow_private_addresses, proxy=proxy, crawl_processes=processes,
                     browser=browser.value if browser else None)
    if explain is not None:
        return _explain(config, explain, as_json)
    report = _guard(lambda: stages.crawl(config, file, force=force, reporter=RichReporter())).to_dict()
    _emit_json(report) if as_json else _print_crawl(report)


def _explain(config: Config, domain: str, as_json: bool) -> None:
    explanation = _guard(lambda: stages.explain(config, domain))
    if as_json:
        _emit_json(explanation.to_dict())
    else:
        sys.stdout.write("\n".join(explanation.lines()) + "\n")


@app.command("import")
def import_(folder: Annotated[Path, typer.Argument(help="Folder of logo files named <domain>.<ext>")],
            data_dir: DataDirOpt = None, force: ForceOpt = False, as_json: JsonOpt = False,
            follow_symlinks: Annotated[bool, typer.Option(
                "--follow-symlinks", help="Also import symlinks to files outside the folder.")] = False) -> None:
    """Turn a folder of existing logo files into a data folder, exactly as a crawl would."""
    summary = _guard(lambda: stages.import_logos(_config(data_dir), folder, force=force,
                                                 follow_symlinks=follow_symlinks, reporter=RichReporter()))
    if as_json:
        _emit_json(summary.to_dict())
        return
    flagged = sum(summary.warnings.values())
    note = f" ({flagged} kept with a warning: tiny or one colour, left out of grouping)" if flagged else ""
    err.print(f"[bold]{summary.ok}/{summary.total}[/] logos converted{note}, {summary.failed} failed.")
    _counter_table("failed, by reason", summary.reasons)
    _counter_table("converted with a warning", summary.warnings)


# -- index ------------------------------------------------------------------------------------------------
def _print_index(report: dict) -> None:
    err.print(f"[bold]{report['indexed']}[/] logos indexed, {report['unchanged']} unchanged, "
              f"{report['failed']} failed, {report['pruned']} pruned in {report['seconds']} s "
              f"({report['model']} on {report['device']}).")
    if report["refreshed"]:
        err.print(f"{report['refreshed']} unchanged logos got the near-duplicate evidence added since they were "
                  "indexed (not re-embedded).")
    _counter_table("failed, by reason", report["reasons"])


@app.command()
def index(data_dir: DataDirOpt = None, collection: CollectionOpt = "logos", qdrant_url: QdrantUrlOpt = None,
          device: DeviceOpt = Device.auto, batch_size: BatchOpt = None, weights: WeightsOpt = "imagenet",
          force: ForceOpt = False, as_json: JsonOpt = False, workers: WorkersOpt = None,
          prune: Annotated[bool, typer.Option("--prune", help="Remove vectors of domains that no longer have a logo.")] = False) -> None:
    """Embed every logo with ResNet50 and upsert it into Qdrant, keyed by domain."""
    config = _config(data_dir, collection=collection, qdrant_url=qdrant_url, index_workers=workers)
    options = IndexOptions(weights=weights, device=device.value, batch_size=batch_size, force=force, prune=prune)
    report = _guard(lambda: stages.index(config, options, reporter=RichReporter())).to_dict()
    _emit_json(report) if as_json else _print_index(report)


# -- cluster ----------------------------------------------------------------------------------------------
def _print_groups(result: Any, report_path: Path, limit: int = 15) -> None:
    joined = ", ".join(f"{label} {count}" for label, count in result.joined_by(short=True))
    left_label, left = result.left_out()
    err.print(f"[bold]{len(result.groups)}[/] groups over {sum(len(g) for g in result.groups.values())} domains, "
              f"{len(result.outliers)} outliers (joined by {_safe(joined)}"
              + (f"; {left} {_safe(left_label)}" if left else "") + f") in {result.seconds:.1f} s.")
    table = Table(title="largest groups", title_justify="left")
    table.add_column("group", justify="right")
    table.add_column("size", justify="right")
    table.add_column("domains")
    for label, domains in sorted(result.groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:limit]:
        shown = ", ".join(domains[:6]) + (f", … (+{len(domains) - 6})" if len(domains) > 6 else "")
        table.add_row(str(label), str(len(domains)), _safe(shown))
    err.print(table)
    if result.calibration_line():
        err.print(_safe(result.calibration_line()), highlight=False)
    err.print(f"report: [bold]{_safe(str(report_path))}[/]")


@app.command()
def cluster(data_dir: DataDirOpt = None, collection: CollectionOpt = "logos", qdrant_url: QdrantUrlOpt = None,
            min_cluster_size: MinClusterOpt = 2,
            incremental: Annotated[bool, typer.Option(
                "--incremental", help="Place logos indexed since the last full run into its groups.")] = False,
            as_json: JsonOpt = False) -> None:
    """Group logos (identical file or pixels, near-identical picture, same shape, then calibrated embeddings);
    write clusters.json, clusters_evidence.json and report.html."""
    config = _config(data_dir, collection=collection, qdrant_url=qdrant_url)
    options = ClusterOptions(min_cluster_size=min_cluster_size, incremental=incremental)
    result, report_path = _guard(lambda: stages.cluster(config, options, reporter=RichReporter()))
    _emit_json(result.to_dict()) if as_json else _print_groups(result, report_path)


# -- similar / export -------------------------------------------------------------------------------------
WARNINGS = {"placeholder_blank": "a single colour", "placeholder_tiny": "tiny"}


def _evidence_text(evidence: dict | None) -> str:
    if not evidence:
        return ""
    text = f"{evidence['tier']} d={evidence['distance']:g}"
    return text + (f" ~{evidence['via']}" if evidence.get("via") else "")


# What a hit without a direct tier between it and the query rests on (search.similar's reasons).
HIT_REASONS = {"group": "same group", "embedding": "embedding (calibrated)",
               "embedding_only": "embedding only (not trusted)"}


def _print_similar(result: Any) -> None:
    table = Table(title=f"logos like {_safe(result.query)} ({result.kind})", title_justify="left")
    for name, justify in (("rank", "right"), ("domain", "left"), ("score", "right"), ("group", "right"),
                          ("evidence", "left"), ("in its group by", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for rank, n in enumerate(result.results, start=1):
        table.add_row(str(rank), _safe(n.domain), f"{n.score:.4f}", "-" if n.cluster is None else str(n.cluster),
                      _safe(_evidence_text(n.evidence) or HIT_REASONS.get(n.reason, n.reason)),
                      _safe(_evidence_text(n.group_evidence)))
    out.print(table) if result.results else err.print("no logo is similar enough")
    if result.warning:
        err.print(f"note: {_safe(result.query)}'s logo is {WARNINGS.get(result.warning, result.warning)}: "
                  "its neighbours say little about a shared brand")


@app.command()
def similar(query: Annotated[str, typer.Argument(help="A domain, a local image file or an image URL.")],
            data_dir: DataDirOpt = None, collection: CollectionOpt = "logos", qdrant_url: QdrantUrlOpt = None,
            top: Annotated[int, typer.Option("--top", "-k", min=1)] = 10,
            min_score: Annotated[float | None, typer.Option("--min-score")] = None,
            device: DeviceOpt = Device.auto,
            weights: Annotated[str | None, typer.Option("--weights", help="Override the model (image queries).")] = None,
            as_json: JsonOpt = False, allow_private_addresses: AllowPrivateOpt = None, proxy: ProxyOpt = None) -> None:
    """Which logos look like this one? Best first; the query domain itself is excluded."""
    config = _config(data_dir, collection=collection, qdrant_url=qdrant_url,
                     allow_private_addresses=allow_private_addresses, proxy=proxy)
    result = _guard(lambda: stages.similar(config, query, top=top, min_score=min_score, device=device.value,
                                           weights_value=weights))
    _emit_json(result.to_dict()) if as_json else _print_similar(result)


@app.command()
def export(out_path: Annotated[Path, typer.Option("--out", "-o", help="Output file or folder.")] = Path("export"),
           fmt: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.parquet,
           data_dir: DataDirOpt = None, collection: CollectionOpt = "logos", qdrant_url: QdrantUrlOpt = None,
           as_json: JsonOpt = False) -> None:
    """Write every vector with its domain for other tools (npy or parquet)."""
    config = _config(data_dir, collection=collection, qdrant_url=qdrant_url)
    count = _guard(lambda: stages.export(config, out_path, fmt.value))
    _emit_json({"exported": count, "out": str(out_path), "format": fmt.value}) if as_json else \
        err.print(f"{count} vectors written to {_safe(str(out_path))} ({fmt.value})")


# -- status / run / demo ----------------------------------------------------------------------------------
@app.command()
def status(data_dir: DataDirOpt = None, collection: CollectionOpt = "logos", qdrant_url: QdrantUrlOpt = None,
           as_json: JsonOpt = False, frontier: FrontierOpt = None) -> None:
    """What the data folder holds: domains, logos found, vectors indexed, when clustered (with --frontier:
    the whole shared crawl instead)."""
    if frontier:
        _print_frontier(_guard(lambda: stages.frontier_status(_config(frontier=frontier))).to_dict(), as_json)
        return
    info = _guard(lambda: stages.status(_config(data_dir, collection=collection, qdrant_url=qdrant_url))).to_dict()
    if as_json:
        _emit_json(info)
        return
    table = Table(show_header=False, box=None, padding=(0, 2))
    for key, value in info.items():
        table.add_row(key.replace("_", " "), "-" if value is None else _safe(str(value)))
    out.print(table)


def _print_frontier(info: dict, as_json: bool) -> None:
    if as_json:
        _emit_json(info)
        return
    out.print(f"frontier {_safe(info['frontier'])} ({info['id'] or 'no list loaded'}): {info['queued']} queued, "
              f"{info['in_flight']} in flight ({info['committing']} being written), {info['done']} done ({info['ok']} ok, {info['no_logo']} no logo, "
              f"{info['failed']} failed), {info['rate']} domains/s", highlight=False)
    table = Table("worker", "done", "failed", "in flight", "domains/s", "last seen (s)", box=None, padding=(0, 2))
    for name, worker in sorted(info["workers"].items()):
        table.add_row(_safe(name), str(worker["done"]), str(worker["failed"]), str(worker["in_flight"]),
                      str(worker["rate"]), str(worker["last_seen_s"]) + ("" if worker["alive"] else " (gone)"))
    out.print(table)


@app.command()
def merge(folders: Annotated[list[Path], typer.Argument(help="The workers' data folders (one frontier's)")],
          data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Merge the data folders of one frontier's workers into --data-dir: one record per domain, ready to index."""
    summary = _guard(lambda: stages.merge(_config(data_dir), folders))
    if as_json:
        _emit_json(summary.to_dict())
        return
    err.print(f"[bold]{summary.domains}[/] domains from {summary.folders} folders ({summary.ok} with a logo, "
              f"{summary.duplicates} recorded twice, one kept) into {_safe(str(_config(data_dir).data_dir))}.")
    if summary.rejected:
        err.print(f"{sum(summary.rejected.values())} records refused (not copied):")
        _counter_table("refused, by reason", summary.rejected)
        for refused in summary.rejected_records[:20]:
            err.print(f"  {_safe(refused['folder'])}: {_safe(repr(refused['domain']))} ({_safe(refused['reason'])})",
                      highlight=False)


@app.command()
def run(file: Annotated[Path | None, typer.Argument(help="Domains file (not needed with --from index/cluster)")] = None,
        data_dir: DataDirOpt = None, start: Annotated[Stage, typer.Option("--from", help="Restart from this stage.")] = Stage.crawl,
        force: ForceOpt = False, collection: CollectionOpt = "logos", qdrant_url: QdrantUrlOpt = None,
        device: DeviceOpt = Device.auto, batch_size: BatchOpt = None, weights: WeightsOpt = "imagenet",
        min_cluster_size: MinClusterOpt = 2, proxy: ProxyOpt = None, processes: ProcessesOpt = None,
        browser: BrowserOpt = None, as_json: JsonOpt = False) -> None:
    """Run crawl -> index -> cluster into one data folder; a rerun resumes where the last one stopped."""
    config = _config(data_dir, collection=collection, qdrant_url=qdrant_url, proxy=proxy,
                     crawl_processes=processes, browser=browser.value if browser else None)
    result, report_path = _guard(lambda: stages.run(
        config, file, start=start, force=force,
        index_options=IndexOptions(weights=weights, device=device.value, batch_size=batch_size),
        cluster_options=ClusterOptions(min_cluster_size=min_cluster_size), reporter=RichReporter()))
    _emit_json({"clusters": result.clusters(), "report": str(report_path)}) if as_json \
        else _print_groups(result, report_path)


@app.command()
def demo(data_dir: Annotated[Path, typer.Option("--data-dir", "-d", help="Where the demo writes.")] = Path("demo-data"),
         weights: WeightsOpt = "imagenet", device: DeviceOpt = Device.auto, as_json: JsonOpt = False) -> None:
    """Offline demo: serve a generated web of brand families on 127.0.0.1 and run the whole pipeline on it."""
    from pipeline.demo import run_demo

    summary = _guard(lambda: run_demo(_config(data_dir), weights=weights, device=device.value,
                                      reporter=RichReporter()))
    if as_json:
        _emit_json(summary.to_dict())
        return
    _print_groups(summary.result, Path(summary.report))
    if summary.sample:
        _print_similar(summary.sample)


if __name__ == "__main__":
    app()
