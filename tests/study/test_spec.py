"""The study spec: a good file parses; a bad one gets every problem listed at once."""

from pathlib import Path

import pytest

from study import spec as S
from study.spec import SpecError, load_spec, parse_spec

from .conftest import COUNTRY, PROMPT, spec_text


def problems_of(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value.problems


def test_a_valid_spec_gives_variants_countries_prompts_and_seeds(write_spec):
    spec = write_spec(countries={"CN": 2, "NG": 1}, seeds=(5, 6, 7))
    assert spec.slug == "test-study"
    assert [v.key for v in spec.variants] == ["pretrained", "scoft-mpc"]
    assert [v.position for v in spec.variants] == [0, 1]
    assert [c.code for c in spec.countries] == ["CN", "NG"]
    assert [p.id for _, p in spec.prompts()] == ["cn-0", "cn-1", "ng-0"]
    assert spec.seeds == (5, 6, 7)
    assert spec.image_set_count == 9
    assert spec.survey.pages_per_participant == 2
    assert spec.uses_only_tiny_model


def test_the_example_demo_study_is_valid():
    spec = load_spec(Path(__file__).resolve().parents[2] / "examples" / "demo_study.toml")
    assert spec.uses_only_tiny_model
    assert spec.image_set_count == 7  # one prompt overrides the seeds with its own


def test_a_prompt_may_override_the_seeds(tmp_path):
    text = spec_text().replace('category = "food"', 'category = "food"\n  seeds = [9]', 1)
    spec = parse_spec(text, path=tmp_path / "s.toml")
    first, second = (p for _, p in spec.prompts())
    assert spec.seeds_for(first) == (9,)
    assert spec.seeds_for(second) == (1, 2)


def test_sampler_settings_given_are_the_only_overrides(tmp_path):
    spec = parse_spec(spec_text(sampler="steps = 3\nwidth = 32"), path=tmp_path / "s.toml")
    assert spec.sampler.given() == {"steps": 3, "width": 32}


def test_a_relative_adapter_folder_is_resolved_against_the_spec_folder(tmp_path):
    adapter = tmp_path / "adapters" / "cn"
    adapter.mkdir(parents=True)
    (adapter / S.LORA_WEIGHTS_FILE).write_bytes(b"weights")
    text = spec_text().replace('model = "tiny"', 'model = "tiny"\nadapter = "adapters/cn"', 1)
    spec = parse_spec(text, path=tmp_path / "s.toml")
    assert spec.variants[0].adapter == adapter
    assert spec.variants[1].adapter is None


def test_a_missing_file_is_reported_by_name(tmp_path):
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path / "nope.toml")
    assert caught.value.problems == [S.SPEC_NOT_FOUND.format(path=tmp_path / "nope.toml")]


def test_invalid_toml_is_one_clear_problem(tmp_path):
    [problem] = problems_of("[study\nslug = 1", tmp_path)
    assert problem.startswith("it is not valid TOML")


def test_every_problem_is_listed_at_once_and_the_message_counts_them(tmp_path):
    text = spec_text(variants=("same", "same"), countries={"CN": 1, "KR": 0})
    text = text.replace('language = "en"', 'language = "fr"', 1)
    text = text.replace("[survey]", "colour = 'blue'\n[survey]")
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    problems = caught.value.problems
    assert problems == [
        S.UNKNOWN_KEY.format(where="[study]", key="colour", allowed=", ".join(S.STUDY_KEYS)),
        S.DUPLICATE_VARIANT_KEY.format(key="same", places="variants[0], variants[1]"),
        S.BAD_LANGUAGE.format(where="country 'CN'", value="fr"),
        S.NO_PROMPTS.format(where="country 'KR'", code="KR"),
    ]
    assert str(caught.value).startswith(S.SPEC_HAS_PROBLEMS.format(path=path.resolve(), count=4))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("[study]", "[study]\nextra = 1"),
            S.UNKNOWN_KEY.format(where="[study]", key="extra", allowed=", ".join(S.STUDY_KEYS)),
        ),
        (
            ('slug = "test-study"', 'slug = "not a slug"'),
            S.NOT_A_SLUG.format(where="[study]", key="slug", value="not a slug", max_length=64),
        ),
        (('title = "A test study"\n', ""), S.MISSING_KEY.format(where="[study]", key="title")),
        (
            ('title = "A test study"', 'title = " "'),
            S.EMPTY_TEXT.format(where="[study]", key="title"),
        ),
        (
            ('title = "A test study"', "title = 3"),
            S.WRONG_TYPE.format(where="[study]", key="title", expected="text"),
        ),
        (
            ("seeds = [1, 2]", "seeds = [1, 1]"),
            S.DUPLICATE_SEED.format(where="[generation]", value=1),
        ),
        (("seeds = [1, 2]", "seeds = [-1]"), S.BAD_SEED.format(where="[generation]", value=-1)),
        (("seeds = [1, 2]", "seeds = []"), S.EMPTY_SEEDS.format(where="[generation]")),
        (
            ("seeds = [1, 2]", 'seeds = "1"'),
            S.WRONG_TYPE.format(where="[generation]", key="seeds", expected="a list of numbers"),
        ),
        (
            ("batch_size = 2", "batch_size = 0"),
            S.BAD_NUMBER.format(
                where="[generation]", key="batch_size", value=0, rule="a whole number of at least 1"
            ),
        ),
        (
            ("[sampler]", "[sampler]\nguidance = -1"),
            S.BAD_NUMBER.format(
                where="[sampler]", key="guidance", value=-1, rule="a number of at least 0"
            ),
        ),
        (
            ("[sampler]", "[sampler]\nwidth = 60"),
            S.BAD_NUMBER.format(
                where="[sampler]",
                key="width",
                value=60,
                rule="a multiple of 8 (the autoencoder downsamples by 8)",
            ),
        ),
        (
            ("[sampler]", "[sampler]\nsteps = true"),
            S.BAD_NUMBER.format(
                where="[sampler]", key="steps", value=True, rule="a whole number of at least 1"
            ),
        ),
        (
            ('label = "Variant pretrained"\n', ""),
            S.MISSING_KEY.format(where="variant 'pretrained'", key="label"),
        ),
        (
            ('label = "Variant pretrained"', 'label = "L"\nlora = "x"'),
            S.UNKNOWN_KEY.format(
                where="variant 'pretrained'", key="lora", allowed=", ".join(S.VARIANT_KEYS)
            ),
        ),
        (
            ('model = "tiny"', 'model = "./models/missing"'),
            S.MODEL_FOLDER_MISSING.format(
                where="variant 'pretrained'", path="{tmp}/models/missing"
            ),
        ),
        (
            ('id = "cn-1"', 'id = "cn-0"'),
            S.DUPLICATE_PROMPT_ID.format(
                prompt_id="cn-0", places="country 'CN' prompts[0], country 'CN' prompts[1]"
            ),
        ),
        (
            ('text = "A dish from CN number 0"\n', ""),
            S.MISSING_KEY.format(where="country 'CN' prompts[0]", key="text"),
        ),
        (
            ('adjective = "Land CNn"\n', ""),
            S.MISSING_KEY.format(where="country 'CN'", key="adjective"),
        ),
        (
            ('category = "food"', 'category = "food"\n  weight = 2'),
            S.UNKNOWN_KEY.format(
                where="country 'CN' prompts[0]", key="weight", allowed=", ".join(S.PROMPT_KEYS)
            ),
        ),
    ],
)
def test_each_mistake_gets_its_own_sentence(tmp_path, edit, expected):
    old, new = edit
    text = spec_text()
    assert old in text
    problems = problems_of(text.replace(old, new, 1), tmp_path)
    assert problems == [expected.replace("{tmp}", str(tmp_path))]


def test_a_spec_without_variants_or_countries_says_so(tmp_path):
    text = '[study]\nslug = "s"\ntitle = "t"\n[generation]\nseeds = [1]\n'
    assert problems_of(text, tmp_path) == [S.NO_VARIANTS, S.NO_COUNTRIES]


def test_a_prompt_without_any_seeds_is_a_problem(tmp_path):
    text = spec_text().replace("seeds = [1, 2]\n", "")
    problems = problems_of(text, tmp_path)
    assert problems == [
        S.NO_SEEDS.format(where=f"country 'CN' prompts[{n}]", prompt_id=f"cn-{n}") for n in range(2)
    ]


def test_a_duplicate_country_code_is_a_problem(tmp_path):
    text = spec_text(countries={"CN": 1})
    text += COUNTRY.format(code="CN", name="Again") + PROMPT.format(id="cn-9", text="Tea")
    problems = problems_of(text, tmp_path)
    assert problems == [
        S.DUPLICATE_COUNTRY_CODE.format(code="CN", places="countries[0], countries[1]")
    ]


def adapter_spec(tmp_path: Path) -> str:
    return spec_text().replace('model = "tiny"', 'model = "tiny"\nadapter = "lora"', 1)


def test_a_missing_adapter_folder_is_a_problem(tmp_path):
    assert problems_of(adapter_spec(tmp_path), tmp_path) == [
        S.ADAPTER_MISSING.format(where="variant 'pretrained'", path=tmp_path / "lora")
    ]


def test_an_adapter_that_is_a_file_is_a_problem(tmp_path):
    (tmp_path / "lora").write_text("not a folder")
    assert problems_of(adapter_spec(tmp_path), tmp_path) == [
        S.ADAPTER_NOT_A_FOLDER.format(where="variant 'pretrained'", path=tmp_path / "lora")
    ]


def test_an_adapter_folder_without_weights_is_a_problem(tmp_path):
    (tmp_path / "lora").mkdir()
    assert problems_of(adapter_spec(tmp_path), tmp_path) == [
        S.ADAPTER_WITHOUT_WEIGHTS.format(
            where="variant 'pretrained'", path=tmp_path / "lora", weights_file=S.LORA_WEIGHTS_FILE
        )
    ]


def test_an_unreadable_adapter_folder_is_a_problem(tmp_path, monkeypatch):
    folder = tmp_path / "lora"
    folder.mkdir()
    (folder / S.LORA_WEIGHTS_FILE).write_bytes(b"w")

    def refuse(path):
        raise PermissionError(13, "Permission denied")

    # chmod cannot lock out root (tests may run as root), so the refusal is simulated.
    monkeypatch.setattr(S.os, "listdir", refuse)
    assert problems_of(adapter_spec(tmp_path), tmp_path) == [
        S.ADAPTER_UNREADABLE.format(
            where="variant 'pretrained'", path=folder, reason="Permission denied"
        )
    ]


def test_a_hub_id_is_kept_as_given(tmp_path):
    text = spec_text(model="CompVis/stable-diffusion-v1-4")
    spec = parse_spec(text, path=tmp_path / "s.toml")
    assert spec.variants[0].model == "CompVis/stable-diffusion-v1-4"
    assert not spec.uses_only_tiny_model


def test_a_file_that_is_not_utf8_is_reported_as_unreadable(tmp_path):
    path = tmp_path / "study.toml"
    path.write_bytes(b"\xff\xfe[study]")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    [problem] = caught.value.problems
    assert problem.startswith(S.SPEC_UNREADABLE.split("{reason}")[0].format(path=path))


def test_invalid_toml_names_the_reason(tmp_path):
    [problem] = problems_of('[study]\nslug = "a"\nslug = "b"\n', tmp_path)
    assert problem.startswith(S.NOT_TOML.split("{reason}")[0])


def test_a_section_that_is_not_a_table_is_a_problem(tmp_path):
    # Top-level keys come before the first [table] in TOML.
    text = "sampler = 3\n" + spec_text().replace("[sampler]\n", "")
    assert problems_of(text, tmp_path) == [S.NOT_A_TABLE.format(where="[sampler]")]


def test_variants_that_are_not_an_array_of_tables_are_a_problem(tmp_path):
    text = 'variants = "pretrained"\n' + spec_text(variants=())
    assert problems_of(text, tmp_path) == [
        S.WRONG_TYPE.format(
            where="the spec", key="variants", expected="an array of tables ([[variants]])"
        )
    ]


def test_two_variants_reading_the_same_csv_column_is_a_problem(tmp_path):
    text = spec_text().replace('model = "tiny"', 'model = "tiny"\ncsv_column = "Generic"')
    assert problems_of(text, tmp_path) == [
        S.DUPLICATE_VARIANT_COLUMN.format(
            column="Generic", places="variant 'pretrained', variant 'scoft-mpc'"
        )
    ]


SURVEY_ONLY = """
[study]
slug = "s"
title = "How do these images show your culture?"

[[variants]]
key = "pretrained"
label = "Stable Diffusion"
model = "missing/folder/../x"
adapter = "adapters/none-yet"

[[countries]]
code = "KR"
name = "Korea"
adjective = "Korean"
"""


def test_the_survey_and_the_import_need_no_prompts_seeds_or_model_folders(tmp_path):
    for purpose in (S.Purpose.SURVEY, S.Purpose.IMPORT):
        spec = parse_spec(SURVEY_ONLY, path=tmp_path / "s.toml", purpose=purpose)
        assert spec.countries[0].prompts == () and spec.seeds == ()
        assert spec.countries[0].language == "en"  # the default language


def test_generating_needs_prompts_seeds_and_the_model_folders(tmp_path):
    with pytest.raises(SpecError) as caught:
        parse_spec(SURVEY_ONLY, path=tmp_path / "s.toml")
    text = str(caught.value)
    assert "has no prompts" in text and "model folder" in text and "adapter folder" in text


def test_the_survey_table_has_the_published_defaults_and_is_checked(tmp_path):
    spec = parse_spec(SURVEY_ONLY, path=tmp_path / "s.toml", purpose=S.Purpose.SURVEY)
    assert spec.survey.pages_per_participant == S.DEFAULT_PAGES_PER_PARTICIPANT == 10
    assert spec.survey.answers_per_image_set == S.DEFAULT_ANSWERS_PER_IMAGE_SET
    bad = SURVEY_ONLY + '[survey]\npages_per_participant = "ten"\ncompletion = "x"\n'
    with pytest.raises(SpecError) as caught:
        parse_spec(bad, path=tmp_path / "s.toml", purpose=S.Purpose.SURVEY)
    assert any("pages_per_participant" in p for p in caught.value.problems)
    assert any("unknown key 'completion'" in p for p in caught.value.problems)


def test_participant_text_that_names_a_variant_is_refused(tmp_path):
    text = SURVEY_ONLY + '[survey]\nconsent_text = "You will rank Stable Diffusion images."\n'
    with pytest.raises(SpecError) as caught:
        parse_spec(text, path=tmp_path / "s.toml", purpose=S.Purpose.SURVEY)
    assert caught.value.problems == [
        S.NAMES_VARIANT.format(where="[survey]", key="consent_text", word="Stable Diffusion")
    ]


@pytest.mark.parametrize(
    "title",
    [
        "How well do SCoFT images show your culture?",
        "Rank the pictures of the contrastive model",
        "Images from our fine tuned model",
        "Our LoRA pictures",
        "Perceptual quality of images",
        "Memorization in image models",
    ],
)
def test_a_title_naming_the_method_is_refused(tmp_path, title):
    text = SURVEY_ONLY.replace(
        'title = "', f'title = "{title}" # ', 1
    )
    with pytest.raises(SpecError) as caught:
        parse_spec(text, path=tmp_path / "s.toml", purpose=S.Purpose.SURVEY)
    assert any("'title' mentions the model variant" in p for p in caught.value.problems)


def test_a_title_naming_a_model_id_or_adapter_folder_is_refused():
    from study.blinding import unblinding_words, variant_words

    names = variant_words(key="v1", label="Base", model="org/tiny-sd", adapter="/x/run-42")
    assert unblinding_words("Made with tiny-sd", names) == ["tiny-sd"]
    assert unblinding_words("Round run-42 of the survey", names) == ["run-42"]
    assert unblinding_words("Flora and fauna of your country", names) == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("javascript:alert(1)", S.URL_NOT_HTTPS),
        ("app.prolific.com/submissions/complete?cc=X", S.URL_NOT_HTTPS),
        ("http://app.prolific.com/submissions/complete", S.URL_NOT_HTTPS),
        ("https://app.prolific.com@evil.example/x", S.URL_WITHOUT_HOST),
        ("https://", S.URL_WITHOUT_HOST),
    ],
)
def test_a_completion_url_must_be_an_https_link(tmp_path, url, reason):
    for key in ("completion_url", "prolific_completion_url"):
        text = SURVEY_ONLY + f'[survey]\n{key} = "{url}"\n'
        with pytest.raises(SpecError) as caught:
            parse_spec(text, path=tmp_path / "s.toml", purpose=S.Purpose.SURVEY)
        expected = S.BAD_COMPLETION_URL.format(
            where="[survey]", key=key, reason=reason.format(value=url)
        )
        assert caught.value.problems == [expected]


def test_an_older_specs_prolific_url_reads_as_the_completion_url(tmp_path):
    url = "https://app.prolific.com/submissions/complete?cc=AB12"
    text = SURVEY_ONLY + f'[survey]\nprolific_completion_url = "{url}"\n'
    spec = parse_spec(text, path=tmp_path / "s.toml", purpose=S.Purpose.SURVEY)
    assert (spec.survey.completion_url, spec.survey.recruitment_platform) == (url, "prolific")
# --- the survey's questions, checks and text in other languages (docs/survey.md) --------

CUSTOM_SURVEY = '''
[study]
slug = "own-questions"
title = "Images of daily life"
translations.ko = { title = "일상 생활의 이미지" }

[survey]
attention_checks = 3
seconds_per_page = 40
instructions = "Put the images in order."
translations.ko = { instructions = "이미지를 순서대로 놓으세요." }

[[survey.items]]
key = "alignment"

[[survey.items]]
key = "everyday"
question = "Rank the images by how ordinary they look to a {adjective} person."
best_end = "most ordinary"
worst_end = "least ordinary"
shows_prompt = true
  [survey.items.translations.ko]
  question = "{adjective} 사람에게 얼마나 평범해 보이는지에 따라 이미지의 순위를 매기세요."
  best_end = "가장 평범함"
  worst_end = "가장 덜 평범함"

[[countries]]
code = "KR"
name = "Korea"
adjective = "Korean"
language = "ko"
translations.ko = { adjective = "한국" }
  [[countries.prompts]]
  id = "kr-market"
  text = "A street market in Seoul"
  translations.ko = { text = "서울의 길거리 시장" }
  [[countries.prompts]]
  id = "kr-kitchen"
  text = "A family kitchen"
'''


def test_the_survey_takes_its_own_items_checks_and_translations(tmp_path):
    spec = parse_spec(CUSTOM_SURVEY, path=tmp_path / "s.toml", purpose=S.Purpose.SURVEY)
    alignment, everyday = spec.survey.items
    assert alignment.key == "alignment" and alignment.published_wording
    assert everyday.shows_prompt and not everyday.published_wording
    assert everyday.translations["ko"]["best_end"] == "가장 평범함"
    assert spec.survey.attention_checks == 3 and spec.survey.seconds_per_page == 40
    assert spec.translations == {"ko": {"title": "일상 생활의 이미지"}}
    assert spec.countries[0].translations["ko"]["adjective"] == "한국"
    assert spec.countries[0].prompts[0].translations["ko"]["text"] == "서울의 길거리 시장"
    # What Korean lacks: the consent text is the built-in one (the survey translates it).
    missing = spec.missing_translations(lambda language, text: text == "Korea")
    assert missing == {"ko": ["prompt 'kr-kitchen' text"]}
    assert spec.missing_translations()["ko"] == ["country 'KR' name", "prompt 'kr-kitchen' text"]


def test_without_items_the_survey_asks_the_four_published_questions(tmp_path):
    spec = parse_spec(SURVEY_ONLY, path=tmp_path / "s.toml", purpose=S.Purpose.SURVEY)
    assert [item.key for item in spec.survey.items] == list(S.PUBLISHED_ITEMS)
    assert all(item.published_wording for item in spec.survey.items)
    assert spec.survey.attention_checks == S.DEFAULT_ATTENTION_CHECKS


@pytest.mark.parametrize(
    ("survey", "expected"),
    [
        ("attention_checks = 7", S.TOO_MANY_CHECKS.format(where="[survey]", value=7)),
        ("attention_checks = -1", S.TOO_MANY_CHECKS.format(where="[survey]", value=-1)),
        ("seconds_per_page = 0", "[survey]: 'seconds_per_page' must be a whole number"),
        (
            '[[survey.items]]\nkey = "mine"\nquestion = "Rank them."\nbest_end = "best"',
            S.ITEM_NEEDS_WORDING.format(where="item 'mine'", key="worst_end"),
        ),
        (
            '[[survey.items]]\nkey = "culture"\nquestion = "Rank them."',
            S.PUBLISHED_ITEM_PARTLY.format(where="item 'culture'", key="culture"),
        ),
        (
            '[[survey.items]]\nkey = "alignment"\n[[survey.items]]\nkey = "alignment"',
            S.DUPLICATE_ITEM_KEY.format(
                key="alignment", places="[[survey.items]] 1, [[survey.items]] 2"
            ),
        ),
        (
            'translations.fr = { instructions = "x" }',
            S.BAD_LANGUAGE.format(where="[survey] translations", value="fr"),
        ),
        (
            'translations.ko = { consent = "x" }',
            S.BAD_TRANSLATION_FIELD.format(
                where="[survey]", language="ko", key="consent", allowed="consent_text, instructions"
            ),
        ),
        (
            'instructions = "Compare scoft-mpc with the others."',
            S.NAMES_VARIANT.format(where="[survey]", key="instructions", word="scoft-mpc"),
        ),
    ],
)
def test_a_mistake_in_the_survey_tables_names_its_field(tmp_path, survey, expected):
    text = spec_text().replace("[survey]", "[survey]\n" + survey, 1)
    if survey.startswith("[[survey.items]]"):
        text = spec_text() + "\n" + survey + "\n"
    with pytest.raises(SpecError) as caught:
        parse_spec(text, path=tmp_path / "s.toml")
    assert any(problem.startswith(expected) for problem in caught.value.problems), (
        caught.value.problems
    )


def test_an_import_spec_needs_only_the_slug(tmp_path):
    text = '[study]\nslug = "published"\ntitle = "The published survey"\n'
    spec = parse_spec(text, path=tmp_path / "s.toml", purpose=S.Purpose.IMPORT)
    assert spec.slug == "published" and spec.variants == () and spec.countries == ()
    variant = '[[variants]]\nkey = "pretrained"\nlabel = "SD"\ncsv_column = "Generic"\n'
    spec = parse_spec(text + variant, path=tmp_path / "s.toml", purpose=S.Purpose.IMPORT)
    assert spec.variants[0].model == "" and spec.variants[0].csv_column == "Generic"
