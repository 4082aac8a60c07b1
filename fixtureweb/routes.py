"""One answer of the fixture web: status, content type, body, headers, and how it is sent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Route:
    status: int = 200
    ctype: str = "text/html; charset=utf-8"
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    mode: str = "normal"  # normal | trickle | giant | huge | stream (no length) | flaky (fail once, then the body)
    gate: Route | None = None  # answered instead while the request lacks the cookie (fixtureweb.scripted)


# A site's answers by path; a callable is built when first asked for (bombs are big).
Routes = dict[str, "Route | Callable[[], Route]"]
