"""Participant images: sent as made at registration, privately cacheable, in a few queries."""

import os
import re
from html import unescape

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image

from generation.models import GeneratedImage
from survey.models import PageImage

from .factories import make_study
from .participants import ACTION, ATTENTION, ATTENTION_ANSWERS, IMAGE, SimulatedParticipant

pytestmark = pytest.mark.django_db

# Database queries per request, whatever the study's size (measured: 17, 29, 16 and 4
# on SQLite): session, study and participant, then the view's own work. A page that
# assigns the next image set also counts the sets' loads and writes the page, its
# images and its attention check. Raise a budget only with a reason.
PAGE_QUERY_BUDGET = 18
NEW_PAGE_QUERY_BUDGET = 30
SUBMIT_QUERY_BUDGET = 17
IMAGE_QUERY_BUDGET = 4


def on_first_page(study, seed=0):
    """A participant who has done the practice page, and the HTML of their first page."""
    bot = SimulatedParticipant(Client(), study, seed=seed)
    bot.start()
    bot.consent()
    bot.profile()
    bot.practice()
    page = bot.get(f"/s/{study.public_id}/rank/")
    assert page.status_code == 200
    return bot, bot.html(page)


def image_urls(html):
    return [unescape(src) for src in IMAGE.findall(html)]


def test_an_image_is_the_stored_copy_byte_for_byte_with_private_cache_headers():
    study = make_study(sets_per_country=2, pages=2)
    bot, html = on_first_page(study)
    url = image_urls(html)[0]
    response = bot.get(url)
    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content)
    shown = PageImage.objects.select_related("image").get(public_id=url.rsplit("/", 1)[-1])
    with default_storage.open(shown.image.copy_file) as handle:
        assert body == handle.read()
    assert int(response["Content-Length"]) == len(body) == shown.image.copy_bytes
    assert response["Content-Type"] == "image/webp"
    cache = {part.strip() for part in response["Cache-Control"].split(",")}
    assert "private" in cache and "max-age=86400" in cache
    assert not cache & {"no-store", "no-cache", "public"}
    assert "Content-Disposition" not in response
    # A browser revalidating its copy gets "not modified" and no body.
    again = bot.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_every_copy_of_a_page_has_the_same_size():
    study = make_study(sets_per_country=2, pages=2)
    bot, html = on_first_page(study)
    sizes = {len(b"".join(bot.get(url).streaming_content)) for url in image_urls(html)}
    assert len(sizes) == 1


def test_another_participants_image_is_not_found():
    study = make_study(sets_per_country=2, pages=2)
    _first, html = on_first_page(study, seed=1)
    second, _html = on_first_page(study, seed=2)
    assert second.get(image_urls(html)[0]).status_code == 404


def test_an_image_without_a_copy_is_not_found_rather_than_made_on_request():
    study = make_study(sets_per_country=2, pages=2)
    bot, html = on_first_page(study)
    GeneratedImage.objects.update(copy_file="")
    assert bot.get(image_urls(html)[0]).status_code == 404


def test_nginx_mode_hands_the_internal_path_to_nginx(settings):
    settings.SURVEY_IMAGE_SERVING = "x-accel-redirect"
    settings.SURVEY_IMAGE_ACCEL_PREFIX = "/protected-media/"
    study = make_study(sets_per_country=2, pages=2)
    bot, html = on_first_page(study)
    url = image_urls(html)[0]
    response = bot.get(url)
    shown = PageImage.objects.select_related("image").get(public_id=url.rsplit("/", 1)[-1])
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == "/protected-media/" + shown.image.copy_file
    assert response["Content-Type"] == "image/webp"
    assert "private" in response["Cache-Control"]


def test_apache_mode_names_the_file_on_disk(settings):
    settings.SURVEY_IMAGE_SERVING = "x-sendfile"
    study = make_study(sets_per_country=2, pages=2)
    bot, html = on_first_page(study)
    response = bot.get(image_urls(html)[0])
    path = response["X-Sendfile"]
    assert os.path.isabs(path) and response.content == b""
    with Image.open(path) as image:  # a real image file
        image.load()


def test_query_budget_of_a_participant_page(django_assert_max_num_queries):
    study = make_study(sets_per_country=6, pages=4)
    bot, _html = on_first_page(study)
    with django_assert_max_num_queries(PAGE_QUERY_BUDGET):
        response = bot.get(f"/s/{study.public_id}/rank/")  # the open page again
    assert response.status_code == 200


def test_query_budget_of_a_new_page_and_a_submit(django_assert_max_num_queries):
    study = make_study(sets_per_country=6, pages=4)
    bot, html = on_first_page(study)
    action = unescape(ACTION.search(html)[1])
    data = bot.answer(html)
    for name in {n for n, _v in ATTENTION.findall(html)}:
        data[name] = ATTENTION_ANSWERS[name]
    with django_assert_max_num_queries(SUBMIT_QUERY_BUDGET):
        response = bot.post(action, data)
    assert response.status_code == 302
    with django_assert_max_num_queries(NEW_PAGE_QUERY_BUDGET):  # assigns the next page
        response = bot.get(f"/s/{study.public_id}/rank/")
    assert response.status_code == 200


def test_query_budget_of_an_image(django_assert_max_num_queries):
    study = make_study(sets_per_country=6, pages=4)
    bot, html = on_first_page(study)
    with django_assert_max_num_queries(IMAGE_QUERY_BUDGET):
        response = bot.get(image_urls(html)[0])
    assert response.status_code == 200


def test_image_urls_carry_no_file_extension_or_format():
    study = make_study(sets_per_country=2, pages=2)
    _bot, html = on_first_page(study)
    for url in image_urls(html):
        assert re.fullmatch(rf"/s/{study.public_id}/image/[-\w]{{22}}", url)
