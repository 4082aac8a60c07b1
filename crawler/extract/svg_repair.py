"""An inline <svg> cut out of its page loses the page's CSS: give it back what that CSS evidently did.

- ``var(--brand, #000)`` in an attribute: the page defines the variable; its fallback is the best guess
  (cairosvg cannot parse ``var()`` at all), and without a fallback ``currentColor``.
- ``fill="none"`` on the root while no shape sets a fill of its own: a class (``fill-black``) painted the
  logo on the page; without it every shape inherits ``none`` and the logo is invisible.
- An svg that only ``<use>``-s one ``<symbol>`` (pulled in from elsewhere in the page): the symbol's
  viewBox becomes the svg's and its content is drawn in place, the way the browser sizes it (cairosvg
  draws a used symbol without its viewBox, so nothing lands in view).
"""

from __future__ import annotations

import copy
import re

from lxml import etree

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_VAR = re.compile(r"var\(\s*--[\w-]+\s*(?:,\s*([^()]*(?:\([^()]*\))?[^()]*))?\)")
_FILL_STYLE = re.compile(r"(?:^|;)\s*fill\s*:", re.I)


def repair_inline(svg: etree._Element) -> None:
    """Apply the repairs above to a serialised inline svg (SVG namespace), in place."""
    _resolve_vars(svg)
    _unhide_fill(svg)
    _inline_symbol(svg)


def _local(el: etree._Element) -> str:
    return el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""


def _resolve_vars(svg: etree._Element) -> None:
    for node in svg.iter():
        if not isinstance(node.tag, str):
            continue
        for name, value in node.attrib.items():
            if "var(" in value:
                node.set(name, _VAR.sub(lambda m: (m.group(1) or "currentColor").strip(), value))


def _unhide_fill(svg: etree._Element) -> None:
    if (svg.get("fill") or "").strip().lower() != "none":
        return
    for node in svg.iter():
        if node is svg or not isinstance(node.tag, str):
            continue
        if node.get("fill") is not None or _FILL_STYLE.search(node.get("style") or ""):
            return  # the shapes colour themselves: fill="none" on the root is a real default
        if _local(node) == "style":
            return  # the svg carries its own CSS
    del svg.attrib["fill"]


def _inline_symbol(svg: etree._Element) -> None:
    drawn = [c for c in svg if isinstance(c.tag, str) and _local(c) not in ("defs", "title", "desc", "style")]
    if svg.get("viewBox") or len(drawn) != 1 or _local(drawn[0]) != "use":
        return
    use = drawn[0]
    ref = (use.get(XLINK_HREF) or use.get("href") or "").strip()
    if not ref.startswith("#"):
        return
    symbol = next((n for n in svg.iter(f"{{{SVG_NS}}}symbol") if n.get("id") == ref[1:]), None)
    if symbol is None or not symbol.get("viewBox"):
        return
    group = etree.Element(f"{{{SVG_NS}}}g")
    for name, value in use.attrib.items():
        if name not in (XLINK_HREF, "href", "x", "y", "width", "height"):
            group.set(name, value)
    for child in symbol:
        if isinstance(child.tag, str):
            group.append(copy.deepcopy(child))
    svg.replace(use, group)
    svg.set("viewBox", symbol.get("viewBox"))
    for attr in ("width", "height"):
        svg.attrib.pop(attr, None)
