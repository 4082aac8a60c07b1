"""Which logos look like this one? A query is an indexed domain, a local image file, or an image URL."""

from __future__ import annotations

import difflib
import io
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np

from common.domains import normalise_domain
from common.errors import ConvertError, LogosimError
from convert.pool import ConvertPool, Limits
from indexer.store import LogoStore, StoredPoint
from indexer.weights import Weights
from search import tiers

if TYPE_CHECKING:
    from indexer.model import Embedder

FETCH_TIMEOUT_S = 10.0
FETCH_MAX_BYTES = 10 * 2**20
USER_AGENT = "logosim-similar/0.1"
SPELLINGS = 3
# An image query converts under the crawl's deadline and CPU limit, and a tighter address space: the whole real
# corpus (3,318 logos) peaks at 362 MB in one worker.
QUERY_LIMITS = Limits(deadline_s=5.0, cpu_s=8, memory_bytes=768 * 2**20)
IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp", ".ico", ".bmp", ".avif", ".svgz")


@dataclass
class Neighbour:
    domain: str
    score: float
    cluster: int | None = None
    # the strongest tier tying this hit to the query directly ({"tier", "distance"}; None: only the score),
    # and the hit's own group evidence (payload ``evidence``: which tier joined it to its group)
    evidence: dict | None = None
    group_evidence: dict | None = None


@dataclass
class SimilarResult:
    query: str
    kind: str  # "domain" | "file" | "url"
    results: list[Neighbour] = field(default_factory=list)
    warning: str | None = None  # the query domain's logo is a doubtful one (payload ``warning``)

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "kind": self.kind, "warning": self.warning,
                "results": [{"domain": n.domain, "score": round(float(n.score), 6), "cluster": n.cluster,
                             "evidence": n.evidence, "group_evidence": n.group_evidence} for n in self.results]}


EmbedderFactory = Callable[[Weights], "Embedder"]


def similar(query: str, store: LogoStore, *, top: int = 10, min_score: float | None = None,
            weights: Weights | None = None, embedder_factory: EmbedderFactory | None = None,
            allow_private: bool = False, proxy: str | None = None) -> SimilarResult:
    """Nearest logos, best first; a domain query excludes itself. An image query is embedded with the model
    the vectors were made with (``weights`` names it when only the user knows it: a local state dict);
    ``embedder_factory`` builds the embedder from those weights (default: ``Embedder(weights)``).
    ``allow_private``: a URL query may name a loopback or private address (intranet use); ``proxy``: the
    forward proxy a URL query goes through (the configuration's, never the environment's)."""
    kind = query_kind(query)
    if kind == "domain":
        domain = normalise_domain(query) if _looks_like_domain(query) else query
        point = _stored_point(domain, store)
        return SimilarResult(domain, kind, _neighbours(store, point.vector, top, min_score, exclude=domain,
                                                       query=point.payload),
                             warning=point.payload.get("warning"))
    data = fetch_image(query.strip(), allow_private=allow_private, proxy=proxy) if kind == "url" \
        else _read_file(Path(query).expanduser())
    vector, facts = embed_bytes_with_features(data, store, embedder_factory, weights)
    return SimilarResult(query, kind, _neighbours(store, vector, top, min_score, exclude=None, query=facts))


def query_kind(query: str) -> str:
    text = query.strip()
    if text.lower().startswith(("http://", "https://")):
        # a site's address ("https://www.acme.com/") names a domain; only a path can point at an image
        return "url" if urlsplit(text).path.strip("/") else "domain"
    path = Path(text).expanduser()
    # an existing file, or something that can only be a path (so a typo says "cannot read", not "not indexed")
    if path.is_file() or "/" in text or "\\" in text or path.suffix.lower() in IMAGE_SUFFIXES:
        return "file"
    return "domain"


def _looks_like_domain(query: str) -> bool:
    try:
        normalise_domain(query)
    except ValueError:
        return False
    return True


def _stored_point(domain: str, store: LogoStore) -> StoredPoint:
    point = store.get([domain], with_vectors=True).get(domain)
    if point is None or point.vector is None:
        raise LogosimError(f"{domain} is not indexed{_spelling_hint(domain, store)}")
    return point


def _spelling_hint(domain: str, store: LogoStore) -> str:
    known = [point.domain for point in store.scroll(with_vectors=False)]
    close = difflib.get_close_matches(domain, known, n=SPELLINGS, cutoff=0.75)
    return f"; did you mean {', '.join(close)}?" if close else ""


def _neighbours(store: LogoStore, vector: np.ndarray, top: int, min_score: float | None,
                exclude: str | None, query: dict | None = None) -> list[Neighbour]:
    # one extra hit instead of an id filter: embedded Qdrant evaluates filters in Python per point (171 ms
    # p50 at 3,400 points with the filter on this machine)
    hits = store.search(vector, limit=top + (exclude is not None), min_score=min_score)
    hits = [hit for hit in hits if hit.domain != exclude][:top]
    return [Neighbour(hit.domain, float(hit.score or 0.0), _cluster(hit.payload.get("cluster")),
                      tiers.strongest_pair(query or {}, hit.payload), hit.payload.get("evidence")) for hit in hits]


def _cluster(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# -- image queries ----------------------------------------------------------------------------------------
def _read_file(path: Path, max_bytes: int = FETCH_MAX_BYTES) -> bytes:
    """Only a regular file of at most ``max_bytes`` (not /dev/zero, a FIFO or a 50 GB file)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise LogosimError(f"cannot read {path}: not a regular file")
            data = file.read(max_bytes + 1)
    except OSError as exc:
        raise LogosimError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise LogosimError(f"cannot use {path}: larger than {max_bytes // 2**20} MiB")
    return data


def fetch_image(url: str, timeout: float = FETCH_TIMEOUT_S, max_bytes: int = FETCH_MAX_BYTES,
                allow_private: bool = False, proxy: str | None = None) -> bytes:
    """GET with a deadline on the whole request, a size cap and the crawler's address guard on every hop
    (search.safefetch); any failure is one clear line."""
    from search.safefetch import FetchError, fetch

    try:
        return fetch(url, timeout=timeout, max_bytes=max_bytes, allow_private=allow_private, proxy=proxy,
                     headers={"User-Agent": USER_AGENT, "Accept": "image/*,*/*;q=0.5"})
    except FetchError as exc:
        raise LogosimError(f"cannot fetch {url}: {exc}") from None


def embed_bytes_with_features(data: bytes, store: LogoStore, embedder_factory: EmbedderFactory | None,
                              weights: Weights | None = None) -> tuple[np.ndarray, dict]:
    """The query's vector and its payload-shaped facts (sha256 of the file, indexer.features), for evidence."""
    import hashlib

    from PIL import Image

    from convert import to_png
    from indexer.features import features

    # converted as the crawl converts: in a worker process killed past its deadline, under a memory limit
    with ConvertPool(1, QUERY_LIMITS) as pool:
        outcome = pool.call(to_png, data)
    if isinstance(outcome, ConvertError):
        raise LogosimError(f"the query is not a usable logo image ({outcome})")
    png = outcome.png
    with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
        image.load()
        logo = image.convert("RGBA")
    embedder = _embedder(store, embedder_factory, weights)
    facts = {"sha256": hashlib.sha256(png).hexdigest(), **features(logo).payload()}
    return embedder.embed_images([logo])[0], facts


def stored_model(store: LogoStore) -> str:
    for point in store.scroll(with_vectors=False, batch=1):
        if point.payload.get("model"):
            return str(point.payload["model"])
    raise LogosimError("the collection holds no vectors with a model name: run `logosim index` first")


def _embedder(store: LogoStore, factory: EmbedderFactory | None, weights: Weights | None) -> Embedder:
    """The model the vectors were made with (or the user's ``weights``), refused when it would differ."""
    from indexer.model import Embedder

    model = stored_model(store)
    chosen = weights or Weights.for_model(model)
    embedder = factory(chosen) if factory else Embedder(chosen, device="auto")
    if embedder.name != model:
        raise LogosimError(f"model mismatch: the collection was indexed with {model}, the query would use "
                           f"{embedder.name}; pass the same --weights as the index")
    return embedder
