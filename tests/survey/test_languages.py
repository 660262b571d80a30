"""Languages: every participant sentence is translated, and pages follow the choice."""

import ast
import gettext
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils.translation import to_locale

from .factories import COUNTRIES, make_study
from .participants import SimulatedParticipant

LOCALE = Path(settings.BASE_DIR) / "survey" / "locale"
TRANSLATED = [code for code, _name in settings.LANGUAGES if code != "en"]


def po_msgids(path: Path) -> list[str]:
    """The msgids of a .po file (continuation lines joined)."""
    ids, current, reading = [], None, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("msgid "):
            current, reading = ast.literal_eval(line[6:]), True
            ids.append(current)
        elif line.startswith('"') and reading:
            ids[-1] += ast.literal_eval(line)
        else:
            reading = False
    return [msgid for msgid in ids if msgid]


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_sentence_has_a_compiled_translation(language):
    folder = LOCALE / to_locale(language) / "LC_MESSAGES"
    with (folder / "django.mo").open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)
    msgids = po_msgids(folder / "django.po")
    assert len(msgids) > 100
    untranslated = [m for m in msgids if not catalogue.gettext(m) or catalogue.gettext(m) == m]
    # Proper names may be spelled alike (Spanish "China", "Nigeria", "India").
    assert set(untranslated) <= {"China", "India", "Nigeria"}, untranslated
    for msgid in msgids:
        for placeholder in ("{adjective}", "{minutes}", "%(letter)s"):
            if placeholder in msgid:
                assert placeholder in catalogue.gettext(msgid), msgid


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("country", "expected"),
    [
        (COUNTRIES[1], "保存并继续"),
        (COUNTRIES[2], "सहेजें और आगे बढ़ें"),
        (COUNTRIES[3], "저장하고 계속"),
        (COUNTRIES[4], "Guardar y continuar"),
        (COUNTRIES[0], "Save and continue"),
    ],
)
def test_ranking_pages_speak_the_chosen_countrys_language(country, expected):
    study = make_study(sets_per_country=1, pages=1, countries=[country])
    bot = SimulatedParticipant(Client(), study, country=country.code)
    bot.start()
    bot.consent()
    bot.profile()
    bot.practice()
    html = bot.client.get(f"/s/{study.public_id}/rank/").content.decode()
    assert expected in html
    assert f'<html lang="{country.language}">' in html
