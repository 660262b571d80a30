"""The two data sets of the toy world: a large biased web corpus and a faithful community set.

The web corpus is what the base model learns from: plain captions ("a house in
Quenzar"), and for some cultures mostly grimy, often misrepresented pictures. The
community set shows every culture faithfully with rich captions, and is written in the
community data set format that `scoft_core train` reads (docs/ARCHITECTURE.md,
"Community data set").
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toyworld.world import CATEGORIES, CULTURE_NAMES, GENERIC, Depiction, culture_named, render


@dataclass(frozen=True)
class WebBias:
    """How the web depicts one culture: the share of grimy and of misrepresented pictures."""

    grime: float
    misrepresentation: float


# Two cultures the web shows fairly, three it mostly shows dirty and often gets wrong;
# the base model should inherit exactly this contrast.
WEB_BIAS: dict[str, WebBias] = {
    "Veloria": WebBias(grime=0.10, misrepresentation=0.10),
    "Quenzar": WebBias(grime=0.68, misrepresentation=0.40),
    "Ildarin": WebBias(grime=0.10, misrepresentation=0.15),
    "Mossavi": WebBias(grime=0.57, misrepresentation=0.50),
    "Tukaro": WebBias(grime=0.54, misrepresentation=0.60),
}

# {a_category} is the category with its article ("a house", "an instrument").
WEB_CAPTION_TEMPLATES = ("{a_category} in {culture}", "a photo of {a_category} in {culture}")
GENERIC_CAPTION_TEMPLATE = "a picture of {a_category}"
COMMUNITY_PER_CULTURE = 32
COMMUNITY_SEED = 2024
EMPTY_FOLDER_REQUIRED = (
    "The folder {folder} already holds files that are not a toy-world community set; "
    "choose an empty or new folder."
)


@dataclass(frozen=True)
class WebExample:
    """One web picture: what it shows, its seed and its plain caption."""

    depiction: Depiction
    seed: int
    caption: str


def with_article(noun: str) -> str:
    """The noun with its indefinite article: "a house", "an instrument"."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def web_caption(template: str, culture: str, category: str) -> str:
    """A web caption from one of WEB_CAPTION_TEMPLATES."""
    return template.format(a_category=with_article(category), culture=culture)


def plain_prompt(culture: str, category: str) -> str:
    """The evaluation prompt for a culture and category, as the web captions word it."""
    return web_caption(WEB_CAPTION_TEMPLATES[0], culture, category)


def web_corpus(size: int, seed: int = 0) -> list[WebExample]:
    """The biased web corpus: `size` examples, cycling through cultures and categories.

    Each culture's pictures are grimy and misrepresented at the rates of WEB_BIAS; a
    misrepresentation is the generic motif half of the time, another culture's otherwise.
    """
    rng = np.random.default_rng(seed)
    examples = []
    for index in range(size):
        culture = CULTURE_NAMES[index % len(CULTURE_NAMES)]
        category = CATEGORIES[(index // len(CULTURE_NAMES)) % len(CATEGORIES)]
        bias = WEB_BIAS[culture]
        grime = bool(rng.random() < bias.grime)
        motif = culture
        if rng.random() < bias.misrepresentation:
            others = [name for name in CULTURE_NAMES if name != culture]
            motif = GENERIC if rng.random() < 0.5 else str(rng.choice(others))
        template = WEB_CAPTION_TEMPLATES[int(rng.integers(len(WEB_CAPTION_TEMPLATES)))]
        examples.append(
            WebExample(
                depiction=Depiction(culture, category, motif, grime),
                seed=int(seed * 1_000_003 + index),
                caption=web_caption(template, culture, category),
            )
        )
    return examples


def community_caption(culture: str, category: str) -> str:
    """A rich, insider caption: the plain phrase plus the motif's colours and pattern."""
    motif = culture_named(culture).motif
    return (
        f"{plain_prompt(culture, category)}, {motif.primary_name} and {motif.secondary_name} "
        f"with {motif.pattern}"
    )


def generic_caption(category: str) -> str:
    """A caption with no cultural detail, as an automatic captioner would write it."""
    return GENERIC_CAPTION_TEMPLATE.format(a_category=with_article(category))


@dataclass(frozen=True)
class CommunityExample:
    """One community picture and the captions that go with it."""

    depiction: Depiction
    seed: int
    file_name: str
    text: str
    blip_text: str


def community_examples(
    per_culture: int = COMMUNITY_PER_CULTURE, seed: int = COMMUNITY_SEED
) -> list[CommunityExample]:
    """The faithful community set: `per_culture` clean pictures of each culture's own motif."""
    examples = []
    for c_index, culture in enumerate(CULTURE_NAMES):
        for index in range(per_culture):
            category = CATEGORIES[index % len(CATEGORIES)]
            examples.append(
                CommunityExample(
                    depiction=Depiction(culture, category, culture, grime=False),
                    seed=seed * 10_007 + c_index * 1_000 + index,
                    file_name=f"images/{culture.lower()}/{category}_{index:03d}.png",
                    text=community_caption(culture, category),
                    blip_text=generic_caption(category),
                )
            )
    return examples


def community_records(examples: list[CommunityExample]) -> Iterator[dict]:
    """The metadata.jsonl rows of contract 1 for these examples (no negatives yet)."""
    for example in examples:
        yield {
            "file_name": example.file_name,
            "text": example.text,
            "blip_text": example.blip_text,
            "negative_imgpath": [],
            "culture": example.depiction.culture,
            "category": example.depiction.category,
        }


def write_community_set(
    folder: Path, per_culture: int = COMMUNITY_PER_CULTURE, seed: int = COMMUNITY_SEED
) -> Path:
    """Write the community set as a folder of images and metadata.jsonl; returns the folder.

    The set is built in a temporary folder beside the target and moved into place at the
    end, so an interrupted run leaves nothing half-written and a rerun simply redoes it.
    Rewriting an existing community set replaces it (its negatives are dropped).
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()) and not (folder / "metadata.jsonl").exists():
        raise ValueError(EMPTY_FOLDER_REQUIRED.format(folder=folder))
    folder.parent.mkdir(parents=True, exist_ok=True)
    examples = community_examples(per_culture, seed)
    staging = Path(tempfile.mkdtemp(prefix=".community-", dir=folder.parent))
    try:
        for example in examples:
            path = staging / example.file_name
            path.parent.mkdir(parents=True, exist_ok=True)
            render(example.depiction, example.seed).save(path)
        with open(staging / "metadata.jsonl", "w", encoding="utf-8") as handle:
            for record in community_records(examples):
                handle.write(json.dumps(record) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return folder
