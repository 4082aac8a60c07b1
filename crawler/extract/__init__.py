"""Logo candidates from a homepage: pure functions over its HTML (the spider fetches the candidates best first).

The one entry point is ``find_candidates``; ``meta_refresh_url``, ``icons_from_manifest``, ``with_sprite``,
``stylesheet_urls`` and ``css_candidates`` serve the spider's follow-up requests (a meta refresh, a web app
manifest, an external SVG sprite, the page's own stylesheets). ``TIERS`` is the scoring table.
"""

from crawler.extract.candidates import (
           TIERS,
           Candidate,
           find_candidates,
           icons_from_manifest,
           meta_refresh_url,
)
from crawler.extract.css import css_candidates, stylesheet_urls
from crawler.extract.inline_svg import with_sprite

__all__ = ["TIERS", "Candidate", "css_candidates", "find_candidates", "icons_from_manifest", "meta_refresh_url",
           "stylesheet_urls", "with_sprite"]
