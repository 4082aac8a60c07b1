"""Text encodings logosim will decode with: only the WHATWG Encoding Standard's labels (what browsers
accept, via ``webencodings``), mapped to Python codecs. A page or SVG that declares anything else (Python's
``punycode`` decoder is superlinear: 320 KB took 51 s; ``idna``, ``rot13``, ``zlib``... are no web encodings)
is read as if it declared nothing."""

from __future__ import annotations

import codecs

import webencodings

# WHATWG names whose Python codec differs in name only, or which Python lacks (``replacement``: refuse).
_PYTHON = {"x-user-defined": None, "replacement": None, "iso-8859-8-i": "iso-8859-8", "x-mac-cyrillic": "mac-cyrillic"}


def whatwg_codec(label: str | None) -> str | None:
    """The Python codec for a WHATWG encoding label (``"latin1"`` -> ``"cp1252"``, as browsers read it),
    or None when the label is no web encoding."""
    if not label:
        return None
    encoding = webencodings.lookup(label.strip())
    if encoding is None:
        return None
    name = _PYTHON.get(encoding.name, encoding.codec_info.name)
    if name is None:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None
