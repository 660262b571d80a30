"""manage.py setup_study: a study spec in, a study out, safely rerun."""

import io

import pytest
from django.core.management import CommandError, call_command

from study.spec import (
    BAD_LANGUAGE,
    BAD_NUMBER,
    MISSING_KEY,
    NAMES_VARIANT,
    NO_COUNTRIES,
    NOT_TOML,
)
from survey.models import Country, Study

SPEC = """
[study]
slug = "scoft-demo"
title = "How well do these images show your culture?"

[survey]
pages_per_participant = 4
answers_per_image_set = 3
completion_code = "C1A2B3"
prolific_completion_url = "https://app.prolific.com/submissions/complete?cc=C1A2B3"

[sampler]
steps = 2

[generation]
seeds = [1024, 2048]

[[variants]]
key = "pretrained"
label = "Stable Diffusion"
model = "tiny"

[[countries]]
code = "CN"
name = "China"
adjective = "Chinese"
language = "zh-hans"
  [[countries.prompts]]
  id = "cn-food-01"
  text = "A bowl of hand-pulled noodles"

[[countries]]
code = "MX"
name = "Mexico"
adjective = "Mexican"
language = "es"
"""


def write(tmp_path, text):
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.django_db
def test_setup_study_reads_its_tables_and_ignores_the_others(tmp_path):
    out = io.StringIO()
    call_command("setup_study", write(tmp_path, SPEC), stdout=out)
    study = Study.objects.get(slug="scoft-demo")
    assert study.pages_per_participant == 4 and study.answers_per_image_set == 3
    # An older spec's prolific_completion_url still works: Prolific, with that link.
    assert study.completion_url.endswith("cc=C1A2B3")
    assert study.recruitment_platform == "prolific"
    assert [(c.code, c.language) for c in study.countries.all()] == [
        ("CN", "zh-hans"),
        ("MX", "es"),
    ]
    assert "Created study 'scoft-demo'" in out.getvalue()


@pytest.mark.django_db
def test_setup_study_twice_changes_nothing(tmp_path):
    path = write(tmp_path, SPEC)
    call_command("setup_study", path, stdout=io.StringIO())
    out = io.StringIO()
    call_command("setup_study", path, stdout=out)
    assert Study.objects.count() == 1 and Country.objects.count() == 2
    assert "Updated study" in out.getvalue()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[study\nslug=", NOT_TOML.split("{")[0]),
        ('[study]\nslug="s"\ntitle="t"\n', NO_COUNTRIES),
        (
            '[study]\nslug="s"\ntitle="t"\n[[countries]]\ncode="CN"\nname="China"\n',
            MISSING_KEY.format(where="country 'CN'", key="adjective"),
        ),
        (
            SPEC.replace('language = "es"', 'language = "fr"'),
            BAD_LANGUAGE.format(where="country 'MX'", value="fr"),
        ),
        (
            SPEC.replace('title = "How well', 'title = "Stable Diffusion: how well'),
            NAMES_VARIANT.format(where="[study]", key="title", word="Stable Diffusion"),
        ),
        (
            SPEC.replace("pages_per_participant = 4", "pages_per_participant = 0"),
            BAD_NUMBER.format(
                where="[survey]",
                key="pages_per_participant",
                rule="a whole number of at least 1",
                value=0,
            ),
        ),
    ],
)
@pytest.mark.django_db
def test_a_bad_spec_is_explained_and_writes_nothing(tmp_path, text, message):
    with pytest.raises(CommandError) as error:
        call_command("setup_study", write(tmp_path, text))
    assert message in str(error.value)
    assert not Study.objects.exists()


def test_a_missing_spec_is_explained(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("setup_study", str(tmp_path / "nope.toml"))
