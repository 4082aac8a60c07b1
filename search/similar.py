"""Which logos look like this one? A query is an indexed domain, a local image file, or an image URL."""

from __future__ import annotations

import difflib
import io
import os
import stat
from collections.abc import Callable, Mapping, Sequence
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


# Why a hit is in the answer, strongest first: the order of the answer.
EVIDENCE, GROUP, EMBEDDING, EMBEDDING_ONLY = "evidence", "group", "embedding", "embedding_only"
REASONS = {EVIDENCE: "a strong tier ties it to the query", GROUP: "in the query's group (its members' evidence)",
           EMBEDDING: "embedding within the calibrated threshold",
           EMBEDDING_ONLY: "embedding only: the clustering did not trust it"}
_ORDER = {reason: rank for rank, reason in enumerate(REASONS)}
# Embedding hits read beyond the answer's length: a group member or a strong-tier match ranked lower by
# cosine (random weights rank by noise) still comes first.
CANDIDATES_PER_ANSWER, MIN_CANDIDATES = 4, 40
# At most this many members of the query's group are read back (a brand of thousands of sites).
GROUP_READ = 1000


@dataclass(frozen=True)
class Grouping:
    """What the last clustering knows that a query needs: the groups (label -> domains) and the embedding
    tier's calibration: its threshold for which model, measured in its PCA space (``projection``,
    search.grouping.Projection); ``threshold`` None: the tier abstained, so embedding hits are only hints."""

    groups: Mapping[int, Sequence[str]]
    threshold: float | None = None
    model: str | None = None
    projection: Any = None

    @classmethod
    def of(cls, groups: Mapping[int, Sequence[str]], calibration: Mapping[str, Any] | None,
           projection: Any = None) -> Grouping:
        calibration = calibration or {}
        threshold = calibration.get("threshold")
        usable = isinstance(threshold, int | float) and projection is not None
        return cls(groups, float(threshold) if usable else None, calibration.get("model"), projection)

    def trusts(self, model: str | None) -> bool:
        """Embedding distances of this model's vectors mean something (the tier calibrated a threshold)."""
        return self.threshold is not None and bool(model) and model == self.model


@dataclass
class Neighbour:
    domain: str
    score: float
    cluster: int | None = None
    # the strongest tier tying this hit to the query directly ({"tier", "distance"}; None: only the score),
    # and the hit's own group evidence (payload ``evidence``: which tier joined it to its group)
    evidence: dict | None = None
    group_evidence: dict | None = None
    reason: str = EMBEDDING_ONLY  # why it is in the answer (REASONS), which orders the answer


@dataclass
class SimilarResult:
    query: str
    kind: str  # "domain" | "file" | "url"
    results: list[Neighbour] = field(default_factory=list)
    warning: str | None = None  # the query domain's logo is a doubtful one (payload ``warning``)

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "kind": self.kind, "warning": self.warning,
                "results": [{"domain": n.domain, "score": round(float(n.score), 6), "cluster": n.cluster,
                             "reason": n.reason, "evidence": n.evidence, "group_evidence": n.group_evidence}
                            for n in self.results]}


EmbedderFactory = Callable[[Weights], "Embedder"]


def similar(query: str, store: LogoStore, *, top: int = 10, min_score: float | None = None,
            weights: Weights | None = None, embedder_factory: EmbedderFactory | None = None,
            allow_private: bool = False, proxy: str | None = None,
            grouping: Grouping | None = None) -> SimilarResult:
    """Nearest logos, best first by evidence: logos a strong tier ties to the query (tier rank, then distance),
    then the query's own group, then embedding neighbours, trusted only within the threshold the clustering
    calibrated for these vectors' model (``grouping``; none: every embedding hit is a hint, ranked last and
    marked ``embedding_only``). ``min_score`` bounds the embedding hits only. A domain query excludes itself. An image query is embedded with the model
    the vectors were made with (``weights`` names it when only the user knows it: a local state dict);
    ``embedder_factory`` builds the embedder from those weights (default: ``Embedder(weights)``).
    ``allow_private``: a URL query may name a loopback or private address (intranet use); ``proxy``: the
    forward proxy a URL query goes through (the configuration's, never the environment's)."""
    kind = query_kind(query)
    if kind == "domain":
        domain = normalise_domain(query) if _looks_like_domain(query) else query
        point = _stored_point(domain, store)
        return SimilarResult(domain, kind, _neighbours(store, point.vector, top, min_score, exclude=domain,
                                                       query=point.payload, grouping=grouping),
                             warning=point.payload.get("warning"))
    data = fetch_image(query.strip(), allow_private=allow_private, proxy=proxy) if kind == "url" \
        else _read_file(Path(query).expanduser())
    vector, facts = embed_bytes_with_features(data, store, embedder_factory, weights)
    return SimilarResult(query, kind, _neighbours(store, vector, top, min_score, exclude=None, query=facts,
                                                  grouping=grouping))


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
                exclude: str | None, query: dict | None = None, grouping: Grouping | None = None) -> list[Neighbour]:
    """The answer: embedding candidates (a few times ``top``), the members of the query's group and of the
    groups a strong tier ties to the query, each with its reason, in the order of REASONS."""
    query = query or {}
    # one extra hit instead of an id filter: embedded Qdrant evaluates filters in Python per point (171 ms
    # p50 at 3,400 points with the filter on this machine)
    want = max(top * CANDIDATES_PER_ANSWER, MIN_CANDIDATES) + (exclude is not None)
    hits = {hit.domain: hit for hit in store.search(vector, limit=want) if hit.domain != exclude}
    own = _group(query.get("cluster"))
    tied = {own} if own is not None else set()
    tied |= {c for hit in hits.values() if (c := _group(hit.payload.get("cluster"))) is not None
             and tiers.strongest_pair(query, hit.payload) is not None}
    members = [d for label in sorted(tied) for d in (grouping.groups.get(label, ()) if grouping else ())[:GROUP_READ]
               if d != exclude and d not in hits]
    hits.update(store.get(members, with_vectors=True))
    within = _within_threshold(store, vector, hits, grouping, query.get("model") or _any_model(hits))
    found = []
    for domain, hit in hits.items():
        score = float(hit.score) if hit.score is not None else _cosine(vector, hit.vector)
        cluster = _cluster(hit.payload.get("cluster"))
        evidence = tiers.strongest_pair(query, hit.payload)
        if evidence is not None:
            reason = EVIDENCE
        elif own is not None and cluster == own:
            reason = GROUP
        elif domain in within:
            reason = EMBEDDING
        else:
            reason = EMBEDDING_ONLY
        if reason in (EMBEDDING, EMBEDDING_ONLY) and min_score is not None and score < min_score:
            continue
        found.append(Neighbour(domain, score, cluster, evidence, hit.payload.get("evidence"), reason))
    found.sort(key=lambda n: (_ORDER[n.reason], tiers.rank(n.evidence["tier"]) if n.evidence else 0,
                              n.evidence["distance"] if n.evidence else 0.0, -n.score, n.domain))
    return found[:top]


def _any_model(hits: Mapping[str, StoredPoint]) -> str | None:
    """An image query's vector is made with the stored model (``_embedder`` refuses any other)."""
    return next((str(h.payload["model"]) for h in hits.values() if h.payload.get("model")), None)


def _within_threshold(store: LogoStore, vector: np.ndarray, hits: Mapping[str, StoredPoint],
                      grouping: Grouping | None, model: str | None) -> set[str]:
    """The hits of the calibrated model within the embedding tier's threshold of the query, measured as the
    tier measures (its PCA space, as `cluster --incremental` does); none when the tier abstained."""
    if grouping is None or not grouping.trusts(model):
        return set()
    same = [d for d, h in hits.items() if h.payload.get("model") == model]
    stored = store.get([d for d in same if hits[d].vector is None], with_vectors=True)
    vectors = {d: hits[d].vector if hits[d].vector is not None else getattr(stored.get(d), "vector", None)
               for d in same}
    kept = [d for d in same if vectors[d] is not None]
    if not kept:
        return set()
    mine = grouping.projection.apply(np.asarray(vector, dtype=np.float32)[None, :])
    theirs = grouping.projection.apply(np.vstack([vectors[d] for d in kept]))
    distance = np.linalg.norm(theirs.astype(np.float64) - mine, axis=1)
    return {d for d, far in zip(kept, distance, strict=True) if far <= grouping.threshold}


def _cosine(a: np.ndarray, b: np.ndarray | None) -> float:
    if b is None:
        return 0.0
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norm) if norm > 0 else 0.0


def _group(value: object) -> int | None:
    """A group's label; None for an outlier (-1) or an unclustered point."""
    label = _cluster(value)
    return label if label is not None and label >= 0 else None


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
    from indexer.text import read_text

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
    # its words too: a hit that only a picture ties to it is not vouched for when their legible words differ
    facts = {"sha256": hashlib.sha256(png).hexdigest(), **features(logo).payload(), "text": read_text(logo)}
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
