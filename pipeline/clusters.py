"""``clusters.json``: the groups as ``{"<label>": [domains], "-1": [outliers]}``, written and read back in one place."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common.datadir import DataDir, atomic_write_text
from common.errors import LogosimError

if TYPE_CHECKING:  # search.cluster imports scikit-learn: imported where used, not by every command
    from search.cluster import ClusterResult
    from search.incremental import Previous
    from search.similar import Grouping


def write_clusters(result: ClusterResult, data: DataDir) -> None:
    """clusters.json, and clusters_evidence.json beside it (per group, each member's tier, distance and fellow;
    the thresholds and the embedding tier's calibration), atomically."""
    from search.cluster import evidence_json

    atomic_write_text(data.clusters, json.dumps(result.clusters(), indent=1, ensure_ascii=False) + "\n")
    atomic_write_text(evidence_path(data), json.dumps(evidence_json(result), indent=1, ensure_ascii=False) + "\n")
    _write_projection(getattr(result, "projection", None), projection_path(data))


def evidence_path(data: DataDir) -> Path:
    return data.clusters.with_name("clusters_evidence.json")


def projection_path(data: DataDir) -> Path:
    """The embedding tier's PCA (mean, components): `cluster --incremental` measures new logos in its space."""
    return data.clusters.with_name("clusters_projection.npz")


def _write_projection(projection: Any, path: Path) -> None:
    if projection is None:
        path.unlink(missing_ok=True)  # a stale one would describe another clustering's space
        return
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        np.savez(handle, mean=projection.mean, components=projection.components)
    os.replace(partial, path)


def load_previous(data: DataDir) -> Previous:
    """What the last full clustering left for ``search.incremental``: labels, evidence, thresholds,
    calibration and projection; one line (LogosimError) when there was none."""
    from search.cluster import ClusterParams
    from search.grouping import Projection
    from search.incremental import Previous

    if not data.clusters.exists() or not evidence_path(data).exists():
        raise LogosimError(f"no previous clustering in {data.root}: run `logosim cluster` once without --incremental")
    labels = load_clusters(data).labels
    raw = json.loads(evidence_path(data).read_text(encoding="utf-8"))
    explained = {m["domain"]: {k: v for k, v in m.items() if k != "domain"}
                 for members in raw.get("groups", {}).values() for m in members if "via" in m}
    projection = None
    if projection_path(data).exists():
        with np.load(projection_path(data)) as stored:
            projection = Projection(stored["mean"], stored["components"])
    params = ClusterParams(thresholds=raw.get("thresholds") or {}, calibration=raw.get("embedding_tier"))
    return Previous(labels=labels, evidence=explained, params=params, projection=projection)


def load_grouping(data: DataDir) -> Grouping | None:
    """What `similar` ranks by: the last clustering's groups, and its embedding tier's threshold with the PCA
    space it was measured in; None before any clustering (or when its files cannot be read: the answer is
    then ranked by direct evidence and embedding hints alone)."""
    from search.similar import Grouping

    try:
        previous = load_previous(data)
    except (LogosimError, OSError, ValueError, KeyError):
        return None
    groups: dict[int, list[str]] = {}
    for domain, label in sorted(previous.labels.items()):
        if label >= 0:
            groups.setdefault(label, []).append(domain)
    return Grouping.of(groups, previous.params.calibration, previous.projection)


def load_clusters(data: DataDir) -> ClusterResult:
    """The last clustering's groups as a ClusterResult (no tiers or timings: those live in the run that made it)."""
    from search.cluster import ClusterResult

    raw = json.loads(data.clusters.read_text(encoding="utf-8"))
    groups = {int(label): domains for label, domains in raw.items() if label != "-1"}
    labels = {d: label for label, domains in groups.items() for d in domains}
    labels.update({d: -1 for d in raw.get("-1", [])})
    return ClusterResult(labels=labels, groups=groups, outliers=raw.get("-1", []), tier={}, seconds=0.0)
