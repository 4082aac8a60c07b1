"""Bit-hash arithmetic for the evidence tiers: popcounts and near pairs by multi-index hashing."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from math import comb

import numpy as np

BITS = 64
# Cost of sorting one key column, per hash, in units of one candidate comparison (gather, xor, popcount):
# measured on this machine, an argsort of 10^6 uint64 keys takes about as long as 1.6e7 comparisons; numpy's
# radix sort of 16-bit keys about an eighth of that.
SORT_COST = 16
MAX_SHARED = 4  # at most C(distance + 4, 4) key columns (1,001 at 10 bits)


def near_pairs(values: np.ndarray, distance: int) -> list[tuple[int, int]]:
    """Index pairs of distinct hashes within ``distance`` bits, by multi-index hashing (exact).

    Split the 64 bits into m = distance + t chunks: two hashes within ``distance`` bits differ in at most
    ``distance`` chunks, so they agree exactly on at least t of them (pigeonhole). Every t-subset of chunks
    is a key; only hashes sharing a key are compared. t = 1 (keys of ~6 bits at 10 bits' distance) compares
    n^2/64 pairs per key, quadratic at 10^6 hashes; a larger t has more keys, each of more bits, so fewer
    comparisons: t is the one with the least expected work for this n (``_shared_chunks``).
    """
    values = np.asarray(values, dtype=np.uint64)
    if distance <= 0 or len(values) < 2:
        return []
    found_a, found_b = [], []
    for keys in _key_columns(values, distance):
        a, b = _close_sharing(values, keys, distance)
        found_a.append(a)
        found_b.append(b)
    a, b = np.concatenate(found_a), np.concatenate(found_b)
    if not len(a):
        return []
    pairs = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1), axis=0)
    return [(int(x), int(y)) for x, y in pairs]


def _shared_chunks(n: int, distance: int) -> int:
    """The t with the least expected work: C(m, t) keys, each a sort plus n^2 / 2^(bits+1) comparisons."""
    def cost(t: int) -> float:
        m = distance + t
        bits = BITS * t / m
        sort = SORT_COST / 8 if _widest_key(m, t) <= 16 else SORT_COST
        return comb(m, t) * (n * sort + n * n / 2.0 ** (bits + 1))

    choices = [t for t in range(1, MAX_SHARED + 1) if distance + t <= BITS] or [1]
    return min(choices, key=cost)


def _chunks(m: int) -> list[tuple[int, int]]:
    """(shift, width) of m nearly equal chunks of the 64 bits."""
    bounds = np.linspace(0, BITS, m + 1).astype(int)
    return [(int(low), int(high - low)) for low, high in zip(bounds[:-1], bounds[1:], strict=True)]


def _widest_key(m: int, t: int) -> int:
    return sum(sorted((width for _, width in _chunks(m)), reverse=True)[:t])


def _key_columns(values: np.ndarray, distance: int) -> Iterator[np.ndarray]:
    """Each t-subset of the chunks as one compact integer column (uint16 when it fits: radix-sorted)."""
    t = _shared_chunks(len(values), distance)
    m = min(distance + t, BITS)
    chunks = _chunks(m)
    parts = [(values >> np.uint64(shift)) & np.uint64((1 << width) - 1) for shift, width in chunks]
    for subset in combinations(range(m), t):
        key = np.zeros(len(values), dtype=np.uint64)
        used = 0
        for i in subset:
            key |= parts[i] << np.uint64(used)
            used += chunks[i][1]
        yield key.astype(np.uint16) if used <= 16 else key


def _close_sharing(values: np.ndarray, keys: np.ndarray, distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs with equal keys and values within ``distance`` bits: after one sort, each run of equal keys is
    walked by offset (each step one vectorised comparison of every position still inside its run)."""
    order = np.argsort(keys, kind="stable")  # a radix sort for 16-bit keys
    ordered, sorted_values = keys[order], values[order]
    active = np.flatnonzero(ordered[:-1] == ordered[1:])
    found_a, found_b = [], []
    offset = 1
    while len(active):
        close = active[np.bitwise_count(sorted_values[active] ^ sorted_values[active + offset]) <= distance]
        found_a.append(order[close])
        found_b.append(order[close + offset])
        offset += 1
        active = active[active + offset < len(ordered)]
        active = active[ordered[active] == ordered[active + offset]]
    if not found_a:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(found_a), np.concatenate(found_b)


def popcount(values: np.ndarray) -> np.ndarray:
    return np.bitwise_count(values).astype(np.int64)
