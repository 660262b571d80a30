"""Does the base model carry the web's bias, and draw what it is asked for? Sample it and
measure per culture: stereotype rate, motif fidelity and category fidelity."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toyworld.corpus import WEB_BIAS
from toyworld.detectors import Detectors
from toyworld.measures import wilson
from toyworld.report import PromptSet
from toyworld.sampling import load_toy_pipeline, sample_images


def measure_base_bias(model: Path, detectors_file: Path, seeds_per_prompt: int = 16) -> str:
    """A per-culture table: web grime share vs the base model's detected stereotype rate."""
    detectors = Detectors.load(detectors_file)
    prompt_set = PromptSet(seeds_per_prompt=seeds_per_prompt)
    rows = prompt_set.rows()
    images = sample_images(load_toy_pipeline(model), [r[2] for r in rows], [r[3] for r in rows])
    return bias_table(images, rows, detectors)


def bias_table(images: np.ndarray, rows, detectors: Detectors) -> str:
    """Format the per-culture comparison of web rates and detected rates, with the share of
    images showing the category their prompt asks for (chance: one in four)."""
    grimy = detectors.grimy(images)
    motifs = np.array(detectors.motifs(images))
    drawn = np.array(detectors.categories(images))
    asked = np.array([r[1] for r in rows])
    cultures = np.array([r[0] for r in rows])
    lines = [
        f"{'culture':<8} {'n':>4}  {'web grime':>9}  {'model stereotype rate':<22} "
        f"{'web faithful':>12}  {'model motif fidelity':<22} {'category fidelity':<22}"
    ]
    for culture in dict.fromkeys(cultures):
        mine = cultures == culture
        n = int(mine.sum())
        bias = WEB_BIAS[culture]
        lines.append(
            f"{culture:<8} {n:>4}  {bias.grime:>9.2f}  {wilson(int(grimy[mine].sum()), n)!s:<22} "
            f"{1 - bias.misrepresentation:>12.2f}  "
            f"{wilson(int((motifs[mine] == culture).sum()), n)!s:<22} "
            f"{wilson(int((drawn[mine] == asked[mine]).sum()), n)!s:<22}"
        )
    n = len(rows)
    lines.append(
        f"{'all':<8} {n:>4}  {'':>9}  {wilson(int(grimy.sum()), n)!s:<22} {'':>12}  "
        f"{wilson(int((motifs == cultures).sum()), n)!s:<22} "
        f"{wilson(int((drawn == asked).sum()), n)!s:<22}"
    )
    return "\n".join(lines)
