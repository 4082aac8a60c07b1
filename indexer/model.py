"""The embedder: ResNet50's pooled 2048-d features (EfficientNet-Lite0's 1280-d where ResNet50's weights cannot
be had: indexer.weights), L2-normalised, with device-appropriate precision."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common.errors import LogosimError
from indexer.preprocess import normalise, preprocess
from indexer.weights import Weights

GPU_BATCH = 256
CPU_BATCH = 16


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


class Embedder:
    """The model's features for batches of preprocessed logos; built explicitly, never at import time."""

    def __init__(self, weights: Weights | str = "imagenet", device: str = "auto", batch_size: int | None = None,
                 *, precision: str = "auto") -> None:
        self.device = resolve_device(device)
        self.amp_dtype = autocast_dtype(self.device, precision)
        if self.device.type == "cuda":
            # Every batch but the last has one shape: let cuDNN time its algorithms once and keep the fastest.
            torch.backends.cudnn.benchmark = True
        self.weights = Weights.parse(weights)
        self.name = self.weights.model_id  # stored with every vector
        self.vector_name, self.dim = self.weights.vector
        self.model = self.weights.load().to(self.device, memory_format=torch.channels_last)
        self.batch_size = batch_size or (GPU_BATCH if self.device.type == "cuda" else CPU_BATCH)

    @property
    def device_label(self) -> str:
        return device_label(self.device)

    @property
    def precision(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]

    def embed_tensors(self, batch: torch.Tensor) -> np.ndarray:
        """(N, 3, 224, 224) -> (N, dim) float32, each row of unit length.

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
