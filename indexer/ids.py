"""Deterministic identity: a normalised domain always maps to the same Qdrant point id (UUIDv5)."""

from __future__ import annotations

import uuid

# uuid5(NAMESPACE_DNS, "logosim.logos"); documented in the README so any HTTP client can address a domain.
POINT_NAMESPACE = uuid.UUID("d8e9050f-1667-5701-a8a3-46d3586ce11c")


def point_id(domain: str) -> str:
    return str(uuid.uuid5(POINT_NAMESPACE, domain))
