"""Logo candidates from a homepage: pure functions over its HTML (the spider fetches the candidates best first).

The one entry point is ``find_candidates``; ``meta_refresh_url``, ``icons_from_manifest``, ``with_sprite``,
``sheets_to_read`` (``stylesheet_urls`` when a sheet could paint the logo) and ``css_candidates`` serve the
spider's follow-up requests (a meta refresh, a web app manifest, an external SVG sprite, the page's own
stylesheets). ``TIERS`` is the scoring table; ``run_within`` runs any of them under a deadline, past which
it raises ``ExtractTimeout``.
"""

from crawler.extract.budget import ExtractTimeout, run_within
from crawler.extract.candidates import (
           TIERS,
           Candidate,
           find_candidates,
           icons_from_manifest,
           meta_refresh_url,
)
from crawler.extract.css import css_candidates, sheets_to_read, stylesheet_urls
from crawler.extract.inline_svg import with_sprite

__all__ = ["TIERS", "Candidate", "ExtractTimeout", "css_candidates", "find_candidates", "icons_from_manifest", "meta_refresh_url",
           "run_within", "sheets_to_read", "stylesheet_urls", "with_sprite"]
