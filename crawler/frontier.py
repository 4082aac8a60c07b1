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
- A finished domain is *committed* before its record is written: the worker's lease moves atomically into
  ``committing`` (a sorted set, domain -> commit time) only if that worker still owns it; a worker whose lease
  expired (and went to another worker) is refused and drops its result, writing nothing. Then the record is
  fsync'd, then ``finish`` moves the domain to ``done``. A committing entry is never re-leased on lease
  expiry: a worker restarted on its folder (the folder's worker identity is kept in its ``state.json``)
  reconciles its committing entries -- in its manifest: done; not: back to the queue -- and puts its
  predecessor's leases back at once. So no two live workers both complete a domain, and a kill between the
  record and ``finish`` costs nothing. A committing entry whose worker never comes back goes back to the
  queue after LOGOSIM_FRONTIER_GRACE (the record, if it was written, was lost with its machine, or is
  merged later as a second record of that domain: with a worker stalled between its record and ``finish``
  for longer than the grace, the one case left where a domain is completed twice).
- RedisSpider feeds a batch only when the spider is idle (its own TODO: "while there is capacity"), so a
  worker would drain to zero before refilling. Here the spider's ``start()`` pulls a batch whenever Scrapy
  asks for more start requests (that is, while the downloader has room).

Keys, all under ``logosim:`` in the URL's database: ``id`` (the frontier's id, made at the first load),
``seen`` (set: every domain ever queued), ``queue`` (list), ``leases`` (zset), ``committing`` (zset),
``owner`` (hash domain -> worker, for leased and committing domains), ``done`` (hash domain -> status),
``stats`` (hash: ok/no_logo/failed/duplicate), ``worker:<name>`` (hash: counts, first and last completion) and
``workers`` (hash name -> last heartbeat).
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from common.errors import LogosimError

PREFIX = "logosim:"
UNREACHABLE_REASON = "frontier_unreachable"  # a worker's finish_reason when it refused (crawler.runner raises it)
LOST_REASON = "frontier_lost"  # a worker's finish_reason when Redis went away mid-crawl (the same)
INTAKE_REASON = "frontier_intake_failed"  # a worker's finish_reason when taking work from Redis broke (the same)
NOT_A_DOMAIN = "not_a_domain"  # why a queued entry that is no normalised domain was failed (Frontier.reject)
# A kill must not hang a worker or a CLI: connecting takes at most CONNECT_TIMEOUT seconds, a command
# SOCKET_TIMEOUT (loopback answers in well under a millisecond; a LAN in a few).
CONNECT_TIMEOUT, SOCKET_TIMEOUT = 3.0, 10.0
# A refused or reset connection is tried RETRIES more times, 0.2 + 0.4 + 0.8 s apart (a Redis that is restarting
# or failing over for longer than that stops the worker: it says so in one line and its next start
# reconciles); a timeout is not retried: it has waited long enough. redis-py's own default (10 retries, and
# timeouts too) made one command to a black-holed server wait over a minute.
RETRIES, RETRY_BASE = 3, 0.1
# Seconds a committing entry of a worker that never comes back waits before it is crawled again (the setting
# LOGOSIM_FRONTIER_GRACE). Long enough for that worker to come back on its folder and reconcile: a supervisor
# restarts a process in seconds (systemd) to 5 minutes (Kubernetes' crash back-off cap), a cloud VM reboots in
# 1-3 minutes; short enough that the crawl's tail does not wait long for the few domains (at most
# CONCURRENT_ITEMS a worker) of a machine that is gone for good.
GRACE = 600.0

# Expired leases, and committing entries older than the grace (ARGV[5] s), back to the queue's head (unless
# done); then pop up to ARGV[3] domains and lease them.
_TAKE = """
local now, deadline, n, worker = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local function back(zset, upto)
  for _, d in ipairs(redis.call('ZRANGEBYSCORE', zset, '-inf', upto, 'LIMIT', 0, 1000)) do
    redis.call('ZREM', zset, d)
    redis.call('HDEL', KEYS[3], d)
    if redis.call('HEXISTS', KEYS[4], d) == 0 then redis.call('LPUSH', KEYS[1], d) end
  end
end
back(KEYS[2], now)
back(KEYS[5], now - tonumber(ARGV[5]))
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

# The lease becomes a committing entry only if this worker (ARGV[2]) still owns it. Returns 1 / 0.
_COMMIT = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] or redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
"""

# This worker's leased and committing domains (a replacement reconciles them): {leased}, {committing}.
_HELD = """
local leased, committing = {}, {}
local owners = redis.call('HGETALL', KEYS[1])
for i = 1, #owners, 2 do
  if owners[i + 1] == ARGV[1] then
    if redis.call('ZSCORE', KEYS[2], owners[i]) then committing[#committing + 1] = owners[i]
    else leased[#leased + 1] = owners[i] end
  end
end
return {leased, committing}
"""

# Domains this worker (ARGV[1]) still owns (ARGV[2..]) back to the queue's head unless done. Returns the count.
_RELEASE = """
local released = 0
for i = 2, #ARGV do
  local d = ARGV[i]
  if redis.call('HGET', KEYS[1], d) == ARGV[1] then
    redis.call('HDEL', KEYS[1], d)
    redis.call('ZREM', KEYS[2], d)
    redis.call('ZREM', KEYS[3], d)
    if redis.call('HEXISTS', KEYS[4], d) == 0 then
      redis.call('LPUSH', KEYS[5], d)
      released = released + 1
    end
  end
end
return released
"""

# First completion wins: record it and count it; a second one is counted as a duplicate. Returns 1 / 0.
_DONE = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
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
    """A new data folder's worker identity (kept in its state.json: a replacement on that folder is the same
    worker): the host, and a random part (two folders on one host are two workers)."""
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


def redact(url: str) -> str:
    """The URL without its password, for logs and state.json."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def redis_settings(url: str) -> dict[str, Any]:
    """The Scrapy settings scrapy-redis's connection reads, with timeouts and few retries, so that a dead server
    is one error within seconds."""
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.retry import Retry

    retry = Retry(ExponentialBackoff(cap=1.0, base=RETRY_BASE), RETRIES, supported_errors=(RedisConnectionError,))
    return {"REDIS_URL": url, "REDIS_PARAMS": {"socket_connect_timeout": CONNECT_TIMEOUT,
                                               "socket_timeout": SOCKET_TIMEOUT, "retry_on_timeout": False,
                                               "retry": retry}}


@dataclass
class FrontierStatus:
    url: str  # without its password (redact)
    id: str | None
    queued: int
    in_flight: int
    done: int
    counts: dict[str, int]
    workers: dict[str, dict[str, Any]]
    rate: float  # domains/s over the workers' recent completions
    committing: int = 0  # of in_flight: records being written (or of a gone worker, until the grace ends)
    rejected: int = 0  # of the failed: queued entries that were no domain (Frontier.reject)

    def to_dict(self) -> dict[str, Any]:
        return {"frontier": self.url, "id": self.id, "queued": self.queued, "in_flight": self.in_flight, "done": self.done,
                "failed": self.counts.get("failed", 0), "ok": self.counts.get("ok", 0),
                "no_logo": self.counts.get("no_logo", 0), "duplicate": self.counts.get("duplicate", 0),
                "committing": self.committing, "rejected": self.rejected, "rate": round(self.rate, 2),
                "workers": self.workers}


class Frontier:
    """One Redis database holding one crawl's frontier."""

    def __init__(self, server: Any, url: str = "") -> None:
        self.server = server
        self.url = url
        self.keys = {name: PREFIX + name for name in
                     ("id", "seen", "queue", "leases", "committing", "owner", "done", "stats", "workers",
                      "rejected")}
        self._take = server.register_script(_TAKE)
        self._commit = server.register_script(_COMMIT)
        self._held = server.register_script(_HELD)
        self._release = server.register_script(_RELEASE)
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
    def take(self, worker: str, count: int, lease: float, grace: float = GRACE) -> list[str]:
        """Lease up to ``count`` domains to ``worker``; first, expired leases and committing entries older than
        ``grace`` go back to the queue's head."""
        now = time.time()
        keys = [self.keys["queue"], self.keys["leases"], self.keys["owner"], self.keys["done"],
                self.keys["committing"]]
        # an entry that is not UTF-8 keeps its bytes (surrogate escapes): it is no domain, and reject() fails it
        return [d.decode("utf-8", "surrogateescape") if isinstance(d, bytes) else str(d)
                for d in self._take(keys=keys, args=[now, now + lease, count, worker, grace])]

    def renew(self, domains: Iterable[str], lease: float) -> None:
        """Push the deadline of leases this worker still holds (XX: a lease already expired stays gone)."""
        deadline = time.time() + lease
        mapping = {domain: deadline for domain in domains}
        if mapping:
            self.server.zadd(self.keys["leases"], mapping, xx=True)

    def commit(self, domain: str, worker: str) -> bool:
        """Before the domain's record is written: its lease becomes a committing entry, which no lease expiry
        gives to another worker. False when ``worker`` no longer owns it (its lease expired and the domain went
        back to the queue or to another worker): then its result must be dropped."""
        keys = [self.keys["leases"], self.keys["owner"], self.keys["committing"], self.keys["done"]]
        return bool(self._commit(keys=keys, args=[domain, worker, time.time()]))

    def finish(self, domain: str, status: str, worker: str) -> bool:
        """Record the domain's outcome; False when another worker had already finished it."""
        keys = [self.keys["done"], self.keys["leases"], self.keys["owner"], self.keys["stats"],
                PREFIX + "worker:" + worker, self.keys["committing"]]
        return bool(self._done(keys=keys, args=[domain, status, time.time()]))

    def reject(self, entry: str, reason: str, worker: str) -> None:
        """An entry taken from the queue that is not a normalised domain (whoever can write to this Redis wrote
        it): done as failed, its reason kept in the ``rejected`` hash, never crawled."""
        raw = entry.encode("utf-8", "surrogateescape")  # the entry as it is stored, whatever its bytes
        keys = [self.keys["done"], self.keys["leases"], self.keys["owner"], self.keys["stats"],
                PREFIX + "worker:" + worker, self.keys["committing"]]
        self._done(keys=keys, args=[raw, "failed", time.time()])
        self.server.hset(self.keys["rejected"], raw[:1000], reason)

    def reconcile(self, worker: str, recorded: dict[str, str]) -> tuple[int, int]:
        """A worker (re)starting on its folder: its committing domains that the folder records (``recorded``,
        domain -> status) are done; every other domain it still holds, committing or leased by its
        predecessor, goes back to the queue now. Returns (done, released)."""
        leased, committing = ([_text(d) for d in part] for part in
                              self._held(keys=[self.keys["owner"], self.keys["committing"]], args=[worker]))
        finished = [d for d in committing if d in recorded]
        for domain in finished:
            self.finish(domain, recorded[domain], worker)
        back = [d for d in (*leased, *committing) if d not in recorded]
        keys = [self.keys["owner"], self.keys["leases"], self.keys["committing"], self.keys["done"],
                self.keys["queue"]]
        released = int(self._release(keys=keys, args=[worker, *back])) if back else 0
        return len(finished), released

    def is_done(self, domain: str) -> bool:
        return bool(self.server.hexists(self.keys["done"], domain))

    def heartbeat(self, worker: str) -> None:
        self.server.hset(self.keys["workers"], worker, time.time())

    def remaining(self) -> tuple[int, int]:
        """(queued, in flight: leased or committing): a worker stops when both are 0 (leases of others, and
        committing entries of gone workers after the grace, may still come back)."""
        queued, leased, committing = self._counts()
        return queued, leased + committing

    def _counts(self) -> tuple[int, int, int]:
        pipe = self.server.pipeline(transaction=False)
        pipe.llen(self.keys["queue"])
        pipe.zcard(self.keys["leases"])
        pipe.zcard(self.keys["committing"])
        queued, leased, committing = pipe.execute()
        return int(queued), int(leased), int(committing)

    # -- the whole crawl -------------------------------------------------------------------------------------
    def status(self, recent: float = 60.0) -> FrontierStatus:
        queued, leased, committing = self._counts()
        in_flight = leased + committing
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
        return FrontierStatus(redact(self.url), self.id(), queued, in_flight, int(self.server.hlen(self.keys["done"])), counts,
                              workers, rate, committing, int(self.server.hlen(self.keys["rejected"])))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
