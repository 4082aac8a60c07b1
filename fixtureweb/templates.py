"""Template families: logos made by one generator for many companies, the way logo makers and site themes make them.

A template fixes the icon (one shape), the layout (icon left of the name, or above it) and the font; a company
fills in its own name and one of a few colour pairs, so companies of one template often share their colours too.
Each company then shows its logo the ways the web does (``fixtureweb.families.variant_file``: the file reused, as
JPEG, lossy WebP, a smaller and a larger rendering, the SVG serialised another way). A grouping that reads the
picture as a whole sees the same round icon and the same grey bar of letters: the companies of one template must
stay apart while each company's own variants join. ``truth`` maps every domain to its company.
"""

from __future__ import annotations

import random
from pathlib import Path

from fixtureweb.families import BrandMark, variant_file

VARIANTS = ("reuse", "jpeg", "webp", "svg_png", "double", "inline_svg")
# Two words a name, from these: every name is a plausible small company, and no two companies share one.
FIRST = ("Orion", "Dune", "Iron", "Acme", "Wave", "Nova", "Cedar", "Polar", "Amber", "Lumen", "Vertex", "Harbor",
         "Summit", "Maple", "Quartz", "Falcon", "Birch", "Cobalt", "Ember", "Delta")
SECOND = ("Clinic", "Steel", "Print", "Audio", "Tools", "Foods", "Legal", "Dental", "Motors", "Realty", "Labs",
          "Travel", "Media", "Energy", "Studio", "Bakery", "Fitness", "Capital", "Garden", "Logistics")
# Colour pairs (icon, name), from fixtureweb.families' palette so that its dark / light recolouring works.
PALETTES = (("#3a86ff", "#2e294e"), ("#d7263d", "#2e294e"), ("#06a77d", "#235789"))
ICONS = ("disc", "square", "hexagon", "triangle", "ring", "shield")
FONTS = ("DejaVu Sans", "Liberation Serif", "DejaVu Sans Mono")


def _icon(kind: str, x: float, y: float, size: float, fill: str) -> str:
    cx, cy, r = x + size / 2, y + size / 2, size / 2
    if kind == "disc":
        return f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{fill}"/>'
    if kind == "ring":
        return (f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r * 0.82:.1f}" fill="none" stroke="{fill}" '
                f'stroke-width="{r * 0.36:.1f}"/>')
    if kind == "square":
        return f'<rect x="{x:.1f}" y="{y:.1f}" width="{size:.1f}" height="{size:.1f}" rx="{size * 0.18:.1f}" fill="{fill}"/>'
    if kind == "hexagon":
        points = " ".join(f"{cx + r * dx:.1f},{cy + r * dy:.1f}" for dx, dy in
                          ((0, -1), (0.87, -0.5), (0.87, 0.5), (0, 1), (-0.87, 0.5), (-0.87, -0.5)))
        return f'<polygon points="{points}" fill="{fill}"/>'
    if kind == "triangle":
        return f'<polygon points="{x:.1f},{y + size:.1f} {cx:.1f},{y:.1f} {x + size:.1f},{y + size:.1f}" fill="{fill}"/>'
    return (f'<path d="M{x:.1f},{y:.1f} h{size:.1f} v{size * 0.55:.1f} q0,{size * 0.35:.1f} -{r:.1f},{size * 0.45:.1f} '
            f'q-{r:.1f},-{size * 0.1:.1f} -{r:.1f},-{size * 0.45:.1f} z" fill="{fill}"/>')


def template_mark(slug: str, template: int, name: str, palette: tuple[str, str]) -> BrandMark:
    """The logo that template ``template`` makes for ``name`` in ``palette`` (an SVG with its text as text)."""
    icon = ICONS[template % len(ICONS)]
    font = FONTS[template % len(FONTS)]
    stacked = template % 4 == 3  # the icon above the name
    icon_fill, text_fill = palette
    letters = len(name)
    if stacked:
        width, height = max(120, letters * 15 + 20), 150
        parts = [_icon(icon, width / 2 - 40, 6, 80, icon_fill),
                 f'<text x="{width / 2:.1f}" y="132" font-family="{font}" font-size="26" fill="{text_fill}" '
                 f'text-anchor="middle">{name}</text>']
    else:
        width, height = 100 + letters * 19, 100
        parts = [_icon(icon, 8, 12, 76, icon_fill),
                 f'<text x="100" y="64" font-family="{font}" font-size="32" fill="{text_fill}">{name}</text>']
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">{"".join(parts)}</svg>')
    return BrandMark(slug, svg, width, height)


def write_templates(folder: Path, templates: int = 6, companies: int = 6, seed: int = 0,
                    variants: tuple[str, ...] = VARIANTS) -> dict[str, str]:
    """Write ``<domain>.<ext>`` files: ``companies`` companies for each of ``templates`` templates, each company
    shown in every kind of ``variants``. Names are drawn without repetition, and the companies of one template
    have names of one length (one layout, the same width). Returns domain -> company."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{a} {b}" for a in FIRST for b in SECOND]
    rng.shuffle(names)
    truth: dict[str, str] = {}
    for t in range(templates):
        length = len(names[-1])
        chosen = [n for n in names if len(n) == length][:companies]
        names = [n for n in names if n not in chosen]
        for c, name in enumerate(chosen):
            slug = f"t{t}c{c}"
            mark = template_mark(slug, t, name, PALETTES[rng.randrange(len(PALETTES))])
            for kind in variants:
                domain = f"{slug}-{kind.replace('_', '')}.test"
                ext, data = variant_file(mark, kind)
                (folder / f"{domain}.{ext}").write_bytes(data)
                truth[domain] = slug
    return truth
