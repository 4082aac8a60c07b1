"""The shared crawl frontier in Redis: many workers, one list of domains, a lease per domain in flight.

The connection is scrapy-redis's (``scrapy_redis.connection.get_redis_from_settings``: REDIS_URL and
REDIS_PARAMS), and the queue is a Redis list fed the way scrapy-redis's RedisSpider feeds start URLs. Where we
chose otherwise, and why:
- scrapy-redis pops start URLs and forgets them: a killed worker loses what it popped. Here a pop and its lease
  are one Lua script: the domain goes from the queue into ``leases`` (a sorted set, domain -> deadline) with its
  owner; the worker renews its leases while the domain is in flight; any worker's next pop first puts expired
  leases back at the head of the queue. A finished domain goes into ``done`` (domain -> status) once.
- Our unit of work is a domain (a homepage and a few logo requests sharing in-memory state), not a request: the
  frontier holds domains. scrapy-redis's Scheduler would pickle every request and its meta through Redis for
  nothing, and its duplicate filter would drop brand families' shared logo URLs.
- RedisSpider feeds a batch only when the spider is idle (its own TODO: "while there is capacity"), so a
  worker would drain to zero before refilling. Here the spider's ``start()`` pulls a batch whenever Scrapy
  asks for more start requests (that is, while the downloader has room).

Keys, all under ``logosim:`` in the URL's database: ``id`` (the frontier's id, made at the first load),
``seen`` (set: every domain ever queued), ``queue`` (list), ``leases`` (zset), ``owner`` (hash domain ->
worker), ``done`` (hash domain -> status), ``stats`` (hash: ok/no_logo/failed/duplicate), ``worker:<name>``
(hash: counts, first and last completion) and ``workers`` (hash name -> last heartbeat).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from common.errors import LogosimError

PREFIX = "logosim:"
UNREACHABLE_REASON = "frontier_unreachable"  # a worker's finish_reason when it refused (crawler.runner raises it)
# A kill must not hang a worker or a CLI: connecting takes at most CONNECT_TIMEOUT seconds, a command
# SOCKET_TIMEOUT (loopback answers in well under a millisecond; a LAN in a few).
CONNECT_TIMEOUT, SOCKET_TIMEOUT = 3.0, 10.0

# Expired leases back to the queue's head (unless done), then pop up to ARGV[3] domains and lease them.
_TAKE = """
local now, deadline, n, worker = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, d in ipairs(expired) do
  redis.call('ZREM', KEYS[2], d)
  redis.call('HDEL', KEYS[3], d)
  if redis.call('HEXISTS', KEYS[4], d) == 0 then redis.call('LPUSH', KEYS[1], d) end
end
local taken = {}
for i = 1, n do
  local d = redis.call('LPOP', KEYS[1])
  if not d then break end
  if redis.call('HEXISTS', KEYS[4], d) == 0 then
    redis.call('ZADD', KEYS[2], deadline, d)
    redis.call('HSET', KEYS[3], d, worker)
    taken[#taken + 1] = d
  end
end
return taken
"""

# First completion wins: record it and count it; a second one is counted as a duplicate. Returns 1 / 0.
_DONE = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  redis.call('HINCRBY', KEYS[4], 'duplicate', 1)
  return 0
end
redis.call('HINCRBY', KEYS[4], ARGV[2], 1)
redis.call('HINCRBY', KEYS[5], ARGV[2], 1)
redis.call('HSETNX', KEYS[5], 'first', ARGV[3])
redis.call('HSET', KEYS[5], 'last', ARGV[3])
return 1
"""

# Domains a worker's folder already records (ARGV: domain, status, domain, status, ...): done, and counted
# if the frontier did not know yet (a worker killed between writing a record and telling the frontier).
_KNOWN = """
for i = 1, #ARGV, 2 do
  redis.call('SADD', KEYS[1], ARGV[i])
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('HINCRBY', KEYS[3], ARGV[i + 1], 1)
    redis.call('HINCRBY', KEYS[4], ARGV[i + 1], 1)
  end
end
return 0
"""

# Queue every domain not seen before (SADD answers 1 only for a new member): loading twice adds nothing.
_LOAD = """
local added = 0
for _, d in ipairs(ARGV) do
  if redis.call('SADD', KEYS[1], d) == 1 then
    redis.call('RPUSH', KEYS[2], d)
    added = added + 1
  end
end
return added
"""


class FrontierUnreachable(LogosimError):
    """The Redis of --frontier does not answer."""


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def redact(url: str) -> str:
    """The URL without its password, for logs and state.json."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def redis_settings(url: str) -> dict[str, Any]:
    """The Scrapy settings scrapy-redis's connection reads, with timeouts so that a dead server is one error."""
    return {"REDIS_URL": url, "REDIS_PARAMS": {"socket_connect_timeout": CONNECT_TIMEOUT,
                                               "socket_timeout": SOCKET_TIMEOUT, "retry_on_timeout": False}}


@dataclass
class FrontierStatus:
    id: str | None
    queued: int
    in_flight: int
    done: int
    counts: dict[str, int]
    workers: dict[str, dict[str, Any]]
    rate: float  # domains/s over the workers' recent completions

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "queued": self.queued, "in_flight": self.in_flight, "done": self.done,
                "failed": self.counts.get("failed", 0), "ok": self.counts.get("ok", 0),
                "no_logo": self.counts.get("no_logo", 0), "duplicate": self.counts.get("duplicate", 0),
                "rate": round(self.rate, 2), "workers": self.workers}


class Frontier:
    """One Redis database holding one crawl's frontier."""

    def __init__(self, server: Any, url: str = "") -> None:
        self.server = server
        self.url = url
        self.keys = {name: PREFIX + name for name in
                     ("id", "seen", "queue", "leases", "owner", "done", "stats", "workers")}
        self._take = server.register_script(_TAKE)
        self._done = server.register_script(_DONE)
        self._load = server.register_script(_LOAD)
        self._known = server.register_script(_KNOWN)

    @classmethod
    def connect(cls, url: str) -> Frontier:
        """Connect and ping; an unreachable server is a FrontierUnreachable (one line) within seconds."""
        import redis
        from scrapy.settings import Settings
        from scrapy_redis.connection import get_redis_from_settings

        try:
            server = get_redis_from_settings(Settings(redis_settings(url)))
            server.ping()
        except (redis.RedisError, OSError, ValueError) as exc:
            raise FrontierUnreachable(f"frontier {redact(url)} is not reachable: {exc}") from None
        return cls(server, url)

    # -- the list --------------------------------------------------------------------------------------------
    def id(self) -> str | None:
        value = self.server.get(self.keys["id"])
        return value.decode() if isinstance(value, bytes) else value

    def ensure_id(self) -> str:
        self.server.setnx(self.keys["id"], uuid.uuid4().hex)
        return self.id() or ""

    def load(self, domains: Iterable[str], chunk: int = 5000) -> int:
        """Queue the domains not queued before (normalised by the caller); returns how many were new."""
        added, batch = 0, []
        for domain in domains:
            batch.append(domain)
            if len(batch) >= chunk:
                added += int(self._load(keys=[self.keys["seen"], self.keys["queue"]], args=batch))
                self.ensure_id()  # after the first chunk: a worker that sees the id finds work queued
                batch = []
        if batch:
            added += int(self._load(keys=[self.keys["seen"], self.keys["queue"]], args=batch))
        self.ensure_id()
        return added

    def mark_known_done(self, records: dict[str, str], worker: str = "") -> None:
        """Domains already recorded in a worker's folder (domain -> status): done, never queued again."""
        items = list(records.items())
        keys = [self.keys["seen"], self.keys["done"], self.keys["stats"], PREFIX + "worker:" + (worker or "known")]
        for start in range(0, len(items), 5000):
            self._known(keys=keys, args=[value for pair in items[start:start + 5000] for value in pair])

    # -- leases ----------------------------------------------------------------------------------------------
    def take(self, worker: str, count: int, lease: float) -> list[str]:
        now = time.time()
        taken = self._take(keys=[self.keys["queue"], self.keys["leases"], self.keys["owner"], self.keys["done"]],
                           args=[now, now + lease, count, worker])
        return [d.decode() if isinstance(d, bytes) else d for d in taken]

    def renew(self, domains: Iterable[str], lease: float) -> None:
        """Push the deadline of leases this worker still holds (XX: a lease already expired stays gone)."""
        deadline = time.time() + lease
        mapping = {domain: deadline for domain in domains}
        if mapping:
            self.server.zadd(self.keys["leases"], mapping, xx=True)

    def finish(self, domain: str, status: str, worker: str) -> bool:
        """Record the domain's outcome; False when another worker had already finished it."""
        keys = [self.keys["done"], self.keys["leases"], self.keys["owner"], self.keys["stats"],
                PREFIX + "worker:" + worker]
        return bool(self._done(keys=keys, args=[domain, status, time.time()]))

    def is_done(self, domain: str) -> bool:
        return bool(self.server.hexists(self.keys["done"], domain))

    def heartbeat(self, worker: str) -> None:
        self.server.hset(self.keys["workers"], worker, time.time())

    def remaining(self) -> tuple[int, int]:
        """(queued, in flight): a worker stops when both are 0 (leases of others may still come back)."""
        pipe = self.server.pipeline(transaction=False)
        pipe.llen(self.keys["queue"])
        pipe.zcard(self.keys["leases"])
        queued, leased = pipe.execute()
        return int(queued), int(leased)

    # -- the whole crawl -------------------------------------------------------------------------------------
    def status(self, recent: float = 60.0) -> FrontierStatus:
        queued, in_flight = self.remaining()
        counts = {_text(k): int(v) for k, v in self.server.hgetall(self.keys["stats"]).items()}
        owners: dict[str, int] = {}
        for worker in self.server.hvals(self.keys["owner"]) if in_flight < 100_000 else []:
            owners[_text(worker)] = owners.get(_text(worker), 0) + 1
        now, rate, workers = time.time(), 0.0, {}
        for name, beat in self.server.hgetall(self.keys["workers"]).items():
            name = _text(name)
            stats = {_text(k): _text(v) for k, v in self.server.hgetall(PREFIX + "worker:" + name).items()}
            done = sum(int(stats.get(s, 0)) for s in ("ok", "no_logo", "failed"))
            first, last = float(stats.get("first", 0) or 0), float(stats.get("last", 0) or 0)
            worker_rate = (done - 1) / (last - first) if done > 1 and last > first else 0.0
            alive = now - float(beat) < recent
            rate += worker_rate if alive else 0.0
            workers[name] = {"done": done, "failed": int(stats.get("failed", 0)), "in_flight": owners.get(name, 0),
                             "rate": round(worker_rate, 2), "last_seen_s": round(now - float(beat), 1),
                             "alive": alive}
        return FrontierStatus(self.id(), queued, in_flight, int(self.server.hlen(self.keys["done"])), counts,
                              workers, rate)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
