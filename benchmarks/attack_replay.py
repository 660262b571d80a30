"""Replay every attack of issue 13 against a live gunicorn with the production settings.

For each database (SQLite, then PostgreSQL) this sets up a fresh database with three
small studies and one large one (default 300,000 rankings), starts gunicorn from
config/gunicorn.conf.py with config.settings.production on 127.0.0.1 (Redis db 12 as
the shared cache), plays each attack over HTTP as a browser or a script would, and
prints a table: attack -> what happened (HTTP status, counts) -> participant rows it
wrote, with the verdict against what the issue asks. A final line sums up the
verdicts. Everything is bounded: every request has a timeout, every loop a count,
and the whole run a time limit (--time-limit per database).

    .venv/bin/python benchmarks/attack_replay.py
    .venv/bin/python benchmarks/attack_replay.py --databases sqlite --export-rows 1000000

Point 6 of the issue (reservations, over-admission) belongs to the assignment work; its
two rows measure the behaviour of the code as it is and are marked "(point 6)".
Only 127.0.0.1 is contacted; ports come from --port (default 8630, one per database).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import csv
import hashlib
import io
import json
import os
import re
import secrets
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
POSTGRES_DB = "h_security"
REDIS_URL = "redis://127.0.0.1:6379/12"
# The same in the set-up subprocess (it inherits the environment) and in the replay.
PASSWORD = os.environ.setdefault("REPLAY_PASSWORD", "replay-" + secrets.token_hex(8))
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SELECT = re.compile(r'<select[^>]* name="(rank-([-\w]+)-(\d+))"')
ACTION = re.compile(r'<form method="post" action="([^"]+)" class="ranking"')
ATTENTION = re.compile(r'name="attention-([\w-]+)" value="([^"]+)"')
DEMOGRAPHICS = {"age": "25-34", "gender": "woman", "years_in_country": "15+"}


# --- inside Django: the studies, users and rows the attacks need ---------------------------


def prepare(export_rows: int) -> None:
    """Migrate, create the studies and users; print what the attacks need as JSON."""
    import django

    django.setup()
    import io as _io

    from django.contrib.auth.models import Permission, User
    from django.core.files.base import ContentFile
    from django.core.management import call_command
    from PIL import Image
    from rest_framework.authtoken.models import Token

    from benchmarks.bench_export_memory import fill
    from generation.models import GeneratedImage, ImageSet, ModelVariant
    from study.spec import Country, StudySpec, SurveySettings
    from survey.models import Study, StudyMembership
    from survey.questions import ATTENTION_BY_KEY
    from survey.services import study_setup

    call_command("migrate", verbosity=0)

    def study(slug, code, sets, pages, answers):
        spec = StudySpec(
            path=Path(f"{slug}.toml"),
            slug=slug,
            title=f"Pictures of everyday life ({slug})",
            countries=(Country(code, f"Land {code}", f"{code} people", "en"),),
            survey=SurveySettings(pages_per_participant=pages, answers_per_image_set=answers),
        )
        made, _ = study_setup(spec=spec)
        variants = [
            ModelVariant.objects.create(study_slug=slug, key=k, label=k.title(), base_model="tiny")
            for k in ("pretrained", "scoft-m", "scoft-mp", "scoft-mpc")
        ]
        for number in range(sets):
            image_set = ImageSet.objects.create(
                study_slug=slug,
                country_code=code,
                prompt_id=f"{slug}-{number:03d}",
                prompt=f"A street in {code}, scene {number}",
                seed=1024 + number,
            )
            for shade, variant in enumerate(variants):
                buffer = _io.BytesIO()
                Image.new("RGB", (16, 16), (60 * shade, number % 256, 90)).save(buffer, "PNG")
                image = GeneratedImage(
                    image_set=image_set,
                    variant=variant,
                    sha256=hashlib.sha256(buffer.getvalue()).hexdigest(),
                    width=16,
                    height=16,
                    seed=1024 + number,
                )
                image.file.save(
                    f"{slug}-{variant.key}-{number}.png", ContentFile(buffer.getvalue())
                )
        return made

    main = study("main", "CN", sets=6, pages=2, answers=100)
    other = study("other", "IN", sets=2, pages=1, answers=100)
    hold = study("hold", "HD", sets=2, pages=1, answers=4)  # 8 page holds fill it
    burst = study("burst", "BR", sets=1, pages=1, answers=1)  # one answer wanted
    fill("big", export_rows)
    researcher = User.objects.create_superuser("researcher", "r@example.org", PASSWORD)
    User.objects.create_superuser("victim-admin", "v@example.org", PASSWORD)
    changer = User.objects.create_user("changer", password=PASSWORD, is_staff=True)
    changer.user_permissions.add(Permission.objects.get(codename="change_participant"))
    member = User.objects.create_user("member", password=PASSWORD, is_staff=True)
    StudyMembership.objects.create(study=main, user=member)
    tokens = {
        user.username: Token.objects.create(user=user).key for user in (researcher, changer, member)
    }
    print(
        json.dumps(
            {
                "studies": {s.slug: [s.public_id, s.pk] for s in Study.objects.all()},
                "tokens": tokens,
                "attention": {k: q.expected for k, q in ATTENTION_BY_KEY.items()},
                "other": other.slug,
                "hold": hold.slug,
                "burst": burst.slug,
            }
        )
    )


# --- outside: the database, gunicorn, the browser ------------------------------------------


class Rows:
    """Counts of participant rows straight from the database (no Django needed)."""

    TABLES = ("survey_participant", "survey_page", "survey_ranking")

    def __init__(self, database: str, sqlite_path: Path | None):
        self.database = database
        self.sqlite_path = sqlite_path

    def query(self, sql: str, *args):
        if self.database == "sqlite":
            with sqlite3.connect(self.sqlite_path, timeout=30) as connection:
                return connection.execute(sql.replace("%s", "?"), args).fetchall()
        import psycopg

        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + POSTGRES_DB
        with psycopg.connect(url) as connection:
            return connection.execute(sql, args).fetchall()

    def counts(self) -> dict[str, int]:
        return {t: self.query(f"SELECT count(*) FROM {t}")[0][0] for t in self.TABLES}

    def written(self, before: dict[str, int]) -> int:
        now = self.counts()
        return sum(now[t] - before[t] for t in self.TABLES)


class Browser:
    """One browser: its own cookies, sent back over plain HTTP to 127.0.0.1.

    The production settings mark cookies Secure; the proxy in front would speak HTTPS.
    Here requests carry X-Forwarded-Proto: https (as from the proxy), and this browser
    keeps its cookies itself and returns the Secure ones over the loopback connection
    (httpx, like a real browser, would not).
    """

    def __init__(self, base: str, **headers):
        import httpx

        origin = base.replace("http://", "https://")
        self.cookies: dict[str, str] = {}
        self.client = httpx.Client(
            base_url=base,
            timeout=60,
            headers={"X-Forwarded-Proto": "https", "Origin": origin, "Referer": origin + "/"},
        )
        self.client.headers.update(headers)

    def csrf(self) -> str:
        return self.cookies.get("csrftoken", "")

    def request(self, method: str, url: str, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        follow = kwargs.pop("follow_redirects", False)
        response = self.client.request(method, url, headers=headers, **kwargs)
        for name, value in response.cookies.items():
            self.cookies[name] = value
        self.client.cookies.clear()
        if follow and response.is_redirect:
            return self.request("GET", response.headers["location"], follow_redirects=True)
        return response

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, data=None, **kwargs):
        data = {**(data or {}), "csrfmiddlewaretoken": self.csrf()}
        return self.request("POST", url, data=data, **kwargs)

    def enrol(self, study_id: str, query: str = "", country: str = "CN"):
        """Landing, Start, consent, about you, practice: the response of the last step."""
        landing = self.get(f"/s/{study_id}/{query}")
        if landing.status_code != 200:
            return landing
        hidden = {k: v for k, v in HIDDEN.findall(landing.text) if k != "csrfmiddlewaretoken"}
        start = self.post(f"/s/{study_id}/", hidden)
        if start.status_code != 302:
            return start
        self.post(f"/s/{study_id}/consent/", {"agree": "yes"})
        profile = self.post(f"/s/{study_id}/about-you/", {"country": country, **DEMOGRAPHICS})
        if profile.status_code != 302:
            return profile
        practice = {f"rank-practice-{n}": str(n) for n in range(1, 5)}
        return self.post(f"/s/{study_id}/practice/", practice)

    def answer_page(self, study_id: str, attention: dict, **override):
        """Open the next ranking page and answer it; (page response, submit response)."""
        page = self.get(f"/s/{study_id}/rank/", follow_redirects=True)
        action = ACTION.search(page.text)
        if action is None:
            return page, None
        data = {name: position for name, _item, position in SELECT.findall(page.text)}
        data.update({f"attention-{k}": attention[k] for k, _v in ATTENTION.findall(page.text)})
        data["page_ms"] = "12000"
        data.update(override)
        return page, self.post(action[1], data)


@dataclass
class Report:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, attack: str, happened: str, written, ok: bool) -> None:
        # Point 6 is the assignment work's: its rows say what the code does today.
        verdict = "held" if ok else ("open" if attack.startswith("(point 6)") else "FAILED")
        self.rows.append((attack, happened, str(written), verdict))
        print(f"  {attack:<52} {happened:<58} {written!s:>6}  {verdict}", flush=True)


@dataclass(frozen=True)
class Attack:
    """What every point of the replay shares; victim, page_action and ranks come from point 1."""

    base: str
    info: dict
    rows: Rows
    report: Report
    options: argparse.Namespace
    env: dict
    victim: Browser  # enrolled in the main study, a ranking page open
    page_action: str  # where the victim's open ranking page posts
    ranks: dict[str, str]  # the answers to that page, by field name

    @property
    def main_id(self) -> str:
        return self.info["studies"]["main"][0]

    @property
    def attention(self) -> dict:
        return self.info["attention"]

    @property
    def api(self) -> dict[str, dict[str, str]]:
        tokens = self.info["tokens"]
        return {name: {"Authorization": f"Token {key}"} for name, key in tokens.items()}


def replay(base: str, info: dict, rows: Rows, report: Report, options, env) -> None:
    """Every attack, in an order where none disturbs the next."""
    victim, page_action, ranks = victim_on_a_page(base, info["studies"]["main"][0])
    attack = Attack(base, info, rows, report, options, env, victim, page_action, ranks)
    replay_takeover(attack)  # 1
    replay_malformed_numbers(attack)  # 2
    replay_error_page(attack)  # 3
    replay_admin_passwords(attack)  # 4, first half
    replay_exports(attack)  # 5
    replay_smaller_ones(attack)  # 7
    replay_reservations(attack)  # 6
    replay_api_tokens(attack)  # 4, second half: last, it blocks this address for the API


def victim_on_a_page(base: str, main_id: str) -> tuple[Browser, str, dict[str, str]]:
    """The victim enrols and opens a ranking page: (browser, page action, ranks)."""
    victim = Browser(base)
    enrolled = victim.enrol(main_id, "?PROLIFIC_PID=victim01&STUDY_ID=s&SESSION_ID=x")
    if enrolled.status_code != 302:
        raise SystemExit(
            f"the victim could not enrol: {enrolled.status_code} {enrolled.text[:500]}"
        )
    page = victim.get(f"/s/{main_id}/rank/")
    if ACTION.search(page.text) is None:
        raise SystemExit(f"no ranking page for the victim: {page.status_code} {page.text[:500]}")
    ranks = {name: pos for name, _i, pos in SELECT.findall(page.text)}
    return victim, ACTION.search(page.text)[1], ranks


def replay_takeover(attack: Attack) -> None:
    """1. Takeover by recruit id: a second browser, and a link planted in a victim's browser."""
    base, main_id, rows, report = attack.base, attack.main_id, attack.rows, attack.report
    before = rows.counts()
    attacker = Browser(base)
    landing = attacker.get(f"/s/{main_id}/?PROLIFIC_PID=victim01")
    start = attacker.post(f"/s/{main_id}/", {"PROLIFIC_PID": "victim01"})
    forged = attacker.post(attack.page_action, attack.ranks)
    report.add(
        "takeover: 2nd browser with the victim's PROLIFIC_PID",
        f"GET {landing.status_code}, Start {start.status_code}, answer {forged.status_code}",
        rows.written(before),
        landing.status_code == 409 and start.status_code == 409 and rows.written(before) == 0,
    )
    Browser(base).enrol(main_id, "?PROLIFIC_PID=attacker01")
    before = rows.counts()
    planted = attack.victim.get(f"/s/{main_id}/?PROLIFIC_PID=attacker01")
    still_own = ACTION.search(attack.victim.get(f"/s/{main_id}/rank/").text)
    own = bool(still_own) and still_own[1] == attack.page_action
    report.add(
        "takeover: victim's browser opens attacker's link",
        f"GET {planted.status_code}; the victim's session still theirs: {own}",
        rows.written(before),
        planted.status_code == 409 and own,
    )


def replay_malformed_numbers(attack: Attack) -> None:
    """2. A 500 from participant input."""
    bad = {}
    for name, value in (("rank", "²"), ("page_ms", "²"), ("rank", "٣"), ("page_ms", "9" * 40)):
        before = attack.rows.counts()
        override = {next(iter(attack.ranks)): value} if name == "rank" else {"page_ms": value}
        _page, response = attack.victim.answer_page(attack.main_id, attack.attention, **override)
        bad[f"{name}={value[:3]}"] = (response.status_code, attack.rows.written(before))
    attack.report.add(
        "malformed numbers (² ٣ 40 digits) in a ranking",
        ", ".join(f"{k}: {s}" for k, (s, _w) in bad.items()),
        sum(w for _s, w in bad.values()),
        all(s == 400 and w == 0 for s, w in bad.values()),
    )


def replay_error_page(attack: Attack) -> None:
    """3. Secrets on an error page (DEBUG is off in production; the filter is unit-tested)."""
    missing = Browser(attack.base).get("/s/no-such-study/")
    leaked = [
        s
        for s in ("DATABASE_URL", "SECRET_KEY", attack.env.get("DJANGO_SECRET_KEY", "?"))
        if s in missing.text
    ]
    attack.report.add(
        "error page shows settings or secrets",
        f"404 page {missing.status_code}, secrets shown: {leaked or 'none'}",
        0,
        missing.status_code == 404 and not leaked,
    )


def replay_admin_passwords(attack: Attack) -> None:
    """4. Brute force, first half: admin passwords (API tokens come last)."""
    guesser = Browser(attack.base)
    statuses = []
    for _ in range(100):
        guesser.get("/admin/login/")
        statuses.append(
            guesser.post(
                "/admin/login/",
                {"username": "victim-admin", "password": "guess", "next": "/admin/"},
            ).status_code
        )
    right = guesser.post(
        "/admin/login/", {"username": "victim-admin", "password": PASSWORD, "next": "/admin/"}
    )
    first_lock = statuses.index(429) + 1 if 429 in statuses else None
    attack.report.add(
        "100 wrong admin passwords, then the right one",
        f"locked at failure {first_lock}; right password -> {right.status_code}",
        0,
        first_lock == attack.options.axes_limit and right.status_code == 429,
    )


def replay_exports(attack: Attack) -> None:
    """5. Exports: 4 concurrent downloads, /healthz/ polled meanwhile; then a worker killed."""
    outcomes, elapsed, health_ms = concurrent_exports(attack.base, attack.api["researcher"])
    complete = sum(1 for o in outcomes if o["complete"])
    silent = sum(1 for o in outcomes if not o["complete"] and o["looks_complete"])
    worst = max(health_ms) if health_ms else float("nan")
    attack.report.add(
        f"4 concurrent CSV exports of {attack.options.export_rows:,} rows",
        f"{complete}/4 complete ({outcomes[0]['rows']:,} rows each) in {elapsed:.0f} s; "
        f"silently cut {silent}; /healthz/ max {worst:.0f} ms",
        0,
        complete == 4 and silent == 0 and worst < 5000,
    )
    killed = killed_download(attack.base, attack.api["researcher"], attack.env)
    attack.report.add(
        "export download killed mid-way (kill -9 the workers)",
        killed,
        0,
        killed.startswith(("client error", "complete")),
    )


def replay_smaller_ones(attack: Attack) -> None:
    """7. The smaller ones, in this order."""
    replay_login_and_cache(attack)
    replay_study_permissions(attack)
    replay_admin_study_form(attack)
    replay_oversized_input(attack)
    replay_plain_http(attack)
    replay_csv_injection(attack)


def replay_login_and_cache(attack: Attack) -> None:
    """7. /api/auth/login/ answers; production refuses to start without a shared cache."""
    login = Browser(attack.base).get("/api/auth/login/")
    attack.report.add("/api/auth/login/", f"GET {login.status_code}", 0, login.status_code == 200)

    no_cache = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**attack.env, "CACHE_URL": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    attack.report.add(
        "production started without CACHE_URL",
        "refused at start" if no_cache.returncode and "CACHE_URL" in no_cache.stderr else "started",
        0,
        no_cache.returncode != 0,
    )


def replay_study_permissions(attack: Attack) -> None:
    """7. Only change_participant, and a member of one study, reach no other study."""
    import httpx

    rows, api = attack.rows, attack.api
    other_id = rows.query(
        "SELECT p.public_id FROM survey_participant p JOIN survey_study s ON s.id = p.study_id "
        "WHERE s.slug = %s LIMIT 1",
        "main",
    )[0][0]
    before_excluded = rows.query("SELECT count(*) FROM survey_participant WHERE excluded")[0][0]
    proto = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=attack.base, timeout=30, headers=proto) as plain:
        url = f"/api/studies/main/participants/{other_id}/exclude/"
        exclude = plain.post(url, headers=api["changer"], json={"reason": "x"})
        member_other = plain.get("/api/studies/other/export/csv/", headers=api["member"])
        member_own = plain.get("/api/studies/main/progress/", headers=api["member"])
    changed = rows.query("SELECT count(*) FROM survey_participant WHERE excluded")[0][0]
    attack.report.add(
        "only change_participant: exclude in an unseen study",
        f"POST {exclude.status_code}",
        changed - before_excluded,
        exclude.status_code == 404 and changed == before_excluded,
    )
    attack.report.add(
        "member of one study reads another's export",
        f"other study {member_other.status_code}, own study {member_own.status_code}",
        0,
        member_other.status_code == 403 and member_own.status_code == 200,
    )


def replay_admin_study_form(attack: Attack) -> None:
    """7. The admin refuses a title naming SCoFT and a javascript: completion URL."""
    admin = Browser(attack.base)
    admin.get("/admin/login/")
    logged_in = admin.post(
        "/admin/login/", {"username": "researcher", "password": PASSWORD, "next": "/admin/"}
    )
    main_pk = attack.info["studies"]["main"][1]
    form = {
        "slug": "main",
        "title": "How well do SCoFT images show your culture?",
        "consent_text": "",
        "instructions": "",
        "attention_checks": "2",
        "seconds_per_page": "75",
        "translations": "{}",
        "pages_per_participant": "2",
        "answers_per_image_set": "100",
        "completion_code": "ABCD1234",
        "recruitment_platform": "prolific",
        "completion_url": "javascript:alert(document.cookie)",
        "is_open": "on",
        **{
            f"{p}-{k}": v
            for p in ("countries", "items")
            for k, v in (
                ("TOTAL_FORMS", "0"),
                ("INITIAL_FORMS", "0"),
                ("MIN_NUM_FORMS", "0"),
                ("MAX_NUM_FORMS", "1000"),
            )
        },
        "_save": "Save",
    }
    edited = admin.post(f"/admin/survey/study/{main_pk}/change/", form)
    query = "SELECT title, completion_url FROM survey_study WHERE slug = 'main'"
    title, url = attack.rows.query(query)[0]
    refused = "would unblind them" in edited.text and "https://" in edited.text
    attack.report.add(
        "admin: title naming SCoFT, javascript: completion URL",
        f"login {logged_in.status_code}, POST {edited.status_code}, refused with the "
        f"reasons: {refused}; stored: {'SCoFT' in title or 'javascript' in url}",
        0,
        "SCoFT" not in title and "javascript" not in url and refused,
    )


def replay_oversized_input(attack: Attack) -> None:
    """7. A 100 MiB upload to the landing page, and a 90-megapixel image to import_batch."""
    before = attack.rows.counts()
    big = upload_body(attack.base, attack.main_id, 100 * 1024 * 1024)
    attack.report.add(
        "100 MiB multipart POST to the landing page",
        big,
        attack.rows.written(before),
        big.startswith("413") and attack.rows.written(before) == 0,
    )

    imported = import_large_image(attack.env)
    attack.report.add("import a 90-megapixel image", imported, 0, imported.startswith("refused"))


def replay_plain_http(attack: Attack) -> None:
    """7. Without the proxy header: /healthz/ answers, every other page redirects to HTTPS."""
    import httpx

    with httpx.Client(base_url=attack.base, timeout=30) as plain:
        health = plain.get("/healthz/")
        page_http = plain.get("/")
    attack.report.add(
        "/healthz/ over plain HTTP (no proxy header)",
        f"/healthz/ {health.status_code}, / {page_http.status_code}",
        0,
        health.status_code == 200 and page_http.status_code == 301,
    )


def replay_csv_injection(attack: Attack) -> None:
    """7. A formula as exclusion reason is quoted in the CSV export."""
    import httpx

    participant = attack.rows.query(
        "SELECT p.public_id FROM survey_participant p JOIN survey_study s ON s.id = p.study_id "
        "WHERE s.slug = 'main' AND p.recruit_id = 'victim01'"
    )[0][0]
    attack.victim.answer_page(attack.main_id, attack.attention)  # rankings, so the export has rows
    researcher = attack.api["researcher"]
    proto = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=attack.base, timeout=60, headers=proto) as plain:
        url = f"/api/studies/main/participants/{participant}/exclude/"
        plain.post(url, headers=researcher, json={"reason": '=HYPERLINK("http://x","y")'})
        export = plain.get("/api/studies/main/export/csv/", headers=researcher)
    reasons = {r["exclusion_reason"] for r in csv.DictReader(io.StringIO(export.text))} - {""}
    attack.report.add(
        "exclusion reason '=HYPERLINK(...)' in the CSV export",
        f"cells: {sorted(reasons)}",
        0,
        bool(reasons) and all(r.startswith("'") for r in reasons),
    )


def replay_reservations(attack: Attack) -> None:
    """6. Reservations and over-admission (point 6, the assignment work): as it is now."""
    base, info, rows, report = attack.base, attack.info, attack.rows, attack.report
    hold_id = info["studies"][info["hold"]][0]
    for number in range(8):
        bot = Browser(base)
        bot.enrol(hold_id, f"?PROLIFIC_PID=holder{number}", country="HD")
        bot.get(f"/s/{hold_id}/rank/")  # opens a page and never answers
    newcomer = Browser(base)
    response = newcomer.enrol(hold_id, "?PROLIFIC_PID=newcomer", country="HD")
    admitted = response.status_code == 302
    answered = rows.query(
        "SELECT count(*) FROM survey_page pg JOIN survey_participant p ON p.id = pg.participant_id "
        "JOIN survey_study s ON s.id = p.study_id "
        "WHERE s.slug = %s AND pg.submitted_at IS NOT NULL",
        info["hold"],
    )[0][0]
    report.add(
        "(point 6) 8 bots hold pages; a newcomer arrives",
        f"newcomer {'admitted' if admitted else 'refused'} ({response.status_code}); "
        f"valid answers {answered} of 8 wanted",
        "-",
        admitted,
    )
    burst_id = info["studies"][info["burst"]][0]

    def arrive(number):
        browser = Browser(base)
        if browser.enrol(burst_id, f"?PROLIFIC_PID=burst{number}", country="BR").status_code != 302:
            return False
        _page, submitted = browser.answer_page(burst_id, attack.attention)
        return submitted is not None and submitted.status_code == 302

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = sum(pool.map(arrive, range(20)))
    report.add(
        "(point 6) 20 arrive at once; 1 set wants 1 answer",
        f"{answers} answers stored for a target of 1",
        "-",
        answers <= 2,
    )


def replay_api_tokens(attack: Attack) -> None:
    """4. Brute force, second half; last: the wrong tokens block this address for a minute."""
    import httpx

    tokens = []
    started = time.perf_counter()
    proto = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=attack.base, timeout=30, headers=proto) as plain:
        for number in range(200):
            header = {"Authorization": f"Token {number:040x}"}
            tokens.append(plain.get("/api/studies/", headers=header).status_code)
        after = plain.get("/api/studies/", headers=attack.api["researcher"]).status_code
    seconds = time.perf_counter() - started
    throttled = tokens.index(429) + 1 if 429 in tokens else None
    attack.report.add(
        "200 wrong API tokens, then the right one",
        f"429 from request {throttled} ({seconds:.1f} s); right token -> {after}",
        0,
        throttled is not None and throttled <= 11 and after == 429,
    )


def concurrent_exports(base: str, headers: dict) -> tuple[list[dict], float, list[float]]:
    """Four CSV downloads of the large study at once, /healthz/ polled every 0.2 s."""
    import httpx

    health_ms: list[float] = []
    stop = threading.Event()

    def poll_health():
        with httpx.Client(base_url=base, timeout=120) as probe:
            while not stop.is_set():
                began = time.perf_counter()
                with contextlib.suppress(httpx.HTTPError):
                    probe.get("/healthz/")
                health_ms.append((time.perf_counter() - began) * 1000)
                time.sleep(0.2)

    def download(_number):
        proto = {"X-Forwarded-Proto": "https"}
        with httpx.Client(base_url=base, timeout=600, headers=proto) as client:
            try:
                response = client.get("/api/studies/big/export/csv/", headers=headers)
            except httpx.HTTPError as error:
                return {
                    "complete": False,
                    "looks_complete": False,
                    "rows": 0,
                    "status": type(error).__name__,
                }
            return verify_csv(response, response.content)

    poller = threading.Thread(target=poll_health, daemon=True)
    poller.start()
    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(download, range(4)))
    elapsed = time.perf_counter() - began
    stop.set()
    poller.join(timeout=5)
    return outcomes, elapsed, health_ms


def baseline_exports(env: dict, port: int, headers: dict, folder: Path, workers: int) -> str:
    """The same four downloads on gunicorn's defaults (sync workers, 30 s timeout)."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
        ],
        env=env,
        cwd=ROOT,
        stdout=open(folder / "baseline.log", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base)
        outcomes, elapsed, health_ms = concurrent_exports(base, headers)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    complete = sum(1 for o in outcomes if o["complete"])
    failed = sum(1 for o in outcomes if not o["complete"] and not o["looks_complete"])
    silent = sum(1 for o in outcomes if not o["complete"] and o["looks_complete"])
    worst = max(health_ms) if health_ms else float("nan")
    statuses = sorted({str(o["status"]) for o in outcomes})
    return (
        f"{complete}/4 complete, {failed} visibly failed, {silent} silently cut in "
        f"{elapsed:.0f} s ({'; '.join(statuses)}); /healthz/ max {worst:.0f} ms"
    )


def verify_csv(response, body: bytes) -> dict:
    """Is a downloaded CSV complete, and would a truncated one have looked complete?"""
    length = int(response.headers.get("Content-Length", -1))
    rows = body.count(b"\n") - 1
    sha = hashlib.sha256(body).hexdigest()
    declared = response.headers.get("X-Export-SHA256", "")
    return {
        "complete": response.status_code == 200
        and length == len(body)
        and sha == declared
        and rows == int(response.headers.get("X-Export-Rows", -1)),
        # What a researcher without the checks would take for a whole export.
        "looks_complete": response.status_code == 200 and body.endswith(b"\n"),
        "rows": rows,
        "status": f"{response.status_code} with {len(body):,} bytes",
    }


def killed_download(base: str, headers: dict, env: dict) -> str:
    """Start a download, kill -9 every gunicorn worker once the headers are in."""
    import httpx

    proto = {"X-Forwarded-Proto": "https"}
    with (
        httpx.Client(base_url=base, timeout=600, headers=proto) as c,
        c.stream("GET", "/api/studies/big/export/csv/", headers=headers) as response,
    ):
        length = int(response.headers.get("Content-Length", "-1"))
        for pid in worker_pids(env["REPLAY_MASTER_PID"]):
            os.kill(pid, signal.SIGKILL)
        received = 0
        try:
            for chunk in response.iter_bytes():
                received += len(chunk)
        except httpx.HTTPError as error:
            return f"client error after {received:,} of {length:,} bytes: {type(error).__name__}"
        finally:
            wait_until_up(base)
        if received == length:
            return f"complete before the kill ({received:,} bytes)"
        return f"short body {received:,} of {length:,} bytes, not reported (BAD)"


def wait_until_up(base: str, seconds: float = 60) -> None:
    """Wait for the arbiter to replace killed workers."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)


def worker_pids(master: str) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def upload_body(base: str, study_id: str, size: int) -> str:
    """POST a multipart body of `size` bytes in 1 MiB pieces; what the server answered."""
    import httpx

    boundary = "replay" + secrets.token_hex(8)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def pieces():
        yield head
        for _ in range(size // (1 << 20)):
            yield b"\0" * (1 << 20)
        yield tail

    total = len(head) + (size // (1 << 20)) * (1 << 20) + len(tail)
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(total),
        "X-Forwarded-Proto": "https",
    }
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            response = client.post(f"/s/{study_id}/", content=pieces(), headers=headers)
        return f"{response.status_code} {response.reason_phrase}"
    except httpx.HTTPError as error:
        return f"connection closed by the server ({type(error).__name__})"


def import_large_image(env: dict) -> str:
    """import_batch on a set whose one image claims 10000 x 9000 pixels."""
    with tempfile.TemporaryDirectory(prefix="replay-import-") as folder:
        root = Path(folder) / "Nigeria"
        columns = ["Generic Stable Diffusion", "Pure Finetune", "Positive", "Contrastive"]
        for number in range(len(columns)):
            path = root / f"v{number}.png"
            root.mkdir(parents=True, exist_ok=True)
            width, height = (10_000, 9_000) if number == 2 else (16, 16)
            path.write_bytes(png_header(width, height, shade=40 * number))
        with open(root / "Nigeria_files.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["prompt", *columns, "seed"])
            writer.writerow(["A market", *(f"Nigeria/v{n}.png" for n in range(4)), "7"])
        result = subprocess.run(
            [sys.executable, "manage.py", "import_batch", folder, "--study", "imported"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    refusal = [line for line in result.stderr.splitlines() if "pixels are accepted" in line]
    if result.returncode != 0 and refusal:
        return "refused: " + refusal[0].strip().split(": ", 1)[-1][:52]
    return f"exit {result.returncode}: {result.stderr.strip()[-80:] or 'imported'}"


def png_header(width: int, height: int, shade: int = 128) -> bytes:
    """A PNG whose header claims width x height pixels; a tiny real one when small."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = b""
    if width * height <= 1024:
        pixels = chunk(
            b"IDAT",
            zlib.compress(b"".join(b"\0" + bytes([shade]) * 3 * width for _ in range(height))),
        )
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


def run_one(database: str, port: int, options, folder: Path) -> Report:
    import httpx

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "CACHE_URL": REDIS_URL,
        "MEDIA_ROOT": str(folder / "media"),
        "STATIC_ROOT": str(folder / "static"),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(options.workers),
        "GUNICORN_ACCESS_LOG": str(folder / "access.log"),
        "LOG_LEVEL": "ERROR",
        "AXES_FAILURE_LIMIT": str(options.axes_limit),
    }
    env.pop("DATABASE_URL", None)
    sqlite_path = None
    if database == "sqlite":
        sqlite_path = folder / "replay.sqlite3"
        env["SQLITE_PATH"] = str(sqlite_path)
    else:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{POSTGRES_DB}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{POSTGRES_DB}"')
        env["DATABASE_URL"] = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + POSTGRES_DB
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    server = None
    report = Report()
    try:
        started = time.perf_counter()
        prepared = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--prepare", str(options.export_rows)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=options.time_limit,
        )
        if prepared.returncode:
            raise SystemExit(prepared.stderr[-3000:])
        info = json.loads(prepared.stdout.strip().splitlines()[-1])
        print(f"[{database}] set up in {time.perf_counter() - started:.0f} s", flush=True)
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            env=env,
            cwd=ROOT,
            check=True,
            timeout=300,
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"],
            env=env,
            cwd=ROOT,
            stdout=open(folder / "gunicorn.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        env["REPLAY_MASTER_PID"] = str(server.pid)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"gunicorn did not start; see {folder / 'gunicorn.log'}")
            time.sleep(0.3)
        print(f"[{database}] gunicorn -c config/gunicorn.conf.py on {base}", flush=True)
        print(f"  {'attack':<52} {'what happened':<58} {'rows':>6}  verdict")
        signal.alarm(int(options.time_limit))
        baseline = None
        if options.baseline or options.only_baseline:
            researcher = {"Authorization": f"Token {info['tokens']['researcher']}"}
            baseline = baseline_exports(env, port + 10, researcher, folder, options.workers)
        if not options.only_baseline:
            replay(base, info, Rows(database, sqlite_path), report, options, env)
        if baseline is not None:
            report.rows.append(("baseline: same exports, gunicorn defaults", baseline, "0", "-"))
            print(f"  {'baseline: same exports, gunicorn defaults':<52} {baseline:<58}", flush=True)
        signal.alarm(0)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        if database != "sqlite":
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{POSTGRES_DB}" WITH (FORCE)')
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--export-rows", type=int, default=300_000)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--port", type=int, default=8630, help="first port (one per database)")
    parser.add_argument("--axes-limit", type=int, default=5, help="AXES_FAILURE_LIMIT")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also run the 4 exports on gunicorn's defaults (sync workers, 30 s timeout)",
    )
    parser.add_argument(
        "--only-baseline", action="store_true", help="only the exports on gunicorn's defaults"
    )
    parser.add_argument("--time-limit", type=float, default=900, help="seconds per database")
    options = parser.parse_args()
    if options.prepare is not None:
        prepare(options.prepare)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGALRM, lambda *_: sys.exit("time limit reached"))
    reports = {}
    with tempfile.TemporaryDirectory(prefix="scoft-replay-") as folder:
        for offset, database in enumerate(options.databases.split(",")):
            (Path(folder) / database).mkdir()
            reports[database] = run_one(
                database, options.port + offset, options, Path(folder) / database
            )
    failed = {
        database: [attack for attack, _h, _w, verdict in report.rows if verdict == "FAILED"]
        for database, report in reports.items()
    }
    for database, report in reports.items():
        held = sum(1 for row in report.rows if row[3] == "held")
        still_open = [row[0] for row in report.rows if row[3] == "open"]
        print(
            f"{database}: {held} of {len(report.rows)} attacks held; failed: "
            f"{failed[database] or 'none'}; open (point 6, assignment work): {still_open or 'none'}"
        )
    return 1 if any(failed.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
