"""Evidence tiers and the calibrated embedding tier: who joined whom, at what distance, and when the tier abstains."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sklearn.metrics import adjusted_rand_score

from indexer.features import features
from search import embedtier, evidence, tiers
from search.cluster import cluster_vectors

DIM = 256
SIZES = [6, 5, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2]


def _hex128(rng: np.random.Generator) -> int:
    return int.from_bytes(rng.bytes(16), "big")


def _text(value: int) -> str:
    return f"{value:032x}"


def corpus(seed: int = 0, meaningful: bool = True, lonely: int = 300) -> dict:
    """Brand groups whose first two members are near-identical pictures (proven pairs), the rest only alike
    in embedding space; plus unrelated logos. ``meaningful=False``: vectors that carry no similarity at all
    (what random weights give), so only the strong tiers may group."""
    rng = np.random.default_rng(seed)
    domains, vectors, shas, feats, truth = [], [], [], [], []
    for group, size in enumerate(SIZES):
        centre = rng.standard_normal(DIM)
        base = _hex128(rng)
        for member in range(size):
            domains.append(f"brand{group}-{member}.com")
            vectors.append(centre + 0.15 * rng.standard_normal(DIM) if meaningful else rng.standard_normal(DIM))
            shas.append(f"sha-{group}-{member}")
            near = base ^ (0b1011 << (8 * member)) if member < 2 else _hex128(rng)  # members 0, 1: 3 bits apart
            feats.append({"pixels": f"px-{group}-{member}", "nhash": _text(near), "shash": _text(_hex128(rng)),
                          "aspect": 1.0})
            truth.append(group)
    for i in range(lonely):
        domains.append(f"lonely{i}.org")
        vectors.append(rng.standard_normal(DIM))
        shas.append(f"sha-lonely-{i}")
        feats.append({"pixels": f"px-lonely-{i}", "nhash": _text(_hex128(rng)), "shash": _text(_hex128(rng)),
                      "aspect": 1.0})
        truth.append(100 + i)
    vectors = np.asarray(vectors, dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return {"domains": domains, "vectors": vectors, "shas": shas, "features": feats, "truth": np.array(truth)}


def _run(data: dict, model: str = "stand-in/v1"):
    return cluster_vectors(data["domains"], data["vectors"], data["shas"], [None] * len(data["domains"]),
                           features=data["features"], model=model)


def _ari(data: dict, result) -> float:
    predicted = [result.labels[d] for d in data["domains"]]
    return adjusted_rand_score(data["truth"], [10_000 + i if p < 0 else p for i, p in enumerate(predicted)])


def test_meaningful_embeddings_calibrate_and_join_the_rest_of_each_brand() -> None:
    data = corpus()
    result = _run(data)
    calibration = result.params.calibration
    assert calibration["model"] == "stand-in/v1" and calibration["abstained"] is None
    assert calibration["threshold"] > 0 and calibration["recall"] >= embedtier.MIN_RECALL
    assert calibration["positives"] == len(SIZES)
    assert _ari(data, result) > 0.95
    assert result.tier["brand0-0.com"] == result.tier["brand0-1.com"] == "near"
    assert result.tier["brand0-4.com"] == "hdbscan"
    joined = [e for e in result.evidence.values() if e["tier"] == "hdbscan"]
    assert joined and all(e["distance"] <= calibration["threshold"] for e in joined)
    assert all(0.0 <= e["probability"] <= 1.0 and "outlier_score" in e for e in joined)
    assert not any(result.labels[f"lonely{i}.org"] >= 0 for i in range(300))


def test_embeddings_without_meaning_make_the_tier_abstain() -> None:
    data = corpus(meaningful=False)
    result = _run(data, model="resnet50/random-seed0")
    calibration = result.params.calibration
    assert calibration["threshold"] is None and "cannot separate" in calibration["abstained"]
    assert "hdbscan" not in result.tier.values()
    assert sorted(result.groups.values()) == sorted([f"brand{g}-0.com", f"brand{g}-1.com"] for g in range(len(SIZES)))


def test_too_few_proven_pairs_abstain_and_say_so() -> None:
    data = corpus(lonely=50)
    for f in data["features"]:  # no near-identical pairs at all
        f["nhash"] = _text(_hex128(np.random.default_rng(hash(f["pixels"]) % 2**32)))
    result = _run(data)
    assert result.params.calibration["threshold"] is None
    assert "proven pairs" in result.params.calibration["abstained"]
    assert result.groups == {}


def test_each_strong_tier_names_itself_with_its_distance() -> None:
    rng = np.random.default_rng(1)
    base, shape = _hex128(rng), _hex128(rng)
    rows = {  # domain: (sha, pixels, nhash, shash, aspect)
        "file-a.com": ("s1", "p1", base, shape, 1.0), "file-b.com": ("s1", "p1", base, shape, 1.0),
        "pixels.com": ("s2", "p1", base, shape, 1.0),
        "jpeg.com": ("s3", "p3", base ^ 0b111, shape, 1.02),
        "dark.com": ("s4", "p4", _hex128(rng), shape ^ 0b11, 1.0),
        "wide.com": ("s5", "p5", base ^ 0b1, shape, 3.0),  # same hashes, another aspect ratio: nothing
    }
    domains = list(rows)
    feats = [{"pixels": p, "nhash": _text(n), "shash": _text(h), "aspect": a} for _, p, n, h, a in rows.values()]
    vectors = np.random.default_rng(2).standard_normal((len(domains), 16)).astype(np.float32)
    result = cluster_vectors(domains, vectors, [r[0] for r in rows.values()], [None] * len(domains), features=feats)
    assert result.tier == {"file-a.com": "sha256", "file-b.com": "sha256", "pixels.com": "pixels",
                           "jpeg.com": "near", "dark.com": "shape", "wide.com": "outlier"}
    assert result.evidence["jpeg.com"]["distance"] == 3 and result.evidence["dark.com"]["distance"] == 2
    assert result.evidence["jpeg.com"]["via"] in {"file-a.com", "file-b.com", "pixels.com"}
    assert len(result.groups) == 1 and "wide.com" in result.outliers


def test_edges_near_equal_brute_force() -> None:
    rng = np.random.default_rng(3)
    base = [_hex128(rng) for _ in range(80)]
    texts = [_text(v) for v in base] + [_text(v ^ (int(rng.integers(0, 2**10)) << int(rng.integers(0, 118))))
                                        for v in base[:40]]
    aspects = [1.0] * len(texts)
    hashes = evidence.parse_pair_hashes(texts)
    for limit in (4, 12, 20):
        found = evidence.edges_near(texts, aspects, np.ones(len(texts), dtype=bool), limit, "near",
                                    aspect_limit=tiers.ASPECT.value)
        joined = {frozenset((e.a, e.b)) for e in found}
        for i in range(len(texts)):
            for j in range(i + 1, len(texts)):
                close = int(evidence.pair_distance(hashes[i], hashes[j])) <= limit
                if close and texts[i] != texts[j]:
                    assert frozenset((i, j)) in joined or _connected(joined, i, j), (i, j)


def _connected(pairs: set, a: int, b: int) -> bool:
    seen, todo = {a}, [a]
    while todo:
        x = todo.pop()
        for pair in pairs:
            if x in pair:
                (y,) = pair - {x} if len(pair) == 2 else (x,)
                if y not in seen:
                    seen.add(y)
                    todo.append(y)
    return b in seen


# -- features on real pictures ---------------------------------------------------------------------------
def _logo(colours=("#c1292e", "#235789"), size=(240, 120), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for k in range(6):
        x, y = rng.integers(0, size[0] - 40), rng.integers(0, size[1] - 40)
        w, h = rng.integers(15, 60), rng.integers(15, 60)
        shape = draw.ellipse if k % 2 else draw.rectangle
        shape((int(x), int(y), int(x + w), int(y + h)), fill=colours[k % len(colours)])
    return image


def _jpeg(image: Image.Image) -> Image.Image:
    flat = Image.new("RGBA", image.size, (255, 255, 255, 255))
    flat.alpha_composite(image)
    buffer = io.BytesIO()
    flat.convert("RGB").save(buffer, "JPEG", quality=70)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGBA")


def _padded(image: Image.Image) -> Image.Image:
    canvas = Image.new("RGBA", (image.width * 2, image.height * 2), (0, 0, 0, 0))
    canvas.paste(image, (image.width // 3, image.height // 2))
    return canvas


def _near(a: Image.Image, b: Image.Image, field: str, limit: int) -> bool:
    fa, fb = features(a), features(b)
    distance = int(evidence.pair_distance(*evidence.parse_pair_hashes([getattr(fa, field), getattr(fb, field)])))
    return distance <= limit and bool(evidence.aspect_close(np.array(fa.aspect), np.array(fb.aspect), tiers.ASPECT.value))


@pytest.mark.parametrize("variant", [_jpeg, _padded, lambda im: im.resize((im.width * 2, im.height * 2)),
                                     lambda im: im.resize((im.width // 2, im.height // 2))],
                         ids=["jpeg", "padded", "double", "half"])
def test_near_hash_survives_encoding_size_and_padding(variant) -> None:
    logo = _logo()
    assert _near(logo, variant(logo), "nhash", int(tiers.NEAR_BITS.value))
    assert not _near(logo, variant(_logo(seed=9)), "nhash", int(tiers.NEAR_BITS.value))


def test_shape_hash_survives_recolouring_and_pixels_survive_reencoding() -> None:
    logo = _logo()
    for colours in (("#111111",), ("#ffffff",), ("#06a77d", "#f4a259")):
        assert _near(logo, _logo(colours), "shash", int(tiers.SHAPE_BITS.value))
        assert not _near(logo, _logo(colours), "nhash", 0)
    assert not _near(logo, _logo(("#111111",), seed=4), "shash", int(tiers.SHAPE_BITS.value))
    buffer = io.BytesIO()
    logo.save(buffer, "PNG", compress_level=1)
    assert features(Image.open(io.BytesIO(buffer.getvalue())).convert("RGBA")).pixels == features(logo).pixels


def _corner_triangle(colour: str, side: int = 128) -> Image.Image:
    """A plain one-colour corner triangle on transparency: a primitive that two brands can both draw."""
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    ImageDraw.Draw(image).polygon([(0, 0), (side - 1, 0), (0, side - 1)], fill=colour)
    return image


def test_near_tier_asks_colours_to_agree() -> None:
    """phash and dhash see luminance structure: a green and a black triangle hash alike (the real case was 7 of
    128 bits), so the near tier also compares colour layouts; the green one's JPEG still joins it."""
    from search.tiers import strongest_pair as pair_evidence

    pictures = {"green.example": _corner_triangle("#7ab800"), "black.example": _corner_triangle("#000000")}
    pictures["green-jpeg.example"] = _jpeg(pictures["green.example"])
    feats = {domain: features(image) for domain, image in pictures.items()}
    domains = list(feats)
    assert _near(pictures["green.example"], pictures["black.example"], "nhash", int(tiers.NEAR_BITS.value))
    texts = [feats[d].nhash for d in domains]
    aspects = [feats[d].aspect for d in domains]
    usable = np.ones(len(domains), dtype=bool)
    joined = {frozenset((domains[e.a], domains[e.b]))
              for e in evidence.edges_near(texts, aspects, usable, int(tiers.NEAR_BITS.value), "near",
                                           aspect_limit=tiers.ASPECT.value, colour_limit=tiers.COLOUR.value,
                                           colours=[feats[d].colour for d in domains])}
    assert joined == {frozenset(("green.example", "green-jpeg.example"))}
    # a payload from before the colour layout existed is not refused: its pairs are unchecked, as they were
    unchecked = evidence.edges_near(texts, aspects, usable, int(tiers.NEAR_BITS.value), "near",
                                           aspect_limit=tiers.ASPECT.value, colour_limit=tiers.COLOUR.value,
                                    colours=[feats[domains[0]].colour, None, feats[domains[2]].colour])
    assert {frozenset((domains[e.a], domains[e.b])) for e in unchecked} >= {frozenset(domains[:2])}
    payload = {d: f.payload() for d, f in feats.items()}
    assert pair_evidence(payload["green.example"], payload["black.example"]) is None
    assert pair_evidence(payload["green.example"], payload["green-jpeg.example"])["tier"] == "near"
    # nor does the shape tier join them: a plain silhouette is a badge with nothing inside, so shapeless
    result = cluster_vectors(domains, np.eye(len(domains), 16, dtype=np.float32), [f"s{i}" for i in range(3)],
                             [None] * 3, features=list(payload.values()))
    assert result.labels["green.example"] == result.labels["green-jpeg.example"] != -1
    assert result.labels["black.example"] == -1


def _ring_mark(inner: str, colour: str = "#235789") -> Image.Image:
    """A coloured disc with white parts inside (a white ring or white bars), on transparency."""
    image = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((0, 0, 159, 159), fill=colour)
    if inner == "ring":
        draw.ellipse((40, 40, 119, 119), outline="#ffffff", width=14)
    else:
        for x in (45, 75, 105):
            draw.rectangle((x, 35, x + 12, 125), fill="#ffffff")
    return image


def _near_edges(pictures: dict, with_on_white: bool = True) -> set:
    feats = {domain: features(image) for domain, image in pictures.items()}
    domains = list(feats)
    found = evidence.edges_near([feats[d].nhash for d in domains], [feats[d].aspect for d in domains],
                                np.ones(len(domains), dtype=bool), int(tiers.NEAR_BITS.value), "near",
                                           aspect_limit=tiers.ASPECT.value, colour_limit=tiers.COLOUR.value,
                                colours=[feats[d].colour for d in domains],
                                on_white=[feats[d].on_white for d in domains] if with_on_white else None)
    return {frozenset((domains[e.a], domains[e.b])) for e in found}


def test_a_transparent_logo_with_white_parts_meets_its_jpeg_on_white() -> None:
    """On black its white parts show (so marks that differ only there stay apart); a site's JPEG of it on a
    white page has lost them: the on_white hashes meet that JPEG, and never another logo's on_white."""
    ring, bars = _ring_mark("ring"), _ring_mark("bars")
    assert features(ring).on_white and features(_jpeg(ring)).on_white is None
    pictures = {"ring.example": ring, "ring-jpeg.example": _jpeg(ring), "bars.example": bars}
    assert _near_edges(pictures) == {frozenset(("ring.example", "ring-jpeg.example"))}
    assert _near_edges(pictures, with_on_white=False) == set()
    from search.tiers import strongest_pair as pair_evidence

    payload = {d: features(im).payload() for d, im in pictures.items()}
    assert pair_evidence(payload["ring.example"], payload["ring-jpeg.example"])["tier"] == "near"
    assert pair_evidence(payload["ring-jpeg.example"], payload["ring.example"])["tier"] == "near"
    assert pair_evidence(payload["ring.example"], payload["bars.example"]) is None


def test_incremental_placement_uses_the_same_near_rule() -> None:
    """A new JPEG of a stored transparent logo with white parts joins it through on_white, as in a full run;
    a new black triangle does not join a stored green one (colours)."""
    from indexer.store import StoredPoint
    from search.incremental import _strong_links

    pictures = {"ring.example": _ring_mark("ring"), "green.example": _corner_triangle("#7ab800"),
                "ring-jpeg.example": _jpeg(_ring_mark("ring")), "black.example": _corner_triangle("#000000")}
    points = [StoredPoint(domain=d, payload={"domain": d, "sha256": d, "phash": None, **features(im).payload()},
                          vector=None, score=None) for d, im in pictures.items()]
    links, _text = _strong_links(points, new=[2, 3], read_text=None)
    assert {(points[link.a].domain, points[link.b].domain, link.tier) for link in links} \
        == {("ring-jpeg.example", "ring.example", "near")}
