"""The demo study's spec (docs/ARCHITECTURE.md, "Study spec"), written from the toy world.

Each of the toy world's cultures is a "country" of the survey, with one prompt per
category worded as the web captions word it ("a house in Quenzar"): the prompt the
base model learned its stereotype from. Every variant uses the same base model; the
SCoFT variants add their adapter.
"""

from __future__ import annotations

import json
from pathlib import Path

from demo.plan import VARIANTS, DemoPlan
from toyworld.corpus import plain_prompt
from toyworld.world import CATEGORIES, CULTURES

TITLE = "How well do these images show your culture?"
CONSENT = (
    "This is a demonstration on an invented toy world. "
    "You will rank small images by how well they show the culture you choose. "
    "Your answers are stored on this computer only."
)


def country_code(name: str) -> str:
    """A short code for a toy culture, e.g. Quenzar -> QU."""
    return name[:2].upper()


def _string(value: str) -> str:
    # A JSON string of ASCII text is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=True)


def study_spec_text(plan: DemoPlan) -> str:
    """The TOML text of the demo study for `plan`."""
    lines = [
        "# The demo study, written by `python -m demo` (rewritten on every run).",
        "[study]",
        f"slug = {_string(plan.study_slug)}",
        f"title = {_string(TITLE)}",
        "",
        "[survey]",
        f"pages_per_participant = {plan.pages_per_participant}",
        f"answers_per_image_set = {plan.answers_per_image_set}",
        f"consent_text = {_string(CONSENT)}",
        "",
        "[sampler]",
        'scheduler = "dpm-solver-multistep"',
        f"steps = {plan.sampler_steps}",
        "guidance = 4.5",
        f"width = {plan.resolution}",
        f"height = {plan.resolution}",
        "",
        "[generation]",
        f"seeds = [{', '.join(str(s) for s in plan.seeds)}]",
        "batch_size = 16",
    ]
    for key, label, adapter in VARIANTS:
        lines += [
            "",
            "[[variants]]",
            f"key = {_string(key)}",
            f"label = {_string(label)}",
            f"model = {_string(plan.base_model)}",
        ]
        if adapter:
            lines.append(f"adapter = {_string(str(plan.adapter_dir(adapter)))}")
    for culture in CULTURES[: plan.cultures]:
        code = country_code(culture.name)
        lines += [
            "",
            "[[countries]]",
            f"code = {_string(code)}",
            f"name = {_string(culture.name)}",
            f"adjective = {_string(culture.adjective)}",
            'language = "en"',
        ]
        for category in CATEGORIES[: plan.categories]:
            lines += [
                "  [[countries.prompts]]",
                f"  id = {_string(f'{code.lower()}-{category}')}",
                f"  text = {_string(plain_prompt(culture.name, category))}",
                f"  category = {_string(category)}",
            ]
    return "\n".join(lines) + "\n"


def write_study_spec(plan: DemoPlan) -> Path:
    """Write the spec under the demo folder (atomically) and return its path."""
    path = plan.spec_path
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".toml.partial")
    staging.write_text(study_spec_text(plan), encoding="utf-8")
    staging.replace(path)
    return path
