"""Words that would unblind a participant, and the check that finds them in a text.

Participants must not learn which model made which image, nor that the study is about
a fine-tuning method. Any text they read (the study's title, the consent text) is
checked against every variant's key, label, model id and adapter name, and against
the method's own names (SCoFT, contrastive, perceptual, memorization, LoRA,
fine-tuned). The spec reader (study.spec) and the survey admin's study form both call
`unblinding_words`, so a title edited in the admin gets the same check as one read
from the spec.

No Django here (an import contract keeps `study` dependency-free).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePath

# Names of the method and its parts: each one tells a participant what is compared.
# Patterns, matched as whole words, case-insensitive ("fine tuned", "finetuning", ...).
METHOD_WORDS = {
    "SCoFT": r"scoft",
    "self-contrastive": r"self[-\s]?contrastive",
    "contrastive": r"contrastive",
    "perceptual": r"perceptual",
    "memorization": r"memori[sz](?:ation|ed|e|ing)",
    "LoRA": r"lora",
    "fine-tuned": r"fine[-\s]?tun(?:ed|e|ing)",
    "adapter": r"adapters?",
}
# Shorter names (e.g. a model called "sd") would match ordinary words.
MIN_WORD_LENGTH = 3


def variant_words(
    *, key: str = "", label: str = "", model: str = "", adapter: str | PurePath | None = None
) -> set[str]:
    """The names one variant goes by: key, label, model id (and its last part), adapter
    folder name."""
    words = {key, label, model}
    if model and "/" in model:
        words.add(model.rstrip("/").rsplit("/", 1)[-1])
    if adapter:
        words.add(PurePath(adapter).name)
    return {word.strip() for word in words if word and len(word.strip()) >= MIN_WORD_LENGTH}


def unblinding_words(text: str, names: Iterable[str] = ()) -> list[str]:
    """The variant names and method words that `text` mentions, sorted; [] when blind.

    Matching ignores case and takes whole words only ("Flora" does not name LoRA).
    """
    found = set()
    for word, pattern in METHOD_WORDS.items():
        if re.search(rf"(?<![A-Za-z0-9]){pattern}(?![A-Za-z0-9])", text, re.IGNORECASE):
            found.add(word)
    for name in names:
        if len(name) < MIN_WORD_LENGTH:
            continue
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text, re.IGNORECASE):
            found.add(name)
    return sorted(found, key=str.lower)
