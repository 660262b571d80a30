"""A participant takes the study in headless Chromium, from landing to completion code.

Ranks one page by dragging with the mouse and another with the keyboard, at phone
width, and saves a screenshot of every step under test-artifacts/.
"""

import pytest

from survey.models import Page, Participant, Ranking
from tests.survey.factories import COUNTRIES, make_study

from .chromium import ARTIFACTS, new_page, playwright_api

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page(chromium):
    return new_page(chromium)


def shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def select_values(page, item):
    """position -> rank as the hidden select boxes (what the form submits) hold them."""
    values = page.eval_on_selector_all(
        f"fieldset[data-item='{item}'] select",
        "els => els.map(e => [e.name, e.value])",
    )
    return {int(name.rsplit("-", 1)[1]): int(value) for name, value in values if value}


def row_letters(page, item):
    return page.eval_on_selector_all(
        f"fieldset[data-item='{item}'] .rank-row", "rows => rows.map(r => r.dataset.letter)"
    )


def answer_attention(page):
    for name, value in (("attention-colour", "purple"), ("attention-number", "7")):
        radio = page.locator(f"input[name='{name}'][value='{value}']")
        if radio.count():
            radio.check()


def test_a_participant_ranks_by_drag_and_drop_and_by_keyboard_to_the_completion_code(
    live_server, browser_page
):
    make_study(sets_per_country=2, pages=2, countries=COUNTRIES[:1], completion_code="C0DE42")
    page = browser_page
    page.goto(live_server.url + "/")
    shot(page, "1-landing")
    page.get_by_role("button", name="Start").click()

    page.get_by_label("I have read the information above").check()
    shot(page, "2-consent")
    page.get_by_role("button", name="Continue").click()

    page.get_by_label("Nigeria").check()
    page.get_by_label("How old are you?").select_option("25-34")
    page.get_by_label("What is your gender?").select_option("undisclosed")
    page.get_by_label("How many years have you lived").select_option("15+")
    shot(page, "3-about-you")
    page.get_by_role("button", name="Continue").click()

    # Practice: the selects are replaced by a sortable list; the buttons work.
    page.wait_for_selector("fieldset[data-item='practice'] .rank-row")
    playwright_api.expect(page.locator(".rank-selects").first).to_be_hidden()
    page.get_by_role("button", name="Move image A down").click()
    assert row_letters(page, "practice") == ["B", "A", "C", "D"]
    shot(page, "4-practice")
    page.get_by_role("button", name="Start the study").click()

    # Page 1: the shuffled order is not an answer until the participant acts on it.
    page.wait_for_selector("fieldset[data-item='alignment'] .rank-row")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.get_by_role("button", name="Save and continue").click()
    problems = page.locator("#errors").inner_text()
    assert "Question 1: put the images in order" in problems and "Question 4:" in problems
    assert select_values(page, "culture") == {}
    assert not Ranking.objects.exists()

    # Drag image A from the top of question 1 below image D; keep the others' order.
    rows = page.locator("fieldset[data-item='alignment'] .rank-row")
    rows.nth(3).scroll_into_view_if_needed()
    rows.nth(0).scroll_into_view_if_needed()
    source, target = rows.nth(0).bounding_box(), rows.nth(3).bounding_box()
    page.mouse.move(source["x"] + source["width"] / 2, source["y"] + source["height"] / 2)
    page.mouse.down()
    # A real drag passes over the rows in between and ends on the lower half of D.
    page.mouse.move(target["x"] + 20, target["y"] + target["height"] - 4, steps=12)
    page.mouse.up()
    assert row_letters(page, "alignment") == ["B", "C", "D", "A"]
    dragged = select_values(page, "alignment")
    assert dragged == {1: 4, 2: 1, 3: 2, 4: 3}
    for number in (2, 3, 4):
        page.get_by_role("button", name=f"Keep this order for question {number}").click()
    assert select_values(page, "culture") == {1: 1, 2: 2, 3: 3, 4: 4}
    answer_attention(page)
    shot(page, "5-page-1-dragged")
    page.get_by_role("button", name="Save and continue").click()

    # Page 2: move image D to the top of question 2 with the arrow keys.
    page.wait_for_selector("h1:has-text('Page 2 of 2')")
    row_d = page.locator("fieldset[data-item='culture'] .rank-row[data-letter='D']")
    row_d.focus()
    for _ in range(3):
        page.keyboard.press("ArrowUp")
    assert row_letters(page, "culture") == ["D", "A", "B", "C"]
    assert page.locator("#announcer").inner_text() == "Image D is now rank 1 of 4."
    keyed = select_values(page, "culture")
    assert keyed == {4: 1, 1: 2, 2: 3, 3: 4}
    for number in (1, 3, 4):
        keep = page.get_by_role("button", name=f"Keep this order for question {number}")
        keep.focus()
        page.keyboard.press("Enter")
    answer_attention(page)
    shot(page, "6-page-2-keyboard")
    page.get_by_role("button", name="Save and continue").click()

    page.wait_for_selector("#completion-code")
    assert page.locator("#completion-code").inner_text() == "C0DE42"
    shot(page, "7-done")

    participant = Participant.objects.get()
    assert participant.completion_code == "C0DE42" and participant.attention_ok is True
    first, second = Page.objects.filter(participant=participant).order_by("index")
    stored_first = dict(
        Ranking.objects.filter(page=first, item__key="alignment").values_list(
            "page_image__position", "rank"
        )
    )
    stored_second = dict(
        Ranking.objects.filter(page=second, item__key="culture").values_list(
            "page_image__position", "rank"
        )
    )
    assert stored_first == dragged and stored_second == keyed
    assert first.page_ms is not None and first.page_ms > 0


def test_without_javascript_the_select_boxes_submit_the_same_form(live_server, chromium):
    make_study(sets_per_country=1, pages=1, countries=COUNTRIES[:1], completion_code="N0JS01")
    page = new_page(chromium, java_script_enabled=False)
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Start").click()
    page.get_by_label("I have read the information above").check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Nigeria").check()
    for label, value in (("How old", "55-64"), ("gender", "woman"), ("How many years", "5-14")):
        page.get_by_label(label).select_option(value)
    page.get_by_role("button", name="Continue").click()

    def rank_all(item_keys, order):
        for key in item_keys:
            for position, rank in zip((1, 2, 3, 4), order, strict=True):
                page.locator(f"select[name='rank-{key}-{position}']").select_option(str(rank))

    rank_all(["practice"], (1, 2, 3, 4))
    page.get_by_role("button", name="Start the study").click()
    items = ["alignment", "culture", "stereotypes", "offensiveness"]
    # A mistake first: the page says what is wrong and keeps the answers.
    rank_all(items, (1, 1, 3, 4))
    answer_attention(page)
    page.get_by_role("button", name="Save and continue").click()
    assert "use each rank from 1 to 4 exactly once" in page.locator("#errors").inner_text()
    assert not Ranking.objects.exists()
    rank_all(items, (2, 4, 1, 3))
    answer_attention(page)
    shot(page, "8-no-javascript")
    page.get_by_role("button", name="Save and continue").click()
    assert page.locator("#completion-code").inner_text() == "N0JS01"
    stored = set(Ranking.objects.values_list("item__key", "page_image__position", "rank"))
    sent = dict(zip((1, 2, 3, 4), (2, 4, 1, 3), strict=True))
    assert stored == {(key, position, rank) for key in items for position, rank in sent.items()}
