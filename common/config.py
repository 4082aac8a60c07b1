"""The one configuration object: built from the command line and the environment here, and nowhere else.

Everything below the CLI takes its settings as values (this object, or the fields it hands on); no other module
reads or writes ``os.environ`` (Scrapy's own settings module excepted, for ``scrapy crawl``).

    variable               field             meaning
    LOGOSIM_DATA_DIR       data_dir          the data folder (default ./data)
    QDRANT_URL             qdrant_url        a Qdrant server; embedded Qdrant under data_dir/qdrant when unset
    QDRANT_API_KEY         qdrant_api_key    its API key (needs a URL)
    LOGOSIM_EMBEDDED       embedded          embedded backend: edge (default) or local (qdrant-client's local mode)
    LOGOSIM_OFFLINE        offline           1: never download model weights (air-gapped machines, tests)
    LOGOSIM_LOG_LEVEL      log_level         Scrapy's log level under `logosim crawl` (default WARNING)
    LOGOSIM_USER_AGENT     user_agent        the crawler's User-Agent
    LOGOSIM_INDEX_WORKERS  index_workers     processes decoding logos beside the model
    LOGOSIM_ALLOW_PRIVATE_ADDRESSES  allow_private_addresses  1: intranet crawls may reach private addresses
    LOGOSIM_FRONTIER       frontier          redis://HOST:PORT/DB: crawl as one worker of a shared frontier
    LOGOSIM_PROXY          proxy             a forward proxy for every request of the crawl and of `similar URL`
    LOGOSIM_READ_TEXT      read_text         0: grouping reads no logo's words (OCR; on by default)
    LOGOSIM_CRAWL_PROCESSES  crawl_processes  crawl processes on this machine (default: one per core)
    LOGOSIM_BROWSER        browser           auto (default): script-built pages read in headless Chromium; never; always

It is read when a command starts (``from_env``), never when a module is imported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from common.errors import LogosimError

DEFAULT_DATA_DIR = Path("data")
DEFAULT_COLLECTION = "logos"
BROWSER_MODES = ("auto", "never", "always")  # the crawl's browser pass (crawler.browser)
ENV = {
    "data_dir": "LOGOSIM_DATA_DIR",
    "qdrant_url": "QDRANT_URL",
    "qdrant_api_key": "QDRANT_API_KEY",
    "embedded": "LOGOSIM_EMBEDDED",
    "offline": "LOGOSIM_OFFLINE",
    "log_level": "LOGOSIM_LOG_LEVEL",
    "user_agent": "LOGOSIM_USER_AGENT",
    "index_workers": "LOGOSIM_INDEX_WORKERS",
    "allow_private_addresses": "LOGOSIM_ALLOW_PRIVATE_ADDRESSES",
    "frontier": "LOGOSIM_FRONTIER",
    "proxy": "LOGOSIM_PROXY",
    "read_text": "LOGOSIM_READ_TEXT",
    "crawl_processes": "LOGOSIM_CRAWL_PROCESSES",
    "browser": "LOGOSIM_BROWSER",
}


@dataclass(frozen=True)
class Config:
    data_dir: Path = DEFAULT_DATA_DIR
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    collection: str = DEFAULT_COLLECTION
    embedded: str = "edge"
    offline: bool = False
    log_level: str = "WARNING"
    user_agent: str | None = None
    index_workers: int | None = None
    allow_private_addresses: bool = False  # off by default: no request to loopback/private/link-local...
    frontier: str | None = None  # a shared Redis frontier (crawler/frontier.py); one local list when unset
    proxy: str | None = None  # a forward proxy for the crawl and `similar URL` (the demo's web, a corporate proxy)
    # grouping reads the words of the logos of undecided pairs (search.textcheck: ~3 logos/s of OCR, once a logo)
    read_text: bool = True
    # crawl processes on this machine (crawler.processes); None: one per core the process may use
    crawl_processes: int | None = None
    browser: str = "auto"  # the crawl's browser pass (crawler.browser): auto, never or always

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """The environment's values, then ``overrides`` (the command line); an override of None keeps the
        environment's value, so an option left unset never hides its variable."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, variable in ENV.items():
            raw = environ.get(variable, "").strip()
            if raw:
                values[name] = _parse(name, variable, raw)
        values.update({key: value for key, value in overrides.items() if value is not None})
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise TypeError(f"unknown configuration fields: {', '.join(sorted(unknown))}")
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"]).expanduser()
        return cls(**values)

    def but(self, **changes: Any) -> Config:
        """A copy with some fields changed (None values ignored, as in ``from_env``)."""
        return replace(self, **{key: value for key, value in changes.items() if value is not None})


def _parse(name: str, variable: str, raw: str) -> Any:
    if name in ("offline", "allow_private_addresses"):
        return raw.lower() in ("1", "true", "yes", "on")
    if name == "browser":
        if raw.lower() not in BROWSER_MODES:
            raise LogosimError(f"{variable}={raw!r}: use {', '.join(BROWSER_MODES)}")
        return raw.lower()
    if name == "read_text":
        return raw.lower() not in ("0", "false", "no", "off")
    if name in ("index_workers", "crawl_processes"):
        try:
            value = int(raw)
        except ValueError:
            raise LogosimError(f"{variable}={raw!r} is not a number of processes") from None
        least = 0 if name == "index_workers" else 1
        if value < least:
            raise LogosimError(f"{variable}={raw!r} must be {least} or more")
        return value
    return raw
