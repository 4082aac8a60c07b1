"""SVG repairs: entity declarations, unbound namespace prefixes, HTML-style case, external references."""

from __future__ import annotations

import re

from lxml import etree

from common.errors import ConvertError

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
_KNOWN_NS = {
    "xlink": XLINK_NS,
    "svg": SVG_NS,
    "sodipodi": "http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd",
    "inkscape": "http://www.inkscape.org/namespaces/inkscape",
    "serif": "http://www.serif.com/",
    "sketch": "http://www.bohemiancoding.com/sketch/ns",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "cc": "http://creativecommons.org/ns#",
}
_MAX_ENTITIES = 64
_MAX_EXPANSION = 2_000_000  # characters that entity substitution may add
_ENTITY_DECL = re.compile(r"<!ENTITY\s+(%\s*)?([\w.:-]+)\s+(?:\"([^\"]*)\"|'([^']*)'|(\w+)[^>]*)\s*>", re.S)
_TAG_PREFIX = re.compile(r"</?([A-Za-z_][\w.-]*):[A-Za-z_][\w.-]*")
_ATTR_PREFIX = re.compile(r"\s([A-Za-z_][\w.-]*):[A-Za-z_][\w.-]*\s*=")
_DECLARED_PREFIX = re.compile(r"xmlns:([A-Za-z_][\w.-]*)\s*=")
_ROOT_TAG = re.compile(r"<((?:[\w.-]+:)?svg)\b([^>]*)>", re.I | re.S)
_DEFAULT_NS = re.compile(r"\sxmlns\s*=\s*(\"[^\"]*\"|'[^']*')")
_CURRENT_COLOR = re.compile(r"currentcolor", re.I)
_IMPORT = re.compile(r"@import[^;]*;?", re.I)
_HIDING = re.compile(r"(?:display|visibility|width|height)\s*:[^;]*;?", re.I)
_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.I | re.S)

# HTML serialisers lower-case SVG names; browsers map them back, so do we.
_CAMEL = [
    "altGlyph", "animateColor", "animateMotion", "animateTransform", "clipPath", "feBlend",
    "feColorMatrix", "feComponentTransfer", "feComposite", "feConvolveMatrix", "feDiffuseLighting",
    "feDisplacementMap", "feDistantLight", "feDropShadow", "feFlood", "feFuncA", "feFuncB", "feFuncG",
    "feFuncR", "feGaussianBlur", "feImage", "feMerge", "feMergeNode", "feMorphology", "feOffset",
    "fePointLight", "feSpecularLighting", "feSpotLight", "feTile", "feTurbulence", "foreignObject",
    "glyphRef", "linearGradient", "radialGradient", "textPath",
]
_CAMEL_ATTRS = [
    "attributeName", "baseFrequency", "calcMode", "clipPathUnits", "diffuseConstant", "edgeMode",
    "filterUnits", "gradientTransform", "gradientUnits", "kernelMatrix", "keySplines", "keyTimes",
    "lengthAdjust", "limitingConeAngle", "markerHeight", "markerUnits", "markerWidth",
    "maskContentUnits", "maskUnits", "numOctaves", "pathLength", "patternContentUnits",
    "patternTransform", "patternUnits", "preserveAspectRatio", "primitiveUnits", "refX", "refY",
    "repeatCount", "specularConstant", "specularExponent", "spreadMethod", "startOffset",
    "stdDeviation", "stitchTiles", "surfaceScale", "tableValues", "textLength", "viewBox",
    "xChannelSelector", "yChannelSelector",
]
TAG_CASE = {name.lower(): name for name in _CAMEL}
ATTR_CASE = {name.lower(): name for name in _CAMEL_ATTRS}
_DROP_TAGS = {"script", "foreignObject", "iframe", "audio", "video", "canvas"}
_HREF_TAGS_DROPPED = {"image", "use", "feImage"}
_NOT_DRAWN = {"defs", "symbol", "style", "title", "desc", "metadata"}
_HREFS = ("href", f"{{{XLINK_NS}}}href")


def substitute_entities(prolog: str, body: str) -> str:
    """Expand simple text entities (Illustrator's ``&ns_svg;``); refuse anything that could nest or
    reach outside (parameter, SYSTEM/PUBLIC, values with markup or references): ``svg_entities``."""
    count = prolog.count("<!ENTITY") + body.count("<!ENTITY")
    if not count:
        return body
    declared = list(_ENTITY_DECL.finditer(prolog))
    if len(declared) != count or count > _MAX_ENTITIES:
        raise ConvertError("svg_entities", f"{count} entity declarations")
    values: dict[str, str] = {}
    for match in declared:
        percent, name, double, single, keyword = match.groups()
        value = double if double is not None else single
        if percent or keyword or value is None or any(ch in value for ch in "&%<"):
            raise ConvertError("svg_entities", f"entity {name!r} is not plain text")
        values[name] = value.replace('"', "&quot;").replace("'", "&apos;")
    added = sum(body.count(f"&{name};") * len(value) for name, value in values.items())
    if added > _MAX_EXPANSION:
        raise ConvertError("svg_entities", f"entities would add {added} characters")
    return re.sub(r"&([\w.:-]+);", lambda m: values.get(m.group(1), m.group(0)), body)


def fix_prefixes(body: str) -> str:
    """Declare the SVG default namespace and every prefix used but never declared on the root tag."""
    root = _ROOT_TAG.search(body)
    if root is None:
        return body
    used = set(_TAG_PREFIX.findall(body)) | set(_ATTR_PREFIX.findall(body))
    used -= {"xmlns", "xml"}
    declared = set(_DECLARED_PREFIX.findall(body))
    attrs = root.group(2)
    tag = root.group(1)
    if ":" not in tag:
        # A missing or wrong default namespace would make every element foreign to the renderer.
        attrs = _DEFAULT_NS.sub("", attrs)
        attrs = f' xmlns="{SVG_NS}"' + attrs
    for prefix in sorted(used - declared):
        uri = _KNOWN_NS.get(prefix.lower(), f"urn:logosim:unbound:{prefix}")
        attrs = f' xmlns:{prefix}="{uri}"' + attrs
    return body[: root.start()] + f"<{tag}{attrs}>" + body[root.end():]


def normalise_tree(root: etree._Element) -> None:
    """Put every element in the SVG namespace with its proper case, and strip what could reach out."""
    for element in list(root.iter()):
        if not isinstance(element.tag, str):
            _remove(element)
            continue
        _fix_tag(element)
        if etree.QName(element).localname in _DROP_TAGS:
            _remove(element)
            continue
        _fix_attributes(element)
        if etree.QName(element).localname == "style" and element.text:
            element.text = sanitise_css(element.text)


def _fix_tag(element: etree._Element) -> None:
    qname = etree.QName(element)
    if qname.namespace in (None, SVG_NS):
        lower = qname.localname.lower()
        element.tag = f"{{{SVG_NS}}}{TAG_CASE.get(lower, lower)}"


def _fix_attributes(element: etree._Element) -> None:
    for name in list(element.attrib):
        value = element.attrib[name]
        if not name.startswith("{"):
            fixed = _fixed_attr_name(name)
            if fixed != name:
                del element.attrib[name]
                if fixed is None:
                    continue
                name = fixed
                element.set(name, value)
        if name in _HREFS:
            if _is_external(value):
                del element.attrib[name]
                if etree.QName(element).localname in _HREF_TAGS_DROPPED:
                    _remove(element)
                    return
            continue
        if "url(" in value.lower() or "currentcolor" in value.lower() or "@import" in value.lower():
            element.set(name, sanitise_css(value))


def _fixed_attr_name(name: str) -> str | None:
    """``viewbox`` -> ``viewBox``; an attribute with an unbound prefix survives lxml's recovery as a
    literal ``xlink:href`` name: map that one, drop the others (None)."""
    if ":" in name:
        return f"{{{XLINK_NS}}}href" if name.lower() == "xlink:href" else None
    return ATTR_CASE.get(name.lower(), name)


def _is_external(href: str) -> bool:
    href = href.strip().lower()
    return not (href.startswith("#") or href.startswith("data:"))


def sanitise_css(text: str) -> str:
    """No ``@import``; ``url()`` only to fragments or data: URIs; ``currentColor`` in the one
    spelling cairosvg recognises."""
    text = _IMPORT.sub("", text)
    text = _URL.sub(lambda m: m.group(0) if not _is_external(m.group(2)) else "none", text)
    return _CURRENT_COLOR.sub("currentColor", text)


def promote_symbol(root: etree._Element) -> None:
    """A sprite sheet draws nothing by itself: draw its first <symbol> the way a page's <use> would."""
    drawn = [child for child in root if isinstance(child.tag, str)
             and etree.QName(child).localname not in _NOT_DRAWN]
    symbol = _pick_symbol(root)
    if drawn or symbol is None:
        return
    group = etree.SubElement(root, f"{{{SVG_NS}}}g")
    for name, value in symbol.attrib.items():
        if name not in ("id", "viewBox", "preserveAspectRatio", "width", "height", "x", "y"):
            group.set(name, value)
    for child in list(symbol):
        group.append(child)
    # Sprite sheets hide themselves on the page (display:none, width:0); the symbol is what we want.
    root.attrib.pop("display", None)
    root.attrib.pop("visibility", None)
    if root.get("style"):
        root.set("style", _HIDING.sub("", root.get("style")))
    if symbol.get("viewBox") and not root.get("viewBox"):
        root.set("viewBox", symbol.get("viewBox"))
        for name in ("width", "height"):
            root.attrib.pop(name, None)


def _pick_symbol(root: etree._Element) -> etree._Element | None:
    """The symbol that is the logo: one whose id says so, or the only one. A sheet of many other
    icons (social links) holds no logo, and drawing its first icon would pass a stranger's mark off
    as this site's."""
    symbols = [s for s in root.iter(f"{{{SVG_NS}}}symbol") if len(s)]
    named = [s for s in symbols if "logo" in (s.get("id") or "").lower()]
    if named:
        return named[0]
    return symbols[0] if len(symbols) == 1 else None


def _remove(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:
        # Keep text that followed the element (it belongs to the parent's text content).
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)
