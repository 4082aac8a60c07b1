"""The embedder: device choice, weights sources, output shape and norm, bf16 agreement with fp32."""

from __future__ import annotations

import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from common.errors import LogosimError
from indexer.model import Embedder, resolve_device
from indexer.synthetic import draw_logo
from indexer.weights import Weights, build_resnet50

IMAGES = [draw_logo(seed) for seed in (1, 2, 3)]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder("random", "cpu", batch_size=2, precision="fp32")


@pytest.fixture(scope="module")
def vectors(embedder: Embedder) -> np.ndarray:
    return embedder.embed_images(IMAGES)


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(LogosimError, match="unknown device"):
        resolve_device("potato")
    if not torch.cuda.is_available():
        with pytest.raises(LogosimError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_vectors_are_unit_length_2048_float32_and_distinct(embedder: Embedder, vectors: np.ndarray) -> None:
    assert embedder.name == "resnet50/random-seed0" and embedder.dim == 2048
    assert vectors.shape == (3, 2048) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1], atol=1e-4)


def test_random_weights_are_seeded(vectors: np.ndarray) -> None:
    again = Embedder("random", "cpu", batch_size=3, precision="fp32").embed_images(IMAGES)
    assert np.allclose(again, vectors, atol=1e-5)


def test_batching_does_not_change_a_vector(embedder: Embedder, vectors: np.ndarray) -> None:
    alone = embedder.embed_images(IMAGES[2:])
    assert np.allclose(alone[0], vectors[2], atol=1e-5)


def test_pixels_normalised_by_the_embedder_give_the_query_paths_vectors(embedder: Embedder,
                                                                       vectors: np.ndarray) -> None:
    """The indexer sends uint8 pixels (normalised on the model's device); queries send normalised floats."""
    from indexer.preprocess import normalise, preprocess, preprocess_pixels

    pixels = torch.stack([preprocess_pixels(image) for image in IMAGES])
    floats = torch.stack([preprocess(image) for image in IMAGES])
    assert pixels.dtype == torch.uint8 and torch.equal(normalise(pixels), floats)
    assert np.array_equal(embedder.embed_tensors(pixels), embedder.embed_tensors(floats))  # bit for bit
    assert np.allclose(embedder.embed_tensors(pixels), vectors, atol=1e-5)


def test_bf16_agrees_with_fp32(vectors: np.ndarray) -> None:
    bf16 = Embedder("random", "cpu", batch_size=2, precision="bf16")
    assert bf16.precision == "bf16"
    cosine = (bf16.embed_images(IMAGES[:2]) * vectors[:2]).sum(axis=1)
    assert cosine.min() >= 0.9999


def test_weights_file_full_or_wrapped_loads_and_is_named_by_hash(tmp_path, vectors: np.ndarray) -> None:
    torch.manual_seed(0)
    full = build_resnet50().state_dict()
    torch.manual_seed(0)
    from torchvision.models import resnet50

    with_fc = resnet50(weights=None).state_dict()  # a torchvision checkpoint still has its fc layer
    plain, wrapped = tmp_path / "plain.pth", tmp_path / "wrapped.pth"
    torch.save(with_fc, plain)
    torch.save({"state_dict": {f"module.{key}": value for key, value in full.items()}}, wrapped)
    for path in (plain, wrapped):
        embedder = Embedder(str(path), "cpu", precision="fp32")
        assert embedder.name.startswith("resnet50/file:") and len(embedder.name) == len("resnet50/file:") + 12
        assert np.allclose(embedder.embed_images(IMAGES[:1])[0], vectors[0], atol=1e-5)


def test_bad_weights_files_fail_in_one_line(tmp_path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, wrong)
    for weights in (str(tmp_path / "absent.pth"), str(junk), str(wrong)):
        with pytest.raises(LogosimError) as info:
            Embedder(weights, "cpu")
        assert "\n" not in str(info.value)


def test_imagenet_offline_without_cache_fails_at_once(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(LogosimError) as info:  # offline: never touch the network from tests
        Embedder(Weights.parse("imagenet", offline=True), "cpu")
    message = str(info.value)
    assert "--weights PATH" in message and "--weights random" in message and "\n" not in message
    assert str(tmp_path) in message


def test_unobtainable_imagenet_weights_fall_back_to_the_packaged_trained_model(tmp_path, monkeypatch) -> None:
    """No ResNet50 weights in the cache and no download (offline): EfficientNet-Lite0's packaged ImageNet weights,
    said in one line, with their own vector; a cached ResNet50 file is used as it is."""
    from indexer.weights import _imagenet_cached

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache; offline: the network is never tried
    chosen, why = Weights.parse("imagenet", offline=True).available()
    assert str(chosen) == "efficientnet-lite0" and chosen.vector == ("efficientnet_lite0", 1280)
    assert why and "EfficientNet-Lite0" in why and "\n" not in why
    embedder = Embedder(chosen, "cpu")
    assert embedder.name == "efficientnet-lite0/imagenet" and embedder.dim == 1280
    vectors = embedder.embed_images([Image.new("RGBA", (120, 40), (200, 30, 30, 255)),
                                     Image.new("RGBA", (120, 40), (30, 30, 200, 255))])
    assert vectors.shape == (2, 1280) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    _imagenet_cached().parent.mkdir(parents=True)
    _imagenet_cached().write_bytes(b"")  # present: ResNet50 it is (loading it is another test's)
    assert Weights.parse("imagenet", offline=True).available() == (Weights.parse("imagenet", offline=True), None)
    assert Weights.for_model("efficientnet-lite0/imagenet") == chosen


def test_unreachable_weights_host_fails_in_one_line(tmp_path) -> None:
    from indexer.weights import probe

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: the connection is refused
    with pytest.raises(LogosimError, match="unreachable") as info:
        probe(f"https://127.0.0.1:{port}/resnet50.pth", tmp_path / "resnet50.pth")
    assert "--weights random" in str(info.value) and "\n" not in str(info.value)


def test_nothing_is_built_at_import() -> None:
    code = ("import sys, indexer.model, indexer.runner, indexer.preprocess;"
            "print('torchvision.models.resnet' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"
