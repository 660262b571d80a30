"""Assignment benchmark: simulated participants take the study through the services.

A study shaped like the published one (5 countries, 13 prompts per country in 5
categories, 4 seeds per prompt: 260 image sets; 10 pages per participant) and 200
participants, 8 of them taking the study at any moment in random interleaving: each
arrives (start, consent, country, practice), then is shown a page and answers it, page
after page, through survey.services, exactly as the views call them. Printed:

- repeated prompts: pages whose description the participant had already seen while
  their country still had one they had not (must be 0);
- category spreading: pages of the same category as the page before, and as one of the
  two before;
- balance: most minus fewest answers per image set of a country, at the end and the
  largest at any moment, and the share of moments at most 1;
- quotas: a second, smaller study whose targets fill up, with 20% of participants
  failing an attention check: valid answers per set (must all equal the target, at
  most target + 1), every answer, participants turned away.

Each figure is measured twice in the same run: with today's assignment and with the
rule it replaced (least-answered first, ties at random) as the baseline; the last line
is the ratio of repeated prompts.

    .venv/bin/python benchmarks/bench_assignment.py                      # SQLite, ~2 min
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME \
        .venv/bin/python benchmarks/bench_assignment.py                 # PostgreSQL
    .venv/bin/python benchmarks/bench_assignment.py --participants 50 --countries 2

A fast version runs in the suite (tests/survey/test_assignment.py).
"""

import argparse
import io
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEMOGRAPHICS = {"age": "25-34", "gender": "undisclosed", "years_in_country": "15+"}
CATEGORIES = ("food", "clothing", "architecture", "wedding", "dance", "music", "sport")
VARIANTS = ("pretrained", "finetune", "perceptual", "scoft")


@dataclass(frozen=True)
class Design:
    """The simulated study and its participants."""

    countries: int = 5
    prompts: int = 13  # per country
    seeds: int = 4  # image sets per prompt
    categories: int = 5  # prompt n of a country has category n mod this
    pages: int = 10
    target: int = 100  # answers_per_image_set; high enough never to be reached
    participants: int = 200
    active: int = 8  # taking the study at the same moment
    fail_share: float = 0.0  # share of participants failing an attention check
    seed: int = 0
    slug: str = "bench-assignment"


@dataclass
class Figures:
    """What one simulation measured."""

    pages: int = 0
    repeats: int = 0  # prompt seen before while the country had an unseen one
    same_category_as_previous: int = 0
    same_category_within_two: int = 0
    balance_end: int = 0  # most minus fewest counted answers per set, worst country
    balance_max: int = 0  # the same, largest at any moment
    moments_within_one: float = 1.0
    refused: int = 0  # participants turned away at the country step
    valid_per_set: tuple[int, int] = (0, 0)  # (fewest, most) counted answers per set
    all_per_set: tuple[int, int] = (0, 0)  # (fewest, most) answers per set
    valid: int = 0  # counted answers in all
    all_answers: int = 0  # answers in all
    seconds: float = 0.0
    spreads: list = field(default_factory=list, repr=False)


def build_study(design: Design):
    """The study, its countries and image sets (four tiny images each, one file)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image

    from generation.models import GeneratedImage, ImageSet, ModelVariant
    from study.spec import Country, StudySpec, SurveySettings
    from survey.services import study_setup

    codes = [f"C{number}" for number in range(design.countries)]
    spec = StudySpec(
        path=Path("bench-assignment.toml"),
        slug=design.slug,
        title="Assignment benchmark",
        countries=tuple(Country(code, code, code, "en") for code in codes),
        survey=SurveySettings(
            pages_per_participant=design.pages, answers_per_image_set=design.target
        ),
    )
    study, _created = study_setup(spec=spec)
    variants = [
        ModelVariant.objects.get_or_create(
            study_slug=design.slug, key=key, defaults={"label": key, "base_model": "tiny"}
        )[0]
        for key in VARIANTS
    ]
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 120, 150)).save(buffer, "PNG")
    name = default_storage.save("bench/assignment.png", ContentFile(buffer.getvalue()))
    images = []
    for code in codes:
        for prompt in range(design.prompts):
            for seed in range(design.seeds):
                image_set = ImageSet.objects.create(
                    study_slug=design.slug,
                    country_code=code,
                    prompt_id=f"{code.lower()}-{prompt:02d}",
                    prompt=f"Prompt {prompt} of {code}",
                    category=CATEGORIES[prompt % design.categories],
                    seed=seed,
                )
                images += [
                    GeneratedImage(
                        image_set=image_set,
                        variant=variant,
                        file=name,
                        sha256="0" * 64,
                        width=8,
                        height=8,
                        seed=seed,
                    )
                    for variant in variants
                ]
    GeneratedImage.objects.bulk_create(images)
    return study


def least_answered_only(sets, *, shown, target, rng):
    """The rule before: any set not shown to the participant, least loaded first."""
    candidates = [s for s in sets if s.pk not in shown.image_sets]
    if not candidates:
        return None
    least = min(s.load for s in candidates)
    return rng.choice([s for s in candidates if s.load == least])


@dataclass
class _Person:
    participant: object
    country: str
    fails: bool
    shown: list = field(default_factory=list)  # (image set pk, prompt id, category)
    page: object = None  # shown and not yet answered
    done: bool = False


def simulate(study, design: Design, *, baseline: bool = False) -> Figures:
    """Let design.participants take the study; see the module docstring for the figures."""
    from survey import selectors, services

    rng = random.Random(design.seed)
    codes = [c.code for c in study.countries.all()]
    prompts = {
        code: len({s.prompt_id for s in study_image_sets(study) if s.country_code == code})
        for code in codes
    }
    figures, started = Figures(), time.perf_counter()
    waiting = list(range(design.participants))
    active: list[_Person] = []
    patch = (
        mock.patch.object(services, "choose_image_set", least_answered_only)
        if baseline
        else nullcontext()
    )
    with patch, mock.patch.object(services, "_RANDOM", random.Random(design.seed)):
        while waiting or active:
            while waiting and len(active) < design.active:
                number = waiting.pop(0)
                person = _arrive(study, codes[number % len(codes)], number, design)
                if person is None:
                    figures.refused += 1
                else:
                    active.append(person)
            if not active:
                continue
            person = rng.choice(active)
            _step(person, prompts[person.country], figures)
            if person.done:
                active.remove(person)
            elif person.page is None:  # just answered one
                figures.spreads.append(_spread(study, person.country))
    counted = selectors.image_set_answer_counts(study=study)
    figures.seconds = time.perf_counter() - started
    _summarise(figures, counted)
    return figures


def study_image_sets(study):
    from generation.models import ImageSet

    return ImageSet.objects.filter(study_slug=study.slug).only("prompt_id", "country_code")


def _arrive(study, code, number, design) -> "_Person | None":
    from survey import services

    participant = services.participant_start(study=study, recruitment=services.Recruitment())
    services.participant_consent(participant=participant, agreed=True)
    try:
        services.participant_profile_set(
            participant=participant, country_code=code, demographics=DEMOGRAPHICS
        )
    except services.SurveyError:
        return None
    practice = {"practice": {position: position for position in range(1, 5)}}
    services.practice_submit(participant=participant, ranks=practice)
    # Every n-th arrival fails a check: the share is exact, whoever is admitted.
    every = round(1 / design.fail_share) if design.fail_share else 0
    return _Person(participant, code, fails=bool(every) and (number + 1) % every == 0)


def _step(person: _Person, prompts: int, figures: Figures) -> None:
    """Show the next page, or answer the one shown."""
    from survey import services

    if person.page is None:
        person.page = services.page_next_for_participant(participant=person.participant)
        person.done = person.page is None
        return
    page, person.page = person.page, None
    image_set = page.image_set
    seen_prompts = {prompt for _pk, prompt, _category in person.shown}
    categories = [category for _pk, _prompt, category in person.shown]
    figures.pages += 1
    figures.repeats += image_set.prompt_id in seen_prompts and len(seen_prompts) < prompts
    figures.same_category_as_previous += image_set.category in categories[-1:]
    figures.same_category_within_two += image_set.category in categories[-2:]
    person.shown.append((image_set.pk, image_set.prompt_id, image_set.category))
    services.ranking_submit(
        participant=person.participant,
        page_public_id=page.public_id,
        ranks=_ranks(page),
        attention=_attention(page, fail=person.fails),
    )


def _ranks(page) -> dict:
    positions = [image.position for image in page.images.all()]
    keys = page.participant.study.items.values_list("key", flat=True)
    return {key: {position: position for position in positions} for key in keys}


def _attention(page, *, fail: bool) -> dict:
    from survey.questions import ATTENTION_BY_KEY

    answers = {}
    for check in page.attention_checks.all():
        options = [value for value, _label in ATTENTION_BY_KEY[check.key].options]
        wrong = next(value for value in options if value != check.expected)
        answers[check.key] = wrong if fail else check.expected
    return answers


def _spread(study, code: str) -> int:
    from survey import selectors

    counts = [
        s.answers for s in selectors.image_set_answer_counts(study=study).filter(country_code=code)
    ]
    return max(counts) - min(counts)


def _summarise(figures: Figures, counted) -> None:
    per_country = defaultdict(list)
    valid, every = [], []
    for image_set in counted:
        per_country[image_set.country_code].append(image_set.answers)
        valid.append(image_set.answers)
        every.append(image_set.all_answers)
    figures.balance_end = max(max(v) - min(v) for v in per_country.values())
    figures.balance_max = max([figures.balance_end, *figures.spreads])
    within = sum(spread <= 1 for spread in figures.spreads)
    figures.moments_within_one = within / len(figures.spreads) if figures.spreads else 1.0
    figures.valid_per_set = (min(valid), max(valid))
    figures.valid, figures.all_answers = sum(valid), sum(every)
    figures.all_per_set = (min(every), max(every))


# --- the command ------------------------------------------------------------------------


def django_setup(database_url: str | None) -> None:
    """Django on a fresh database: a throwaway SQLite file unless DATABASE_URL is given."""
    # In memory where the machine has it: the figures are about the rule, not fsync.
    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(prefix="bench-assignment-", dir=shm if shm.is_dir() else None))
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ["SQLITE_PATH"] = str(folder / "bench.sqlite3")
    os.environ.setdefault("MEDIA_ROOT", str(folder / "media"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    import django

    django.setup()


def _print(name: str, figures: Figures) -> None:
    print(
        f"{name:<22} pages {figures.pages:5d}  repeated prompts {figures.repeats:4d}  "
        f"same category as previous {figures.same_category_as_previous:4d}  "
        f"within two {figures.same_category_within_two:4d}  "
        f"balance end {figures.balance_end} max {figures.balance_max} "
        f"(<=1 at {figures.moments_within_one:.1%} of moments)  "
        f"refused {figures.refused}  answers valid {figures.valid} all {figures.all_answers}  "
        f"valid/set {figures.valid_per_set[0]}-"
        f"{figures.valid_per_set[1]}  all/set {figures.all_per_set[0]}-{figures.all_per_set[1]}  "
        f"{figures.seconds:.0f} s"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--countries", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--scenarios", default="content,quota", help="content, quota or both (default)"
    )
    args = parser.parse_args(argv)
    scenarios = args.scenarios.split(",")
    django_setup(os.environ.get("DATABASE_URL"))
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    run = time.strftime("%Y%m%d%H%M%S")  # studies of earlier runs stay apart

    content = Design(participants=args.participants, countries=args.countries, seed=args.seed)
    quota = Design(
        countries=1,
        prompts=6,
        seeds=2,
        categories=3,
        pages=5,
        target=5,
        participants=30,
        active=6,
        fail_share=0.2,
        seed=args.seed,
    )
    results = {}
    for name, design in (("content", content), ("quota", quota)):
        if name not in scenarios:
            continue
        for rule in ("baseline", "assignment"):
            slug = f"bench-{run}-{name}-{rule}"
            study = build_study(Design(**{**design.__dict__, "slug": slug}))
            figures = simulate(study, design, baseline=rule == "baseline")
            results[name, rule] = figures
            _print(f"{name} / {rule}", figures)
    name = scenarios[0]
    new, old = results[name, "assignment"], results[name, "baseline"]
    print(
        f"repeated prompts: {new.repeats} vs {old.repeats} before; same category as the "
        f"previous page: {new.same_category_as_previous} vs {old.same_category_as_previous}"
    )
    ratio = new.repeats / max(old.repeats, 1)
    print(f"ratio repeated prompts (assignment / baseline): {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
