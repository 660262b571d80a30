"""Command line: ``python -m analysis report EXPORT --out DIR``.

Bad input ends with exit status 2 and one line on stderr saying what is wrong; a
folder that cannot be written ends with status 1 and one line. No report folder is
written or changed then.
"""

from __future__ import annotations

import argparse
import sys
import time

from analysis.export import ExportError
from analysis.report import ReportOptions, build_report


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
        "--variant-order", help="comma-separated variant keys: order in tables and figures"
    )
    report.add_argument(
        "--headline",
        metavar="MODEL:BASELINE",
        help="the pair of the headline preference (default: the full model against the "
        "pretrained one when the export uses the survey's keys, else last against first)",
    )
    return main


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = parser().parse_args(argv)
    options = ReportOptions(
        keep_excluded=args.keep_excluded,
        n_boot=args.bootstrap,
        seed=args.seed,
        study=args.study,
        variant_order=[v.strip() for v in args.variant_order.split(",")]
        if args.variant_order
        else None,
        headline=args.headline,
    )
    started = time.perf_counter()
    try:
        out = build_report(args.export, args.out, options)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. no permission to write next to --out
        where = f" ({error.filename})" if error.filename else ""
        print(f"error: the report could not be written: {error.strerror}{where}.", file=sys.stderr)
        return 1
    print(f"report written to {out} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
