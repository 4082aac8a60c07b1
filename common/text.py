"""Text from the web made safe to print: a page's class names, alt text or JSON-LD types, a server's reason,
a name read from Redis can carry terminal control sequences (ESC, BEL, CSI) that retitle or clear a terminal."""

from __future__ import annotations

import json
from typing import Any

# C0, DEL and C1: every character a terminal may act on instead of showing
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
_JSON_C1 = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}  # json.dumps escapes C0 itself


def printable(text: object) -> str:
    """``text`` with every control character written as its escape (``\\x1b``); tab and newline too."""
    return str(text).translate(_CONTROLS)


def json_text(data: Any, **options: Any) -> str:
    """``json.dumps`` that keeps non-ASCII text readable and still writes no control character raw."""
    return json.dumps(data, ensure_ascii=False, **options).translate(_JSON_C1)
