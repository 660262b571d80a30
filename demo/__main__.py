"""python -m demo: set up, fine-tune, generate and serve the toy-world study in one go.

    python -m demo                  # the study at http://127.0.0.1:8000 (Ctrl-C stops it)
    python -m demo --simulate 30    # ... after 30 simulated participants and the report
    python -m demo --simulate 30 --no-serve   # the whole loop, then exit

A second run reuses the trained adapters, the images and the database and starts in
seconds. Everything is written under --var (default var/, gitignored).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

from demo.plan import TOY_BASE_MODEL, DemoPlan
from study.names import TINY_MODEL, VARIANT_FILE

DEFAULT_BOTS = 30
MISSING_BASE_MODEL = (
    "The toy base model is missing from {folder}. Restore toyworld/weights/ from git, or "
    "train it with `python -m toyworld train-base` (about half an hour on two cores)."
)
MISSING_DETECTORS = (
    "The toy world's detectors are missing from {path}; the simulated participants need "
    "them. Restore toyworld/weights/ from git, or fit them with "
    "`python -m toyworld fit-detectors`."
)
NOT_ENOUGH = "--{name} must be at least {minimum}, not {value}."


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m demo", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    d = DemoPlan()
    p.add_argument("--simulate", type=int, nargs="?", const=DEFAULT_BOTS, default=0, metavar="N",
                   help=f"let N simulated participants take the survey, then write the report "
                   f"(N defaults to {DEFAULT_BOTS})")  # fmt: skip
    p.add_argument("--no-serve", action="store_true", help="exit instead of serving the study")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--var", type=Path, default=d.var, help="folder for everything the demo writes")
    p.add_argument("--base-model", default=d.base_model,
                   help="a diffusers folder, or 'tiny' (untrained, for tests)")  # fmt: skip
    p.add_argument("--detectors", type=Path, default=d.detectors)
    p.add_argument("--train-steps", type=int, default=d.recipe.max_steps, help="per variant")
    p.add_argument("--batch-size", type=int, default=d.recipe.batch_size)
    p.add_argument("--unroll-every", type=int, default=d.recipe.unroll_every)
    p.add_argument("--unroll-steps", type=int, default=d.recipe.unroll_steps)
    p.add_argument("--sampler-steps", type=int, default=d.sampler_steps)
    p.add_argument("--cultures", type=int, default=d.cultures, help="how many of the five")
    p.add_argument("--categories", type=int, default=d.categories, help="prompts per culture")
    p.add_argument("--seeds", default=",".join(str(s) for s in d.seeds),
                   help="comma-separated: one image set per prompt and seed")  # fmt: skip
    p.add_argument("--community-per-culture", type=int, default=d.recipe.per_culture)
    p.add_argument("--negatives-per-image", type=int, default=d.recipe.negatives_per_image)
    p.add_argument("--pages", type=int, default=d.pages_per_participant,
                   help="ranking pages per participant")  # fmt: skip
    p.add_argument("--bootstrap", type=int, default=d.bootstrap, help="report replicates")
    p.add_argument("--noise", type=float, default=1.0, help="simulated rankers' noise")
    p.add_argument("--lapse", type=float, default=0.05,
                   help="simulated rankers' chance of failing an attention check")  # fmt: skip
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def plan_from(args: argparse.Namespace) -> DemoPlan:
    """The run's settings from the command line; ValueError on impossible values."""
    for name, minimum in (("train-steps", 1), ("cultures", 1), ("categories", 1),
                          ("community-per-culture", 1), ("pages", 1), ("threads", 1),
                          ("negatives-per-image", 1), ("simulate", 0)):  # fmt: skip
        value = getattr(args, name.replace("-", "_"))
        if value < minimum:
            raise ValueError(NOT_ENOUGH.format(name=name, minimum=minimum, value=value))
    try:
        seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
    except ValueError as error:
        raise ValueError(f"--seeds must be whole numbers separated by commas: {error}") from None
    return replace(
        DemoPlan(),
        var=args.var.resolve(),
        base_model=args.base_model
        if args.base_model == TINY_MODEL
        else str(Path(args.base_model).resolve()),
        detectors=args.detectors.resolve(),
        recipe=replace(
            DemoPlan().recipe,
            max_steps=args.train_steps,
            batch_size=args.batch_size,
            unroll_every=args.unroll_every,
            unroll_steps=args.unroll_steps,
            per_culture=args.community_per_culture,
            negatives_per_image=args.negatives_per_image,
            negative_steps=args.sampler_steps,
        ),
        sampler_steps=args.sampler_steps,
        cultures=min(args.cultures, 5),
        categories=min(args.categories, 4),
        seeds=seeds or DemoPlan().seeds,
        pages_per_participant=args.pages,
        bootstrap=args.bootstrap,
        threads=args.threads,
        progress=not args.quiet,
    )


def say(message: str) -> None:
    print(message, flush=True)


def check_inputs(plan: DemoPlan, simulate: int) -> None:
    if plan.base_model != TINY_MODEL and not (Path(plan.base_model) / "model_index.json").is_file():
        raise FileNotFoundError(MISSING_BASE_MODEL.format(folder=plan.base_model))
    if simulate and not plan.detectors.is_file():
        raise FileNotFoundError(MISSING_DETECTORS.format(path=plan.detectors))


def build_study(plan: DemoPlan):
    """Every step up to a ready survey; returns the Study. Finished steps are reused."""
    from demo import site, training
    from demo.study_spec import write_study_spec

    say("== database")
    site.migrate()
    spec = write_study_spec(plan)
    say(f"Study spec: {spec}")
    if training.adapters_complete(plan):
        say("== fine-tuning: reusing the adapters in " + str(plan.demo_dir / "adapters"))
    else:
        say("== fine-tuning scoft-m, scoft-mp, scoft-mpc on the toy community set")
        if Path(plan.base_model) == TOY_BASE_MODEL:
            from toyworld.base_model import verify_base_model

            verify_base_model(TOY_BASE_MODEL)  # a damaged download fails here, not mid-way
        community = training.prepare_community(plan, say)
        training.train_adapters(plan, community, say)
    registered = site.image_sets_registered(plan)
    if registered >= plan.image_sets_expected and not trained_now(plan):
        say(f"== image sets: reusing the {registered} registered")
    else:
        say("== image sets")
        site.generate_image_sets(plan, spec, say)
    say("== survey")
    return site.setup_study(spec, say)


_started = time.time()


def trained_now(plan: DemoPlan) -> bool:
    """True when an adapter was (re)written during this run: its images must be remade."""
    from demo.training import trained_variants

    return any(
        (plan.adapter_dir(v) / VARIANT_FILE).stat().st_mtime > _started
        for v in trained_variants(plan)
    )


def simulate(plan: DemoPlan, study, base_url: str, count: int, args) -> None:
    from demo import site
    from demo.bots import SIMULATED_PREFIX, BotSettings, simulate_participants
    from demo.report_note import mark_report_simulated
    from demo.study_spec import country_code
    from survey.models import Participant
    from toyworld.detectors import Detectors
    from toyworld.world import CULTURE_NAMES

    say(f"== {count} simulated participants over HTTP")
    detectors = Detectors.load(plan.detectors)
    countries = [(country_code(name), name) for name in CULTURE_NAMES[: plan.cultures]]
    settings = BotSettings(noise=args.noise, lapse=args.lapse)

    def done(result) -> None:
        state = "finished" if result.finished else f"stopped: {result.error}"
        say(f"  {result.recruit_id} ({result.country}): {result.pages} pages, {state}")

    started = time.time()
    results = simulate_participants(
        base_url=base_url,
        link=base_url + site.participant_link(study),
        countries=countries,
        detectors=detectors,
        count=count,
        settings=settings,
        on_done=done,
    )
    finished = sum(r.finished for r in results)
    say(f"{finished} of {count} simulated participants finished in {time.time() - started:.0f} s")
    site.mark_simulated(plan, SIMULATED_PREFIX)
    answered = Participant.objects.filter(study=study, pages__submitted_at__isnull=False)
    answered = answered.distinct()
    bots = answered.filter(recruit_id__startswith=SIMULATED_PREFIX).count()
    say("== report")
    report = site.analyze(plan, say)
    mark_report_simulated(report, bots, answered.count())
    say(f"The report: {report / 'report.html'} (and report.md, figures/, tables/)")
    failures = [r for r in results if not r.finished]
    if failures:
        say(f"{len(failures)} simulated participant(s) did not finish; first: {failures[0].error}")


def welcome(plan: DemoPlan, study, base_url: str) -> None:
    from demo import site

    user, password = site.researcher_account(plan)
    kept = "" if os.environ.get(site.PASSWORD_ENV) else f" (kept in {plan.password_file})"
    say("")
    say(f"The study is served at {base_url}/   (ready {time.time() - _started:.0f} s after start)")
    say(f"  Participant link:  {base_url}{site.participant_link(study)}")
    say(f"  Researcher login:  {base_url}/admin/  user {user!r}, password {password!r}{kept}")
    say(f"  Study progress:    {base_url}/admin/survey/study/{study.pk}/progress/")


def run(args: argparse.Namespace) -> int:
    plan = plan_from(args)
    # Everything the demo loads is on disk; never wait on a model hub that cannot answer.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    check_inputs(plan, args.simulate)
    from demo import site
    from demo.server import start_server, stop_server

    site.use_demo_settings(plan)
    # Django's logging set-up shows httpx's line per request; one line per bot is enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    study = build_study(plan)
    base_url = f"http://127.0.0.1:{args.port}"
    # Ctrl-C and `kill` both end the demo through KeyboardInterrupt, so the server child
    # is always stopped with it (SIGINT may arrive ignored when started in the background).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    log = plan.demo_dir / "server.log"
    server = start_server(args.port, log)
    say(f"The web server's log: {log}")
    try:
        if args.simulate:
            simulate(plan, study, base_url, args.simulate, args)
        welcome(plan, study, base_url)
        if args.no_serve:
            return 0
        say("Press Ctrl-C to stop.")
        server.wait()
    except KeyboardInterrupt:
        say("\nStopped.")
    finally:
        stop_server(server)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from django.core.management.base import CommandError

    from demo.server import ServerError
    from demo.training import DemoError

    try:
        return run(args)
    except (DemoError, ServerError, CommandError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nStopped. Run the demo again to go on: finished steps are reused.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
