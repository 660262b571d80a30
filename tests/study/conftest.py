"""Study specs written on the fly (used by the generation tests too)."""

from __future__ import annotations

import pytest

from study.spec import load_spec

SPEC_HEAD = """
[study]
slug = "{slug}"
title = "A test study"

[survey]
pages_per_participant = 2

[sampler]
{sampler}

[generation]
seeds = {seeds}
batch_size = {batch_size}
"""

VARIANT = """
[[variants]]
key = "{key}"
label = "Variant {key}"
model = "{model}"
"""

COUNTRY = """
[[countries]]
code = "{code}"
name = "{name}"
adjective = "{name}n"
language = "en"
"""

PROMPT = """
  [[countries.prompts]]
  id = "{id}"
  text = "{text}"
  category = "food"
"""


def spec_text(
    *,
    slug: str = "test-study",
    variants: tuple[str, ...] = ("pretrained", "scoft-mpc"),
    model: str = "tiny",
    countries: dict[str, int] | None = None,
    seeds: tuple[int, ...] = (1, 2),
    batch_size: int = 2,
    sampler: str = "",
) -> str:
    """TOML for a study with `countries` = {code: number of prompts}."""
    parts = [SPEC_HEAD.format(slug=slug, sampler=sampler, seeds=list(seeds), batch_size=batch_size)]
    parts += [VARIANT.format(key=key, model=model) for key in variants]
    for code, prompts in (countries or {"CN": 2}).items():
        parts.append(COUNTRY.format(code=code, name=f"Land {code}"))
        parts += [
            PROMPT.format(id=f"{code.lower()}-{n}", text=f"A dish from {code} number {n}")
            for n in range(prompts)
        ]
    return "".join(parts)


@pytest.fixture
def write_spec(tmp_path):
    """Write a spec file (spec_text's arguments) and return it loaded."""

    def write(name: str = "study.toml", **options):
        path = tmp_path / name
        path.write_text(spec_text(**options), encoding="utf-8")
        return load_spec(path)

    return write
