"""`logosim`: the command line of the whole product (crawl, import, index, cluster, similar, export, run, status, demo).

Commands only declare options and hand off to the stages' plain functions; our own exceptions are caught
here and printed as one line with exit code 1. Human output goes to stderr through rich; ``--json`` prints
machine-readable output on stdout.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from crawler.datadir import DataDir, read_state, update_state
from crawler.errors import LogosimError

app = typer.Typer(name="logosim", help="Which websites share a logo? Crawl, embed, group, query.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
err = Console(stderr=True)
out = Console()

# -- shared options ---------------------------------------------------------------------------------------
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", "-d", envvar="LOGOSIM_DATA_DIR",
                                                    help="Data folder [default: ./data]")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Redo work that is already current.")]
CollectionOpt = Annotated[str, typer.Option("--collection", help="Qdrant collection name.")]
QdrantUrlOpt = Annotated[str | None, typer.Option("--qdrant-url", envvar="QDRANT_URL",
                                                     help="Qdrant server URL; embedded on-disk Qdrant when unset.")]
WeightsOpt = Annotated[str, typer.Option("--weights", help="imagenet | random | PATH to a ResNet50 state dict.")]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", min=1, help="Images per forward pass [default: by device].")]
WorkersOpt = Annotated[int | None, typer.Option(
    "--workers", min=0, envvar="LOGOSIM_INDEX_WORKERS",
    help="Processes decoding logos beside the model [default: 0 on CPU, cores-1 on a GPU, fitted to /dev/shm].")]


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Stage(str, Enum):
    crawl = "crawl"
    index = "index"
    cluster = "cluster"


class ExportFormat(str, Enum):
    npy = "npy"
    parquet = "parquet"


DeviceOpt = Annotated[Device, typer.Option("--device", help="Where the model runs.")]


def _guard(func: Callable[[], Any]) -> Any:
    try:
        return func()
    except LogosimError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=err, transient=True)  # the summary that follows stays; the bar goes


def _store_config(data: DataDir, qdrant_url: str | None, collection: str):
    from indexer.store import StoreConfig

    return StoreConfig.resolve(data.root, url=qdrant_url, collection=collection)


# -- crawl ------------------------------------------------------------------------------------------------
def do_crawl(file: Path, data: DataDir, force: bool, user_agent: str | None, quiet: bool):
    from crawler.runner import run_crawl

    # Scrapy's own log is for `scrapy crawl`; here the progress bar and the summary are the output.
    settings: dict[str, Any] = {"LOG_LEVEL": os.environ.get("LOGOSIM_LOG_LEVEL", "WARNING")}
    if user_agent:
        settings["USER_AGENT"] = user_agent
    with _progress() as progress:
        task = progress.add_task("crawl", total=None, status="")
        counts: Counter[str] = Counter()

        def on_start(total: int) -> None:
            progress.update(task, total=total)

        def on_record(record: Any) -> None:
            counts[record.status] += 1
            progress.update(task, advance=1, status=f"ok {counts['ok']} · no logo {counts['no_logo']} · failed {counts['failed']}")

        summary = run_crawl(file, data, force=force, settings=settings, on_record=on_record, on_start=on_start)
    update_state(data, "crawl", finished_at=_now(), input=str(file), total=summary.total)
    return summary


def _crawl_report(summary: Any) -> dict:
    found = summary.ok / summary.total if summary.total else 0.0
    return {"total": summary.total, "skipped": summary.skipped, "ok": summary.ok, "no_logo": summary.no_logo,
            "failed": summary.failed, "found_pct": round(100 * found, 1), "by_source": summary.by_source,
            "by_reason": summary.by_reason,
            "rejected_lines": [{"line": r.line, "text": r.text, "reason": r.reason} for r in summary.rejected_lines]}


def _print_crawl(report: dict) -> None:
    err.print(f"[bold]{report['ok']}/{report['total']}[/] domains have a logo ({report['found_pct']}%), "
              f"{report['no_logo']} without, {report['failed']} unreachable; {report['skipped']} were already done.")
    _counter_table("found by source", report["by_source"])
    _counter_table("not found, by reason", report["by_reason"])
    for rejected in report["rejected_lines"][:20]:
        err.print(f"  line {rejected['line']}: {rejected['text']!r} skipped ({rejected['reason']})", highlight=False)
    if len(report["rejected_lines"]) > 20:
        err.print(f"  … and {len(report['rejected_lines']) - 20} more unusable lines")


def _counter_table(title: str, counts: dict[str, int]) -> None:
    if not counts:
        return
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    for key, value in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(str(key), str(value))
    err.print(table)


@app.command()
def crawl(file: Annotated[Path, typer.Argument(help="Domains: .parquet (column domain), .csv or .txt")],
          data_dir: DataDirOpt = None, force: ForceOpt = False, as_json: JsonOpt = False,
          user_agent: Annotated[str | None, typer.Option("--user-agent", envvar="LOGOSIM_USER_AGENT")] = None) -> None:
    """Visit every site, find its logo, save it as PNG, one manifest record per domain."""
    data = DataDir.at(data_dir)
    report = _crawl_report(_guard(lambda: do_crawl(file, data, force, user_agent, as_json)))
    _emit_json(report) if as_json else _print_crawl(report)


@app.command("import")
def import_(folder: Annotated[Path, typer.Argument(help="Folder of logo files named <domain>.<ext>")],
            data_dir: DataDirOpt = None, force: ForceOpt = False, as_json: JsonOpt = False) -> None:
    """Turn a folder of existing logo files into a data folder, exactly as a crawl would."""
    from crawler.importer import import_folder

    data = DataDir.at(data_dir)

    def run() -> Any:
        if not folder.is_dir():
            raise LogosimError(f"not a folder: {folder}")
        with data.locked(), _progress() as progress:
            total = sum(1 for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
            task = progress.add_task("import", total=total, status="")
            summary = import_folder(folder, data, force=force,
                                    progress=lambda domain, status: progress.update(task, advance=1, status=domain))
        update_state(data, "crawl", finished_at=_now(), input=str(folder), total=summary.total)
        return summary

    summary = _guard(run)
    report = {"total": summary.total, "ok": summary.ok, "failed": summary.failed, "reasons": summary.reasons,
              "warnings": summary.warnings}
    if as_json:
        _emit_json(report)
    else:
        flagged = sum(summary.warnings.values())
        note = f" ({flagged} kept with a warning: tiny or one colour, left out of grouping)" if flagged else ""
        err.print(f"[bold]{summary.ok}/{summary.total}[/] logos converted{note}, {summary.failed} failed.")
        _counter_table("failed, by reason", summary.reasons)
        _counter_table("converted with a warning", summary.warnings)


# -- index ------------------------------------------------------------------------------------------------
def do_index(data: DataDir, qdrant_url: str | None, collection: str, device: str, batch_size: int | None,
             weights: str, force: bool, prune: bool, workers: int | None = None):
    from indexer.runner import index_data_dir

    config = _store_config(data, qdrant_url, collection)
    with _progress() as progress:
        task = progress.add_task("index", total=None, status="")

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, status="")

        summary = index_data_dir(data, config, weights=weights, device=device, batch_size=batch_size,
                                 force=force, prune=prune, workers=workers, progress=on_progress)
    changed = summary.indexed + summary.pruned
    values: dict[str, Any] = {"finished_at": _now(), "model": summary.model, "device": summary.device}
    if changed or "changed_at" not in read_state(data).get("index", {}):
        values["changed_at"] = _now()
    update_state(data, "index", **values)
    return summary


def _index_report(summary: Any) -> dict:
    return {"indexed": summary.indexed, "unchanged": summary.unchanged, "failed": summary.failed,
            "pruned": summary.pruned, "reasons": summary.reasons, "failures": summary.failures,
            "seconds": round(summary.seconds, 2), "model": summary.model, "device": summary.device}


def _print_index(report: dict) -> None:
    err.print(f"[bold]{report['indexed']}[/] logos indexed, {report['unchanged']} unchanged, "
              f"{report['failed']} failed, {report['pruned']} pruned in {report['seconds']} s "
              f"({report['model']} on {report['device']}).")
    _counter_table("failed, by reason", report["reasons"])


@app.command()
def index(data_dir: DataDirOpt = None, collection: CollectionOpt = "logos", qdrant_url: QdrantUrlOpt = None,
          device: DeviceOpt = Device.auto, batch_size: BatchOpt = None, weights: WeightsOpt = "imagenet",
          force: ForceOpt = False, as_json: JsonOpt = False, workers: WorkersOpt = None,
          prune: Annotated[bool, typer.Option("--prune", help="Remove vectors of domains that no longer have a logo.")] = False) -> None:
    """Embed every logo with ResNet50 and upsert it into Qdrant, keyed by domain."""
    data = DataDir.at(data_dir)
    report = _index_report(_guard(lambda: do_index(data, qdrant_url, collection, device.value, batch_size, weights,
                                                   force, prune, workers)))
    _emit_json(report) if as_json else _print_index(report)


# -- cluster ----------------------------------------------------------------------------------------------
def do_cluster(data: DataDir, qdrant_url: str | None, collection: str, min_cluster_size: int, tune: bool):
    from indexer.store import LogoStore
    from search.cluster import cluster_store, write_outputs
    from search.report import write_report

    with data.locked(), LogoStore(_store_config(data, qdrant_url, collection)) as store:
        if not store.count():
            raise LogosimError(f"collection '{collection}' holds no vectors: run `logosim index` first")
        with err.status("grouping logos…"):
            result = cluster_store(store, min_cluster_size=min_cluster_size, tune=tune)
            write_outputs(result, data)
            report_path = write_report(result, store, data)
    update_state(data, "cluster", finished_at=_now(), groups=len(result.groups), outliers=len(result.outliers))
    return result, report_path


def _clusters_json(result: Any) -> dict[str, list[str]]:
    data = {str(label): sorted(domains) for label, domains in sorted(result.groups.items())}
    data["-1"] = sorted(result.outliers)
    return data


def _print_groups(result: Any, report_path: Path, limit: int = 15) -> None:
    tiers = Counter(result.tier.values())
    err.print(f"[bold]{len(result.groups)}[/] groups over {sum(len(g) for g in result.groups.values())} domains, "
              f"{len(result.outliers)} outliers (joined by file {tiers.get('sha256', 0)}, pixels "
              f"{tiers.get('pixels', 0)}, near {tiers.get('near', 0) + tiers.get('phash', 0)}, shape "
              f"{tiers.get('shape', 0)}, embeddings {tiers.get('hdbscan', 0)}"
              + (f"; {tiers['placeholder']} tiny or one-colour logos left out" if tiers.get("placeholder") else "")
              + f") in {result.seconds:.1f} s.")
    table = Table(title="largest groups", title_justify="left")
    table.add_column("group", justify="right")
    table.add_column("size", justify="right")
    table.add_column("domains")
    for label, domains in sorted(result.groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:limit]:
        shown = ", ".join(domains[:6]) + (f", … (+{len(domains) - 6})" if len(domains) > 6 else "")
        table.add_row(str(label), str(len(domains)), shown)
    err.print(table)
    calibration = result.params.get("calibration") or {}
    if calibration.get("abstained"):
        err.print(f"embedding tier abstained for {calibration.get('model') or 'these vectors'}: "
                  f"{calibration['abstained']}")
    elif calibration.get("threshold") is not None:
        err.print(f"embedding tier: distance <= {calibration['threshold']:.4f} for {calibration.get('model')} "
                  f"(false-merge rate {calibration['false_merge_rate']:.1e}, keeps {calibration['recall']:.0%} "
                  f"of {calibration['positives']} proven pairs)")
    err.print(f"report: [bold]{report_path}[/]")


@app.command()
def cluster(data_dir: DataDirOpt = None, collection: CollectionOpt = "logos", qdrant_url: QdrantUrlOpt = None,
            min_cluster_size: Annotated[int, typer.Option("--min-cluster-size", min=2)] = 2,
            tune: Annotated[bool, typer.Option("--tune", help="No effect: the embedding tier calibrates itself.")] = False,
            as_json: JsonOpt = False) -> None:
    """Group logos (identical file or pixels, near-identical picture, same shape, then calibrated embeddings);
    write clusters.json, clusters_evidence.json and report.html."""
    data = DataDir.at(data_dir)
    result, report_path = _guard(lambda: do_cluster(data, qdrant_url, collection, min_cluster_size, tune))
    _emit_json(_cluster_json(result)) if as_json else _print_groups(result, report_path)


def _cluster_json(result: Any) -> dict[str, Any]:
    from search.cluster import evidence_json

    return {"clusters": _clusters_json(result), **evidence_json(result)}


# -- similar / export -------------------------------------------------------------------------------------
def do_similar(query: str, data: DataDir, qdrant_url: str | None, collection: str, top: int,
               min_score: float | None, device: Device, weights: str | None):
    from indexer.model import Embedder
    from indexer.store import LogoStore
    from search.similar import similar

    def factory(stored_weights: str) -> Embedder:
        return Embedder(weights=weights or stored_weights, device=device.value)

    with LogoStore(_store_config(data, qdrant_url, collection)) as store:
        return similar(query, store, top=top, min_score=min_score, embedder_factory=factory, data_dir=data)


WARNINGS = {"placeholder_blank": "a single colour", "placeholder_tiny": "tiny"}


def _similar_json(result: Any) -> dict:
    return {"query": result.query, "warning": result.warning,
            "results": [{"domain": n.domain, "score": round(float(n.score), 6), "cluster": n.cluster,
                         "evidence": n.evidence, "group_evidence": n.group_evidence} for n in result.results]}


def _evidence_text(evidence: dict | None) -> str:
    if not evidence:
        return ""
    text = f"{evidence['tier']} d={evidence['distance']:g}"
    return text + (f" ~{evidence['via']}" if evidence.get("via") else "")


def _print_similar(result: Any) -> None:
    table = Table(title=f"logos like {result.query} ({result.kind})", title_justify="left")
    for name, justify in (("rank", "right"), ("domain", "left"), ("score", "right"), ("group", "right"),
                          ("evidence", "left"), ("in its group by", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for rank, n in enumerate(result.results, start=1):
        table.add_row(str(rank), n.domain, f"{n.score:.4f}", "-" if n.cluster is None else str(n.cluster),
                      _evidence_text(n.evidence) or "embedding only", _evidence_text(n.group_evidence))
    out.print(table) if result.results else err.print("no logo is similar enough")
    if result.warning:
        err.print(f"note: {result.query}'s logo is {WARNINGS.get(result.warning, result.warning)}: "
                  "its neighbours say little about a shared brand")


@app.command()
def similar(query: Annotated[str, typer.Argument(help="A domain, a local image file or an image URL.")],
            data_dir: DataDirOpt = None, collection: CollectionOpt = "logos", qdrant_url: QdrantUrlOpt = None,
            top: Annotated[int, typer.Option("--top", "-k", min=1)] = 10,
            min_score: Annotated[float | None, typer.Option("--min-score")] = None,
            device: DeviceOpt = Device.auto,
            weights: Annotated[str | None, typer.Option("--weights", help="Override the model (image queries).")] = None,
            as_json: JsonOpt = False) -> None:
    """Which logos look like this one? Best first; the query domain itself is excluded."""
    data = DataDir.at(data_dir)
    result = _guard(lambda: do_similar(query, data, qdrant_url, collection, top, min_score, device, weights))
    _emit_json(_similar_json(result)) if as_json else _print_similar(result)


@app.command()
def export(out_path: Annotated[Path, typer.Option("--out", "-o", help="Output file or folder.")] = Path("export"),
           fmt: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.parquet,
           data_dir: DataDirOpt = None, collection: CollectionOpt = "logos", qdrant_url: QdrantUrlOpt = None,
           as_json: JsonOpt = False) -> None:
    """Write every vector with its domain for other tools (npy or parquet)."""
    from indexer.store import LogoStore
    from search.export import export_vectors

    data = DataDir.at(data_dir)

    def run() -> int:
        with LogoStore(_store_config(data, qdrant_url, collection)) as store:
            return export_vectors(store, out_path, fmt.value)

    count = _guard(run)
    _emit_json({"exported": count, "out": str(out_path), "format": fmt.value}) if as_json else \
        err.print(f"{count} vectors written to {out_path} ({fmt.value})")


# -- status / run / demo ----------------------------------------------------------------------------------
def data_status(data: DataDir, qdrant_url: str | None = None, collection: str = "logos") -> dict:
    from crawler.manifest import read_manifest

    read = read_manifest(data.manifest)
    statuses = Counter(record.status for record in read.records.values())
    state = read_state(data)
    info: dict[str, Any] = {"data_dir": str(data.root), "domains": len(read.records),
                            "logos_found": statuses.get("ok", 0),
                            "logos_with_warning": sum(1 for r in read.records.values() if r.status == "ok" and r.warning),
                            "no_logo": statuses.get("no_logo", 0),
                            "failed": statuses.get("failed", 0), "bad_manifest_lines": len(read.bad_lines),
                            "crawled_at": state.get("crawl", {}).get("finished_at"),
                            "indexed_at": state.get("index", {}).get("finished_at"),
                            "model": state.get("index", {}).get("model"),
                            "clustered_at": state.get("cluster", {}).get("finished_at"),
                            "groups": state.get("cluster", {}).get("groups"),
                            "report": str(data.report) if data.report.exists() else None}
    info["vectors_indexed"] = _count_vectors(data, qdrant_url, collection)
    return info


def _count_vectors(data: DataDir, qdrant_url: str | None, collection: str) -> int | None:
    from indexer.store import LogoStore

    config = _store_config(data, qdrant_url, collection)
    if config.path is not None and not config.path.exists():
        return 0
    try:
        with LogoStore(config) as store:
            return store.count()
    except LogosimError:
        return None  # e.g. another process holds the embedded store right now


@app.command()
def status(data_dir: DataDirOpt = None, collection: CollectionOpt = "logos", qdrant_url: QdrantUrlOpt = None,
           as_json: JsonOpt = False) -> None:
    """What the data folder holds: domains, logos found, vectors indexed, when clustered."""
    info = _guard(lambda: data_status(DataDir.at(data_dir), qdrant_url, collection))
    if as_json:
        _emit_json(info)
        return
    table = Table(show_header=False, box=None, padding=(0, 2))
    for key, value in info.items():
        table.add_row(key.replace("_", " "), "-" if value is None else str(value))
    out.print(table)


def run_pipeline(file: Path | None, data: DataDir, *, start: Stage = Stage.crawl, force: bool = False,
                 qdrant_url: str | None = None, collection: str = "logos", device: str = "auto",
                 batch_size: int | None = None, weights: str = "imagenet", min_cluster_size: int = 2,
                 tune: bool = False, crawl_settings: dict | None = None) -> tuple[Any, Path]:
    """crawl -> index -> cluster; each stage skips what is current, ``start`` restarts from a later stage."""
    order = [Stage.crawl, Stage.index, Stage.cluster]
    stages = order[order.index(start):]
    if Stage.crawl in stages:
        if file is None:
            raise LogosimError("a domain file is needed to crawl (or use --from index)")
        err.rule("1/3 crawl")
        _print_crawl(_crawl_report(do_crawl(file, data, force, (crawl_settings or {}).get("USER_AGENT"), False)))
    if Stage.index in stages:
        err.rule("2/3 index")
        _print_index(_index_report(do_index(data, qdrant_url, collection, device, batch_size, weights, force, True)))
    err.rule("3/3 cluster")
    state = read_state(data)
    current = (start != Stage.cluster and not force and data.clusters.exists()
               and state.get("cluster", {}).get("finished_at", "") >= state.get("index", {}).get("changed_at", "~"))
    if current:
        err.print("groups are current (nothing changed since the last clustering)")
        return _load_clusters(data), data.report
    result, report_path = do_cluster(data, qdrant_url, collection, min_cluster_size, tune)
    return result, report_path


def _load_clusters(data: DataDir) -> Any:
    from search.cluster import ClusterResult

    raw = json.loads(data.clusters.read_text(encoding="utf-8"))
    groups = {int(label): domains for label, domains in raw.items() if label != "-1"}
    labels = {d: label for label, domains in groups.items() for d in domains}
    labels.update({d: -1 for d in raw.get("-1", [])})
    return ClusterResult(labels=labels, groups=groups, outliers=raw.get("-1", []), tier={}, params={}, seconds=0.0)


@app.command()
def run(file: Annotated[Path | None, typer.Argument(help="Domains file (not needed with --from index/cluster)")] = None,
        data_dir: DataDirOpt = None, start: Annotated[Stage, typer.Option("--from", help="Restart from this stage.")] = Stage.crawl,
        force: ForceOpt = False, collection: CollectionOpt = "logos", qdrant_url: QdrantUrlOpt = None,
        device: DeviceOpt = Device.auto, batch_size: BatchOpt = None, weights: WeightsOpt = "imagenet",
        min_cluster_size: Annotated[int, typer.Option("--min-cluster-size", min=2)] = 2,
        tune: Annotated[bool, typer.Option("--tune")] = False, as_json: JsonOpt = False) -> None:
    """Run crawl -> index -> cluster into one data folder; a rerun resumes where the last one stopped."""
    data = DataDir.at(data_dir)
    result, report_path = _guard(lambda: run_pipeline(
        file, data, start=start, force=force, qdrant_url=qdrant_url, collection=collection, device=device.value,
        batch_size=batch_size, weights=weights, min_cluster_size=min_cluster_size, tune=tune))
    _emit_json({"clusters": _clusters_json(result), "report": str(report_path)}) if as_json \
        else _print_groups(result, report_path)


@app.command()
def demo(data_dir: Annotated[Path, typer.Option("--data-dir", "-d", help="Where the demo writes.")] = Path("demo-data"),
         weights: WeightsOpt = "imagenet", device: DeviceOpt = Device.auto, as_json: JsonOpt = False) -> None:
    """Offline demo: serve a generated web of brand families on 127.0.0.1 and run the whole pipeline on it."""
    from crawler.demo import run_demo

    data = DataDir.at(data_dir)
    summary = _guard(lambda: run_demo(data, weights=weights, device=device.value, pipeline=run_pipeline,
                                      console=err))
    if as_json:
        sample = summary.get("sample")
        _emit_json({"clusters": _clusters_json(summary["result"]), "report": summary["report"],
                    "weights": summary["weights"], "sample_similar": _similar_json(sample) if sample else None})
        return
    _print_groups(summary["result"], Path(summary["report"]))
    if summary.get("sample"):
        _print_similar(summary["sample"])


def _now() -> str:
    from crawler.manifest import now_iso

    return now_iso()


if __name__ == "__main__":
    app()
