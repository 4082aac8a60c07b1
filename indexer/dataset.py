"""Reading logos for the indexer: a dataset of (domain, tensor | error) and a collate that keeps them paired."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from indexer.features import features
from indexer.preprocess import load_logo, preprocess_with_phash


@dataclass
class Loaded:
    """One domain's outcome: a tensor and its facts, or a failure reason. Never separated from its domain."""

    domain: str
    tensor: torch.Tensor | None = None
    phash: str | None = None
    features: dict | None = None  # indexer.features: near-duplicate evidence for the payload
    size: tuple[int, int] | None = None
    reason: str | None = None


def read_one(domain: str, path: Path) -> Loaded:
    """Decode and preprocess one logo; any failure becomes a reason string."""
    try:
        image = load_logo(path)
        tensor, phash = preprocess_with_phash(image)
        evidence = features(image).payload()
    except FileNotFoundError:
        return Loaded(domain, reason="file_missing")
    except UnidentifiedImageError:
        return Loaded(domain, reason="not_an_image")
    except Image.DecompressionBombError:
        return Loaded(domain, reason="image_too_large")
    except (OSError, SyntaxError, ValueError) as exc:  # truncated / corrupt data (Pillow raises all three)
        return Loaded(domain, reason=f"decode_failed: {exc.__class__.__name__}: {str(exc)[:80]}")
    return Loaded(domain, tensor=tensor, phash=phash, features=evidence, size=image.size)


class LogoDataset(torch.utils.data.Dataset):
    """Items are (domain, absolute path); item i is always that domain, whatever happens to others."""

    def __init__(self, items: list[tuple[str, Path]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Loaded:
        domain, path = self.items[index]
        return read_one(domain, path)


@dataclass
class Batch:
    """Decoded domains with their stacked uint8 pixels (row i belongs to domains[i]) and the failed ones.

    Normalisation happens on the model's device (``Embedder.embed_tensors``): workers and the pinned-memory
    thread move 150 kB a logo instead of 600 kB.
    """

    domains: list[str] = field(default_factory=list)
    tensors: torch.Tensor = field(default_factory=lambda: torch.empty(0, 3, 224, 224, dtype=torch.uint8))
    phashes: list[str] = field(default_factory=list)
    features: list[dict] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.domains) + len(self.failures)

    def pin_memory(self) -> Batch:
        """Called by the DataLoader when pin_memory=True (GPU): faster, asynchronous host-to-device copies."""
        self.tensors = self.tensors.pin_memory()
        return self


def collate(items: list[Loaded]) -> Batch:
    """Split successes from failures while keeping each tensor beside its own domain."""
    good = [item for item in items if item.tensor is not None]
    batch = Batch(failures=[(item.domain, item.reason or "unknown") for item in items if item.tensor is None])
    if good:
        batch.domains = [item.domain for item in good]
        batch.tensors = torch.stack([item.tensor for item in good])  # type: ignore[misc]
        batch.phashes = [item.phash or "" for item in good]
        batch.features = [item.features or {} for item in good]
        batch.sizes = [item.size or (0, 0) for item in good]
    return batch
