"""Serialise an inline <svg> from an HTML page as a standalone SVG document, pulling in the symbols it uses."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from lxml import etree

from common.errors import ConvertError
from crawler.extract.budget import checkpoint
from crawler.extract.svg_repair import repair_inline

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
MAX_SVG_BYTES = 2_000_000

# The HTML parser lower-cases names; SVG is case-sensitive (viewBox, linearGradient). From the HTML
# standard's "adjust SVG attributes/tag names" tables.
_SVG_TAGS = {name.lower(): name for name in (
    "altGlyph altGlyphDef altGlyphItem animateColor animateMotion animateTransform clipPath feBlend "
    "feColorMatrix feComponentTransfer feComposite feConvolveMatrix feDiffuseLighting feDisplacementMap "
    "feDistantLight feDropShadow feFlood feFuncA feFuncB feFuncG feFuncR feGaussianBlur feImage feMerge "
    "feMergeNode feMorphology feOffset fePointLight feSpecularLighting feSpotLight feTile feTurbulence "
    "foreignObject glyphRef linearGradient radialGradient textPath"
).split()}
_SVG_ATTRS = {name.lower(): name for name in (
    "attributeName attributeType baseFrequency baseProfile calcMode clipPathUnits diffuseConstant "
    "edgeMode filterUnits glyphRef gradientTransform gradientUnits kernelMatrix kernelUnitLength "
    "keyPoints keySplines keyTimes lengthAdjust limitingConeAngle markerHeight markerUnits markerWidth "
    "maskContentUnits maskUnits numOctaves pathLength patternContentUnits patternTransform patternUnits "
    "pointsAtX pointsAtY pointsAtZ preserveAlpha preserveAspectRatio primitiveUnits refX refY "
    "repeatCount repeatDur requiredExtensions requiredFeatures specularConstant specularExponent "
    "spreadMethod startOffset stdDeviation stitchTiles surfaceScale systemLanguage tableValues targetX "
    "targetY textLength viewBox viewTarget xChannelSelector yChannelSelector zoomAndPan"
).split()}
_PAINTED = frozenset({"path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text", "use", "image"})
_NOT_RENDERED = frozenset({"defs", "symbol", "clipPath", "mask", "pattern", "marker", "linearGradient",
                           "radialGradient", "filter", "style", "title", "desc", "metadata", "script"})
_URL_REF = re.compile(r"url\(\s*['\"]?#([^'\"()\s]+)['\"]?\s*\)")  # no "(" in the id: no backtracking
_ABSOLUTE_LENGTH = re.compile(r"^\s*\d+(\.\d+)?\s*(px)?\s*$")
_HREF_NAMES = (f"{{{XLINK_NS}}}href", "href")
# Our own serialisation, read back: no entities, no network, nothing to recover.
_OWN = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def serialise_svg(svg: etree._Element, root: etree._Element, base: str, page_url: str) -> tuple[bytes, str | None] | None:
    """Standalone SVG bytes for an inline <svg>, or None when it draws nothing (empty, or over 2 MB).

    The second value is set when the svg draws through ``<use href="/icons.svg#logo">``, a sprite file on
    the page's own origin (browsers draw no other): "<sprite URL>#<first id>", with those references made
    local in the bytes, for ``with_sprite`` to complete once the sprite is fetched.
    """
    out = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS, "xlink": XLINK_NS})
    _copy_attrs(svg, out)
    _copy_content(svg, out)
    _fix_size(out)
    _pull_references(out, root)
    repair_inline(out)
    if not _draws(out):
        return None
    sprite = _localise_sprite_uses(out, base, page_url)
    data = etree.tostring(out, xml_declaration=True, encoding="utf-8")
    return (data, sprite) if len(data) <= MAX_SVG_BYTES else None


def _localise_sprite_uses(svg: etree._Element, base: str, page_url: str) -> str | None:
    """Point every <use> of one same-origin sprite file at a local ``#id``; returns that file's URL with the
    first id, or None when no <use> points outside."""
    sprite, first = None, ""
    for node in svg.iter(f"{{{SVG_NS}}}use"):
        for name in _HREF_NAMES:
            value = (node.get(name) or "").strip()
            if not value or value.startswith(("#", "data:")):
                continue
            document, _, fragment = urljoin(base, value).partition("#")
            if not fragment or _origin(document) != _origin(page_url) or sprite not in (None, document):
                continue
            sprite, first = document, first or fragment
            node.set(name, "#" + fragment)
    return None if sprite is None else f"{sprite}#{first}"


def with_sprite(wrapper: bytes, sprite: bytes) -> bytes:
    """The inline svg of ``serialise_svg`` with what it uses copied in from the fetched sprite file (parsed
    and repaired like any SVG logo: no entities, no external references). Raises ConvertError."""
    from convert import parse_svg

    sheet = parse_svg(sprite, promote=False)
    out = etree.fromstring(wrapper, _OWN)
    _pull_references(out, sheet)
    data = etree.tostring(out, xml_declaration=True, encoding="utf-8")
    if len(data) > MAX_SVG_BYTES:
        raise ConvertError("too_large", f"svg of {len(data)} bytes with its sprite")
    return data


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or ""), port or {"http": 80, "https": 443}.get(scheme)


def _draws(el: etree._Element) -> bool:
    """Whether anything would be painted: a shape outside <defs>/<symbol> (a sprite sheet paints nothing)."""
    for child in el:
        local = child.tag.rsplit("}", 1)[-1] if isinstance(child.tag, str) else ""
        if local in _PAINTED or (local not in _NOT_RENDERED and _draws(child)):
            return True
    return False


def _copy_tree(src: etree._Element, parent: etree._Element) -> None:
    if not isinstance(src.tag, str):  # comments and processing instructions
        return
    local = src.tag.rsplit("}", 1)[-1]
    el = etree.SubElement(parent, f"{{{SVG_NS}}}{_SVG_TAGS.get(local, local)}")
    _copy_attrs(src, el)
    _copy_content(src, el)


def _copy_content(src: etree._Element, dst: etree._Element) -> None:
    """Text, children and their tails (tails matter inside <text>)."""
    dst.text = src.text
    for child in src:
        if isinstance(child.tag, str):
            _copy_tree(child, dst)
            dst[-1].tail = child.tail


def _copy_attrs(src: etree._Element, dst: etree._Element) -> None:
    for name, value in src.attrib.items():
        key = _attr_key(str(name))
        if key is not None:
            dst.set(key, value)


def _attr_key(name: str) -> str | None:
    """HTML-parsed attribute name -> namespaced SVG attribute name, or None to drop it."""
    if name.startswith("{"):  # already namespaced (from an XML-parsed sprite file): keep xlink: and xml: only
        return name if name[1:].split("}", 1)[0] in (XLINK_NS, XML_NS) else None
    lowered = name.lower()
    if lowered == "xmlns" or lowered.startswith(("xmlns:", "on")):  # namespaces come from nsmap; no scripts
        return None
    if lowered.startswith("xlink:"):
        return f"{{{XLINK_NS}}}{lowered[6:]}"
    if lowered.startswith("xml:"):
        return f"{{{XML_NS}}}{lowered[4:]}"
    if ":" in lowered or "{" in lowered:  # editor namespaces (inkscape:, sketch:) mean nothing to a renderer
        return None
    return _SVG_ATTRS.get(lowered, lowered)


def _fix_size(svg: etree._Element) -> None:
    """Relative sizes (100%, auto, 2em) only make sense inside the page; the viewBox carries the shape."""
    if svg.get("viewBox") is None:
        return
    for attr in ("width", "height"):
        value = svg.get(attr)
        if value is not None and not _ABSOLUTE_LENGTH.match(value):
            del svg.attrib[attr]


def _pull_references(svg: etree._Element, root: etree._Element) -> None:
    """Copy <symbol>/<defs> content referenced by <use href="#id"> or url(#id) from elsewhere in the page."""
    defs = None
    pending = _references(svg)
    done: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in done or _defines(svg, ref):
            continue
        done.add(ref)
        target = _find_id(root, ref)
        if target is None:
            continue
        if defs is None:
            defs = etree.Element(f"{{{SVG_NS}}}defs")
            svg.insert(0, defs)
        _copy_tree(target, defs)
        pending |= _references(defs[-1])


def _references(el: etree._Element) -> set[str]:
    refs = set()
    for node in el.iter():
        checkpoint()
        if not isinstance(node.tag, str):
            continue
        for name, value in node.attrib.items():
            if str(name).endswith("href") and value.strip().startswith("#"):
                refs.add(value.strip()[1:])
            refs.update(_URL_REF.findall(value))
        if node.tag.endswith("}style") and node.text:
            refs.update(_URL_REF.findall(node.text))
    return refs


def _defines(svg: etree._Element, ref: str) -> bool:
    return any(node.get("id") == ref for node in svg.iter() if isinstance(node.tag, str))


def _find_id(root: etree._Element, ref: str) -> etree._Element | None:
    matches = root.xpath("//*[@id=$ref]", ref=ref)
    return matches[0] if matches else None
