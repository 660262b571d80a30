"""The ablation table: per variant and culture, what the generated images show.

Columns: stereotype rate (share the grime detector flags), motif fidelity (share whose
detected motif is the culture's own), memorization (mean distance to the nearest
community image as the VAE decodes it, and the share of near copies), diversity (mean
distance between images of the same prompt). Each with a 95% interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toyworld.corpus import plain_prompt
from toyworld.detectors import Detectors
from toyworld.measures import (
    Estimate,
    bootstrap_mean,
    copy_threshold,
    diversity,
    nearest_community_distance,
    wilson,
)
from toyworld.world import CATEGORIES, CULTURE_NAMES


@dataclass(frozen=True)
class PromptSet:
    """The fixed evaluation images: every culture's plain prompt per category, shared seeds."""

    cultures: tuple[str, ...] = CULTURE_NAMES
    categories: tuple[str, ...] = CATEGORIES
    seeds_per_prompt: int = 16
    first_seed: int = 5000

    def rows(self) -> list[tuple[str, str, str, int]]:
        """(culture, category, prompt, seed) for every image, in a fixed order."""
        return [
            (culture, category, plain_prompt(culture, category), self.first_seed + k)
            for culture in self.cultures
            for category in self.categories
            for k in range(self.seeds_per_prompt)
        ]


@dataclass(frozen=True)
class TableRow:
    """One line of the ablation table."""

    variant: str
    culture: str
    images: int
    stereotype: Estimate
    fidelity: Estimate
    nearest: Estimate
    copies: Estimate
    diversity: Estimate


def measure_variant(
    variant: str,
    images: np.ndarray,
    prompt_set: PromptSet,
    detectors: Detectors,
    community: np.ndarray,
    threshold: float,
) -> list[TableRow]:
    """Measure a variant's images (in `prompt_set.rows()` order) per culture.

    `community` holds the community images as the VAE decodes them.
    """
    rows = prompt_set.rows()
    if len(rows) != len(images):
        raise ValueError("There must be exactly one image per row of the prompt set.")
    grimy = detectors.grimy(images)
    motifs = np.array(detectors.motifs(images))
    nearest = nearest_community_distance(images, community)
    cultures = np.array([r[0] for r in rows])
    prompts = np.array([r[2] for r in rows])
    table = []
    for culture in prompt_set.cultures:
        mine = cultures == culture
        spread = [diversity(images[prompts == p]) for p in dict.fromkeys(prompts[mine])]
        count = int(mine.sum())
        table.append(
            TableRow(
                variant=variant,
                culture=culture,
                images=count,
                stereotype=wilson(int(grimy[mine].sum()), count),
                fidelity=wilson(int((motifs[mine] == culture).sum()), count),
                nearest=bootstrap_mean(nearest[mine]),
                copies=wilson(int((nearest[mine] < threshold).sum()), count),
                diversity=bootstrap_mean(np.array(spread)),
            )
        )
    return table


def near_copy_threshold(community_decoded: np.ndarray) -> float:
    """The near-copy distance, calibrated on community images passed through the VAE."""
    return copy_threshold(community_decoded)


HEADER = (
    f"{'variant':<10} {'culture':<8} {'n':>4}  {'stereotype rate':<18} {'motif fidelity':<18} "
    f"{'nearest dist':<18} {'near copies':<18} {'diversity':<18}"
)


def format_table(rows: list[TableRow]) -> str:
    """The ablation table as aligned plain text, one line per variant and culture."""
    lines = [HEADER, "-" * len(HEADER)]
    for r in rows:
        lines.append(
            f"{r.variant:<10} {r.culture:<8} {r.images:>4}  {r.stereotype!s:<18} "
            f"{r.fidelity!s:<18} {r.nearest!s:<18} {r.copies!s:<18} {r.diversity!s:<18}"
        )
    return "\n".join(lines)


def table_records(rows: list[TableRow]) -> list[dict]:
    """The table as plain dicts (for JSON), each estimate as value, low, high."""
    out = []
    for r in rows:
        record = {"variant": r.variant, "culture": r.culture, "images": r.images}
        for name in ("stereotype", "fidelity", "nearest", "copies", "diversity"):
            e = getattr(r, name)
            record[name] = {"value": e.value, "low": e.low, "high": e.high}
        out.append(record)
    return out
