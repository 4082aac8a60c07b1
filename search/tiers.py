"""The grouping tiers, each declared once: rank, name, the label people read, the features it reads, its pair
test, its edge finder, and its thresholds with the measurement behind them.

Everything that groups or explains iterates this registry: the full run (``search.cluster``), incremental
placement (``search.incremental``), `similar`'s evidence per hit (``strongest_pair``), ``clusters_evidence.json``'s
thresholds, the report and the CLI's summary. Adding a tier is one entry here, its functions in
``search.evidence`` and their tests.

Ranks order the evidence: a pair joined by several tiers is explained by the lowest rank, then the smallest
distance. A tier's role says what its pairs prove: ``identity`` (the same picture: equal vectors, which say
nothing about the embedding's scale), ``likeness`` (a measured near-identity: the positives that calibrate the
embedding tier) or ``embedding`` (the calibrated embedding tier itself, whose threshold is measured per run).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from search import evidence

IDENTITY, LIKENESS, EMBEDDING = "identity", "likeness", "embedding"


@dataclass(frozen=True)
class Threshold:
    key: str  # its name in clusters_evidence.json's "thresholds" (and `cluster --json`)
    value: float
    calibration: str  # what it was measured on, and what it kept and refused there


# Every threshold below was calibrated with `python bench/calibrate_tiers.py --logos LOGOS --jobs 2` on the 3,308
# usable real logos of shared/data/real-logos (LOGOS: the PNGs of a `logosim import` of them): positives are
# each logo against 9 variants of itself (JPEG, WebP, half and double size, padded, a 3 % crop, dark, light,
# hue-rotated), negatives the 5.4 M pairs of different pictures from different name families. The numbers are
# docs/BENCHMARKS.md's "tier calibration" table.

# A 32x32 hash squashes a square mark and a long word-mark alike: two trimmed pictures whose width/height differ
# by more than this factor (|log ratio|; 0.2 = a factor 1.22) are never near-identical or same-shape. A 3 % crop
# of each side moves it by < 0.01; 0.2 keeps the odd rounding of tiny logos.
ASPECT = Threshold("aspect_log_ratio", 0.2, "a 3 % crop moves it < 0.01; tiny logos' rounding kept")

# The sum of the phash and dhash distances (0..128 bits) of the two trimmed, unpadded pictures. At 20 bits the
# near tier (on_white included) keeps jpeg 0.990, webp 0.995, half size 0.977, double 0.994, padded 0.941,
# 3 %-crop 0.848 of the variants (at 16: crop 0.698; at 24: crop 0.939, but the first clearly unrelated brands,
# GlobalConnect / Grant Thornton, met at 28). Of the 371 cross-family pairs within 20 bits (6.9e-05 of them),
# all but 11 were one brand under another name (gs1*, kia*, ford dealers, cdl*, Wuerth/Wurth, SPIE/Lueck,
# Canon/Vital Images, ENGIE/ECS Slupsk); the colour check removes those 11. A transparent logo with white parts
# is hashed on black (indexer.features.WHITE_SHARE), so it also carries its picture on white (on_white): without
# it JPEG's share was 0.845 (481 of its 513 misses were such logos); on_white adds 5 cross-family pairs, all one
# brand (allianz, cdl*, ford).
NEAR_BITS = Threshold("near_distance", 20, "variants kept: jpeg 0.990, webp 0.995, half 0.977, double 0.994, "
                      "padded 0.941, crop 0.848; 11 cross-brand pairs of 5.4 M within it, all refused by colour")

# The near tier's pairs must also agree in colour: the mean CIELAB distance (Delta E 1976) over the cells of the
# two 4x4 colour layouts (indexer.features). Every limit from 15 up keeps every variant that the hashes keep (a
# variant's 99th percentile is 6.5 for JPEG, 7.3 for the crop). A brand's own sites drift in shade: of the
# 16,348 near pairs within one name family, 20 keeps 0.9983 (it split berlitz's darker blue at 27.3 and
# plameco's at 23.5-24.7), 30 keeps 0.9996, 40 all (the farthest: ENGIE in blue / in black, 33.6). The pairs it
# must refuse are digi-intl.co.jp's plain green corner triangle against the ten daikin* SVGs that render as a
# plain black one (7 bits, Delta E 53.8): 40 refuses them with a margin of 13.8.
COLOUR = Threshold("colour_distance", 40.0, "keeps all 16,348 one-family near pairs (farthest 33.6); refuses "
                   "the green/black triangles at 53.8")

# Foreground-mask hashes: at 8 bits the shape tier keeps dark 0.784, light 0.766, hue-rotated 0.973, webp 0.938
# of the variants (at 12: 0.796 / 0.792 / 0.983; at 16: 0.801 / 0.802 / 0.986). Dark and light stop near 0.80
# because the bench paints every visible pixel one colour: a badge whose letters become the badge's colour has
# no shape left (indexer.features' badge rule). Two demo brands, a white square in a disc and a white disc in a
# square, met at 9. Its cross-family negatives were, apart from one brand under two names, boxed logos (axa,
# lidl, wwf) and round badges (CED, Toyota, TBWA, Ubicast): the box and badge rules of indexer.features give
# those their inner shape (52-81 bits apart after).
SHAPE_BITS = Threshold("shape_distance", 8, "variants kept: dark 0.784, light 0.766, hue 0.973, webp 0.938; "
                       "two demo brands met at 9")

# Points indexed before the features existed carry only the phash of the logo padded to a square: padding makes
# every wide word-mark alike to a 64-bit DCT hash (unrelated brands met at 2 bits: GlobalConnect /
# Virtual-Reality.school; at 4: AstraZeneca / Krautzberger), while of 366 sets of real domains sharing one hash
# 3 of the 4 that span name families were one brand. So only equal hashes join; `logosim index` then gives such
# points the features.
PHASH_BITS = Threshold("phash_distance", 0, "equal hashes only: 2 bits already met unrelated word-marks")

# Words (indexer.text: OCR) decide the pairs that pictures alone cannot: logos made by one generator (the same
# icon, layout and font, another company's name) are near-identical to every hash. Measured with
# bench/templates.py on fixtureweb.templates (6 templates x 6 companies x 6 variants each) on the normalised
# texts of the near and shape pairs: one company's variants are at least 0.857 alike (OCR slips: "Cedar Aaudio" /
# "Cedar Audic", "Dune Travee7" / "Dune Trave"; read with confidence >= 0.904), companies of one template at most
# 0.80 ("Birch Foods" / "Birch Tools"), except names one letter apart ("Amber Tools" / "Ember Tools", 0.90), which
# no threshold tells from a slip. Differ below 0.85, agree from 0.9, in between undecided (no veto). Seeds 0 and 1
# set these (seed 2 too, for TEXT_DOMINANT); seed 3 is held out: precision 0.050 -> 1.000, recall 1.000. On real
# logos, held out (another 200 undecided pairs of shared/data/real-logos): 169 agree, 30 undecided, 1 vetoed,
# one brand's two countries ("GS1 Bolivia" / "GS1 Romania"). docs/BENCHMARKS.md.
TEXT_AGREE = Threshold("text_agree", 0.9, "one company's variants >= 0.857 (OCR slips), most >= 0.9")
TEXT_DIFFER = Threshold("text_differ", 0.85, "companies of one template <= 0.80, bar one-letter names (0.90)")
TEXT_CONFIDENCE = Threshold("text_confidence", 0.85, "the fixtures' readings >= 0.904")
TEXT_MIN_CHARS = 3
# Only the wordmark's lines are compared: those at least this share of the tallest line's height. On a sample of
# 200 undecided pairs of real logos (shared/data/real-logos, 221 logos read) comparing every line vetoed 3, each
# one brand's regional lockup ("entergy ARKANSAS" / "entergy TEXAS", "plastoplan Kunststoffe" / "... Plastika"),
# whose second lines are 0.18-0.29 of the wordmark's height. At 0.75 a template's "Acme" (no ascender or
# descender) dropped out beside "Bakery" and two companies merged; a wordmark's own lines measure 0.58 and up.
TEXT_DOMINANT = 0.4


def text_verdict(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """evidence.AGREES / evidence.DIFFERS / None for two payload-shaped dicts carrying ``text``."""
    return evidence.text_pair(a, b, min_confidence=TEXT_CONFIDENCE.value, min_chars=TEXT_MIN_CHARS,
                              agree=TEXT_AGREE.value, differ=TEXT_DIFFER.value, dominant=TEXT_DOMINANT)


PairTest = Callable[[Mapping[str, Any], Mapping[str, Any]], "float | None"]
EdgeFinder = Callable[["evidence.Points", "Tier", "Sequence[int] | None"], "list[evidence.Edge]"]


@dataclass(frozen=True)
class Tier:
    rank: int
    name: str  # what the evidence stores ("tier" in the payload, clusters_evidence.json, --json): public
    label: str  # what people read
    short: str  # the same in a word, for one-line summaries
    role: str  # IDENTITY, LIKENESS or EMBEDDING
    fields: tuple[str, ...] = ()  # the payload fields it compares
    thresholds: tuple[Threshold, ...] = ()
    pair: PairTest | None = None  # two payload-shaped dicts -> distance, or None when the tier does not tie them
    edges: EdgeFinder | None = None  # (points, tier, new) -> edges: a full run, or the new logos against all
    legacy: bool = False  # only for payloads from an older index: shown only when it joined something
    read: bool = False  # its pairs are read (indexer.text): logos whose legible words differ are never joined

    def value(self, key: str) -> float:
        return next(t.value for t in self.thresholds if t.key == key)


def _near_pair(a: Mapping[str, Any], b: Mapping[str, Any]) -> float | None:
    return evidence.near_pair(a, b, limit=int(NEAR_BITS.value), aspect_limit=ASPECT.value,
                              colour_limit=COLOUR.value)


def _shape_pair(a: Mapping[str, Any], b: Mapping[str, Any]) -> float | None:
    return evidence.shape_pair(a, b, limit=int(SHAPE_BITS.value), aspect_limit=ASPECT.value)


SHA256 = Tier(0, "sha256", "identical file", "file", IDENTITY, ("sha256",),
              pair=lambda a, b: evidence.equal_pair(a, b, "sha256"), edges=evidence.equal_edges)
PIXELS = Tier(1, "pixels", "identical pixels", "pixels", IDENTITY, ("pixels",),
              pair=lambda a, b: evidence.equal_pair(a, b, "pixels"), edges=evidence.equal_edges)
NEAR = Tier(2, "near", "near-identical picture", "near", LIKENESS, ("nhash", "aspect", "colour", "on_white"),
            (NEAR_BITS, COLOUR, ASPECT), pair=_near_pair, edges=evidence.near_edges, read=True)
PHASH = Tier(2, "phash", "near-identical image (older index)", "phash", LIKENESS, ("phash",), (PHASH_BITS,),
             edges=evidence.phash_edges, legacy=True)
SHAPE = Tier(3, "shape", "same shape, other colours", "shape", LIKENESS, ("shash", "aspect"), (SHAPE_BITS, ASPECT),
             pair=_shape_pair, edges=evidence.shape_edges, read=True)
# The threshold is calibrated per run for the model that made the vectors (search.embedtier), or the tier abstains.
HDBSCAN = Tier(4, "hdbscan", "embeddings", "embeddings", EMBEDDING)

TIERS: tuple[Tier, ...] = (SHA256, PIXELS, NEAR, PHASH, SHAPE, HDBSCAN)  # in rank order
STRONG = tuple(t for t in TIERS if t.edges is not None)
EMBEDDING_TIER = HDBSCAN
BY_NAME = {t.name: t for t in TIERS}

# What a domain that no tier joined is, in ClusterResult.tier (and its label).
OUTLIER, PLACEHOLDER = "outlier", "placeholder"
NOT_JOINED = {OUTLIER: "outlier", PLACEHOLDER: "tiny or one-colour logos left out"}


def rank(name: str) -> int:
    return BY_NAME[name].rank


def label(name: str) -> str:
    """The words for a tier name (or for outlier / placeholder); an unknown name as it is."""
    return BY_NAME[name].label if name in BY_NAME else NOT_JOINED.get(name, name)


def thresholds() -> dict[str, float]:
    """Every strong tier's thresholds by key (clusters_evidence.json), each once, and the words' check."""
    return {**{t.key: t.value for tier in STRONG for t in tier.thresholds},
            **{t.key: t.value for t in (TEXT_AGREE, TEXT_DIFFER, TEXT_CONFIDENCE)}}


def strongest_pair(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any] | None:
    """The lowest-ranked tier whose pair test ties ``a`` and ``b`` directly (payload-shaped dicts), with its
    distance; None when only an embedding score relates them."""
    for tier in TIERS:
        distance = tier.pair(a, b) if tier.pair is not None else None
        if distance is None:
            continue
        verdict = text_verdict(a, b) if tier.read else None
        if verdict == evidence.DIFFERS:
            continue  # the words say these are two names
        return {"tier": tier.name, "distance": float(distance), **({"text": verdict} if verdict else {})}
    return None


def joined_by(tier_of: Mapping[str, str], short: bool = False) -> list[tuple[str, int]]:
    """(label, count) of the domains each tier joined, in rank order (a legacy tier only when it joined some);
    ``short``: each tier's one-word label. ``tier_of``: domain -> tier name (ClusterResult.tier)."""
    counts: dict[str, int] = {}
    for name in tier_of.values():
        counts[name] = counts.get(name, 0) + 1
    return [(t.short if short else t.label, counts.get(t.name, 0)) for t in TIERS if not t.legacy or counts.get(t.name)]
