"""Load benchmark: a Prolific launch of the survey, before and after, on gunicorn.

A launch: participants arrive on a ramp (default 1,000 over 300 s), each takes the whole
study like a person (landing, consent, about you, practice, every ranking page) and
thinks 10-30 s on every page before answering; the browser downloads every image of a
page, four at a time. The images are 512-px photographs shipped with scikit-image,
cropped and softened differently per variant so that, as in the published survey, the
baseline's source file is often the largest of its set.

For each database (SQLite in WAL mode, then the local PostgreSQL in a fresh database)
and each version of the code ("before": the tree at --before-ref, today's main, which
re-encodes PNGs per request; "after": this checkout, with participant copies made at
registration) it registers the same photographs through the real registration service,
starts gunicorn as docs/configuration.md runs it (config/gunicorn.conf.py when present,
else 4 workers) on 127.0.0.1, runs the launch and prints:

- participants active at once (the most reached), finished, unfinished at the limit;
- p50/p95/p99 of the ranking page, the image and the submit requests; errors;
- rankings lost or duplicated (from the database, against what the server confirmed),
  balance (most minus fewest answers per image set);
- page weight (HTML + its images as downloaded) and participants finished per hour;
- the size signal: over the sets shown, the share where the baseline variant's file was
  the largest of its set (ties shared), next to 1/variants.

Then the closed-loop ceiling run (--closed-loop-participants at once, no thinking; its
requests/s against the trivial /healthz/ view on the same server), as before.

    .venv/bin/python benchmarks/bench_survey_load.py                       # the full run
    .venv/bin/python benchmarks/bench_survey_load.py --participants 100 --ramp 30 \\
        --think 1,3 --databases sqlite                                       # a short one

Every run is bounded: participants still running at --time-limit (default: the ramp
plus the time a participant needs) are stopped and reported as unfinished.
"""

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
STUDY = "bench"
COUNTRIES = (("CN", "China", "Chinese", "en"), ("IN", "India", "Indian", "en"))
VARIANTS = ("pretrained", "finetune", "perceptual", "scoft")  # the first is the baseline
# Colour photographs that scikit-image ships (no download), cropped to 512 x 512.
PHOTOGRAPHS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina")

SELECT = re.compile(r'<select[^>]* name="(rank-(?P<item>[-\w]+)-(?P<position>\d+))"')
ACTION = re.compile(r'<form method="post" action="([^"]+)" class="ranking"')
ATTENTION = re.compile(r'name="attention-([\w-]+)" value="([^"]+)"')
IMAGE = re.compile(r'<img src="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


# --- the photographs ------------------------------------------------------------------------


def photographs():
    """The shipped colour photographs, centre-cropped and resized to 512 x 512."""
    from PIL import Image
    from skimage import data

    images = [getattr(data, name)() for name in PHOTOGRAPHS]
    images.append(data.stereo_motorcycle()[0])
    square = []
    for pixels in images:
        image = Image.fromarray(pixels).convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        square.append(image.resize((512, 512), Image.Resampling.LANCZOS))
    return square


def write_sources(folder: Path, sets_per_country: int) -> list[dict]:
    """Source PNGs of every image set, as a generator would leave them (with text chunks).

    A set is one photograph; each variant sees its own crop, and every variant but the
    baseline a little softening, so the baseline's file is the largest in about half of
    the sets, close to the 48% found on the published survey images.
    """
    from PIL import ImageFilter, PngImagePlugin

    photos = photographs()
    records = []
    for code, *_rest in COUNTRIES:
        for number in range(sets_per_country):
            rng = random.Random(f"{code}-{number}")
            photo = photos[(number + (code == "IN") * 3) % len(photos)]
            for position, key in enumerate(VARIANTS):
                side = rng.randint(400, 512)
                left, top = rng.randint(0, 512 - side), rng.randint(0, 512 - side)
                image = photo.crop((left, top, left + side, top + side)).resize((512, 512))
                blur = rng.uniform(0.0, 0.7) if position else rng.uniform(0.0, 0.35)
                image = image.filter(ImageFilter.GaussianBlur(blur))
                info = PngImagePlugin.PngInfo()
                info.add_text("parameters", f"{key} lora={key} seed=1024")
                name = f"generated/{STUDY}/{key}/{code}/{code.lower()}-{number:03d}.png"
                path = folder / name
                path.parent.mkdir(parents=True, exist_ok=True)
                image.save(path, "PNG", pnginfo=info)
                records.append(
                    {
                        "variant_key": key,
                        "country_code": code,
                        "prompt_id": f"{code.lower()}-{number:03d}",
                        "prompt": f"A photograph from {code}, scene {number}",
                        "category": "photo",
                        "seed": 1024,
                        "file": name,
                        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                        "width": 512,
                        "height": 512,
                    }
                )
    (folder / "records.json").write_text(json.dumps(records))
    return records


# --- inside Django (run in the tree under test): set up, then check ----------------------------


def django_setup():
    sys.path.insert(0, os.getcwd())  # the tree under test: this checkout or the "before" one
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()


def prepare(sources: str, pages: int, answers: int) -> None:
    """Migrate a fresh database, set up the study and register the photographs."""
    django_setup()
    from django.conf import settings
    from django.core.management import call_command

    from generation.services.register import ImageRecord, VariantRecord, image_sets_register
    from study.spec import Country, StudySpec, SurveySettings
    from survey.services import study_setup

    try:
        from survey.questions import ATTENTION_BY_KEY
    except ImportError:  # a "before" tree, from when the questions were in catalogue.py
        from survey.catalogue import ATTENTION_BY_KEY

    call_command("migrate", verbosity=0)
    spec = StudySpec(
        path=Path("load-benchmark.toml"),
        slug=STUDY,
        title="Load benchmark",
        countries=tuple(Country(*country) for country in COUNTRIES),
        survey=SurveySettings(pages_per_participant=pages, answers_per_image_set=answers),
    )
    study, _created = study_setup(spec=spec)
    records = json.loads((Path(sources) / "records.json").read_text())
    media = Path(settings.MEDIA_ROOT)
    for record in records:  # generate_batch leaves its files in MEDIA_ROOT like this
        (media / record["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(sources) / record["file"], media / record["file"])
    started = time.perf_counter()
    image_sets_register(
        study_slug=STUDY,
        variants=[VariantRecord(key=k, label=k, position=i) for i, k in enumerate(VARIANTS)],
        images=[ImageRecord(**record) for record in records],
    )
    registration_s = time.perf_counter() - started
    expected = {key: question.expected for key, question in ATTENTION_BY_KEY.items()}
    print(
        json.dumps(
            {
                "study_url": f"/s/{study.public_id}/",
                "attention": expected,
                "registration_s": registration_s,
            }
        )
    )


def check(records_path: str) -> dict:
    """Lost and duplicated rankings, balance and the size signal, from the database."""
    django_setup()
    from django.db.models import Count

    from survey.models import Page, PageImage, Ranking, Study
    from survey.selectors import image_set_answer_counts

    client = json.loads(Path(records_path).read_text())
    acknowledged = client["acknowledged"]
    study = Study.objects.get(slug=STUDY)
    rankings = Ranking.objects.filter(page__participant__study=study)
    stored = {
        (page, item, int(position)): rank
        for page, item, position, rank in rankings.values_list(
            "page__public_id", "item__key", "page_image__position", "rank"
        )
    }
    expected = {
        (page, item, int(position)): rank
        for page, ranks in acknowledged.items()
        for item, by_position in ranks.items()
        for position, rank in by_position.items()
    }
    lost = sum(1 for key, rank in expected.items() if stored.get(key) != rank)
    total = rankings.count()
    distinct = rankings.values("page", "item", "page_image").distinct().count()
    submitted = set(
        Page.objects.filter(participant__study=study, submitted_at__isnull=False).values_list(
            "public_id", flat=True
        )
    )
    answers = [s.answers for s in image_set_answer_counts(study=study)]
    # The size signal, from the bytes participants downloaded: per image set, which
    # variant's file was the largest (a tie shares the set among the tied variants).
    downloaded = client["image_bytes"]  # page id -> bytes of its images, in the order shown
    shown = PageImage.objects.filter(page__public_id__in=list(downloaded)).values_list(
        "page__public_id", "position", "page__image_set_id", "image__variant__key"
    )
    sizes_by_set: dict = {}
    for page_id, position, set_id, key in shown:
        if position <= len(downloaded[page_id]):
            sizes_by_set.setdefault(set_id, {})[key] = downloaded[page_id][position - 1]
    largest = Counter()
    sets = [sizes for sizes in sizes_by_set.values() if len(sizes) == len(VARIANTS)]
    for sizes in sets:
        top = max(sizes.values())
        winners = [key for key, size in sizes.items() if size == top]
        for key in winners:
            largest[key] += 1 / len(winners)
    return {
        "rankings_expected": len(expected),
        "rankings_stored": total,
        "lost": lost,
        "duplicated": total - distinct,
        "unacknowledged_pages": len(submitted - set(acknowledged)),
        "balance": max(answers) - min(answers),
        "answers_min_max": [min(answers), max(answers)],
        "sets_measured": len(sets),
        "baseline_largest_share": largest[VARIANTS[0]] / len(sets) if sets else float("nan"),
        "pages_per_participant_max": Page.objects.filter(participant__study=study)
        .values("participant")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("n", flat=True)
        .first()
        or 0,
    }


# --- outside Django: the server and the simulated participants ----------------------------


@dataclass
class Tally:
    """What the clients saw."""

    requests: int = 0
    errors: Counter = field(default_factory=Counter)
    latency_ms: dict = field(default_factory=dict)  # kind of request -> latencies
    acknowledged: dict = field(default_factory=dict)  # page id -> item -> position -> rank
    image_bytes: dict = field(default_factory=dict)  # page id -> its images' bytes, in order
    page_weights: list = field(default_factory=list)  # HTML + images of a ranking page
    started: int = 0
    finished: int = 0
    active: int = 0
    max_active: int = 0
    first_finish: float | None = None
    last_finish: float | None = None


class ParticipantError(Exception):
    pass


async def participant(client, number: int, tally: Tally, options) -> None:
    """One participant from the Prolific link to the completion page."""
    chooser = random.Random(number)
    base = options.study_url

    async def think():
        low, high = options.think
        if high > 0:
            await asyncio.sleep(chooser.uniform(low, high))

    async def request(method, url, kind, **kwargs):
        started = time.perf_counter()
        try:
            response = await client.request(method, url, **kwargs)
        except Exception as error:  # timeouts, refused connections: counted, then stop
            tally.errors[f"{kind}: {type(error).__name__}"] += 1
            raise ParticipantError from error
        tally.requests += 1
        tally.latency_ms.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
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

    async def images(html, kind):
        """Every image of the page, four at a time as a browser does: their sizes in
        the order shown (positions 1, 2, ...)."""
        urls = list(dict.fromkeys(unescape(src) for src in IMAGE.findall(html)))
        responses = await asyncio.gather(*(request("GET", url, kind) for url in urls))
        return [len(response.content) for response in responses]

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
    await think()
    await post(base, "start", hidden)
    await request("GET", base + "consent/", "consent")
    await think()
    await post(base + "consent/", "consent", {"agree": "yes"})
    await request("GET", base + "about-you/", "profile")
    await think()
    code = COUNTRIES[number % len(COUNTRIES)][0]
    profile = {"country": code, "age": "25-34", "gender": "woman", "years_in_country": "15+"}
    await post(base + "about-you/", "profile", profile)
    practice = await request("GET", base + "practice/", "practice")
    if options.fetch_images:
        await images(practice.text, "practice image")
    await think()
    await post(base + "practice/", "practice", form(answer(practice.text)))
    while True:
        page = await request("GET", base + "rank/", "page")
        if page.status_code == 302:
            break
        html = page.text
        action = unescape(ACTION.search(html)[1])
        if options.fetch_images:
            sizes = await images(html, "image")
            tally.page_weights.append(len(page.content) + sum(sizes))
            tally.image_bytes[action.rstrip("/").rsplit("/", 1)[-1]] = sizes
        ranks = answer(html)
        data = form(ranks)
        # The server set up the study and told us the expected answers (a careful reader).
        for key in {k for k, _v in ATTENTION.findall(html)}:
            data[f"attention-{key}"] = options.attention[key]
        data["page_ms"] = str(chooser.randint(10_000, 30_000))
        await think()
        location = await post(action, "submit", data)
        tally.acknowledged[action.rstrip("/").rsplit("/", 1)[-1]] = ranks
        if "/rank/" not in location:
            break


async def run_participants(url, options) -> tuple:
    """Participants arrive on the ramp (or all at once); bounded by the time limit."""
    import httpx

    tally = Tally()
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    run_started = time.perf_counter()
    slots = asyncio.Semaphore(options.concurrency or options.participants)

    async def one(number):
        async with (
            slots,
            httpx.AsyncClient(
                base_url=url, timeout=60, limits=limits, follow_redirects=False
            ) as client,
        ):
            tally.started += 1
            tally.active += 1
            tally.max_active = max(tally.max_active, tally.active)
            try:
                await participant(client, number, tally, options)
            except ParticipantError:
                return  # counted where it happened
            except Exception as error:  # a bug in the client or a page it cannot read
                tally.errors[f"client: {type(error).__name__}: {error}"] += 1
                return
            finally:
                tally.active -= 1
            tally.finished += 1
            now = time.perf_counter() - run_started
            tally.first_finish = tally.first_finish if tally.first_finish is not None else now
            tally.last_finish = now

    async def arrivals():
        tasks = []
        for number in range(options.participants):
            due = run_started + options.ramp * number / options.participants
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(number)))
        await asyncio.gather(*tasks)

    main = asyncio.create_task(arrivals())
    done, _pending = await asyncio.wait([main], timeout=options.time_limit)
    unfinished = 0
    if not done:
        unfinished = tally.active + (options.participants - tally.started)
        main.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await main
    return tally, time.perf_counter() - run_started, unfinished


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


def server_cpu_seconds(master_pid: int) -> float:
    """User + system CPU seconds of gunicorn's master and workers so far (Linux /proc).

    Not counting waits for the CPU, this is what the server costs whatever else runs
    on the machine; workers that exited are not counted.
    """
    return sum(cpu for pid, ppid, cpu in _processes() if master_pid in (pid, ppid))


def machine_cpu_seconds() -> float:
    """CPU seconds every core of the machine has been busy so far (Linux /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _processes():
    """(pid, parent pid, user + system CPU seconds) of every process (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        yield int(entry.name), int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks


def stop(server: subprocess.Popen) -> None:
    """Stop gunicorn: running requests get 30 s, then it is killed."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process, seconds: float = 60) -> None:
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
    raise SystemExit(f"gunicorn did not answer within {seconds:.0f} s")


def percentile(values, q):
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def tree_of(ref: str, folder: Path) -> Path:
    """The repository's files at `ref` (git archive), for the "before" server."""
    folder.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def gunicorn_command(tree: Path, port: int) -> list[str]:
    """gunicorn as the deployment docs run it; the config file wins when the tree has one."""
    command = [sys.executable, "-m", "gunicorn", "config.wsgi:application"]
    config = tree / "config" / "gunicorn.conf.py"
    if config.is_file():
        command += ["-c", str(config)]
    else:
        command += ["--workers", "4", "--timeout", "120"]
    return command + ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"]


def run_one(database: str, version: str, tree: Path, options, folder: Path) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "MEDIA_ROOT": str(folder / "media"),
        "STATIC_ROOT": str(folder / "static"),
        "LOG_LEVEL": "ERROR",
        "OMP_NUM_THREADS": "1",
    }
    for name in ("DATABASE_URL", "MEDIA_S3_BUCKET", "SURVEY_IMAGE_SERVING"):
        env.pop(name, None)
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
            [*script, "--prepare", str(options.sources), str(options.pages), str(options.answers)],
            env=env,
            cwd=tree,
            check=True,
            capture_output=True,
            text=True,
        )
        setup = json.loads(prepared.stdout.strip().splitlines()[-1])
        options.__dict__.update(setup)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(gunicorn_command(tree, port), env=env, cwd=tree)
        wait_for(url, server)
        load_before = os.getloadavg()[0]
        cpu_before = server_cpu_seconds(server.pid)
        client_before = time.process_time()
        machine_before = machine_cpu_seconds()
        tally, elapsed, unfinished = asyncio.run(run_participants(url, options))
        cpu_s = server_cpu_seconds(server.pid) - cpu_before
        client_cpu_s = time.process_time() - client_before
        machine_cpu_s = machine_cpu_seconds() - machine_before
        load_after = os.getloadavg()[0]
        ceiling = None
        if options.trivial_requests:
            ceiling = asyncio.run(
                run_trivial(url, options.trivial_requests, options.trivial_concurrency)
            )
        records = folder / f"{database}-{version}-client.json"
        records.write_text(
            json.dumps({"acknowledged": tally.acknowledged, "image_bytes": tally.image_bytes})
        )
        # Stopped first: a server still working through requests that participants gave
        # up on at the time limit would add rows while they are counted.
        stop(server)
        checked = subprocess.run(
            [*script, "--check", str(records)],
            env=env,
            cwd=tree,
            check=True,
            capture_output=True,
            text=True,
        )
        figures = json.loads(checked.stdout.strip().splitlines()[-1])
    finally:
        if server is not None:
            stop(server)
        if db_name is not None:
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    latency = {
        kind: {q: percentile(values, q) for q in (50, 95, 99)}
        for kind, values in tally.latency_ms.items()
    }
    span = (tally.last_finish or 0) - (tally.first_finish or 0)
    return {
        "database": database,
        "version": version,
        "participants": options.participants,
        "started": tally.started,
        "finished": tally.finished,
        "unfinished": unfinished,
        "max_active": tally.max_active,
        "requests": tally.requests,
        "seconds": elapsed,
        "requests_per_s": tally.requests / elapsed,
        "latency_ms": latency,
        "errors": sum(tally.errors.values()),
        "error_kinds": dict(tally.errors),
        "page_weight_kb": {
            "median": statistics.median(tally.page_weights) / 1024 if tally.page_weights else 0,
            "max": max(tally.page_weights) / 1024 if tally.page_weights else 0,
        },
        "participants_per_hour": (
            tally.finished / (tally.last_finish or 1) * 3600 if tally.finished else 0.0
        ),
        "finish_span_s": span,
        "trivial_requests_per_s": ceiling,
        "registration_s": setup["registration_s"],
        "load_average": [load_before, load_after],
        "server_cpu_s": cpu_s,
        "server_cpu_ms_per_request": 1000 * cpu_s / max(tally.requests, 1),
        # The simulated browsers share the machine: their CPU is not the server's.
        "client_cpu_s": client_cpu_s,
        # Everything busy meanwhile: server, browsers, PostgreSQL, the kernel, and
        # anything else running on the machine.
        "machine_cpu_s": machine_cpu_s,
        # A participant takes one step (a page, its images, the answer) per think time
        # on average, so two whole cores hold 2 x think / (server CPU per answered page)
        # participants; the CPU of the onboarding pages is counted in, so it is low.
        "two_core_capacity": (
            2 * statistics.mean(options.think) / (cpu_s / len(tally.acknowledged))
            if cpu_s and tally.acknowledged and options.think[1]
            else None
        ),
        **figures,
    }


def report(r: dict) -> None:
    print(
        f"\n== {r['database']} / {r['version']}: {r['participants']} participants, "
        f"{r['finished']} finished, {r['unfinished']} unfinished at the limit, "
        f"in {r['seconds']:.0f} s (load average {r['load_average'][0]:.1f} -> "
        f"{r['load_average'][1]:.1f})"
    )
    print(f"active at once (most)           {r['max_active']:8d}")
    for kind in ("page", "image", "submit"):
        if kind in r["latency_ms"]:
            q = r["latency_ms"][kind]
            print(f"{kind:<6} p50/p95/p99 (ms)         {q[50]:.0f} / {q[95]:.0f} / {q[99]:.0f}")
    print(f"errors                          {r['errors']:8d}   {r['error_kinds'] or ''}")
    print(f"rankings expected / stored      {r['rankings_expected']} / {r['rankings_stored']}")
    print(f"lost / duplicated rankings      {r['lost']} / {r['duplicated']}")
    print(
        f"balance (max - min answers/set) {r['balance']:8d}   (min {r['answers_min_max'][0]}, "
        f"max {r['answers_min_max'][1]})"
    )
    w = r["page_weight_kb"]
    print(f"page weight (KB) median / max   {w['median']:.0f} / {w['max']:.0f}")
    print(
        f"baseline is the largest file    {100 * r['baseline_largest_share']:.1f}% of "
        f"{r['sets_measured']} sets (chance {100 / len(VARIANTS):.0f}%)"
    )
    print(f"participants finished per hour  {r['participants_per_hour']:8.0f}")
    print(f"registration (s)                {r['registration_s']:8.1f}")
    print(
        f"server CPU (s) / per request    {r['server_cpu_s']:8.1f} / "
        f"{r['server_cpu_ms_per_request']:.1f} ms"
        f"\nclient CPU (s), the browsers     {r.get('client_cpu_s', 0):8.1f}"
    )
    if r.get("machine_cpu_s") is not None:
        busy = r["machine_cpu_s"] / r["seconds"] / (os.cpu_count() or 1)
        print(
            f"machine CPU (s), all processes  {r['machine_cpu_s']:8.1f}   "
            f"({100 * busy:.0f}% of {os.cpu_count()} cores over the run)"
        )
    if r["two_core_capacity"]:
        print(f"participants 2 free cores hold  {r['two_core_capacity']:8.0f}   (estimate)")
    if r["trivial_requests_per_s"]:
        ratio = r["requests_per_s"] / r["trivial_requests_per_s"]
        print(
            f"closed loop: survey {r['requests_per_s']:.1f} req/s, trivial view "
            f"{r['trivial_requests_per_s']:.1f} req/s, ratio {ratio:.2f}"
        )


def side_by_side(results: list[dict]) -> None:
    """One table: every database and version of this run."""
    rows = [
        ("active at once", lambda r: f"{r['max_active']}"),
        ("finished / unfinished", lambda r: f"{r['finished']} / {r['unfinished']}"),
        ("page p95 (ms)", lambda r: _q(r, "page", 95)),
        ("image p95 (ms)", lambda r: _q(r, "image", 95)),
        ("submit p95 (ms)", lambda r: _q(r, "submit", 95)),
        ("page / image / submit p99", lambda r: "/".join(_q(r, k, 99) for k in _KINDS)),
        ("errors", lambda r: f"{r['errors']}"),
        ("lost / duplicated", lambda r: f"{r['lost']} / {r['duplicated']}"),
        ("balance", lambda r: f"{r['balance']}"),
        ("page weight median (KB)", lambda r: f"{r['page_weight_kb']['median']:.0f}"),
        ("baseline largest (%)", lambda r: f"{100 * r['baseline_largest_share']:.1f}"),
        ("participants / hour", lambda r: f"{r['participants_per_hour']:.0f}"),
        ("server CPU ms / request", lambda r: f"{r['server_cpu_ms_per_request']:.1f}"),
        ("2 free cores hold (est.)", lambda r: f"{r['two_core_capacity'] or 0:.0f}"),
    ]
    heads = [f"{r['database']}/{r['version']}" for r in results]
    print("\n" + " | ".join(["launch".ljust(26), *(h.rjust(16) for h in heads)]))
    for name, cell in rows:
        print(" | ".join([name.ljust(26), *(cell(r).rjust(16) for r in results)]))


_KINDS = ("page", "image", "submit")


def _q(r, kind, q):
    return f"{r['latency_ms'][kind][q]:.0f}" if kind in r["latency_ms"] else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepare", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--check", help=argparse.SUPPRESS)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--versions", default="before,after")
    parser.add_argument(
        "--before-ref", default="", help="git ref of 'before' (default: merge-base with main)"
    )
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--ramp", type=float, default=300, help="seconds over which they arrive")
    parser.add_argument("--think", default="10,30", help="seconds on a page: low,high")
    parser.add_argument("--pages", type=int, default=10, help="pages per participant")
    parser.add_argument("--sets-per-country", type=int, default=60)
    parser.add_argument("--answers", type=int, default=100, help="target answers per image set")
    parser.add_argument("--time-limit", type=float, help="seconds per run (default: see above)")
    parser.add_argument("--closed-loop-participants", type=int, default=200)
    parser.add_argument("--closed-loop-pages", type=int, default=5)
    parser.add_argument("--trivial-requests", type=int, default=3000)
    parser.add_argument("--trivial-concurrency", type=int, default=50)
    parser.add_argument("--no-closed-loop", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    options = parser.parse_args()
    # Stopped from outside: still stop gunicorn and drop the PostgreSQL database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if options.prepare:
        prepare(options.prepare[0], int(options.prepare[1]), int(options.prepare[2]))
        return 0
    if options.check:
        print(json.dumps(check(options.check)))
        return 0
    low, high = (float(x) for x in options.think.split(","))
    launch = {
        "participants": options.participants,
        "ramp": options.ramp,
        "think": (low, high),
        "pages": options.pages,
        "concurrency": 0,
        "trivial_requests": 0,
        "fetch_images": True,
        # a participant answers the landing, consent, profile, practice and every page
        "time_limit": options.time_limit or options.ramp + (options.pages + 4) * high + 120,
    }
    before_ref = options.before_ref or subprocess.run(
        ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
        f"before = {before_ref[:10]}, after = this checkout"
    )
    results, ceilings = [], []
    with tempfile.TemporaryDirectory(prefix="scoft-load-") as work:
        work = Path(work)
        options.sources = work / "sources"
        started = time.perf_counter()
        write_sources(options.sources, options.sets_per_country)
        print(f"photographs written in {time.perf_counter() - started:.0f} s")
        trees = {"after": ROOT}
        if "before" in options.versions.split(","):
            trees["before"] = tree_of(before_ref, work / "before-tree")
        for database in options.databases.split(","):
            for version in options.versions.split(","):
                run_options = argparse.Namespace(**{**vars(options), **launch})
                folder = work / f"{database}-{version}"
                folder.mkdir()
                result = run_one(database, version, trees[version], run_options, folder)
                report(result)
                results.append(result)
            if not options.no_closed_loop:
                closed = argparse.Namespace(
                    **{
                        **vars(options),
                        "participants": options.closed_loop_participants,
                        "concurrency": options.closed_loop_participants,
                        "ramp": 0,
                        "think": (0, 0),
                        "pages": options.closed_loop_pages,
                        "fetch_images": True,
                        "time_limit": 900,
                    }
                )
                folder = work / f"{database}-closed"
                folder.mkdir()
                result = run_one(database, "after", ROOT, closed, folder)
                result["version"] = "after, closed loop"
                report(result)
                ceilings.append(result)
    side_by_side(results)
    if ceilings:
        print(
            "\nclosed-loop ratio (survey requests/s / trivial-view requests/s): "
            + ", ".join(
                f"{r['database']} {r['requests_per_s'] / r['trivial_requests_per_s']:.2f}"
                for r in ceilings
            )
        )
    if options.json:
        Path(options.json).write_text(json.dumps(results + ceilings, indent=2))
    failed = [r["database"] for r in results + ceilings if r["lost"] or r["duplicated"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
