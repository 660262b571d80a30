"""The toy world's perceptual distance: its counterpart of DreamSim, for L_C.

DreamSim was trained on people's two-alternative judgements (a reference and two
images: which one is closer?). Here a simulated observer makes those judgements from
what the world knows about each picture: the object's shape (category), the palette and
pattern of the motif drawn, and whether it is grimy. A small CNN embedding
(scoft_core's `cnn-embedding`) is trained so that 1 - cosine of embeddings picks the
image the observer picks. The pictures are procedural ones (every motif, category,
clean and grimy) from seeds far from the community set's, passed through the base
model's VAE, as the model's own images are decoded; its agreement with the observer is
measured on judgements of pictures it never saw.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from scoft_core.features.embedding import EmbeddingNetwork, load_embedding, save_embedding
from toyworld.detectors import MOTIF_LABELS
from toyworld.sampling import through_vae
from toyworld.world import CATEGORIES, CULTURE_NAMES, Depiction, motif_named, render_array

PERCEPTUAL_FILE = Path(__file__).parent / "weights" / "perceptual.safetensors"
# Recorded after fitting (`python -m toyworld fit-perceptual`); the tests check the file.
PERCEPTUAL_SHA256 = "f5bfaefcce1803425aa24689d2455c7e2ec747af9f0468552afd5376a50376d5"
# The agreement with the simulated observer's judgements promised on pictures the
# distance never saw (the measured figure, stored in the file, is higher).
STATED_AGREEMENT = 0.75
FIT_SEED, HELD_OUT_SEED = 70_001, 70_002  # community seeds are around 20 million


@dataclass(frozen=True)
class Observer:
    """How the simulated person weighs what differs between two pictures.

    The dissimilarity of two pictures is a weighted sum of: a different object shape, the
    distance between the motifs' palettes (mean RGB distance of the two body colours,
    0-1), a different pattern, and grime on one but not the other. A judgement adds
    Gaussian noise of sd `noise` to each of the two dissimilarities it compares.
    """

    shape: float = 1.0
    palette: float = 1.5
    pattern: float = 0.5
    grime: float = 1.0
    noise: float = 0.15

    def dissimilarity(self, a: Depiction, b: Depiction) -> float:
        ma, mb = motif_named(a.motif), motif_named(b.motif)
        colours = [
            np.linalg.norm(np.subtract(x, y)) / (255.0 * np.sqrt(3))
            for x, y in ((ma.primary, mb.primary), (ma.secondary, mb.secondary))
        ]
        return (
            self.shape * (a.category != b.category)
            + self.palette * float(np.mean(colours))
            + self.pattern * (ma.pattern != mb.pattern)
            + self.grime * (a.grime != b.grime)
        )


@dataclass(frozen=True)
class PerceptualFit:
    """How the toy perceptual distance is trained; the defaults made the shipped file."""

    pictures: int = 1500  # fitting pool, through the VAE
    held_out_pictures: int = 500
    triplets_per_step: int = 128
    steps: int = 1200
    held_out_triplets: int = 4000
    learning_rate: float = 3e-3
    sharpness: float = 10.0  # logistic slope on the distance difference
    widths: tuple[int, ...] = (16, 32, 64, 64)
    embedding: int = 64
    seed: int = 0


def picture_pool(vae, count: int, seed: int) -> tuple[np.ndarray, list[Depiction]]:
    """`count` random pictures (any culture, motif, category, clean or grimy) through `vae`."""
    rng = np.random.default_rng(seed)
    depictions = [
        Depiction(
            culture=CULTURE_NAMES[int(rng.integers(len(CULTURE_NAMES)))],
            category=CATEGORIES[int(rng.integers(len(CATEGORIES)))],
            motif=MOTIF_LABELS[int(rng.integers(len(MOTIF_LABELS)))],
            grime=bool(rng.random() < 0.5),
        )
        for _ in range(count)
    ]
    images = np.stack([render_array(d, seed * 1_000_003 + i) for i, d in enumerate(depictions)])
    return through_vae(vae, images), depictions


def judgements(
    depictions: list[Depiction], count: int, observer: Observer, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`count` triplets (reference, A, B) of pool indices and the observer's choices
    (1 where A is judged closer to the reference)."""
    n = len(depictions)
    triplets = np.stack([rng.choice(n, 3, replace=False) for _ in range(count)])
    closer_a = []
    for r, a, b in triplets:
        da = observer.dissimilarity(depictions[r], depictions[a]) + rng.normal(0, observer.noise)
        db = observer.dissimilarity(depictions[r], depictions[b]) + rng.normal(0, observer.noise)
        closer_a.append(da < db)
    return triplets, np.array(closer_a, dtype=np.float32)


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def agreement(distance, images: np.ndarray, triplets: np.ndarray, choices: np.ndarray) -> float:
    """Share of triplets where `distance` (x, y -> (B,)) picks what the observer picked."""
    x = _tensor(images)
    with torch.no_grad():
        r, a, b = (x[triplets[:, k]] for k in range(3))
        picks_a = (distance(r, a) < distance(r, b)).numpy()
    return float((picks_a == (choices > 0.5)).mean())


def fit_perceptual(vae, fit: PerceptualFit = PerceptualFit(), observer: Observer = Observer(),
                   progress=print) -> tuple[EmbeddingNetwork, dict]:  # fmt: skip
    """Train the embedding on the observer's judgements; returns it and its measurements."""
    from scoft_core.features import build_feature_distance
    from scoft_core.features.embedding import EmbeddingDistance

    torch.manual_seed(fit.seed)
    rng = np.random.default_rng(fit.seed)
    images, depictions = picture_pool(vae, fit.pictures, FIT_SEED)
    held_images, held_depictions = picture_pool(vae, fit.held_out_pictures, HELD_OUT_SEED)
    held_triplets, held_choices = judgements(
        held_depictions, fit.held_out_triplets, observer, np.random.default_rng(fit.seed + 1)
    )
    x = _tensor(images)
    network = EmbeddingNetwork(fit.widths, fit.embedding, x.shape[-1])
    optimizer = torch.optim.AdamW(network.parameters(), lr=fit.learning_rate, weight_decay=1e-4)
    for step in range(fit.steps):
        for group in optimizer.param_groups:  # cosine decay
            group["lr"] = fit.learning_rate * 0.5 * (1 + np.cos(np.pi * step / fit.steps))
        triplets, choices = judgements(depictions, fit.triplets_per_step, observer, rng)
        flip = torch.from_numpy(rng.random(len(triplets)) < 0.5)
        batch = x[torch.from_numpy(triplets.reshape(-1))]
        batch = torch.where(flip.repeat_interleave(3)[:, None, None, None], batch.flip(-1), batch)
        e = network(batch).view(len(triplets), 3, -1)
        d_a = 1 - (e[:, 0] * e[:, 1]).sum(1)
        d_b = 1 - (e[:, 0] * e[:, 2]).sum(1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            fit.sharpness * (d_b - d_a), torch.from_numpy(choices)
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress and (step % 100 == 0 or step == fit.steps - 1):
            progress(f"perceptual step {step + 1}/{fit.steps} loss {loss.item():.4f}")
    network.eval().requires_grad_(False)
    d = held_depictions
    noiseless_picks = np.array(
        [observer.dissimilarity(d[r], d[a]) < observer.dissimilarity(d[r], d[b])
         for r, a, b in held_triplets]
    )  # fmt: skip
    facts = {
        "held_out_agreement": agreement(
            EmbeddingDistance(network), held_images, held_triplets, held_choices
        ),
        "random_conv_agreement": agreement(
            build_feature_distance("random-conv"), held_images, held_triplets, held_choices
        ),
        # How often the observer agrees with its own noise-free self: the most any
        # distance can reach.
        "noiseless_observer_agreement": float((noiseless_picks == (held_choices > 0.5)).mean()),
        "held_out_triplets": fit.held_out_triplets,
        "fit": asdict(fit),
        "observer": asdict(observer),
    }
    return network, facts


def save_perceptual(network: EmbeddingNetwork, facts: dict, path: Path = PERCEPTUAL_FILE) -> str:
    """Save the distance; returns the file's SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_embedding(network, path, facts)
    return sha256(path)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def perceptual_facts(path: Path = PERCEPTUAL_FILE) -> dict:
    """The measurements stored with the shipped distance."""
    return load_embedding(path)[1]
