"""``clusters.json``: the groups as ``{"<label>": [domains], "-1": [outliers]}``, written and read back in one place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.datadir import DataDir, atomic_write_text


def clusters_json(result: Any) -> dict[str, list[str]]:
    """The file's shape (also what ``--json`` prints): labels in order, domains sorted, outliers under "-1"."""
    data = {str(label): sorted(domains) for label, domains in sorted(result.groups.items())}
    data["-1"] = sorted(result.outliers)
    return data


def write_clusters(result: Any, data: DataDir) -> None:
    """clusters.json, and clusters_evidence.json beside it (per group, each member's tier, distance and fellow;
    the thresholds and the embedding tier's calibration), atomically."""
    from search.cluster import evidence_json

    atomic_write_text(data.clusters, json.dumps(clusters_json(result), indent=1, ensure_ascii=False) + "\n")
    atomic_write_text(evidence_path(data), json.dumps(evidence_json(result), indent=1, ensure_ascii=False) + "\n")


def evidence_path(data: DataDir) -> Path:
    return data.clusters.with_name("clusters_evidence.json")


def load_clusters(data: DataDir) -> Any:
    """The last clustering's groups as a ClusterResult (no tiers or timings: those live in the run that made it)."""
    from search.cluster import ClusterResult

    raw = json.loads(data.clusters.read_text(encoding="utf-8"))
    groups = {int(label): domains for label, domains in raw.items() if label != "-1"}
    labels = {d: label for label, domains in groups.items() for d in domains}
    labels.update({d: -1 for d in raw.get("-1", [])})
    return ClusterResult(labels=labels, groups=groups, outliers=raw.get("-1", []), tier={}, params={}, seconds=0.0)
