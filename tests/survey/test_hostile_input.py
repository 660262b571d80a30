"""Participant input an attacker sends (issue 13): strict numbers, body size, formula cells."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape

from survey.export import csv_text, export_stream
from survey.forms import FormValueError, page_ms_from_post, ranks_from_post
from survey.models import Participant, Ranking
from survey.services import participant_exclude
from survey.views import ERROR_FORM_DAMAGED

from .answered import answer_pages, china_and_india, recruit
from .test_hostile_requests import first_page  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["²", "١", "1²", "٣", "1" * 4, " 1 2", "+1", "1e2"])
def test_a_rank_that_is_not_plain_ascii_digits_is_unanswered(value):
    assert ranks_from_post({"rank-culture-1": value}) == {"culture": {1: None}}


@pytest.mark.parametrize("value", ["²", "٣", "1" * 10, "-5", "1.5"])
def test_a_malformed_time_on_page_is_refused(value):
    with pytest.raises(FormValueError):
        page_ms_from_post({"page_ms": value})


@pytest.mark.parametrize("change", [{"rank-culture-1": "²"}, {"page_ms": "²"}, {"page_ms": "٣"}])
def test_superscript_digits_are_a_400_with_the_page_shown_again(first_page, change):  # noqa: F811
    client, action, data = first_page
    response = client.post(action, {**data, **change})
    assert response.status_code == 400
    assert 'class="ranking"' in response.content.decode()
    if "page_ms" in change:
        assert escape(str(ERROR_FORM_DAMAGED)) in response.content.decode()
    assert not Ranking.objects.exists()


def test_a_large_multipart_body_is_refused_before_it_is_read(client, settings):
    study = china_and_india(sets_per_country=1, pages=1, answers=1)
    upload = SimpleUploadedFile("big.bin", b"\0" * (settings.REQUEST_BODY_MAX_BYTES + 1))
    response = client.post(f"/s/{study.public_id}/", {"file": upload})
    assert response.status_code == 413
    assert not Participant.objects.exists()


def test_a_small_multipart_form_still_enrols(client):
    study = china_and_india(sets_per_country=1, pages=1, answers=1)
    response = client.post(f"/s/{study.public_id}/", {"x": "1"})
    assert response.status_code == 302
    assert Participant.objects.count() == 1


@pytest.mark.parametrize("text", ["=HYPERLINK(1)", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_text_is_escaped(text):
    assert csv_text(text) == "'" + text


def test_exclusion_reasons_cannot_become_spreadsheet_formulas(ready_participant):
    study = china_and_india(sets_per_country=2, pages=1, answers=1)
    participant = answer_pages(ready_participant(study, "CN", recruit(1)))
    participant_exclude(participant=participant, reason='=HYPERLINK("http://x","y")')
    text = b"".join(export_stream(study=study, file_format="csv")).decode()
    reasons = {row["exclusion_reason"] for row in csv.DictReader(io.StringIO(text))}
    assert reasons == {"'=HYPERLINK(\"http://x\",\"y\")"}


def test_a_download_carries_its_length_row_count_and_checksum(admin_client, ready_participant):
    import base64
    import hashlib

    study = china_and_india(sets_per_country=2, pages=1, answers=1)
    answer_pages(ready_participant(study, "CN", recruit(1)))
    for file_format in ("csv", "parquet"):
        response = admin_client.get(f"/api/studies/{study.slug}/export/{file_format}/")
        assert response.status_code == 200
        body = b"".join(response.streaming_content)
        assert int(response["Content-Length"]) == len(body)
        digest = hashlib.sha256(body).digest()
        assert response["X-Export-SHA256"] == digest.hex()
        assert response["Repr-Digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
        assert int(response["X-Export-Rows"]) == Ranking.objects.count() * 1
    text = b"".join(admin_client.get(f"/api/studies/{study.slug}/export/csv/").streaming_content)
    assert len(list(csv.DictReader(io.StringIO(text.decode())))) == Ranking.objects.count()
