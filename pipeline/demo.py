"""`logosim demo`: serve the generated demo web on 127.0.0.1 and run the whole pipeline on it, offline."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

from common.datadir import DataDir
from common.errors import LogosimError
from fixtureweb.web import FixtureWeb


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Scrapy's proxy middleware reads http_proxy/https_proxy from the environment when the crawl starts."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def demo_weights(requested: str, console: Console) -> str:
    """ImageNet weights when they are already on disk (the demo never downloads), else seeded random ones."""
    if requested != "imagenet":
        return requested
    from indexer.model import load_model

    with _environ({"LOGOSIM_OFFLINE": "1"}):
        try:
            load_model("imagenet")
            return "imagenet"
        except LogosimError as exc:
            console.print(f"[yellow]no pretrained weights available offline[/] ({exc}).\n"
                          "[yellow bold]The demo uses --weights random: the pipeline runs end to end, but the "
                          "embedding tier groups by chance; identical and near-identical logos still group.[/]")
            return "random"


def run_demo(data: DataDir, *, weights: str = "imagenet", device: str = "auto",
             pipeline: Callable[..., tuple[Any, Any]], console: Console) -> dict[str, Any]:
    """Crawl the demo web through the real spider, index, cluster; then ask one `similar` question."""
    from search.similar import similar as similar_query

    chosen = demo_weights(weights, console)
    with FixtureWeb(demo=True) as web, _environ(web.proxy_env()):
        console.print(f"demo web: {len(web.truth)} sites served on 127.0.0.1:{web.port} (through a local proxy)")
        data.root.mkdir(parents=True, exist_ok=True)
        domains = web.write_domains(data.root / "demo-domains.csv")
        result, report = pipeline(domains, data, weights=chosen, device=device)
    sample = _sample_similar(result, data, chosen, device, similar_query)
    return {"result": result, "report": str(report), "weights": chosen, "sample": sample,
            "clusters": {str(k): v for k, v in sorted(result.groups.items())}, "outliers": result.outliers}


def _sample_similar(result: Any, data: DataDir, weights: str, device: str, query: Callable[..., Any]) -> Any:
    """The largest group's first domain: its neighbours should be its own family."""
    from indexer.model import Embedder
    from indexer.store import LogoStore, StoreConfig

    if not result.groups:
        return None
    largest = max(result.groups.values(), key=len)
    with LogoStore(StoreConfig.resolve(data.root)) as store:
        return query(largest[0], store, top=5, data_dir=data,
                     embedder_factory=lambda stored: Embedder(weights=weights, device=device))
