"""The embedder: ResNet50's pooled 2048-d features, L2-normalised, with device-appropriate precision."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from PIL import Image

from crawler.errors import LogosimError
from indexer.preprocess import normalise, preprocess

log = logging.getLogger(__name__)

DIM = 2048
RANDOM_SEED = 0
GPU_BATCH = 256
CPU_BATCH = 16
# Set to 1 to never try a download (air-gapped machines, tests): a missing cache file fails at once.
OFFLINE_ENV = "LOGOSIM_OFFLINE"
CONNECT_TIMEOUT_S = 3.0
OFFLINE_HINT = "pass a local ResNet50 state dict with --weights PATH, or --weights random (tests only)"


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA when present, else CPU; asking for CUDA without one is a one-line error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, ValueError):
        raise LogosimError(f"unknown device '{device}': use auto, cpu or cuda[:N]") from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise LogosimError(f"device '{device}' requested but no CUDA GPU is available; use --device cpu")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise LogosimError(f"device '{device}' does not exist: {torch.cuda.device_count()} CUDA GPU(s)")
    elif chosen.type != "cpu":
        raise LogosimError(f"unsupported device '{device}': use auto, cpu or cuda[:N]")
    return chosen


def device_label(device: torch.device) -> str:
    """'cpu' or 'cuda:0 (NVIDIA H200)': what summaries and benchmarks print."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return "cpu"


def cpu_has_bf16() -> bool:
    """Native bf16 matmul on this CPU (AVX512-BF16 or AMX); emulated bf16 is several times slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        flags = ""
    native = any(flag in flags for flag in (" avx512_bf16", " amx_bf16"))
    try:
        onednn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn = False
    return native and onednn


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for this device, or None for plain fp32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if precision != "auto":
        raise LogosimError(f"unknown precision '{precision}': use auto, fp32, bf16 or fp16")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_bf16() else None


# -- weights ----------------------------------------------------------------------------------------
def _build() -> torch.nn.Module:
    from torchvision.models import resnet50

    model = resnet50(weights=None)
    model.fc = torch.nn.Identity()  # the penultimate, globally average-pooled 2048-d features
    return model


def _imagenet_state() -> dict[str, torch.Tensor]:
    """torchvision's ImageNet V2 weights from the torch cache, downloading once if the network allows."""
    from torchvision.models import ResNet50_Weights

    weights = ResNet50_Weights.IMAGENET1K_V2
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)
    if cached.is_file():
        return torch.load(cached, map_location="cpu", weights_only=True)
    if os.environ.get(OFFLINE_ENV) == "1":
        raise LogosimError(f"ImageNet weights are not cached at {cached} and {OFFLINE_ENV}=1; {OFFLINE_HINT}")
    _probe(weights.url, cached)
    try:
        return weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
    except Exception as exc:
        raise LogosimError(f"cannot download ImageNet weights from {weights.url} ({exc.__class__.__name__}: "
                           f"{str(exc)[:120]}); {OFFLINE_HINT}") from None


def _probe(url: str, cached: Path) -> None:
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_model(weights: str) -> tuple[torch.nn.Module, str]:
    """The model on CPU in eval mode and its name (stored with every vector)."""
    if weights == "random":
        log.warning("USING RANDOM WEIGHTS (seed %d): embeddings are meaningless, fit only for tests", RANDOM_SEED)
        with torch.random.fork_rng(devices=[]):  # seeded, without resetting the caller's global RNG
            torch.manual_seed(RANDOM_SEED)
            model = _build()
        return model.eval(), f"resnet50/random-seed{RANDOM_SEED}"
    model = _build()
    if weights == "imagenet":
        state, name = _imagenet_state(), "resnet50/imagenet-v2"
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    else:
        path = Path(weights).expanduser()
        state, name = _file_state(path), f"resnet50/file:{_sha256(path)[:12]}"
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise LogosimError(f"weights {weights} do not fit ResNet50: {str(exc).splitlines()[0][:200]}") from None
    return model.eval(), name


class Embedder:
    """ResNet50 features for batches of preprocessed logos; built explicitly, never at import time."""

    dim: int = DIM

    def __init__(self, weights: str = "imagenet", device: str = "auto", batch_size: int | None = None,
                 *, precision: str = "auto") -> None:
        self.device = resolve_device(device)
        self.amp_dtype = autocast_dtype(self.device, precision)
        if self.device.type == "cuda":
            # Every batch but the last has one shape: let cuDNN time its algorithms once and keep the fastest.
            torch.backends.cudnn.benchmark = True
        model, self.name = load_model(weights)
        self.model = model.to(self.device, memory_format=torch.channels_last)
        self.batch_size = batch_size or (GPU_BATCH if self.device.type == "cuda" else CPU_BATCH)

    @property
    def device_label(self) -> str:
        return device_label(self.device)

    @property
    def precision(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]

    def embed_tensors(self, batch: torch.Tensor) -> np.ndarray:
        """(N, 3, 224, 224) -> (N, 2048) float32, each row of unit length.

        ``batch`` is either uint8 pixels (``preprocess_pixels``; normalised here, on the device) or float32
        already normalised (``preprocess``): the same numbers reach the model either way.
        """
        if batch.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        inputs = batch.to(self.device, non_blocking=True)
        if inputs.dtype == torch.uint8:
            inputs = normalise(inputs)
        inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=self.amp_dtype or torch.bfloat16,
                                                    enabled=self.amp_dtype is not None):
            features = self.model(inputs).float()
        features = torch.nn.functional.normalize(features, dim=1)
        return features.cpu().numpy()

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Same preprocessing as the indexer, in chunks of ``batch_size``."""
        chunks = []
        for start in range(0, len(images), self.batch_size):
            tensors = [preprocess(image) for image in images[start:start + self.batch_size]]
            chunks.append(self.embed_tensors(torch.stack(tensors)))
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), dtype=np.float32)
