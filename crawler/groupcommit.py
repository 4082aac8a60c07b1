"""Group commit: durable writes gathered into batches, one sync for each batch instead of one for each item.

Every item of the crawl ends in a logo file and a manifest line, each made durable before the next step (the
line only once its file is durable). One fsync each cost two journal commits and two thread hops per domain;
gathered for at most ``MAX_DELAY`` seconds or ``MAX_ITEMS`` items, a batch costs one thread hop, one sync of the
files and one of the manifest. Each item's caller still waits until its own batch is durable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

T = TypeVar("T")

# A batch waits at most this long for company: an item's record is late by at most that much, against the ~20 ms
# a domain takes to crawl; at a crawl's 50-100 domains/s a batch then holds a few items, under load up to MAX_ITEMS.
MAX_DELAY = 0.05
MAX_ITEMS = 64


class GroupCommit(Generic[T]):
    """``submit(entry)`` -> a Deferred that fires once ``flush`` (run in a thread) has made the entry's batch
    durable, or fails with the batch's error."""

    def __init__(self, flush: Callable[[list[T]], None], max_delay: float = MAX_DELAY,
                 max_items: int = MAX_ITEMS, clock: IReactorTime | None = None,
                 run: Callable[..., Deferred[None]] = deferToThread) -> None:
        """``clock`` (the reactor by default) times the wait; ``run`` runs ``flush`` (in a thread by default)."""
        self.flush = flush
        self.max_delay = max_delay
        self.max_items = max_items
        self.clock = clock
        self.run = run
        self._pending: list[tuple[T, Deferred[None]]] = []
        self._timer = None

    def submit(self, entry: T) -> Deferred[None]:
        done: Deferred[None] = Deferred()
        self._pending.append((entry, done))
        if len(self._pending) >= self.max_items:
            self.commit()
        elif self._timer is None:
            if self.clock is None:  # Scrapy's reactor: imported earlier, it would install the default one
                from twisted.internet import reactor

                self.clock = reactor  # type: ignore[assignment]
            self._timer = self.clock.callLater(self.max_delay, self.commit)
        return done

    def commit(self) -> None:
        """Flush what is pending now (the timer, a full batch, or the crawl's end)."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        batch, self._pending = self._pending, []
        if not batch:
            return

        def succeeded(_: object) -> None:
            for _entry, done in batch:
                done.callback(None)

        def failed(failure: Failure) -> None:
            for _entry, done in batch:
                done.errback(failure)

        self.run(self.flush, [entry for entry, _ in batch]).addCallbacks(succeeded, failed)
