"""Logo URLs from JSON-LD blocks, in every shape real sites publish, tolerating malformed JSON per block."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from crawler.extract.budget import checkpoint

# How much a JSON-LD logo is trusted depends on whose logo it is (the key path that led to it).
SCORE_SITE_ORG = 100.0  # Organization/Brand/LocalBusiness/WebSite... at top level or in @graph
SCORE_PUBLISHER = 96.0  # publisher.logo: on a homepage, the site's own publisher
SCORE_BRAND = 90.0  # brand.logo of an organisation
SCORE_OTHER_TYPE = 88.0  # a logo on some other type (SoftwareApplication, WebPage...)
SCORE_REPAIRED_TEXT = 85.0  # found by pattern in a block no repair could parse
SCORE_PRODUCT_BRAND = 45.0  # a product's brand: often a third party's on shop homepages
SCORE_OTHER_ORG = 0.0  # sponsors, members, parents, authors, list items: someone else's logo (dropped)

THIRD_PARTY_KEYS = frozenset(
    {"sponsor", "funder", "member", "members", "memberof", "parentorganization", "suborganization",
     "department", "alumniof", "affiliation", "manufacturer", "seller", "author", "creator", "itemlistelement",
     "competitor", "worksfor", "review", "mentions", "provider", "contributor", "owns", "award", "offers"}
)
PRODUCT_TYPES = frozenset({"product", "offer", "productmodel", "individualproduct", "car", "vehicle"})
_LOGO_PATTERN = re.compile(
    r'"logo"\s*:\s*(?:\{[^{}]*?"(?:url|contentUrl)"\s*:\s*)?"((?:[^"\\]|\\.){1,2000})"', re.S
)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_HTML_COMMENT = re.compile(r"<!--(?:[^{}<-]|<(?!!--)|-(?!->))*-->")  # a whole comment that wraps no JSON (no backtracking: a
# comment is read once, and an unclosed one stops at the next "<!--")
_COMMENT_MARKER = re.compile(r"<!--|-->")  # old-style hiding: <!-- {json} -->
_CDATA = re.compile(r"<!\[CDATA\[|\]\]>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass
class JsonLdLogo:
    ref: str  # URL as written (maybe relative) or a data: URI
    score: float
    detail: str


def jsonld_logos(root: etree._Element) -> list[JsonLdLogo]:
    """Every logo reference in the page's JSON-LD, in document order, each scored by whose logo it is."""
    found: list[JsonLdLogo] = []
    parsed: list[Any] = []
    for index, text in enumerate(_blocks(root)):
        checkpoint()
        docs = loads_lenient(text)
        if docs is None:
            found.extend(JsonLdLogo(u, SCORE_REPAIRED_TEXT, f"JSON-LD block {index}: pattern in unparsable JSON")
                         for u in _pattern_logos(text))
            continue
        parsed.extend(docs)
    ids = _id_index(parsed)
    for doc in parsed:
        found.extend(_walk(doc, (), frozenset(), ids, 0))
    return found


def _blocks(root: etree._Element) -> Iterator[str]:
    for el in root.iter("script"):
        kind = (el.get("type") or "").strip().lower()
        if kind.startswith("application/ld+json") and el.text and el.text.strip():
            yield el.text


def loads_lenient(text: str) -> list[Any] | None:
    """Parse one block; on failure repair comments, CDATA, trailing commas and control characters."""
    for attempt in (text, _repair(text)):
        docs = _decode_all(attempt)
        if docs is not None:
            return docs
    return None


def _repair(text: str) -> str:
    text = _CDATA.sub("", _COMMENT_MARKER.sub("", _HTML_COMMENT.sub("", text)))
    text = _BLOCK_COMMENT.sub("", text)
    text = re.sub(r"(?m)^[ \t]*//.*$", "", text)  # whole-line // comments only: URLs contain //
    text = _CONTROL.sub(" ", text)
    return _TRAILING_COMMA.sub(r"\1", text)


def _decode_all(text: str) -> list[Any] | None:
    """All JSON values in the text (some sites concatenate objects in one block)."""
    decoder = json.JSONDecoder(strict=False)  # strict=False admits raw newlines inside strings
    text = text.strip().lstrip("\ufeff")
    docs, pos = [], 0
    try:
        while pos < len(text):
            doc, end = decoder.raw_decode(text, pos)
            docs.append(doc)
            pos = end
            while pos < len(text) and (text[pos].isspace() or text[pos] in ",;"):
                pos += 1
    except (ValueError, RecursionError):
        return None
    return docs or None


def _pattern_logos(text: str) -> list[str]:
    out = []
    for match in _LOGO_PATTERN.finditer(text):
        try:
            out.append(json.loads(f'"{match.group(1)}"'))
        except ValueError:
            out.append(match.group(1))
    return out


def _id_index(docs: list[Any]) -> dict[str, dict[str, Any]]:
    """@id -> node, for nodes that say more than their @id (Yoast-style references across @graph)."""
    index: dict[str, dict[str, Any]] = {}
    stack, seen = list(docs), 0
    while stack and seen < 100_000:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            node_id = node.get("@id")
            if isinstance(node_id, str) and len(node) > 1:
                index.setdefault(node_id, node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return index


def _types(node: dict[str, Any]) -> frozenset[str]:
    raw = node.get("@type", [])
    values = raw if isinstance(raw, list) else [raw]
    return frozenset(str(v).rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower() for v in values if v)


def _walk(node: Any, keys: tuple[str, ...], parent_types: frozenset[str], ids: dict, depth: int) -> list[JsonLdLogo]:
    if depth > 30:
        return []
    if isinstance(node, list):
        return [logo for item in node for logo in _walk(item, keys, parent_types, ids, depth + 1)]
    if not isinstance(node, dict):
        return []
    types = _types(node)
    found = []
    if "logo" in node:
        score, why = _score(keys, types, parent_types)
        path = ".".join(k for k in keys if not k.startswith("@")) or "top"
        kind = "/".join(sorted(types)) or "untyped"
        found.extend(JsonLdLogo(u, score, f"JSON-LD {kind} at {path}: {why}") for u in _logo_refs(node["logo"], ids, 0))
    for key, value in node.items():
        if key != "logo" and isinstance(value, (dict, list)):
            found.extend(_walk(value, (*keys, key.lower()), types, ids, depth + 1))
    return found


def _score(keys: tuple[str, ...], types: frozenset[str], parent_types: frozenset[str]) -> tuple[float, str]:
    if THIRD_PARTY_KEYS & set(keys):
        return SCORE_OTHER_ORG, "another organisation's logo"
    last = next((k for k in reversed(keys) if not k.startswith("@")), "")
    if last == "publisher":
        return SCORE_PUBLISHER, "publisher logo"
    if last == "brand":
        if parent_types & PRODUCT_TYPES:
            return SCORE_PRODUCT_BRAND, "a product's brand"
        return SCORE_BRAND, "brand logo"
    if types & PRODUCT_TYPES:
        return SCORE_PRODUCT_BRAND, "a product's logo"
    if not types or any(_is_org_type(t) for t in types):
        return SCORE_SITE_ORG, "organisation logo"
    return SCORE_OTHER_TYPE, "logo on another type"


def _is_org_type(name: str) -> bool:
    return name in {"website", "brand", "corporation", "ngo", "store", "onlinestore", "airline", "consortium",
                    "sportsteam", "restaurant", "project", "researchproject"} or name.endswith(
        ("organization", "organisation", "business", "store", "team"))


def _logo_refs(value: Any, ids: dict, depth: int) -> list[str]:
    """A logo value as a string, an ImageObject (url/contentUrl), a list, or an @id reference."""
    if depth > 5:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [ref for item in value for ref in _logo_refs(item, ids, depth + 1)]
    if not isinstance(value, dict):
        return []
    node_id = value.get("@id")
    if set(value) <= {"@id", "@type"} and isinstance(node_id, str) and node_id in ids:
        return _logo_refs(ids[node_id], ids, depth + 1)
    refs = [ref for key in ("url", "contentUrl", "contenturl") for ref in _logo_refs(value.get(key), ids, depth + 1)]
    if not refs and isinstance(node_id, str) and re.search(r"\.(png|svg|jpe?g|gif|webp|ico)(\?|$)", node_id, re.I):
        refs = [node_id]
    return list(dict.fromkeys(refs))
