"""The words of undecided pairs: a pair that a reading tier (``Tier.read``: near, shape) proves by its picture
alone, between two different pictures, is read (indexer.text, through the caller's reader) and dropped when
both logos' legible words differ: logos made from one template (the same icon, layout and font, another name).

Only the logos of such pairs are read, once: a reading is kept in the payload (``text``) and reused. Pairs of
identical pictures (the same sha256 or pixels) are never read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableSequence, Sequence
from dataclasses import dataclass, field
from typing import Any

from search import evidence, tiers
from search.evidence import Edge

# point index -> its reading (indexer.text), or None when its logo cannot be read
Reader = Callable[[int], "dict[str, Any] | None"]
# Vetoed pairs listed in clusters_evidence.json (the count is always whole)
SHOWN_VETOES = 200


@dataclass
class TextCheck:
    """What the check did: the readings it made now (point -> reading, to keep in the payload), the pairs it
    dropped, and its time."""

    read: dict[int, dict[str, Any]] = field(default_factory=dict)
    vetoed: list[Edge] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self, domains: Sequence[str], payloads: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {"read": len(self.read), "seconds": round(self.seconds, 2), "vetoed": len(self.vetoed),
                "vetoes": [{"a": domains[e.a], "b": domains[e.b], "tier": e.tier, "distance": e.distance,
                            "texts": [_words(payloads[e.a]), _words(payloads[e.b])]}
                           for e in self.vetoed[:SHOWN_VETOES]]}


def _words(payload: dict[str, Any]) -> str:
    reading = payload.get("text")
    return str(reading.get("text", "")) if isinstance(reading, dict) else ""


def _undecided(edge: Edge, payloads: Sequence[dict[str, Any]]) -> bool:
    """A reading tier's pair between two different pictures."""
    if not tiers.BY_NAME[edge.tier].read:
        return False
    a, b = payloads[edge.a], payloads[edge.b]
    return not any(a.get(key) and a.get(key) == b.get(key) for key in ("sha256", "pixels"))


def check(edges: list[Edge], payloads: MutableSequence[dict[str, Any]], reader: Reader | None) -> tuple[list[Edge],
                                                                                                       TextCheck]:
    """The edges the words do not contradict, and what the check did. ``payloads[i]`` gains the reading of
    each logo read now; without a reader only readings already in the payloads count."""
    started = time.perf_counter()
    done = TextCheck()
    undecided = [edge for edge in edges if _undecided(edge, payloads)]
    if reader is not None:
        for point in sorted({p for edge in undecided for p in (edge.a, edge.b)}):
            if isinstance(payloads[point].get("text"), dict):
                continue
            reading = reader(point)
            if reading is not None:
                payloads[point]["text"] = reading
                done.read[point] = reading
    vetoed = {id(edge) for edge in undecided
              if tiers.text_verdict(payloads[edge.a], payloads[edge.b]) == evidence.DIFFERS}
    done.vetoed = [edge for edge in undecided if id(edge) in vetoed]
    done.seconds = time.perf_counter() - started
    return [edge for edge in edges if id(edge) not in vetoed], done
