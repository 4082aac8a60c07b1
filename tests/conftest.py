"""Shared test fixtures: where the shared real corpus lives (tests skip cleanly without it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixtureweb.redisserver import RedisServer

# Tests never reach beyond 127.0.0.1: no weight downloads, no probe of the weights host.
os.environ["LOGOSIM_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture(scope="module")
def redis_server():
    """A throw-away redis-server on loopback for the module (the frontier's tests); skipped without one."""
    try:
        with RedisServer() as server:
            yield server
    except FileNotFoundError as exc:
        pytest.skip(f"{exc}; .ci/run installs it")
