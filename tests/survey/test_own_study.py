"""A researcher's own study design, from the spec alone: own questions, three attention
checks, and the study's text in Korean, taken through the participant pages."""

import csv
import io
from html import unescape

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from survey.models import AttentionCheck, Participant, Study
from survey.services import ERROR_ITEMS_ANSWERED
from survey.texts import consent_minutes

from .factories import make_image_sets
from .participants import SimulatedParticipant

pytestmark = pytest.mark.django_db

SPEC = """
[study]
slug = "everyday-life"
title = "Pictures of everyday life"
translations.ko = { title = "일상 생활의 사진" }

[survey]
pages_per_participant = 4
answers_per_image_set = 2
attention_checks = 3
seconds_per_page = 40
consent_text = "A study of pictures. It takes about {minutes} minutes."
instructions = "Put the pictures in order for each question."
  [survey.translations.ko]
  consent_text = "사진에 관한 연구입니다. 약 {minutes}분 걸립니다."
  instructions = "질문마다 사진을 순서대로 놓으세요."

[[survey.items]]
key = "ordinary"
question = "Rank the pictures by how ordinary they look to a {adjective} person."
best_end = "most ordinary"
worst_end = "least ordinary"
shows_prompt = true
  [survey.items.translations.ko]
  question = "{adjective} 사람에게 얼마나 평범해 보이는지에 따라 사진의 순위를 매기세요."
  best_end = "가장 평범함"
  worst_end = "가장 덜 평범함"

[[survey.items]]
key = "respectful"
question = "Rank the pictures by how respectfully they show people."
best_end = "most respectful"
worst_end = "least respectful"
note = "Think of the people, not the picture quality."
  [survey.items.translations.ko]
  question = "사람들을 얼마나 존중하며 보여 주는지에 따라 사진의 순위를 매기세요."
  best_end = "가장 존중함"
  worst_end = "가장 덜 존중함"
  note = "사진의 품질이 아니라 사람들을 생각하세요."

[[survey.items]]
key = "stereotypes"

[[countries]]
code = "KR"
name = "Korea"
adjective = "Korean"
language = "ko"
translations.ko = { adjective = "한국" }
  [[countries.prompts]]
  id = "kr-00"
  text = "A street market in KR, scene 0"
  translations.ko = { text = "서울의 길거리 시장" }
"""


def setup(tmp_path, text=SPEC):
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    call_command("setup_study", str(path), stdout=out)
    return Study.objects.get(slug="everyday-life"), out.getvalue()


def test_own_questions_three_checks_and_korean_text_run_through_the_pages(tmp_path):
    study, report = setup(tmp_path)
    # Every text has its Korean; the country's name is translated by the catalogue.
    assert "Every language of the study has all its texts." in report
    assert "3 attention checks" in report
    assert [item.key for item in study.items.all()] == ["ordinary", "respectful", "stereotypes"]
    make_image_sets(study.slug, "KR", 4)

    bot = SimulatedParticipant(Client(), study, country="KR")
    bot.start()
    bot.consent()
    bot.profile()  # Korea: the pages are in Korean from here on
    practice = unescape(bot.get(f"/s/{study.public_id}/practice/").content.decode())
    assert "<title>일상 생활의 사진</title>" in practice  # the title, from the spec
    assert "질문마다 사진을 순서대로 놓으세요." in practice
    bot.practice()
    first = unescape(bot.get(f"/s/{study.public_id}/rank/").content.decode())
    assert "한국 사람에게 얼마나 평범해 보이는지" in first  # own item, own adjective
    assert "사람들을 얼마나 존중하며" in first
    assert "가장 덜 존중함" in first
    # The published item keeps its catalogue translation, with the spec's adjective.
    assert "이미지가 한국 문화에 대해 얼마나 고정관념적인지" in first
    final = bot.rank_pages(fetch_images=False)
    assert final.status_code == 302 and "/done/" in final["Location"]

    participant = Participant.objects.get(study=study)
    assert participant.attention_ok is True
    checks = AttentionCheck.objects.filter(participant=participant)
    assert checks.count() == 3 and all(check.passed for check in checks)
    assert len({check.page_id for check in checks}) == 3  # spread over three pages

    out = tmp_path / "rankings.csv"
    call_command("export_rankings", study.slug, "--format", "csv", "--out", str(out))
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["item"] for row in rows} == {"ordinary", "respectful", "stereotypes"}
    assert len(rows) == 4 * 3 * 4  # pages x items x images


def test_the_consent_text_says_how_long_at_the_measured_pace(tmp_path):
    study, _report = setup(tmp_path)
    # 4 pages at the spec's 40 s plus the start (2.5 min): about 5 minutes.
    assert consent_minutes(study) == 5
    bot = SimulatedParticipant(Client(), study, country="KR")
    bot.start()
    html = unescape(bot.get(f"/s/{study.public_id}/consent/").content.decode())
    assert "A study of pictures. It takes about 5 minutes." in html
    client = Client(HTTP_ACCEPT_LANGUAGE="ko")
    client.cookies["django_language"] = "ko"
    korean = SimulatedParticipant(client, study, country="KR")
    korean.start()
    html = unescape(korean.get(f"/s/{study.public_id}/consent/").content.decode())
    assert "약 5분 걸립니다." in html


def test_a_language_missing_texts_is_reported_and_shown_in_english(tmp_path):
    text = SPEC.replace('translations.ko = { text = "서울의 길거리 시장" }', "")
    text = text.replace('translations.ko = { title = "일상 생활의 사진" }', "")
    study, report = setup(tmp_path, text)
    expected = "ko (한국어) is incomplete; shown in English: [study] title, prompt 'kr-00' text."
    assert expected in report
    make_image_sets(study.slug, "KR", 1)
    bot = SimulatedParticipant(Client(), study, country="KR")
    bot.start()
    bot.consent()
    bot.profile()
    bot.practice()
    html = unescape(bot.get(f"/s/{study.public_id}/rank/").content.decode())
    assert "Pictures of everyday life" in html and "A street market in KR, scene 0" in html


def test_the_questions_cannot_change_once_the_study_has_answers(tmp_path):
    study, _report = setup(tmp_path)
    make_image_sets(study.slug, "KR", 4)
    SimulatedParticipant(Client(), study, country="KR").take_study(fetch_images=False)
    fewer = SPEC.replace('[[survey.items]]\nkey = "stereotypes"\n', "")
    path = tmp_path / "study.toml"
    path.write_text(fewer, encoding="utf-8")
    with pytest.raises(CommandError) as caught:
        call_command("setup_study", str(path), stdout=io.StringIO())
    assert str(caught.value) == ERROR_ITEMS_ANSWERED.format(
        slug="everyday-life",
        old="ordinary, respectful, stereotypes",
        new="ordinary, respectful",
    )
    # Rewording is fine.
    path.write_text(SPEC.replace("most respectful", "the most respectful"), encoding="utf-8")
    call_command("setup_study", str(path), stdout=io.StringIO())
    assert study.items.get(key="respectful").best_end == "the most respectful"


def test_the_built_in_consent_text_gives_the_duration_in_the_participants_language():
    from .factories import COUNTRIES, make_study

    study = make_study(sets_per_country=1, pages=10, countries=[COUNTRIES[3]])
    assert consent_minutes(study) == 15  # 10 pages at the default 75 s, and the start
    client = Client()
    client.cookies["django_language"] = "ko"
    bot = SimulatedParticipant(client, study, country="KR")
    bot.start()
    html = unescape(bot.get(f"/s/{study.public_id}/consent/").content.decode())
    assert "약 15분이 걸립니다." in html


def test_once_pages_are_answered_the_duration_follows_the_measured_pace(ready_participant):
    from .answered import answer_pages, recruit
    from .factories import COUNTRIES, make_study

    study = make_study(sets_per_country=4, pages=4, answers=10, countries=[COUNTRIES[0]])
    assert consent_minutes(study) == 8  # 4 pages at the default 75 s and the start
    for number in range(4):
        answer_pages(ready_participant(study, "NG", recruit(number)), page_ms=120_000)
    assert consent_minutes(study) == 8  # 16 pages: not yet enough to trust
    answer_pages(ready_participant(study, "NG", recruit(9)), page_ms=120_000)
    assert consent_minutes(study) == 11  # 20 pages at 2 minutes: 4 x 2 + 2.5
