"""Load benchmark: N simulated participants take the study at once over HTTP.

For each database (SQLite in WAL mode, then the local PostgreSQL in a fresh database)
this sets up a study, starts gunicorn with several workers on 127.0.0.1, and lets N
participants (default 200) complete the study concurrently through an asyncio httpx
client: landing, consent, profile, practice, then every ranking page with its images.
It prints requests/s, the p50/p95/p99 latency of the ranking submit and the errors; then,
checked in the database, lost and duplicated rankings (both must be 0) and the balance
(most minus fewest answers per image set). Last, the same server's requests/s on a
trivial view (/healthz/: no database, no template) as the stack's ceiling, and the ratio
of the survey's requests/s to that ceiling.

    .venv/bin/python benchmarks/bench_survey_load.py                  # both databases
    .venv/bin/python benchmarks/bench_survey_load.py --databases sqlite --participants 50

The run is bounded: N participants, and a time limit per database after which the
participants still running are stopped and counted as errors.
"""

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
STUDY = "bench"
COUNTRIES = (("CN", "China", "Chinese", "en"), ("IN", "India", "Indian", "en"))
VARIANTS = ("pretrained", "finetune", "perceptual", "scoft")

SELECT = re.compile(r'<select[^>]* name="(rank-(?P<item>[-\w]+)-(?P<position>\d+))"')
ACTION = re.compile(r'<form method="post" action="([^"]+)" class="ranking"')
ATTENTION = re.compile(r'name="attention-([\w-]+)" value="([^"]+)"')
IMAGE = re.compile(r'<img src="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


# --- inside Django: set up the study, check the database afterwards ------------------------


def django_setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()


def prepare(sets_per_country: int, pages: int, answers: int) -> None:
    """Migrate a fresh database and create the study with tiny images."""
    django_setup()
    import io

    from django.core.files.base import ContentFile
    from django.core.management import call_command
    from PIL import Image

    from generation.models import GeneratedImage, ImageSet, ModelVariant
    from study.spec import Country, StudySpec, SurveySettings
    from survey.questions import ATTENTION_BY_KEY
    from survey.services import study_setup

    call_command("migrate", verbosity=0)
    spec = StudySpec(
        path=Path("load-benchmark.toml"),
        slug=STUDY,
        title="Load benchmark",
        countries=tuple(Country(*country) for country in COUNTRIES),
        survey=SurveySettings(pages_per_participant=pages, answers_per_image_set=answers),
    )
    study, _created = study_setup(spec=spec)
    variants = [
        ModelVariant.objects.create(study_slug=STUDY, key=key, label=key, base_model="tiny")
        for key in VARIANTS
    ]
    for code, *_rest in COUNTRIES:
        for number in range(sets_per_country):
            image_set = ImageSet.objects.create(
                study_slug=STUDY,
                country_code=code,
                prompt_id=f"{code.lower()}-{number:03d}",
                prompt=f"A market street in {code}, scene {number}",
                seed=1024,
            )
            for shade, variant in enumerate(variants):
                buffer = io.BytesIO()
                Image.new("RGB", (64, 64), (60 * shade, number % 256, 120)).save(buffer, "PNG")
                image = GeneratedImage(
                    image_set=image_set,
                    variant=variant,
                    sha256="0" * 64,
                    width=64,
                    height=64,
                    seed=1024,
                )
                image.file.save(
                    f"{variant.key}-{image_set.prompt_id}.png",
                    ContentFile(buffer.getvalue()),
                    save=False,
                )
                image.save()
    expected = {key: question.expected for key, question in ATTENTION_BY_KEY.items()}
    print(json.dumps({"study_url": f"/s/{study.public_id}/", "attention": expected}))


def check(records_path: str) -> dict:
    """Lost and duplicated rankings and the balance, read from the database."""
    django_setup()
    from django.db.models import Count

    from survey.models import Page, Ranking, Study
    from survey.selectors import image_set_answer_counts

    acknowledged = json.loads(Path(records_path).read_text())
    study = Study.objects.get(slug=STUDY)
    stored = {
        (page, item, int(position)): rank
        for page, item, position, rank in Ranking.objects.filter(
            page__participant__study=study
        ).values_list("page__public_id", "item__key", "page_image__position", "rank")
    }
    expected = {
        (page, item, int(position)): rank
        for page, ranks in acknowledged.items()
        for item, by_position in ranks.items()
        for position, rank in by_position.items()
    }
    lost = sum(1 for key, rank in expected.items() if stored.get(key) != rank)
    total = Ranking.objects.filter(page__participant__study=study).count()
    distinct = (
        Ranking.objects.filter(page__participant__study=study)
        .values("page", "item", "page_image")
        .distinct()
        .count()
    )
    submitted = set(
        Page.objects.filter(participant__study=study, submitted_at__isnull=False).values_list(
            "public_id", flat=True
        )
    )
    per_page = (
        Ranking.objects.filter(page__participant__study=study)
        .values("page")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("n", flat=True)
        .first()
    )
    answers = [s.answers for s in image_set_answer_counts(study=study)]
    return {
        "rankings_expected": len(expected),
        "rankings_stored": total,
        "lost": lost,
        "duplicated": total - distinct,
        "unacknowledged_pages": len(submitted - set(acknowledged)),
        "max_rankings_per_page": per_page or 0,
        "balance": max(answers) - min(answers),
        "answers_min_max": [min(answers), max(answers)],
    }


# --- outside Django: the server and the simulated participants ----------------------------


@dataclass
class Tally:
    """What the clients saw."""

    requests: int = 0
    errors: Counter = field(default_factory=Counter)
    latency_ms: dict = field(default_factory=dict)  # kind of request -> latencies
    submit_ms: list = field(default_factory=list)
    acknowledged: dict = field(default_factory=dict)  # page id -> item -> position -> rank
    finished: int = 0


class ParticipantError(Exception):
    pass


async def participant(client, number: int, tally: Tally, options) -> None:
    """One participant from the Prolific link to the completion page."""
    import random

    chooser = random.Random(number)
    base = options.study_url

    async def request(method, url, kind, **kwargs):
        started = time.perf_counter()
        try:
            response = await client.request(method, url, **kwargs)
        except Exception as error:  # timeouts, refused connections: counted, then stop
            tally.errors[f"{kind}: {type(error).__name__}"] += 1
            raise ParticipantError from error
        tally.requests += 1
        elapsed_ms = (time.perf_counter() - started) * 1000
        tally.latency_ms.setdefault(kind, []).append(elapsed_ms)
        if kind == "submit":
            tally.submit_ms.append(elapsed_ms)
        if response.status_code not in (200, 302):
            tally.errors[f"{kind}: HTTP {response.status_code}"] += 1
            raise ParticipantError(kind)
        return response

    async def post(url, kind, data):
        data = {**data, "csrfmiddlewaretoken": client.cookies.get("csrftoken", "")}
        response = await request(
            "POST", url, kind, data=data, headers={"Referer": str(client.base_url)}
        )
        if response.status_code != 302:
            tally.errors[f"{kind}: refused"] += 1
            raise ParticipantError(kind)
        return response.headers["location"]

    def answer(html):
        by_item = {}
        for _name, item, position in SELECT.findall(html):
            by_item.setdefault(item, []).append(int(position))
        ranks = {}
        for item, positions in by_item.items():
            order = list(range(1, len(positions) + 1))
            chooser.shuffle(order)
            ranks[item] = dict(zip(positions, order, strict=True))
        return ranks

    def form(ranks):
        return {
            f"rank-{item}-{p}": str(r) for item, given in ranks.items() for p, r in given.items()
        }

    query = {"PROLIFIC_PID": f"bench{number:05d}", "STUDY_ID": "load", "SESSION_ID": f"s{number}"}
    landing = await request("GET", base, "landing", params=query)
    hidden = dict(HIDDEN.findall(landing.text))
    hidden.pop("csrfmiddlewaretoken", None)
    await post(base, "start", hidden)
    await request("GET", base + "consent/", "consent")
    await post(base + "consent/", "consent", {"agree": "yes"})
    await request("GET", base + "about-you/", "profile")
    code = COUNTRIES[number % len(COUNTRIES)][0]
    profile = {"country": code, "age": "25-34", "gender": "woman", "years_in_country": "15+"}
    await post(base + "about-you/", "profile", profile)
    practice = await request("GET", base + "practice/", "practice")
    await post(base + "practice/", "practice", form(answer(practice.text)))
    while True:
        page = await request("GET", base + "rank/", "page")
        if page.status_code == 302:
            break
        html = page.text
        if options.fetch_images:
            for src in IMAGE.findall(html):
                await request("GET", unescape(src), "image")
        action = unescape(ACTION.search(html)[1])
        ranks = answer(html)
        data = form(ranks)
        # The server set up the study and told us the expected answers (a careful reader).
        for key in {k for k, _v in ATTENTION.findall(html)}:
            data[f"attention-{key}"] = options.attention[key]
        data["page_ms"] = str(chooser.randint(5_000, 40_000))
        location = await post(action, "submit", data)
        tally.acknowledged[action.rstrip("/").rsplit("/", 1)[-1]] = ranks
        if "/rank/" not in location:
            break
    tally.finished += 1


async def run_participants(url, count, concurrency, time_limit, options) -> tuple:
    import httpx

    tally = Tally()
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=0)

    async def one(number):
        async with (
            slots,
            httpx.AsyncClient(
                base_url=url, timeout=60, limits=limits, follow_redirects=False
            ) as client,
        ):
            try:
                await participant(client, number, tally, options)
            except ParticipantError:
                pass  # counted where it happened
            except Exception as error:  # a bug in the client or a page it cannot read
                tally.errors[f"client: {type(error).__name__}: {error}"] += 1

    started = time.perf_counter()
    tasks = [asyncio.create_task(one(number)) for number in range(count)]
    done, pending = await asyncio.wait(tasks, timeout=time_limit)
    for task in pending:
        task.cancel()
    if pending:
        tally.errors["stopped at the time limit"] += len(pending)
    elapsed = time.perf_counter() - started
    return tally, elapsed


async def run_trivial(url, total, concurrency) -> float:
    """Requests/s of /healthz/ on the same server, same client, same concurrency."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    counter = iter(range(total))
    failures = Counter()

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def worker():
            for _ in counter:
                response = await client.get("/healthz/")
                if response.status_code != 200:
                    failures[response.status_code] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"the trivial view failed: {dict(failures)}")
    return total / elapsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process, seconds: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("gunicorn stopped while starting; see its output above")
        try:
            if httpx.get(url + "/healthz/", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 30 s")


def percentile(values, q):
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def run_one(database: str, options, folder: Path) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "MEDIA_ROOT": str(folder / "media"),
        "STATIC_ROOT": str(folder / "static"),
        "LOG_LEVEL": "ERROR",
    }
    env.pop("DATABASE_URL", None)
    (folder / "static").mkdir()
    db_name = None
    if database == "sqlite":
        env["SQLITE_PATH"] = str(folder / "bench.sqlite3")
    else:
        import psycopg

        db_name = f"scoft_bench_{os.getpid()}_{secrets.token_hex(3)}"
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{db_name}"')
        env["DATABASE_URL"] = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + db_name
    script = [sys.executable, str(Path(__file__).resolve())]
    server = None
    try:
        prepared = subprocess.run(
            [
                *script,
                "--prepare",
                str(options.sets_per_country),
                str(options.pages),
                str(options.answers),
            ],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        options.__dict__.update(json.loads(prepared.stdout.strip().splitlines()[-1]))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--workers",
                str(options.workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "--timeout",
                "120",
            ],
            env=env,
            cwd=ROOT,
        )
        wait_for(url, server)
        tally, elapsed = asyncio.run(
            run_participants(
                url,
                options.participants,
                options.concurrency,
                options.time_limit,
                options,
            )
        )
        ceiling = asyncio.run(
            run_trivial(url, options.trivial_requests, options.trivial_concurrency)
        )
        records = folder / f"{database}-acknowledged.json"
        records.write_text(json.dumps(tally.acknowledged))
        checked = subprocess.run(
            [*script, "--check", str(records)],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        figures = json.loads(checked.stdout.strip().splitlines()[-1])
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        if db_name is not None:
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    return {
        "database": database,
        "participants": options.participants,
        "finished": tally.finished,
        "requests": tally.requests,
        "seconds": elapsed,
        "requests_per_s": tally.requests / elapsed,
        "submits": len(tally.submit_ms),
        "submit_p50_ms": percentile(tally.submit_ms, 50),
        "submit_p95_ms": percentile(tally.submit_ms, 95),
        "submit_p99_ms": percentile(tally.submit_ms, 99),
        "errors": sum(tally.errors.values()),
        "error_kinds": dict(tally.errors),
        "trivial_requests_per_s": ceiling,
        "median_ms_by_kind": {
            kind: statistics.median(values) for kind, values in tally.latency_ms.items()
        },
        **figures,
    }


def report(result: dict) -> None:
    r = result
    print(
        f"\n== {r['database']}: {r['participants']} participants, {r['finished']} finished "
        f"in {r['seconds']:.1f} s"
    )
    print(
        f"requests/s (survey flow)        {r['requests_per_s']:8.1f}   ({r['requests']} requests)"
    )
    print(
        f"ranking submit latency p50/p95/p99  {r['submit_p50_ms']:.0f} / {r['submit_p95_ms']:.0f}"
        f" / {r['submit_p99_ms']:.0f} ms   ({r['submits']} submits)"
    )
    print(f"errors                          {r['errors']:8d}   {r['error_kinds'] or ''}")
    print(f"rankings expected / stored      {r['rankings_expected']} / {r['rankings_stored']}")
    print(f"lost rankings                   {r['lost']:8d}")
    print(f"duplicated rankings             {r['duplicated']:8d}")
    print(f"pages stored but not confirmed  {r['unacknowledged_pages']:8d}")
    print(
        f"balance (max - min answers/set) {r['balance']:8d}   (min {r['answers_min_max'][0]}, "
        f"max {r['answers_min_max'][1]})"
    )
    by_kind = ", ".join(f"{k} {v:.0f}" for k, v in r["median_ms_by_kind"].items())
    print(f"median latency by request (ms)  {by_kind}")
    print(f"trivial view requests/s         {r['trivial_requests_per_s']:8.1f}   (ceiling)")
    print(
        f"ratio survey / trivial          {r['requests_per_s'] / r['trivial_requests_per_s']:8.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepare", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--check", help=argparse.SUPPRESS)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=200,
        help="participants taking the study at the same time (default: all)",
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--pages", type=int, default=5, help="pages per participant")
    parser.add_argument("--sets-per-country", type=int, default=20)
    parser.add_argument("--answers", type=int, default=25, help="target answers per image set")
    parser.add_argument("--time-limit", type=float, default=900, help="seconds per database")
    parser.add_argument("--trivial-requests", type=int, default=3000)
    parser.add_argument("--trivial-concurrency", type=int, default=50)
    parser.add_argument("--no-images", action="store_true", help="do not fetch the images")
    parser.add_argument("--json", help="also write the figures to this file")
    options = parser.parse_args()
    options.fetch_images = not options.no_images
    # Stopped from outside: still stop gunicorn and drop the PostgreSQL database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if options.prepare:
        prepare(*options.prepare)
        return 0
    if options.check:
        print(json.dumps(check(options.check)))
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="scoft-load-") as folder:
        for database in options.databases.split(","):
            (Path(folder) / database).mkdir()
            result = run_one(database, options, Path(folder) / database)
            report(result)
            results.append(result)
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=2))
    failed = [r["database"] for r in results if r["lost"] or r["duplicated"]]
    print(
        "\nratio (survey requests/s / trivial-view requests/s): "
        + ", ".join(
            f"{r['database']} {r['requests_per_s'] / r['trivial_requests_per_s']:.2f}"
            for r in results
        )
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
