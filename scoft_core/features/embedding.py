"""A small learned embedding distance: 1 - cosine of a small CNN's image embeddings.

DreamSim, the published choice for L_C, is a large network trained on human similarity
judgements. `cnn-embedding` has the same arithmetic (1 - cosine similarity of
embeddings) on a small convolutional network read from a safetensors file, so a world
too small for DreamSim (the toy world trains its own on simulated judgements,
`python -m toyworld fit-perceptual`) can still give L_C a distance learned from
judgements. The file holds the weights and, in its metadata, the network's sizes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from scoft_core.features.base import FeatureDistance

MISSING_EMBEDDING = (
    "The cnn-embedding distance needs a weights file (the `model` option, "
    "--feature-model on the command line); {path!r} is not a file."
)
NOT_AN_EMBEDDING = "The file {path} is not a cnn-embedding weights file: {reason}."


class EmbeddingNetwork(nn.Module):
    """Strided 3x3 convolutions (each halves the resolution), then a linear embedding."""

    def __init__(self, widths: Sequence[int], embedding: int, size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in widths:
            layers += [nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.ReLU()]
            channels = width
        self.convolutions = nn.Sequential(*layers)
        side = size // 2 ** len(widths)
        self.project = nn.Linear(channels * side * side, embedding)
        self.widths, self.embedding, self.size = tuple(widths), embedding, size

    def forward(self, images: Tensor) -> Tensor:
        """Images (B, 3, size, size) in [-1, 1] -> unit-length embeddings (B, embedding)."""
        if images.shape[-1] != self.size or images.shape[-2] != self.size:
            images = nn.functional.interpolate(
                images, size=(self.size, self.size), mode="bilinear", align_corners=False
            )
        embedded = self.project(self.convolutions(images).flatten(1))
        return nn.functional.normalize(embedded, dim=1)

    def sizes(self) -> dict:
        return {"widths": list(self.widths), "embedding": self.embedding, "size": self.size}


def save_embedding(network: EmbeddingNetwork, path: Path, extra: dict | None = None) -> None:
    """Write the network's weights and sizes (and `extra` facts, as JSON) to `path`."""
    metadata = {"sizes": json.dumps(network.sizes()), "facts": json.dumps(extra or {})}
    state = {k: v.contiguous() for k, v in network.state_dict().items()}
    save_file(state, str(path), metadata=metadata)


def load_embedding(path: str | Path) -> tuple[EmbeddingNetwork, dict]:
    """The network saved in `path`, and the facts stored with it."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(MISSING_EMBEDDING.format(path=str(path)))
    try:
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
        sizes = json.loads(metadata["sizes"])
        network = EmbeddingNetwork(sizes["widths"], sizes["embedding"], sizes["size"])
        network.load_state_dict(load_file(str(path)))
    except (KeyError, ValueError, RuntimeError, OSError) as error:
        raise ValueError(NOT_AN_EMBEDDING.format(path=path, reason=error)) from error
    return network, json.loads(metadata.get("facts", "{}"))


class EmbeddingDistance(FeatureDistance):
    """1 - cosine similarity of the embeddings of a small CNN."""

    name = "cnn-embedding"

    def features(self, images: Tensor) -> list[Tensor]:
        return [self.network(self._network_input(images))]

    def compare(self, features_x: list[Tensor], features_y: list[Tensor]) -> Tensor:
        return 1.0 - (features_x[0] * features_y[0]).sum(dim=1)


def cnn_embedding_distance(*, model: str, device: torch.device | str = "cpu") -> EmbeddingDistance:
    """The distance of the embedding network saved in the file `model`."""
    network, _facts = load_embedding(model)
    return EmbeddingDistance(network.to(device))
