"""StoreBackend: the one interface every vector store behind LogoStore implements, in logosim's own terms.

A backend holds one collection of one named cosine vector. It speaks point ids (UUID strings), float32
vectors and plain payload dicts; it knows nothing of domains (LogoStore maps domains to ids) and nothing of
the other backends. ``ensure`` is written once here, so every backend checks an existing collection with
the same words.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.errors import StoreError

Row = tuple[str, np.ndarray | Sequence[float], dict[str, Any]]  # (point id, vector, payload)


@dataclass(frozen=True)
class Point:
    """One stored point as a backend answers it; ``vector`` only when asked for, ``score`` only from query."""

    id: str
    payload: dict[str, Any]
    vector: np.ndarray | None = None
    score: float | None = None


@dataclass(frozen=True)
class Schema:
    """What an existing collection holds: each named vector's size, and the payload fields with an index."""

    vectors: dict[str, int]
    indexed: frozenset[str] = field(default_factory=frozenset)


class StoreBackend(ABC):
    """One collection in one store. Subclasses set ``keyword_indexes`` False when the store cannot index
    payload fields (qdrant-client's local mode scans every payload instead)."""

    keyword_indexes: bool = True

    def __init__(self, collection: str, vector_name: str, where: str) -> None:
        self.collection = collection
        self.vector_name = vector_name
        self.where = where  # for messages: the URL or the folder, as the user configured it

    # -- schema ----------------------------------------------------------------------------------
    def ensure(self, size: int, keyword_fields: Sequence[str]) -> None:
        """Create the collection and its keyword indexes, or check that an existing one matches."""
        if not self.exists():
            self.create(size)
            indexed: frozenset[str] = frozenset()
        else:
            schema = self.describe()
            self._check(schema, size)
            indexed = schema.indexed
        if self.keyword_indexes:
            for name in keyword_fields:
                if name not in indexed:  # also on a collection made before the index existed
                    self.create_keyword_index(name)

    def _check(self, schema: Schema, size: int) -> None:
        stored = schema.vectors.get(self.vector_name)
        if stored is None:
            raise StoreError(
                f"collection '{self.collection}' in {self.where} has no vector named '{self.vector_name}'; "
                "use another --collection or delete it"
            )
        if stored != size:
            raise StoreError(
                f"collection '{self.collection}' holds {stored}-d vectors, this model makes "
                f"{size}-d; use another --collection or delete it"
            )

    @abstractmethod
    def exists(self) -> bool: ...

    @abstractmethod
    def describe(self) -> Schema:
        """The existing collection's vectors and indexed fields."""

    @abstractmethod
    def create(self, size: int) -> None:
        """A new, empty collection of ``size``-d cosine vectors named ``vector_name``; no payload indexes."""

    @abstractmethod
    def create_keyword_index(self, name: str) -> None: ...

    @abstractmethod
    def drop(self) -> None:
        """Delete the collection and everything in it."""

    @abstractmethod
    def count(self) -> int: ...

    # -- writes (each returns once the change is applied) ------------------------------------------
    @abstractmethod
    def upsert(self, rows: Sequence[Row]) -> None: ...

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> None: ...

    @abstractmethod
    def set_payload(self, ids: Sequence[str], values: dict[str, Any]) -> None:
        """Merge ``values`` into each point's payload (other keys stay)."""

    # -- reads -----------------------------------------------------------------------------------
    @abstractmethod
    def retrieve(self, ids: Sequence[str], with_vectors: bool = False) -> list[Point]:
        """The points among ``ids`` that exist, in no promised order."""

    @abstractmethod
    def scroll(self, batch: int, with_vectors: bool = True) -> Iterator[Point]:
        """Every point, fetched ``batch`` at a time."""

    @abstractmethod
    def query(self, vector: np.ndarray, limit: int, exclude_id: str | None = None,
              min_score: float | None = None) -> list[Point]:
        """The nearest points by cosine similarity, best first, each with its score."""

    @abstractmethod
    def close(self) -> None:
        """Persist and release the store (and its folder lock)."""


def as_vector(raw: Any) -> np.ndarray | None:
    """A stored vector as float32, whichever sequence type the client answered with."""
    return None if raw is None else np.asarray(raw, dtype=np.float32)
