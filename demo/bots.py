"""Simulated participants: bots that take the survey through its real HTTP pages.

Each bot arrives through the participant link with recruitment ids that say it is
simulated (``PROLIFIC_PID=SIMULATED-<run>-<n>``, ``STUDY_ID=SIMULATED-DEMO``), agrees to
the consent, chooses its culture and "prefer not to say" for every personal question,
ranks the practice squares by blueness, then ranks every page: it downloads the page's
images, judges them with the toy world's detectors (for the alignment question, whether
each image shows the object the page's description asks for) and ranks them with a
noisy preference (`demo.preference`). It answers the attention checks by reading them, with a
small chance of a lapse, as people have.
"""

from __future__ import annotations

import asyncio
import io
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import urlencode, urljoin, urlsplit

import numpy as np
from PIL import Image

from demo.pages import PageForm, read_form
from demo.preference import as_detector_input, judge, noisy_ranks
from toyworld.world import CATEGORIES

SIMULATED_PREFIX = "SIMULATED-"
SIMULATED_STUDY_ID = "SIMULATED-DEMO"
UNDISCLOSED = "undisclosed"
UNEXPECTED_RESPONSE = "{step}: the server answered {status} at {url}"
NO_FORM = "{step}: the page at {url} has no form to fill in"


class BotError(RuntimeError):
    """The survey did not answer as a participant's browser expects."""


@dataclass(frozen=True)
class BotSettings:
    """How the simulated participants behave."""

    noise: float = 1.0  # Gumbel noise on each image's utility: 0 = always the same order
    lapse: float = 0.05  # chance of getting an attention check wrong
    concurrency: int = 6  # participants taking the survey at the same time
    timeout: float = 120.0  # seconds per request
    seed: int = 0


@dataclass
class BotResult:
    """What one simulated participant did."""

    recruit_id: str
    country: str
    pages: int = 0
    attention_failed: int = 0
    finished: bool = False
    error: str = ""
    ranks: dict = field(default_factory=dict)  # page id -> item -> position -> rank


def page_errors(html: str) -> str:
    """The messages of a page's error box (what a participant would read), as one line."""
    box = re.search(r'<div class="errors"[^>]*>(.*?)</div>', html, re.S)
    if box is None:
        return ""
    items = re.findall(r"<li>(.*?)</li>", box.group(1), re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", "", item)).strip() for item in items)


def page_description(html: str) -> str:
    """The description (prompt) a ranking page shows beside its alignment question."""
    shown = re.search(r'<p class="prompt">.*?<q>(.*?)</q>', html, re.S)
    return unescape(shown.group(1)).strip() if shown else ""


def asked_category(description: str) -> str | None:
    """The toy-world category a description asks for ("an instrument in Tukaro")."""
    words = re.findall(r"[a-z]+", description.lower())
    return next((c for c in CATEGORIES if c in words), None)


def recruit_id(run: str, number: int) -> str:
    """The recruitment id of simulated participant `number` of run `run`."""
    return f"{SIMULATED_PREFIX}{run}-{number:03d}"


class Bot:
    """One simulated participant, from the link to the completion page."""

    def __init__(self, client, link, country, cultures, detectors, rng, settings, result):
        self.client = client
        self.link = link
        self.country = country
        self.cultures = cultures  # country code -> toy culture name
        self.culture = cultures[country]
        self.detectors = detectors
        self.rng = rng
        self.settings = settings
        self.result = result

    async def get(self, url: str, step: str):
        """GET, following redirects within the site; returns the final response."""
        for _ in range(10):
            response = await self.client.get(url)
            if response.status_code in (301, 302, 303):
                url = urljoin(str(response.url), response.headers["location"])
                if not self.on_site(url):
                    return response  # e.g. the way back to a recruitment platform
                continue
            if response.status_code != 200:
                raise BotError(
                    UNEXPECTED_RESPONSE.format(step=step, status=response.status_code, url=url)
                )
            return response
        raise BotError(UNEXPECTED_RESPONSE.format(step=step, status="too many redirects", url=url))

    async def post(self, url: str, data: dict, step: str) -> str:
        """POST a form; returns where the server sends the participant next."""
        response = await self.client.post(url, data=data)
        if response.status_code not in (302, 303):
            message = UNEXPECTED_RESPONSE.format(step=step, status=response.status_code, url=url)
            said = page_errors(response.text)
            raise BotError(f"{message}: {said}" if said else message)
        return urljoin(str(response.url), response.headers["location"])

    def on_site(self, url: str) -> bool:
        return urlsplit(url).netloc == urlsplit(str(self.client.base_url)).netloc

    async def form_at(self, url: str, step: str) -> tuple[str, PageForm]:
        response = await self.get(url, step)
        if not self.on_site(str(response.url)) or response.status_code != 200:
            return str(response.url), PageForm()
        form = read_form(response.text)
        form.description = page_description(response.text)
        return str(response.url), form

    def submit_url(self, page_url: str, form: PageForm) -> str:
        return urljoin(page_url, form.action or urlsplit(page_url).path)

    async def take_part(self) -> None:
        rid = self.result.recruit_id
        query = {"PROLIFIC_PID": rid, "STUDY_ID": SIMULATED_STUDY_ID, "SESSION_ID": rid}
        url, form = await self.form_at(self.link + "?" + urlencode(query), "landing")
        if "csrfmiddlewaretoken" not in form.hidden:
            raise BotError(NO_FORM.format(step="landing", url=url))
        # The Start form posts the recruitment ids back to the study's page.
        location = await self.post(self.submit_url(url, form), form.hidden, "start")
        url, form = await self.form_at(location, "consent")
        location = await self.post(
            self.submit_url(url, form), {**form.hidden, "agree": "yes"}, "consent"
        )
        url, form = await self.form_at(location, "about you")
        location = await self.post(self.submit_url(url, form), self.profile(form), "about you")
        url, form = await self.form_at(location, "practice")
        location = await self.post(
            self.submit_url(url, form), await self.practice(form, url), "practice"
        )
        while self.on_site(location) and "/rank/" in urlsplit(location).path:
            url, form = await self.form_at(location, "ranking page")
            if not form.selects:  # sent on to the completion page
                break
            data, ranks = await self.rank_page(form, url)
            action = self.submit_url(url, form)
            location = await self.post(action, data, "ranking page")
            self.result.pages += 1
            self.result.ranks[action.rstrip("/").rsplit("/", 1)[-1]] = ranks
        self.result.finished = True

    def profile(self, form: PageForm) -> dict:
        countries = [r for r in form.radios if r.name == "country" and not r.disabled]
        if not countries:
            raise BotError("about you: no country is open for new participants")
        chosen = next((r for r in countries if r.value == self.country), countries[0])
        self.result.country = chosen.value
        self.culture = self.cultures.get(chosen.value, self.culture)
        data = {**form.hidden, "country": chosen.value}
        for select in form.selects:
            offered = [o for o in select.options if o]
            data[select.name] = UNDISCLOSED if UNDISCLOSED in offered else offered[0]
        return data

    async def images(self, form: PageForm, page_url: str) -> dict[str, np.ndarray]:
        """Download each image of the page once: url -> 64x64 RGB array."""
        pictures = {}
        for select in form.selects:
            if select.image and select.image not in pictures:
                response = await self.get(urljoin(page_url, select.image), "image")
                picture = Image.open(io.BytesIO(response.content))
                pictures[select.image] = as_detector_input(picture)
        return pictures

    async def practice(self, form: PageForm, page_url: str) -> dict:
        pictures = await self.images(form, page_url)
        blueness = {url: float(p[..., 2].mean() - p[..., :2].mean()) for url, p in pictures.items()}
        order = sorted(blueness, key=blueness.get, reverse=True)
        data = dict(form.hidden)
        for select in form.selects:
            data[select.name] = str(order.index(select.image) + 1)
        return data

    async def rank_page(self, form: PageForm, page_url: str) -> tuple[dict, dict]:
        pictures = await self.images(form, page_url)
        urls = list(pictures)
        judgement = judge(
            self.detectors,
            np.stack([pictures[u] for u in urls]),
            self.culture,
            category=asked_category(form.description),
        )
        data = dict(form.hidden)
        given: dict[str, dict[int, int]] = {}
        by_item: dict[str, list] = {}
        for select in form.selects:
            item = "-".join(select.name.split("-")[1:-1])
            by_item.setdefault(item, []).append(select)
        for item, selects in by_item.items():
            ranks = noisy_ranks(judgement, item, self.rng, self.settings.noise)
            for select in selects:
                rank = ranks[urls.index(select.image)]
                data[select.name] = str(rank)
                given.setdefault(item, {})[int(select.name.rsplit("-", 1)[1])] = rank
        for check in (f for f in form.fieldsets if "attention" in f.classes):
            data[check.radios[0].name] = self.attention_answer(check, form)
        data["page_ms"] = str(int(self.rng.integers(4_000, 40_000)))
        return data, given

    def attention_answer(self, check, form: PageForm) -> str:
        """The option the question asks for, read from its wording (or a lapse)."""
        asked = check.legend.lower()
        right = [
            r.value
            for r in check.radios
            if form.label_of(r) and re.search(rf"\b{re.escape(form.label_of(r).lower())}\b", asked)
        ]
        wrong = [r.value for r in check.radios if r.value not in right]
        if right and (self.rng.random() >= self.settings.lapse or not wrong):
            return right[0]
        self.result.attention_failed += 1
        return wrong[int(self.rng.integers(len(wrong)))]


async def _run_bots(base_url, link, countries, detectors, count, run, settings, on_done):
    import httpx

    slots = asyncio.Semaphore(settings.concurrency)
    results = []

    async def one(number: int) -> None:
        code, _culture = countries[number % len(countries)]
        result = BotResult(recruit_id=recruit_id(run, number), country=code)
        results.append(result)
        rng = np.random.default_rng([settings.seed, number])
        async with (
            slots,
            httpx.AsyncClient(
                base_url=base_url, timeout=settings.timeout, follow_redirects=False
            ) as client,
        ):
            bot = Bot(client, link, code, dict(countries), detectors, rng, settings, result)
            try:
                await bot.take_part()
            except (BotError, httpx.HTTPError) as error:
                result.error = str(error) or type(error).__name__
            except Exception as error:  # a page the bot cannot read: report it, keep the rest
                result.error = f"{type(error).__name__}: {error}"
        on_done(result)

    await asyncio.gather(*(one(n) for n in range(count)))
    return sorted(results, key=lambda r: r.recruit_id)


def simulate_participants(
    *,
    base_url: str,
    link: str,
    countries: list[tuple[str, str]],
    detectors,
    count: int,
    settings: BotSettings | None = None,
    run: str | None = None,
    on_done: Callable[[BotResult], None] = lambda result: None,
) -> list[BotResult]:
    """Let `count` bots take the survey at `link`; `countries` = (code, toy culture) pairs.

    Bot n chooses country n modulo the list (another open one when it is full).
    """
    settings = settings or BotSettings()
    run = run or time.strftime("%Y%m%d%H%M%S", time.gmtime()) + f"{random.randrange(100):02d}"
    return asyncio.run(
        _run_bots(base_url, link, countries, detectors, count, run, settings, on_done)
    )
