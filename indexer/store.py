"""LogoStore: the vector store keyed by domain, one facade over the StoreBackend that StoreConfig names.

Embedded on disk by default (Qdrant Edge, or qdrant-client's local mode), a Qdrant server when a URL is
given; the backend is chosen once, in ``open_backend``, and the facade never asks which it holds.

The collection is a public interface (users query it over HTTP): one named vector per model, ``resnet50``
(2048-d, cosine) or ``efficientnet_lite0`` (1280-d: indexer.weights), point id = UUIDv5 of the domain (see
``indexer.ids``), payload fields listed in PAYLOAD_FIELDS. A reader takes the vector the collection holds; a
writer of another model's vectors is refused in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.config import DEFAULT_COLLECTION
from common.errors import StoreError
from indexer.backend import Point, StoreBackend
from indexer.ids import point_id

VECTOR_NAME = "resnet50"
VECTOR_SIZE = 2048
PAYLOAD_FIELDS = (
    "domain", "logo_url", "source", "sha256", "phash", "width", "height", "logo_path", "fetched_at", "model",
    "warning",
)
KEYWORD_INDEXES = ("domain", "sha256")
UPSERT_BATCH = 256
# qdrant-client's local mode (indexer/qdrant.py), Qdrant Edge (indexer/edge.py); the names users see in errors
EMBEDDED_NAMES = {"local": "embedded Qdrant", "edge": "embedded Qdrant Edge"}
EMBEDDED_BACKENDS = tuple(EMBEDDED_NAMES)


@dataclass
class StoreConfig:
    """Where the vectors live: a server when ``url`` is set, else the embedded backend under ``path``."""

    path: Path | None = None
    url: str | None = None
    api_key: str | None = None
    collection: str = DEFAULT_COLLECTION
    embedded: str = "edge"  # which embedded backend when there is no url: one of EMBEDDED_BACKENDS

    @classmethod
    def resolve(cls, data_root: Path, url: str | None = None, collection: str = DEFAULT_COLLECTION,
                api_key: str | None = None, embedded: str = "edge") -> StoreConfig:
        """The store for a data folder; conflicting values fail here, before anything opens."""
        url, api_key = url or None, api_key or None
        if api_key and not url:
            raise StoreError("QDRANT_API_KEY is set but no Qdrant URL: pass --qdrant-url or set QDRANT_URL")
        _check_embedded(embedded)
        return cls(path=None if url else data_root / "qdrant", url=url, api_key=api_key, collection=collection,
                   embedded=embedded)

    @property
    def where(self) -> str:
        if self.url:
            return self.url
        return f"{EMBEDDED_NAMES.get(self.embedded, 'embedded Qdrant')} at {self.path}"


def _check_embedded(embedded: str) -> None:
    if embedded not in EMBEDDED_BACKENDS:
        raise StoreError(f"unknown embedded backend '{embedded}': use one of {', '.join(EMBEDDED_BACKENDS)}")


def _folder(config: StoreConfig) -> Path:
    if config.path is None:
        raise ValueError("neither a folder nor a URL is configured")
    config.path.mkdir(parents=True, exist_ok=True)
    return config.path


def _open_edge(config: StoreConfig) -> StoreBackend:
    from indexer.edge import EdgeBackend

    return EdgeBackend(_folder(config), config.collection, VECTOR_NAME, config.where)


def _open_local(config: StoreConfig) -> StoreBackend:
    from indexer.qdrant import QdrantBackend

    return QdrantBackend.local(str(_folder(config)), config.collection, VECTOR_NAME, config.where)


def _open_server(config: StoreConfig) -> StoreBackend:
    from indexer.qdrant import QdrantBackend

    return QdrantBackend.server(config.url or "", config.api_key, config.collection, VECTOR_NAME)


# The embedded openers, by EMBEDDED_BACKENDS name. Imported when chosen: each client is slow to import.
EMBEDDED_OPENERS: dict[str, Callable[[StoreConfig], StoreBackend]] = {"local": _open_local, "edge": _open_edge}


def open_backend(config: StoreConfig) -> StoreBackend:
    """The backend the config names, opened; any failure to open is one StoreError line."""
    if config.url:
        opener = _open_server
    else:
        _check_embedded(config.embedded)
        opener = EMBEDDED_OPENERS[config.embedded]
    try:
        return opener(config)
    except Exception as exc:  # connection refused, lock held, bad URL, client not installed...
        raise StoreError(f"cannot open {config.where}: {_one_line(exc)}") from None


@dataclass
class StoredPoint:
    domain: str
    payload: dict[str, Any]
    vector: np.ndarray | None = None
    score: float | None = None


class LogoStore:
    """Open once, use, close. All methods are keyed by domain; ids never leak to callers."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self.collection = config.collection
        self.backend = open_backend(config)
        self._adopt_vector()

    def _adopt_vector(self) -> None:
        """Read the vector the collection holds (``resnet50`` unless it was indexed with another model)."""
        if not self.backend.exists():
            return
        names = sorted(self.backend.describe().vectors)
        if len(names) == 1:
            self.backend.vector_name = names[0]

    @property
    def vector_name(self) -> str:
        return self.backend.vector_name

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.backend.close()
        except Exception:  # closing twice, or after the folder went away: nothing left to save
            pass

    def __enter__(self) -> LogoStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_embedded(self) -> bool:
        return not self.config.url

    @property
    def where(self) -> str:
        return self.config.where

    # -- schema ----------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.backend.exists()

    def ensure_collection(self, vector: tuple[str, int] = (VECTOR_NAME, VECTOR_SIZE)) -> None:
        """Create the collection with ``vector`` (name, size: the model's, indexer.weights) and its payload
        indexes, or check that an existing one holds that vector: another model's is refused in one line."""
        name, size = vector
        if self.backend.exists() and name not in self.backend.describe().vectors:
            held = ", ".join(sorted(self.backend.describe().vectors)) or "no vectors"
            raise StoreError(f"collection '{self.collection}' in {self.where} holds {held} vectors, not {name}: "
                             "vectors of two models are never mixed; use another --collection, or index with the "
                             "collection's model")
        self.backend.vector_name = name
        self.backend.ensure(size, KEYWORD_INDEXES)

    def count(self) -> int:
        return self.backend.count() if self.exists() else 0

    # -- writes ----------------------------------------------------------------------------------
    def upsert(self, items: Sequence[tuple[dict[str, Any], np.ndarray]]) -> None:
        """Each item is (payload with a 'domain' key, vector); the point id is derived from the domain."""
        for start in range(0, len(items), UPSERT_BATCH):
            self.backend.upsert([(point_id(payload["domain"]), vector, payload)
                                 for payload, vector in items[start:start + UPSERT_BATCH]])

    def delete(self, domains: Iterable[str]) -> None:
        ids = [point_id(domain) for domain in domains]
        if ids:
            self.backend.delete(ids)

    def set_payload(self, domains: Sequence[str], values: dict[str, Any]) -> None:
        """Same payload values for many domains at once (e.g. one cluster label)."""
        if domains:
            self.backend.set_payload([point_id(domain) for domain in domains], values)

    # -- reads -----------------------------------------------------------------------------------
    def get(self, domains: Sequence[str], with_vectors: bool = False) -> dict[str, StoredPoint]:
        if not domains or not self.exists():
            return {}
        points = self.backend.retrieve([point_id(domain) for domain in domains], with_vectors=with_vectors)
        return {point.payload["domain"]: _stored(point) for point in points if point.payload}

    def scroll(self, with_vectors: bool = True, batch: int = 1024) -> Iterator[StoredPoint]:
        """Every point, batched; vectors as float32 arrays."""
        if self.exists():
            yield from (_stored(point) for point in self.backend.scroll(batch, with_vectors=with_vectors))

    def search(self, vector: np.ndarray, limit: int = 10, exclude: str | None = None,
               min_score: float | None = None) -> list[StoredPoint]:
        exclude_id = point_id(exclude) if exclude is not None else None
        return [_stored(point) for point in self.backend.query(vector, limit, exclude_id, min_score)]


def _stored(point: Point) -> StoredPoint:
    return StoredPoint(domain=point.payload.get("domain", ""), payload=point.payload, vector=point.vector,
                       score=point.score)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}"[:300]
