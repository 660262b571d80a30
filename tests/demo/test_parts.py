"""The demo's parts on their own: spec, preference, page reading, options, report note."""

import html
import tomllib

import numpy as np
import pytest

from demo.__main__ import NOT_ENOUGH, parser, plan_from
from demo.bots import Bot, BotResult, BotSettings, asked_category, page_description, page_errors
from demo.pages import read_form
from demo.plan import DemoPlan
from demo.preference import UNKNOWN_CATEGORY, judge, noisy_ranks
from demo.report_note import mark_report_simulated, simulated_note
from demo.study_spec import study_spec_text
from study.spec import Purpose, parse_spec
from toyworld.detectors import detector_depictions, fit_detectors
from toyworld.world import CATEGORIES, Depiction, render_array

ATTENTION_PAGE = """
<form class="language" method="post" action="/language/"><input type="hidden"
 name="csrfmiddlewaretoken" value="lang"><select name="language"><option value="en">en</option>
</select></form>
<form method="post" action="/s/abc/rank/p1/" class="ranking">
<input type="hidden" name="csrfmiddlewaretoken" value="tok">
<select id="rank-culture-1" name="rank-culture-1" data-src="/s/abc/image/x.png">
<option value="">-</option><option value="1">1</option><option value="2">2</option></select>
<fieldset class="attention"><legend>This question checks attention. Please choose the
 number seven below.</legend>
<p><input type="radio" id="a-3" name="attention-number" value="3"><label for="a-3">three</label></p>
<p><input type="radio" id="a-7" name="attention-number" value="7"><label for="a-7">seven</label></p>
</fieldset></form>
"""


def test_the_demo_spec_is_accepted_by_generate_batch_and_setup_study(tmp_path):
    plan = DemoPlan(var=tmp_path, base_model="tiny")
    for variant in ("scoft-m", "scoft-mp", "scoft-mpc"):  # what training leaves behind
        plan.adapter_dir(variant).mkdir(parents=True)
        (plan.adapter_dir(variant) / "pytorch_lora_weights.safetensors").write_bytes(b"{}")
    data = tomllib.loads(study_spec_text(plan))
    spec = parse_spec(study_spec_text(plan), path=tmp_path / "study.toml")
    survey = parse_spec(study_spec_text(plan), path=tmp_path / "study.toml", purpose=Purpose.SURVEY)
    assert [v.key for v in spec.variants] == ["pretrained", "scoft-m", "scoft-mp", "scoft-mpc"]
    assert spec.image_set_count == plan.image_sets_expected == 40
    assert [c.name for c in survey.countries] == [
        "Veloria", "Quenzar", "Ildarin", "Mossavi", "Tukaro",
    ]  # fmt: skip
    assert data["countries"][1]["prompts"][0]["text"] == "a house in Quenzar"


@pytest.fixture(scope="module")
def detectors():
    items = detector_depictions(60, seed=5)
    images = np.stack([render_array(depiction, seed) for depiction, seed in items])
    return fit_detectors(images, [depiction for depiction, _ in items])


def test_without_noise_a_participant_ranks_their_own_clean_motif_first(detectors):
    shown = [
        Depiction("Quenzar", "house", "Quenzar", grime=True),
        Depiction("Quenzar", "house", "generic"),
        Depiction("Quenzar", "house", "Quenzar"),
        Depiction("Quenzar", "house", "Veloria", grime=True),
    ]
    images = np.stack([render_array(depiction, 77) for depiction in shown])
    judgement = judge(detectors, images, "Quenzar")
    rng = np.random.default_rng(0)
    for item in ("alignment", "culture", "stereotypes", "offensiveness"):
        ranks = noisy_ranks(judgement, item, rng, noise=0.0)
        assert ranks[2] == 1
        assert sorted(ranks) == [1, 2, 3, 4]
    assert noisy_ranks(judgement, "stereotypes", rng, noise=0.0)[3] == 4


def test_for_alignment_a_participant_ranks_the_object_described_first(detectors):
    shown = [Depiction("Quenzar", category, "Quenzar") for category in CATEGORIES]
    images = np.stack([render_array(depiction, 77) for depiction in shown])
    rng = np.random.default_rng(0)
    for asked in CATEGORIES:
        judgement = judge(detectors, images, "Quenzar", category=asked)
        ranks = noisy_ranks(judgement, "alignment", rng, noise=0.0)
        assert ranks[CATEGORIES.index(asked)] == 1, asked
    # The other items do not read the description.
    judgement = judge(detectors, images, "Quenzar", category="dish")
    unprompted = judge(detectors, images, "Quenzar")
    culture_ranks = noisy_ranks(judgement, "culture", rng, 0.0)
    assert culture_ranks == noisy_ranks(unprompted, "culture", rng, 0.0)


def test_a_bot_reads_the_description_and_the_object_it_asks_for():
    html = (
        '<fieldset class="item"><legend>Question 1: ...</legend><p class="prompt">'
        "<span>Description:</span> <q>an instrument in Tukaro</q></p></fieldset>"
    )
    assert page_description(html) == "an instrument in Tukaro"
    assert asked_category(page_description(html)) == "instrument"
    assert page_description("<p>no prompt</p>") == "" and asked_category("") is None


def test_an_unknown_described_object_is_refused(detectors):
    images = np.stack([render_array(Depiction("Tukaro", "dish", "Tukaro"), 1)])
    with pytest.raises(ValueError) as error:
        judge(detectors, images, "Tukaro", category="boat")
    assert str(error.value) == UNKNOWN_CATEGORY.format(name="boat", known=", ".join(CATEGORIES))


def test_noisy_rankings_are_permutations_that_vary(detectors):
    images = np.stack([render_array(d, s) for d, s in detector_depictions(4, seed=9)])
    judgement = judge(detectors, images, "Tukaro")
    rng = np.random.default_rng(1)
    draws = {tuple(noisy_ranks(judgement, "culture", rng, noise=5.0)) for _ in range(30)}
    assert all(sorted(d) == [1, 2, 3, 4] for d in draws)
    assert len(draws) > 1


def test_a_bot_reads_the_attention_question_and_chooses_what_it_asks():
    form = read_form(ATTENTION_PAGE)
    assert form.action == "/s/abc/rank/p1/"
    assert form.hidden == {"csrfmiddlewaretoken": "tok"}
    assert form.selects[0].image == "/s/abc/image/x.png"
    check = form.fieldsets[0]
    result = BotResult(recruit_id="SIMULATED-1", country="QU")
    careful = Bot(None, "", "QU", {"QU": "Quenzar"}, None, np.random.default_rng(0),
                  BotSettings(lapse=0.0), result)  # fmt: skip
    assert careful.attention_answer(check, form) == "7"
    careless = Bot(None, "", "QU", {"QU": "Quenzar"}, None, np.random.default_rng(0),
                   BotSettings(lapse=1.0), result)  # fmt: skip
    assert careless.attention_answer(check, form) == "3"
    assert result.attention_failed == 1


def test_impossible_options_are_refused_with_a_sentence():
    args = parser().parse_args(["--train-steps", "0"])
    with pytest.raises(ValueError) as error:
        plan_from(args)
    assert str(error.value) == NOT_ENOUGH.format(name="train-steps", minimum=1, value=0)


def test_the_report_says_at_the_top_that_participants_are_simulated(tmp_path):
    (tmp_path / "report.md").write_text("# Rankings report: toy-demo\n\nBody.\n")
    (tmp_path / "report.html").write_text("<html><body><h1>Report</h1></body></html>")
    mark_report_simulated(tmp_path, bots=3, total=4)
    mark_report_simulated(tmp_path, bots=3, total=4)  # a rerun adds nothing twice
    note = simulated_note(3, 4)
    markdown = (tmp_path / "report.md").read_text()
    assert markdown.startswith("# Rankings report") and markdown.count(note) == 1
    page = (tmp_path / "report.html").read_text()
    shown = html.escape(note)
    assert page.index(shown) < page.index("<h1>") and page.count(shown) == 1
    assert (tmp_path / "SIMULATED.txt").read_text().strip() == note


def test_a_refused_answer_is_reported_with_the_message_the_participant_reads():
    page = (
        '<main><div class="errors" role="alert" id="errors"><p>Please check:</p>'
        "<ul><li>This country&#x27;s images have all the answers the study needs.</li></ul>"
        "</div></main>"
    )
    assert page_errors(page) == "This country's images have all the answers the study needs."
    assert page_errors("<main>fine</main>") == ""
