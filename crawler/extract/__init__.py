"""Logo candidates from a homepage: pure functions over its HTML (the spider fetches the candidates best first).

The one entry point is ``find_candidates``; ``meta_refresh_url``, ``icons_from_manifest`` and ``with_sprite``
serve the spider's follow-up requests (a meta refresh, a web app manifest, an external SVG sprite).
"""

from crawler.extract.candidates import (
    Candidate,
    find_candidates,
    icons_from_manifest,
    meta_refresh_url,
)
from crawler.extract.inline_svg import with_sprite

__all__ = ["Candidate", "find_candidates", "icons_from_manifest", "meta_refresh_url", "with_sprite"]
