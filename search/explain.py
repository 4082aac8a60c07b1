"""Why two logos are alike, in the grouping tiers' own terms: used by `logosim similar` for each hit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from search import evidence


def pair_evidence(query: Mapping[str, Any], hit: Mapping[str, Any]) -> dict[str, Any] | None:
    """The strongest tier that ties ``hit`` to ``query`` directly (payload-shaped dicts), with its distance;
    None when only the embedding score relates them."""
    if query.get("sha256") and query.get("sha256") == hit.get("sha256"):
        return {"tier": "sha256", "distance": 0.0}
    if query.get("pixels") and query.get("pixels") == hit.get("pixels"):
        return {"tier": "pixels", "distance": 0.0}
    distance = evidence.near_pair(query, hit)
    if distance is not None:
        return {"tier": "near", "distance": distance}
    close = evidence.aspect_close(*evidence.aspects([query.get("aspect"), hit.get("aspect")]))
    hashes = evidence.parse_pair_hashes([query.get("shash"), hit.get("shash")])
    if hashes[0].any() and hashes[1].any() and close:
        distance = int(evidence.pair_distance(hashes[0], hashes[1]))
        if distance <= evidence.SHAPE_DISTANCE:
            return {"tier": "shape", "distance": float(distance)}
    return None
