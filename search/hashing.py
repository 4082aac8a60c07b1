"""Bit-hash arithmetic for the evidence tiers: popcounts and near pairs by multi-index hashing."""

from __future__ import annotations

import numpy as np

NEAR_CHUNK = 512


def near_pairs(values: np.ndarray, distance: int) -> list[tuple[int, int]]:
    """Index pairs of distinct hashes within ``distance`` bits, by multi-index hashing.

    Split the 64 bits into distance+1 chunks: two hashes within ``distance`` bits agree exactly on at least
    one chunk (pigeonhole), so only hashes sharing a chunk value are compared: near-linear, not n^2.
    """
    if distance <= 0 or len(values) < 2:
        return []
    found: set[tuple[int, int]] = set()
    bounds = np.linspace(0, 64, min(distance + 1, 64) + 1).astype(np.uint64)
    for low, high in zip(bounds[:-1], bounds[1:], strict=True):
        keys = (values >> low) & np.uint64((1 << int(high - low)) - 1)
        order = np.argsort(keys, kind="stable")
        edges = np.flatnonzero(np.diff(keys[order])) + 1
        for bucket in np.split(order, edges):
            if len(bucket) > 1:
                found.update(_close_in_bucket(values, bucket, distance))
    return sorted(found)


def _close_in_bucket(values: np.ndarray, bucket: np.ndarray, distance: int) -> list[tuple[int, int]]:
    pairs = []
    for start in range(0, len(bucket), NEAR_CHUNK):  # row chunks keep a skewed bucket's matrix small
        rows = bucket[start:start + NEAR_CHUNK]
        close = popcount(values[rows][:, None] ^ values[bucket][None, :]) <= distance
        for r, c in zip(*np.nonzero(close), strict=True):
            a, b = int(rows[r]), int(bucket[c])
            if a < b:
                pairs.append((a, b))
    return pairs


def popcount(values: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(values).astype(np.int64)
    as_bytes = values.astype(np.uint64).view(np.uint8).reshape(*values.shape, 8)
    return np.unpackbits(as_bytes, axis=-1).sum(axis=-1).astype(np.int64)
