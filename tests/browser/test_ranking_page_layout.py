"""The ranking page in Chromium, at a desktop's and a phone's size, in every language.

With four real photographs (512 px, tests/survey/photographs.py) on the page, each
question is answered a different way (drag, arrow keys, the move buttons, "keep this
order"), and at the moment of each answer the test measures the images' boxes on the
screen: all four must be wholly in view and at least 240 CSS px on 1280x800, 160 CSS px
on 390x844, and the control just used must be visible, not covered by them. Any image
opens large (click or tap, Enter; the arrow keys step, Escape closes). A screenshot of
every language at both sizes goes to test-artifacts/survey/layout/.
"""

import dataclasses

import pytest
from django.utils import timezone

from study.spec import Prompt
from survey.models import Participant, Ranking
from survey.services import participant_consent, participant_profile_set, study_setup
from tests.survey.factories import COUNTRIES, make_variants, survey_spec
from tests.survey.photographs import make_photograph_sets

from .chromium import ARTIFACTS, new_page, playwright_api

SCREENS = {
    "desktop": ({"width": 1280, "height": 800}, 240),
    "phone": ({"width": 390, "height": 844}, 160),
}
TITLE = {
    "zh-hans": "这些图片能多好地展现你的文化？",
    "hi": "ये चित्र आपकी संस्कृति को कितनी अच्छी तरह दिखाते हैं?",
    "ko": "이 이미지들은 당신의 문화를 얼마나 잘 보여 주나요?",
    "es": "¿Qué tan bien muestran estas imágenes tu cultura?",
}
DESCRIPTION = {
    "zh-hans": "中国的日常生活",
    "hi": "भारत में रोज़मर्रा का जीवन",
    "ko": "한국의 일상생활",
    "es": "La vida cotidiana en México",
}
# What each language's page must say: the study's own title and description from the
# spec, and a sentence of the survey's own catalogue.
SAVE = {
    "en": "Save and continue",
    "zh-hans": "保存并继续",
    "hi": "सहेजें और आगे बढ़ें",
    "ko": "저장하고 계속",
    "es": "Guardar y continuar",
}
LAYOUT = ARTIFACTS / "layout"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MEASURE = """([min, control]) => {
  const width = window.innerWidth, height = window.innerHeight;
  const boxes = [...document.querySelectorAll('#gallery img')].map(img => {
    const r = img.getBoundingClientRect();
    return {top: r.top, left: r.left, bottom: r.bottom, right: r.right,
            width: r.width, height: r.height};
  });
  let controlSeen = null;
  if (control) {
    const el = document.querySelector(control);
    const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    controlSeen = r.top >= 0 && r.bottom <= height && !!hit && (hit === el || el.contains(hit));
  }
  return {width, height, boxes, controlSeen};
}"""


def spec_in_every_language():
    countries = []
    for country in COUNTRIES:
        prompt_id = f"{country.code.lower()}-photo-00"
        language = country.language
        translations = {language: {"text": DESCRIPTION[language]}} if language in TITLE else {}
        prompt = Prompt(prompt_id, "Everyday life", translations=translations)
        countries.append(dataclasses.replace(country, prompts=(prompt,)))
    spec = survey_spec(slug="photos", countries=countries, pages=1, answers=3)
    return dataclasses.replace(spec, translations={k: {"title": v} for k, v in TITLE.items()})


def measure(page, minimum, control=None):
    """The images' boxes now; fails unless all four are in view and big enough."""
    seen = page.evaluate(MEASURE, [minimum, control])
    for box in seen["boxes"]:
        assert box["top"] >= 0 and box["left"] >= 0, seen
        assert box["bottom"] <= seen["height"] + 0.5 and box["right"] <= seen["width"] + 0.5, seen
        assert min(box["width"], box["height"]) >= minimum, seen
    assert len(seen["boxes"]) == 4
    if control is not None:
        assert seen["controlSeen"], f"{control} is hidden at the moment it is used: {seen}"
    return min(min(box["width"], box["height"]) for box in seen["boxes"])


def enter_ranking_page(page, live_server, study, country):
    """Start in the browser, then consent and choose the country as the services would."""
    page.goto(f"{live_server.url}/s/{study.public_id}/")
    page.locator("form button[type=submit].primary").click()
    page.wait_for_url("**/consent/")
    participant = Participant.objects.get(study=study, country__isnull=True)
    participant_consent(participant=participant, agreed=True)
    participant_profile_set(
        participant=participant,
        country_code=country.code,
        demographics={"age": "25-34", "gender": "undisclosed", "years_in_country": "15+"},
    )
    participant.practice_done_at = timezone.now()
    participant.save(update_fields=["practice_done_at"])
    page.goto(f"{live_server.url}/s/{study.public_id}/rank/")
    page.wait_for_selector("fieldset[data-item='offensiveness'] .rank-row")
    page.wait_for_function(
        "[...document.querySelectorAll('#gallery img')].every(i => i.complete && i.naturalWidth)"
    )
    return participant


def answer_every_question(page, minimum, touch):
    """Each question answered another way; the images measured at each answer."""
    sizes = []
    # 1: drag image A below image B by its handle (mouse) or by the row (the mouse).
    rows = page.locator("fieldset[data-item='alignment'] .rank-row")
    # As a participant would: the whole list in view (its keep button is just below it).
    page.eval_on_selector(
        "fieldset[data-item='alignment'] button.keep", "el => el.scrollIntoView({block: 'end'})"
    )
    source, target = rows.nth(0).bounding_box(), rows.nth(1).bounding_box()
    page.mouse.move(source["x"] + source["width"] / 2, source["y"] + source["height"] / 2)
    page.mouse.down()
    page.mouse.move(target["x"] + 20, target["y"] + target["height"] - 3, steps=8)
    sizes.append(measure(page, minimum, "fieldset[data-item='alignment'] .rank-row.dragging"))
    page.mouse.up()
    assert page.locator("fieldset[data-item='alignment'] .rank-row").nth(1).get_attribute(
        "data-letter"
    ) == "A"
    # 2: arrow keys on a focused row.
    row = page.locator("fieldset[data-item='culture'] .rank-row[data-letter='C']")
    row.focus()
    page.keyboard.press("ArrowUp")
    sizes.append(measure(page, minimum, "fieldset[data-item='culture'] .rank-row:focus"))
    # 3: the move buttons (tapped on the phone).
    button = page.locator("fieldset[data-item='stereotypes'] .rank-row[data-letter='D'] .up")
    button.tap() if touch else button.click()
    sizes.append(
        measure(page, minimum, "fieldset[data-item='stereotypes'] .rank-row[data-letter='D'] .up")
    )
    # 4: keep the proposed order.
    keep = page.locator("fieldset[data-item='offensiveness'] button.keep")
    keep.tap() if touch else keep.click()
    sizes.append(measure(page, minimum, "fieldset[data-item='offensiveness'] button.keep"))
    return sizes


def open_large(page, minimum, touch):
    """Image B opens large by click or tap, image C by Enter; arrows step; Escape closes."""
    viewer = page.locator("#viewer")
    link_b = page.locator("#gallery a.enlarge[data-letter='B']")
    link_b.tap() if touch else link_b.click()
    playwright_api.expect(viewer).to_be_visible()
    large = page.locator("#viewer-image").bounding_box()
    assert min(large["width"], large["height"]) >= 1.8 * minimum
    assert page.locator("#viewer-name").inner_text().endswith("B")
    page.keyboard.press("ArrowRight")
    assert page.locator("#viewer-name").inner_text().endswith("C")
    page.keyboard.press("Escape")
    playwright_api.expect(viewer).to_be_hidden()
    # Back on the page, the focus is on the image last shown (the dialog's close event).
    page.wait_for_function("document.activeElement.dataset.letter === 'C'", timeout=5_000)
    page.locator("#gallery a.enlarge[data-letter='A']").focus()
    page.keyboard.press("Enter")
    playwright_api.expect(viewer).to_be_visible()
    assert page.locator("#viewer-name").inner_text().endswith("A")
    return viewer


@pytest.mark.parametrize("screen", list(SCREENS))
def test_every_question_is_answered_with_all_four_photographs_in_view(
    live_server, chromium, screen
):
    viewport, minimum = SCREENS[screen]
    spec = spec_in_every_language()
    study, _ = study_setup(spec=spec)
    variants = make_variants(study.slug)
    for country in spec.countries:
        make_photograph_sets(study.slug, country.code, 1, variants)
    LAYOUT.mkdir(parents=True, exist_ok=True)
    touch = screen == "phone"
    measured = {}
    for country in spec.countries:
        language = country.language
        page = new_page(chromium, viewport=viewport, has_touch=touch, is_mobile=touch)
        participant = enter_ranking_page(page, live_server, study, country)
        html = page.content()
        assert SAVE[language] in html
        if language in TITLE:
            assert TITLE[language] in html and DESCRIPTION[language] in html
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        sizes = answer_every_question(page, minimum, touch)
        measured[language] = min(sizes)
        page.screenshot(path=str(LAYOUT / f"ranking-{language}-{screen}.png"))
        viewer = open_large(page, minimum, touch)
        page.screenshot(path=str(LAYOUT / f"enlarged-{language}-{screen}.png"))
        page.keyboard.press("Escape")
        playwright_api.expect(viewer).to_be_hidden()
        for check in participant.attention_checks.all():
            page.locator(f"input[name='attention-{check.key}'][value='{check.expected}']").check()
        page.locator("form.ranking button[type=submit]").click()
        page.wait_for_selector("#completion-code")
        assert Ranking.objects.filter(page__participant=participant).count() == 16
        page.context.close()
    # The smallest image side seen at any answer, per language (printed with -s).
    print(screen, {language: round(size) for language, size in measured.items()})
