"""Command line: ``python -m analysis report EXPORT --out DIR`` writes the report;
``python -m analysis plan (--pilot EXPORT | --share S)`` prints the participants
needed per country (docs/analysis.md).

Bad input ends with exit status 2 and one line on stderr saying what is wrong; a
folder that cannot be written ends with status 1 and one line. No report folder is
written or changed then.
"""

from __future__ import annotations

import argparse
import sys
import time

from analysis import planner
from analysis.export import ExportError, read_export
from analysis.rankings import rankings_from_export
from analysis.report import ReportOptions, build_report
from analysis.tables import headline_pair

PLAN_NEEDS_INPUT = "Give --pilot EXPORT or --share S, the preference share to detect."


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m analysis``."""
    main = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Rank statistics, agreement and figures from a rankings export.",
    )
    commands = main.add_subparsers(dest="command", required=True)
    report = commands.add_parser(
        "report", help="write the report (Markdown, HTML, figures, CSV tables) to a folder"
    )
    report.add_argument("export", help="the rankings export, .csv or .parquet")
    report.add_argument("--out", required=True, help="report folder (replaced whole if a report)")
    report.add_argument(
        "--keep-excluded",
        action="store_true",
        help="keep participants a researcher excluded or who failed an attention check",
    )
    report.add_argument("--study", help="which study, when the export holds several")
    report.add_argument(
        "--bootstrap",
        type=int,
        default=2000,
        metavar="N",
        help="participant-bootstrap replicates per interval (default 2000)",
    )
    report.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    report.add_argument(
        "--violins",
        action="store_true",
        help="also draw the ranks as violins, as the published figure does (the shape "
        "between whole ranks is smoothing)",
    )
    report.add_argument(
        "--variant-order", help="comma-separated variant keys: order in tables and figures"
    )
    report.add_argument(
        "--headline",
        metavar="MODEL:BASELINE",
        help="the pair of the headline preference (default: the full model against the "
        "pretrained one when the export uses the survey's keys, else last against first)",
    )
    plan = commands.add_parser(
        "plan",
        help="participants needed per country to find the headline preference",
        description="Simulate studies from a Plackett-Luce model and print, per country, "
        "the participants needed for the report's Holm-corrected Wilcoxon test of the "
        "headline pair to find the model preferred with the chosen power.",
    )
    source = plan.add_mutually_exclusive_group()
    source.add_argument("--pilot", help="a pilot rankings export: worths fitted per country")
    source.add_argument(
        "--share",
        type=float,
        help="target share of pages where the model is ranked above the baseline (e.g. 0.6)",
    )
    plan.add_argument("--variants", type=int, default=4, help="variants with --share (4)")
    plan.add_argument(
        "--countries", default="all", help="comma-separated names with --share (one row: all)"
    )
    plan.add_argument("--study", help="which study of the pilot export")
    plan.add_argument("--headline", metavar="MODEL:BASELINE", help="as for report")
    plan.add_argument("--variant-order", help="as for report")
    plan.add_argument("--power", type=float, default=0.8, help="target power (0.8)")
    plan.add_argument("--pages", type=int, default=10, help="pages per participant (10)")
    plan.add_argument(
        "--simulations", type=int, default=1000, help="simulated studies per size (1000)"
    )
    plan.add_argument(
        "--taste", type=float, default=0.0, help="SD of participants' own utility shifts (0)"
    )
    plan.add_argument("--seed", type=int, default=0)
    return main


def run_plan(args: argparse.Namespace) -> int:
    """The plan subcommand: print one line per country."""
    options = planner.PlanOptions(
        power=args.power,
        pages=args.pages,
        simulations=args.simulations,
        taste=args.taste,
        seed=args.seed,
    )
    order = [v.strip() for v in args.variant_order.split(",")] if args.variant_order else None
    if args.pilot:
        rankings = rankings_from_export(
            read_export(args.pilot), study=args.study, variant_order=order
        )
        model, baseline = headline_pair(
            rankings, ReportOptions(headline=args.headline, variant_order=order)
        )
        variants = list(rankings.variants)
        worths = planner.worths_from_rankings(rankings)
        names = {c: rankings.country_name(c) for c in worths}
    elif args.share is not None:
        worth = planner.worths_from_share(args.share, args.variants)
        variants = [f"variant {i + 1}" for i in range(args.variants)]
        model, baseline = variants[-1], variants[0]
        worths = {c.strip(): worth for c in args.countries.split(",")}
        names = {c: c for c in worths}
    else:
        raise ValueError(PLAN_NEEDS_INPUT)
    table = planner.plan_table(worths, variants, options, model=model, baseline=baseline)
    print(
        f"{model} against {baseline}: Holm-corrected Wilcoxon test, power {options.power:.0%}, "
        f"{options.pages} pages per participant, {options.simulations} simulated studies per size"
    )
    print(f"{'country':<20} {'P(model better)':>16} {'participants':>13} {'power':>7}")
    for row in table.itertuples():
        needed = f"{row.participants_needed:,}" if row.participants_needed else "> 5,000"
        print(
            f"{names[row.country]:<20} {row.share_model_better:>16.1%} {needed:>13} "
            f"{row.power:>7.1%}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = parser().parse_args(argv)
    if args.command == "plan":
        try:
            return run_plan(args)
        except ValueError as error:  # ExportError too: one line, status 2
            print(f"error: {error}", file=sys.stderr)
            return 2
    options = ReportOptions(
        keep_excluded=args.keep_excluded,
        n_boot=args.bootstrap,
        seed=args.seed,
        study=args.study,
        variant_order=[v.strip() for v in args.variant_order.split(",")]
        if args.variant_order
        else None,
        headline=args.headline,
        violins=args.violins,
    )
    started = time.perf_counter()
    try:
        out = build_report(args.export, args.out, options)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the report cleaned up after itself
        print("error: the report was stopped; nothing was written.", file=sys.stderr)
        return 130
    except OSError as error:  # e.g. no permission to write next to --out
        where = f" ({error.filename})" if error.filename else ""
        print(f"error: the report could not be written: {error.strerror}{where}.", file=sys.stderr)
        return 1
    print(f"report written to {out} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
