"""Benchmark: `python -m analysis report` on simulated exports of 10k, 100k and 1M rows.

Run from the project folder:

    .venv/bin/python benchmarks/bench_report.py [--format parquet|csv] [--sizes 10000,...]

Each export is simulated (5 countries, 4 items, 4 variants, 20 pages per participant)
and written to a temporary folder first; the timed part is the whole report as the
command runs it: reading the export, checks, statistics with 2,000 participant-bootstrap
replicates, four figures as PNG and SVG, tables and pages. It prints seconds and rows/s
per size, then the target check (1M rows in 30 s or less), and last the ratio of the
largest size's time to the one ten times smaller, measured in the same run (10 means
the cost grows linearly; less means a fixed part still dominates). "cpu s" adds the
CPU time of the processes that draw the figures; on a busy machine it is the better
guide to what the report costs.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.report import ReportOptions, build_report
from analysis.simulate import simulate_export

ROWS_PER_PAGE = 4 * 4  # items x variants
COUNTRIES = 5
PAGES_PER_PARTICIPANT = 20
TARGET_SECONDS = 30.0


def simulated_export(rows: int, folder: Path, fmt: str) -> tuple[Path, int]:
    """Write a simulated export of about `rows` rows; return its path and exact rows."""
    per_country = max(1, round(rows / (ROWS_PER_PAGE * PAGES_PER_PARTICIPANT * COUNTRIES)))
    frame = simulate_export(
        participants_per_country=per_country,
        pages_per_participant=PAGES_PER_PARTICIPANT,
        image_sets_per_country=60,
        participant_taste=0.3,
        attention_fail_share=0.03,
        excluded_share=0.02,
        seed=rows,
    )
    path = folder / f"export-{rows}.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path, len(frame)


def cpu_seconds() -> float:
    """User CPU time of this process and of its finished children (the figure workers)."""
    return sum(
        resource.getrusage(who).ru_utime for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )


def timed_report(export: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one report."""
    cpu = cpu_seconds()
    started = time.perf_counter()
    build_report(export, out, ReportOptions())
    return time.perf_counter() - started, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        folder = Path(tmp)
        # A warm-up run loads every library once, so the first size is not charged
        # for imports the others do not pay.
        warm, _ = simulated_export(2_000, folder, args.format)
        build_report(warm, folder / "warm-up", ReportOptions(n_boot=100))
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs ({args.format})")
        print(f"{'rows':>10} {'seconds':>9} {'cpu s':>7} {'rows/s':>10}")
        for rows in sizes:
            export, exact = simulated_export(rows, folder, args.format)
            wall, cpu = timed_report(export, folder / f"report-{rows}")
            results.append((exact, wall))
            print(f"{exact:>10,} {wall:>9.2f} {cpu:>7.2f} {exact / wall:>10,.0f}", flush=True)
    largest_rows, largest = results[-1]
    verdict = "met" if largest <= TARGET_SECONDS else "NOT met"
    limit = f"<= {TARGET_SECONDS:.0f} s"
    print(f"target: {largest_rows:,} rows in {largest:.1f} s, {verdict} ({limit})")
    if len(results) >= 2:
        smaller_rows, smaller = results[-2]
        print(
            f"ratio: time({largest_rows:,} rows) / time({smaller_rows:,} rows) = "
            f"{largest / smaller:.2f} for {largest_rows / smaller_rows:.0f}x the rows"
        )


if __name__ == "__main__":
    main()
