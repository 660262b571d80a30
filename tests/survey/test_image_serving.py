"""Participant images: sent as made at registration, privately cacheable, by sealed links
that need no query."""

import os
import re
import time
from html import unescape

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image

from generation.models import GeneratedImage
from survey import image_links

from .factories import make_study
from .participants import ACTION, ATTENTION, ATTENTION_ANSWERS, IMAGE, SimulatedParticipant

pytestmark = pytest.mark.django_db

# Database queries per request, whatever the study's size (measured on SQLite and
# PostgreSQL, savepoints counted: 12, 16, 13 and 0; before image links and the leaner
# assignment, 17, 29, 16 and 4): session, study and participant, then the view's own
# work. A page that assigns the next image set also reads the sets' loads and writes
# the page, its images and its attention check. An image reads nothing: its link says
# it all. Raise a budget only with a reason.
PAGE_QUERY_BUDGET = 12
NEW_PAGE_QUERY_BUDGET = 16
SUBMIT_QUERY_BUDGET = 13
IMAGE_QUERY_BUDGET = 0


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


def copy_of(bot, study, url) -> GeneratedImage:
    """The image a link names, found the way the server reads it."""
    viewer = bot.client.cookies[image_links.VIEWER_COOKIE].value
    linked = image_links.link_open(
        url.rsplit("/", 1)[-1], study_public_id=study.public_id, viewer=viewer
    )
    return GeneratedImage.objects.get(copy_file=linked.name)


def test_an_image_is_the_stored_copy_byte_for_byte_with_private_cache_headers():
    study = make_study(sets_per_country=2, pages=2)
    bot, html = on_first_page(study)
    url = image_urls(html)[0]
    response = bot.get(url)
    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content)
    copy = copy_of(bot, study, url)
    with default_storage.open(copy.copy_file) as handle:
        assert body == handle.read()
    assert int(response["Content-Length"]) == len(body) == copy.copy_bytes
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
    bot, _html = on_first_page(study)
    GeneratedImage.objects.update(copy_file="")
    html = bot.html(bot.get(f"/s/{study.public_id}/rank/"))
    assert bot.get(image_urls(html)[0]).status_code == 404


def test_a_copy_gone_from_storage_is_not_found():
    study = make_study(sets_per_country=2, pages=2)
    bot, html = on_first_page(study)
    url = image_urls(html)[0]
    default_storage.delete(copy_of(bot, study, url).copy_file)
    assert bot.get(url).status_code == 404


def test_a_changed_link_or_another_study_opens_nothing():
    study = make_study(sets_per_country=2, pages=2)
    other = make_study(slug="other", sets_per_country=2, pages=2)
    bot, html = on_first_page(study)
    url = image_urls(html)[0]
    link = url.rsplit("/", 1)[-1]
    flipped = link[:40] + ("A" if link[40] != "A" else "B") + link[41:]
    assert bot.get(url.replace(link, flipped)).status_code == 404
    assert bot.get(url.replace(link, link[:-3])).status_code == 404
    assert bot.get(url.replace(link, "not-base64!")).status_code == 404
    assert bot.get(url.replace(study.public_id, other.public_id)).status_code == 404
    assert bot.get(url).status_code == 200


def test_a_link_expires_and_a_page_shown_again_gets_fresh_ones(settings, monkeypatch):
    settings.SURVEY_IMAGE_MAX_AGE = 100
    study = make_study(sets_per_country=2, pages=2)
    bot, html = on_first_page(study)
    url = image_urls(html)[0]
    assert bot.get(url).status_code == 200
    later = time.time() + 201
    monkeypatch.setattr(image_links.time, "time", lambda: later)
    assert bot.get(url).status_code == 404
    fresh = image_urls(bot.html(bot.get(f"/s/{study.public_id}/rank/")))[0]
    assert fresh != url and bot.get(fresh).status_code == 200


def test_the_same_page_shown_again_keeps_its_links_so_the_browser_cache_works():
    study = make_study(sets_per_country=2, pages=2)
    bot, html = on_first_page(study)
    again = bot.html(bot.get(f"/s/{study.public_id}/rank/"))
    assert image_urls(again) == image_urls(html)


def test_links_survive_a_secret_key_rotation(settings):
    study = make_study(sets_per_country=2, pages=2)
    bot, html = on_first_page(study)
    url = image_urls(html)[0]
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old]
    assert bot.get(url).status_code == 200
    settings.SECRET_KEY_FALLBACKS = []
    assert bot.get(url).status_code == 404


def test_the_link_says_nothing_of_the_copy():
    study = make_study(sets_per_country=2, pages=2)
    bot, html = on_first_page(study)
    for url in image_urls(html):
        copy = copy_of(bot, study, url)
        stem = copy.copy_file.rsplit("/", 1)[-1].split(".")[0]
        assert stem not in url and copy.copy_format not in url
        response = bot.get(url)
        assert stem not in response["ETag"]


def test_nginx_mode_hands_the_internal_path_to_nginx(settings):
    settings.SURVEY_IMAGE_SERVING = "x-accel-redirect"
    settings.SURVEY_IMAGE_ACCEL_PREFIX = "/protected-media/"
    study = make_study(sets_per_country=2, pages=2)
    bot, html = on_first_page(study)
    url = image_urls(html)[0]
    response = bot.get(url)
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == "/protected-media/" + copy_of(bot, study, url).copy_file
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
        assert re.fullmatch(rf"/s/{study.public_id}/image/[-\w]{{100,200}}", url)
