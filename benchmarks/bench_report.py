"""Benchmark: `python -m analysis report` on simulated exports of 10k, 100k and 1M rows:
wall time and peak memory.

Run from the project folder:

    .venv/bin/python benchmarks/bench_report.py [--format parquet|csv] [--sizes 10000,...]

Each export is simulated (5 countries, 4 items, 4 variants, 20 pages per participant)
and written to a temporary folder first; the timed part is the whole report as the
command runs it: reading the export, checks, statistics with 2,000 participant-bootstrap
replicates, five figures at two widths as PNG, SVG and PDF, tables and pages. Each
report runs as the command does, in a process of its own (`python -m analysis report`),
so its memory is its own. It prints seconds, CPU seconds, rows/s and memory per size,
then the target check (1M rows in 30 s and 1 GB or less), and last the ratio of the
largest size's time to the one ten times smaller, measured in the same run (10 means
the cost grows linearly; less means a fixed part still dominates).

"cpu s" adds the CPU time of the processes that draw the figures; on a busy machine it
is the better guide to what the report costs. "peak MB" is the largest resident set of
any one process of the report (the main one or a figure worker); "tree MB" is the
largest sum of proportional set sizes (PSS: a page shared by the forked workers and the
main process counted once in all) of the report and its workers at once, sampled every
50 ms: the memory the report takes from the machine. The load average is printed
before and after: on a shared machine compare "cpu s" between runs, not "seconds".
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.report import ReportOptions, build_report  # noqa: E402
from analysis.simulate import simulate_export  # noqa: E402

ROWS_PER_PAGE = 4 * 4  # items x variants
COUNTRIES = 5
PAGES_PER_PARTICIPANT = 20
TARGET_SECONDS = 30.0
TARGET_MB = 1024.0


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


def timed_report(export: Path, out: Path) -> tuple[float, float, float, float]:
    """Wall seconds, CPU seconds, peak MB of one process, peak PSS MB of the process tree."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "analysis", "report", str(export), "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    tree_peak = 0
    watched = psutil.Process(child.pid)
    while child.poll() is None:
        try:
            processes = [watched, *watched.children(recursive=True)]
            tree_peak = max(tree_peak, sum(p.memory_full_info().pss for p in processes))
        except psutil.Error:
            pass  # a worker ended between listing and reading
        time.sleep(0.05)
    wall = time.perf_counter() - started
    # wait4 already reaped by poll(); the children's rusage holds it (and its workers').
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode != 0:
        raise SystemExit(f"the report failed with status {child.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, tree_peak / 2**20


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
        print(
            f"{'rows':>10} {'seconds':>9} {'cpu s':>7} {'rows/s':>10} {'peak MB':>8} "
            f"{'tree MB':>8}"
        )
        cpu_before = 0.0
        for rows in sizes:
            export, exact = simulated_export(rows, folder, args.format)
            wall, cpu_total, peak, tree = timed_report(export, folder / f"report-{rows}")
            cpu, cpu_before = cpu_total - cpu_before, cpu_total
            results.append((exact, wall, peak))
            print(
                f"{exact:>10,} {wall:>9.2f} {cpu:>7.2f} {exact / wall:>10,.0f} {peak:>8.0f} "
                f"{tree:>8.0f}",
                flush=True,
            )
    print(f"load average {os.getloadavg()[0]:.1f} after the runs")
    largest_rows, largest, largest_peak = results[-1]
    verdict = "met" if largest <= TARGET_SECONDS and largest_peak <= TARGET_MB else "NOT met"
    limit = f"<= {TARGET_SECONDS:.0f} s and <= {TARGET_MB:.0f} MB"
    print(
        f"target: {largest_rows:,} rows in {largest:.1f} s, peak {largest_peak:.0f} MB, "
        f"{verdict} ({limit})"
    )
    if len(results) >= 2:
        smaller_rows, smaller, _ = results[-2]
        print(
            f"ratio: time({largest_rows:,} rows) / time({smaller_rows:,} rows) = "
            f"{largest / smaller:.2f} for {largest_rows / smaller_rows:.0f}x the rows"
        )


if __name__ == "__main__":
    main()
