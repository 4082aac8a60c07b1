"""The README's curl calls, run as written against a Qdrant server (only when QDRANT_URL is set)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest

from indexer.store import LogoStore, StoreConfig

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not os.environ.get("QDRANT_URL") or not shutil.which("curl"),
                                reason="needs a Qdrant server (QDRANT_URL) and curl")


def readme_http_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Over HTTP", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_readme_curl_calls_answer_as_documented(tmp_path) -> None:
    collection = f"logos_test_{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(0)
    base = rng.normal(size=2048)
    points = []
    for i, domain in enumerate(["example.com", "example.org", "other.net"]):
        vector = base + rng.normal(scale=0.1 if i < 2 else 5.0, size=2048)
        points.append(({"domain": domain, "sha256": f"s{i}", "model": "resnet50/random-seed0"},
                       vector / np.linalg.norm(vector)))
    config = StoreConfig.resolve(tmp_path, url=os.environ["QDRANT_URL"], collection=collection,
                                 api_key=os.environ.get("QDRANT_API_KEY"))
    with LogoStore(config) as store:
        store.ensure_collection()
        store.upsert(points)
        store.set_payload(["example.com", "example.org"], {"cluster": 3})
        store.set_payload(["other.net"], {"cluster": -1})
        try:
            script = readme_http_block().replace("/collections/logos/", f"/collections/{collection}/")
            lines = [line for line in script.splitlines() if line.strip()]
            answers = []
            for command in _commands(lines):
                proc = subprocess.run(["bash", "-c", "\n".join(lines[:2]) + "\n" + command], capture_output=True,
                                      text=True, env=os.environ, timeout=60)
                assert proc.returncode == 0, proc.stderr
                answers.append(json.loads(proc.stdout)["result"])
        finally:
            store.backend.drop()
    record, neighbours, group, by_domain = answers
    assert record["payload"]["domain"] == "example.com"
    assert [p["payload"]["domain"] for p in neighbours["points"]][0] == "example.org"
    assert "example.com" not in [p["payload"]["domain"] for p in neighbours["points"]]
    assert sorted(p["payload"]["domain"] for p in group["points"]) == ["example.com", "example.org"]
    assert [p["payload"]["domain"] for p in by_domain["points"]] == ["example.com"]


def _commands(lines: list[str]) -> list[str]:
    """Each curl call with its continuation lines (comments and the two variable lines left out)."""
    commands, current = [], ""
    for line in lines[2:]:
        if line.startswith("#"):
            continue
        current += line.rstrip("\\") + " "
        if not line.endswith("\\"):
            commands.append(current)
            current = ""
    return commands
