"""`logosim demo`: serve the generated demo web on 127.0.0.1 and run the whole pipeline on it, offline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from common.config import Config
from common.errors import LogosimError
from fixtureweb.web import FixtureWeb
from indexer.weights import Weights
from pipeline import stages
from pipeline.stages import IndexOptions, Reporter

if TYPE_CHECKING:
    from search.cluster import ClusterResult
    from search.similar import SimilarResult


@dataclass
class DemoResult:
    result: ClusterResult
    report: str
    weights: str
    sample: SimilarResult | None  # the largest group's first domain's neighbours

    def to_dict(self) -> dict[str, Any]:
        return {"clusters": self.result.clusters(), "report": self.report, "weights": self.weights,
                "sample_similar": self.sample.to_dict() if self.sample else None}


def demo_weights(requested: str, reporter: Reporter) -> str:
    """ImageNet ResNet50 weights when they are already on disk (the demo never downloads), else EfficientNet-
    Lite0's, which a package ships (trained, offline), else seeded random ones, each said in one line."""
    if requested != "imagenet":
        return requested
    chosen, fallback = Weights.parse("imagenet", offline=True).available()
    try:
        chosen.load()
    except LogosimError as exc:
        reporter.note(f"no pretrained weights available offline ({exc}).\n"
                      "The demo uses --weights random: the pipeline runs end to end, but the "
                      "embedding tier abstains; identical and near-identical logos still group.")
        return "random"
    if fallback:
        reporter.note(fallback)
    return str(chosen)


def run_demo(config: Config, *, weights: str = "imagenet", device: str = "auto",
             reporter: Reporter = stages.SILENT) -> DemoResult:
    """Crawl the demo web through the real spider (through its proxy), index, cluster; then ask one
    `similar` question."""
    chosen = demo_weights(weights, reporter)
    with FixtureWeb(demo=True) as web:
        reporter.note(f"demo web: {len(web.truth)} sites served on 127.0.0.1:{web.port} (through a local proxy)")
        config = config.but(proxy=web.proxy_url, offline=True)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        domains = web.write_domains(config.data_dir / "demo-domains.csv")
        result, report = stages.run(config, domains, index_options=IndexOptions(weights=chosen, device=device),
                                    reporter=reporter)
    sample = None
    if result.groups:
        largest = max(result.groups.values(), key=len)  # its neighbours should be its own family
        sample = stages.similar(config, largest[0], top=5, device=device, weights_value=chosen)
    return DemoResult(result=result, report=str(report), weights=chosen, sample=sample)
