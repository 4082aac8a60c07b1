"""A deadline for the extraction of one page: the caller sets it (``within``), the loops over a page's elements,
rules and blocks call ``checkpoint`` and past it raise ``ExtractTimeout``.

Cooperative, because extraction runs in the reactor's thread pool and a thread cannot be killed; what it runs
between two checkpoints is linear in the page (lxml's parser, and regexes and scans that do not backtrack:
tests/test_redos.py), and a page is at most LOGOSIM_HOMEPAGE_MAXSIZE, so a step is short.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_LOCAL = threading.local()


class ExtractTimeout(Exception):
    """The page's extraction passed its deadline (the manifest reason ``extract_timeout``)."""


@contextmanager
def within(seconds: float | None) -> Iterator[None]:
    """Checkpoints in this block (this thread) raise ExtractTimeout once ``seconds`` have passed; None or 0:
    no deadline. Nested blocks keep the earlier deadline."""
    outer = getattr(_LOCAL, "until", None)
    until = time.monotonic() + seconds if seconds else None
    _LOCAL.until = min(u for u in (outer, until) if u is not None) if (outer or until) else None
    try:
        yield
    finally:
        _LOCAL.until = outer


def run_within(seconds: float | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` under a deadline of ``seconds`` (what a thread of the pool is handed)."""
    with within(seconds):
        return fn(*args, **kwargs)


def checkpoint() -> None:
    until = getattr(_LOCAL, "until", None)
    if until is not None and time.monotonic() > until:
        raise ExtractTimeout("the page's extraction passed its deadline")
