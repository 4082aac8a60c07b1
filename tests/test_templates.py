"""Logos made from one template (the same icon, layout and font, another company's name): through the real
pipeline (import, index, cluster) the pictures alone join different companies; the words' check (OCR of the
undecided pairs' logos) keeps them apart and each company's own variants together."""

from __future__ import annotations

import pytest

from bench.templates import run
from fixtureweb.families import pair_scores
from indexer.store import LogoStore, StoreConfig
from search import evidence, tiers

SMALL = {"templates": 2, "companies": 3, "seed": 3, "variants": ("reuse", "jpeg", "double")}


@pytest.fixture(scope="module")
def read(tmp_path_factory):
    root = tmp_path_factory.mktemp("templates")
    return root, *run(root, read=True, **SMALL)


def test_pictures_alone_merge_companies_of_one_template(tmp_path) -> None:
    truth, result = run(tmp_path, read=False, **SMALL)
    precision, recall, _found, _wanted = pair_scores(truth, result.groups)
    assert precision < 0.9 and recall == 1.0, (precision, recall)  # what the words' check is for


def test_the_words_keep_companies_apart_and_variants_together(read) -> None:
    root, truth, result = read
    precision, recall, _found, _wanted = pair_scores(truth, result.groups)
    assert precision == 1.0 and recall >= 0.9, (precision, recall)
    text = result.params.text
    assert 0 < text["read"] <= len(truth) and text["vetoed"] > 0
    veto = text["vetoes"][0]
    assert truth[veto["a"]] != truth[veto["b"]] and all(veto["texts"])
    with LogoStore(StoreConfig(path=root / "data" / "qdrant")) as store:  # each reading kept for the next run
        kept = {p.domain: p.payload.get("text") for p in store.scroll(with_vectors=False)}
    assert {d for d, reading in kept.items() if reading} == set(result.readings)


def test_text_pair_rules() -> None:
    def said(text: str, confidence: float = 0.99) -> dict:
        return {"text": {"text": text, "confidence": confidence, "boxes": []}}

    verdict = tiers.text_verdict
    assert verdict(said("Orion Clinic"), said("Dune Steel")) == evidence.DIFFERS
    assert verdict(said("Cedar Fitness"), said("Amber Fitness")) == evidence.DIFFERS  # a shared word: 0.75
    assert verdict(said("Birch Foods"), said("Birch Tools")) == evidence.DIFFERS  # 0.80
    assert verdict(said("Harbor Studio"), said("Harbor Studic")) == evidence.AGREES  # an OCR slip: 0.917
    assert verdict(said("Cedar Aaudio"), said("Cedar Audic")) is None  # two slips: 0.857, undecided
    assert verdict(said("ALLIANZ"), said("Allianz Direct")) == evidence.AGREES  # a lockup holds the emblem's word
    assert verdict(said("Orion Clinic", 0.5), said("Dune Steel")) is None  # illegible: evidence of nothing
    assert verdict(said("ab"), said("xy")) is None and verdict({}, said("Dune Steel")) is None


def test_only_the_wordmark_lines_are_compared() -> None:
    """A region's or a tagline's smaller line under one brand's wordmark is no disagreement; two wordmarks of
    one height are."""
    def lines(*rows: tuple[str, int]) -> dict:
        boxes = [[0, 40 * i, 200, 40 * i + height] for i, (_text, height) in enumerate(rows)]
        return {"text": {"text": " ".join(t for t, _h in rows), "confidence": 0.99,
                         "lines": [t for t, _h in rows], "boxes": boxes}}

    assert tiers.text_verdict(lines(("entergy", 40), ("ARKANSAS", 14)), lines(("entergy", 40), ("TEXAS", 14))) \
        == evidence.AGREES
    assert tiers.text_verdict(lines(("Orion", 30), ("Clinic", 30)), lines(("Dune", 30), ("Steel", 30))) \
        == evidence.DIFFERS
