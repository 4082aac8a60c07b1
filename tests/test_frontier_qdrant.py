"""Two frontier workers' folders indexed into one shared Qdrant server collection, then grouped together (only
when QDRANT_URL is set: no server binary here; `docker compose up -d` starts the pinned one)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from helpers_images import BLUE, GREEN, RED, encode, logo
from PIL import Image, ImageDraw

from common.config import Config
from common.datadir import DataDir, update_state
from pipeline import stages

SERVER = os.environ.get("QDRANT_URL")
pytestmark = [pytest.mark.server, pytest.mark.skipif(not SERVER, reason="QDRANT_URL not set")]



def _triangle(colour: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGBA", (120, 40), (0, 0, 0, 0))
    ImageDraw.Draw(image).polygon([(0, 40), (60, 0), (120, 40)], fill=(*colour, 255))
    return image


def _stripes(colour: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGBA", (48, 96), (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    for y in range(0, 96, 16):
        draw.rectangle((0, y, 47, y + 7), fill=(*colour, 255))
    return image


# Each worker's share of one frontier's crawl (domain -> picture): brand-a's file is on a domain of each.
SHARES = {
    "w1": {"brand-a.example": logo(colour=RED), "solo-one.example": _triangle(GREEN)},
    "w2": {"brand-a.org": logo(colour=RED), "solo-two.example": _stripes(BLUE)},
}


def _worker_folder(root: Path, name: str, frontier_id: str) -> Config:
    files = root / f"{name}-files"
    files.mkdir()
    for domain, image in SHARES[name].items():
        (files / f"{domain}.png").write_bytes(encode(image, "PNG"))
    config = Config(data_dir=root / name, qdrant_url=SERVER, qdrant_api_key=os.environ.get("QDRANT_API_KEY"),
                    collection=f"logos_frontier_{uuid.uuid4().hex[:8]}", offline=True)
    stages.import_logos(config, files)
    update_state(DataDir.at(config.data_dir), "frontier", id=frontier_id, worker=f"host-{name}")
    return config


def test_two_workers_index_into_one_collection_and_cluster_sees_both(tmp_path) -> None:
    w1 = _worker_folder(tmp_path, "w1", "f1")
    w2 = _worker_folder(tmp_path, "w2", "f1").but(collection=w1.collection)
    try:
        for config in (w1, w2):  # each worker indexes its own folder into the shared collection
            summary = stages.index(config, stages.IndexOptions(weights="random", device="cpu", batch_size=4))
            assert summary.indexed == len(SHARES[config.data_dir.name])
        result, _ = stages.cluster(w1.but(data_dir=tmp_path / "out"))
        every = {domain for share in SHARES.values() for domain in share}
        assert set(result.labels) == every  # the clustering read both workers' points
        assert sorted(result.groups[result.labels["brand-a.example"]]) == ["brand-a.example", "brand-a.org"]
        assert result.tier["brand-a.org"] == "sha256"
    finally:
        with stages.open_store(w1) as store:
            store.backend.drop()
