"""Conversion worker processes with a hard deadline per logo (pebble): a logo that is still converting when its
deadline passes has its worker killed and replaced, and fails alone as ``convert_timeout``. Each worker also
runs under a CPU-time limit per logo (RLIMIT_CPU, the kernel's own backstop if the parent cannot kill) and an
address-space limit (RLIMIT_AS: a decoder that tries to allocate gigabytes gets a MemoryError instead of the
machine's memory), and ends with its parent.

Used by the crawl (crawler.middlewares.LogoConversionMiddleware) and by ``logosim import`` (convert.importer).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, TimeoutError
from dataclasses import dataclass
from typing import Any

from pebble import ProcessExpired, ProcessPool

from common.errors import ConvertError
from common.procs import exit_with_parent

TIMEOUT, CRASHED, OUT_OF_MEMORY = "convert_timeout", "convert_crashed", "too_large"


@dataclass(frozen=True)
class Limits:
    """deadline_s: wall clock per logo; cpu_s: CPU seconds per logo (a little above the deadline: the wall
    clock normally fires first); memory_bytes: the worker's address space (0: no limit)."""

    deadline_s: float = 5.0
    cpu_s: int = 8
    memory_bytes: int = 2 * 1024**3  # beyond what the worker maps once started (its imports)


class ConvertPool:
    """``submit(fn, *args)`` -> a Future of fn's result; its exception is a ConvertError(convert_timeout /
    convert_crashed / too_large) when the worker ran out of time, died, or ran out of address space."""

    def __init__(self, workers: int, limits: Limits) -> None:
        self.limits = limits
        # spawn, not fork: the parent holds threads (the reactor's pool, rich, torch) that fork would copy mid-state
        self.pool = ProcessPool(max_workers=workers, initializer=_init_worker,
                                initargs=(os.getpid(), limits.memory_bytes),
                                context=multiprocessing.get_context("spawn"))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        inner = self.pool.schedule(_limited, args=(self.limits.cpu_s, fn, *args), timeout=self.limits.deadline_s)
        outer: Future = Future()
        inner.add_done_callback(lambda done: _settle(done, outer))
        return outer

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args), waited for; a failure is returned as its ConvertError, as ``map`` yields it."""
        return _outcome(self.submit(fn, *args))

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], window: int = 32) -> Iterator[Any]:
        """fn(item) for each item, in order; a failed item yields its ConvertError instead of a result.
        At most ``window`` items are in flight (bounded memory for a folder of millions)."""
        pending: deque[Future] = deque()
        for item in items:
            pending.append(self.submit(fn, item))
            if len(pending) >= window:
                yield _outcome(pending.popleft())
        while pending:
            yield _outcome(pending.popleft())

    def close(self) -> None:
        self.pool.stop()
        self.pool.join(timeout=5)

    def __enter__(self) -> ConvertPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _outcome(future: Future) -> Any:
    try:
        return future.result()
    except ConvertError as exc:
        return exc


def _settle(done: Future, outer: Future) -> None:
    if done.cancelled():
        outer.cancel()
        return
    error = done.exception()
    if error is None:
        outer.set_result(done.result())
    else:
        outer.set_exception(failure_error(error))


def failure_error(error: BaseException) -> BaseException:
    """The ConvertError that a pool failure means for its logo (other exceptions pass unchanged)."""
    if isinstance(error, TimeoutError):
        return ConvertError(TIMEOUT, "conversion passed its deadline; the worker was replaced")
    if isinstance(error, ProcessExpired):
        if error.exitcode == -signal.SIGXCPU:
            return ConvertError(TIMEOUT, "conversion passed its CPU-time limit")
        return ConvertError(CRASHED, f"the conversion worker died (exit code {error.exitcode})")
    if isinstance(error, MemoryError):
        return ConvertError(OUT_OF_MEMORY, "conversion ran out of its address space")
    return error


def _init_worker(parent: int, memory_bytes: int) -> None:
    """The address-space limit counts from what the worker maps once started: a spawned worker re-imports its
    parent's main module, and a script that imported torch (bench/families.py) maps gigabytes before any
    logo, so an absolute 2 GiB limit failed every conversion there."""
    exit_with_parent(parent)
    if memory_bytes > 0:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = _mapped_bytes() + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def _mapped_bytes() -> int:
    """This process's virtual size (Linux /proc/self/statm; 0 where it cannot be read)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def _limited(cpu_s: int, fn: Callable[..., Any], *args: Any) -> Any:
    """In the worker: the CPU limit counts from now (RLIMIT_CPU is the process's total, and a worker lives
    for many logos), so each logo gets ``cpu_s`` seconds of its own."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used.ru_utime + used.ru_stime) + cpu_s + 1
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    try:
        return fn(*args)
    except MemoryError:
        raise ConvertError(OUT_OF_MEMORY, "conversion ran out of its address space") from None
