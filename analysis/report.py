"""The report: every table as CSV, every figure as PNG, SVG and PDF at two widths, and the
whole as Markdown (report.md) and as one self-contained HTML page (report.html, figures
embedded as base64 PNG).

The report is built in a temporary folder next to the output folder and renamed into
place at the end, so a failure never leaves a partial report, and a rerun replaces an
earlier report whole. SIGTERM is turned into the same clean stop as Ctrl-C: the
temporary folder is removed and the figure workers are ended.
"""

from __future__ import annotations

import base64
import contextlib
import multiprocessing
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt

from analysis import document, figures
from analysis.export import ExportError, read_export
from analysis.rankings import rankings_from_export
from analysis.tables import Analysis, ReportOptions, analyse

__all__ = ["Analysis", "ReportOptions", "analyse", "build_report"]

MARKER = "report.md"
FIGURE_DPI = 150
OUT_NOT_A_REPORT = (
    "The output folder {path} already holds files that are not a report; choose a new or "
    "empty folder."
)
OUT_IS_A_FILE = "The output path {path} is a file; choose a folder."
#: The signals that stop a report cleanly.
STOPS = (signal.SIGTERM, signal.SIGINT)
FIGURE_FAILED = "A figure could not be drawn; its worker's error is printed above."
BAD_BOOTSTRAP = "The number of bootstrap replicates must be at least 100, not {n}."


def build_report(export: str | Path, out: str | Path, options: ReportOptions | None = None) -> Path:
    """Read the export, analyse it and write the report folder at out; return out.

    Raises ExportError (a subclass of ValueError) with a one-sentence message when the
    export or the options cannot give a report; nothing is written then.
    """
    options = options or ReportOptions()
    out = Path(out)
    _check_out(out)
    if options.n_boot < 100:
        raise ExportError(BAD_BOOTSTRAP.format(n=options.n_boot))
    frame = read_export(export)
    rankings = rankings_from_export(
        frame,
        keep_excluded=options.keep_excluded,
        study=options.study,
        variant_order=options.variant_order,
    )
    del frame
    analysis = analyse(rankings, options)
    with _sigterm_as_interrupt():
        _write_atomically(out, lambda folder: _write(analysis, Path(export), folder))
    return out


# --- writing -----------------------------------------------------------------------


def _check_out(out: Path) -> None:
    if out.is_file():
        raise ExportError(OUT_IS_A_FILE.format(path=out))
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ExportError(OUT_NOT_A_REPORT.format(path=out))


def _write_atomically(out: Path, fill: Callable[[Path], None]) -> None:
    """Build the report in a temporary sibling folder, then swap it in by renames."""
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".building", dir=out.parent))
    try:
        fill(building)
        if out.exists():
            previous = out.with_name(f".{out.name}.{uuid.uuid4().hex}.previous")
            out.rename(previous)
            building.rename(out)
            shutil.rmtree(previous, ignore_errors=True)
        else:
            building.rename(out)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


def _write(analysis: Analysis, export: Path, folder: Path) -> None:
    tables_dir, figures_dir = folder / "tables", folder / "figures"
    tables_dir.mkdir()
    figures_dir.mkdir()
    for name, table in analysis.tables.items():
        table.to_csv(tables_dir / f"{name}.csv", index=False)
    embedded = _render_figures(analysis, figures_dir)
    # Only the figures drawn appear (all of them, unless a caller leaves some out).
    blocks = document.document_blocks(analysis, export)
    blocks = [b for b in blocks if b[0] != "figure" or b[1] in embedded]
    title = f"Rankings report: {analysis.rankings.study}"
    (folder / "report.html").write_text(document.to_html(blocks, embedded, title), "utf-8")
    (folder / MARKER).write_text(document.to_markdown(blocks), encoding="utf-8")


def _render_figures(analysis: Analysis, folder: Path) -> dict[str, str]:
    """Draw and save every figure at both widths; return each wide PNG as base64 for
    the HTML page.

    Figures are independent and drawing them is most of a report's time, so they are
    drawn in parallel processes, one per CPU (forked: the small tables they need are
    passed along, nothing is imported again). On any stop (an error, Ctrl-C, SIGTERM)
    the workers are ended before the stop goes on.
    """
    jobs = _figure_jobs(analysis)
    data = figure_data(analysis)
    formats = tuple(analysis.options.figure_formats)
    workers = min(len(jobs), os.cpu_count() or 1)
    plt.close("all")
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("fork")
        # Plain processes, each with its share of the figures: no queues or manager
        # threads that could hang the exit when a worker is ended mid-figure.
        processes = [
            context.Process(target=_draw_share, args=(jobs[w::workers], data, folder, formats))
            for w in range(workers)
        ]
        try:
            # A stop that lands inside fork's own hooks would be swallowed there, so
            # stops wait (blocked) until every worker has started.
            # A stop already caught is held back (_STARTING) so that no worker is
            # forked without the parent knowing it.
            signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)
            _STARTING["now"] = True
            try:
                for process in processes:
                    process.start()
            finally:
                _STARTING["now"] = False
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS)
            if _STARTING.pop("held", None):
                raise KeyboardInterrupt("stopped while the figure workers started")
            for process in processes:
                process.join()
        except BaseException:
            _end_workers(processes)
            raise
        if any(process.exitcode != 0 for process in processes):
            raise RuntimeError(FIGURE_FAILED)
    else:
        _draw_share(jobs, data, folder, formats, worker=False)
    # The HTML page embeds the same PNG, so it stands alone without the folder.
    return {
        name: base64.b64encode((folder / f"{name}.png").read_bytes()).decode("ascii")
        for name, _ in jobs
        if (folder / f"{name}.png").is_file()
    }


def _end_workers(processes: list) -> None:
    """End the figure workers now and wait for them: a stop leaves no process behind."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        if process.pid is not None:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)


def figure_data(analysis: Analysis) -> figures.FigureData:
    """The small tables and names the figures need."""
    r, t = analysis.rankings, analysis.tables
    present = set(t["rank_summary"]["scope"])
    scopes = [s for s in [*r.countries, figures.POOLED_SCOPE] if s in present]
    return figures.FigureData(
        study=r.study,
        scopes=scopes,
        scope_names={c: r.country_name(c) for c in r.countries},
        items=list(r.items),
        variants=list(r.variants),
        labels=[r.label(v) for v in r.variants],
        baseline=analysis.headline_pair[1],
        rank_shares=t["rank_shares"],
        rank_summary=t["rank_summary"],
        pairwise_preference=t["pairwise_preference"],
        cd_ranks=t["cd_ranks"],
        nemenyi=t["nemenyi"],
        friedman=t["friedman"],
    )


def _figure_jobs(analysis: Analysis) -> list[tuple[str, float]]:
    """(file name, width in inches) of every figure of the report, wide ones first."""
    return [
        (f"{name}{suffix}", width)
        for suffix, width in figures.WIDTHS.items()
        for name in document.analysis_figures(analysis)
    ]


def _draw(
    job: tuple[str, float], data: figures.FigureData, folder: Path, formats: tuple[str, ...]
) -> None:
    """Build one figure and save it in every format."""
    name, width = job
    make = figures.MAKERS[name.removesuffix(figures.NARROW_SUFFIX)]
    fig = make(data, width)
    # Fast zlib level: the default spends a second per figure shrinking it by a third.
    fig.savefig(folder / f"{name}.png", dpi=FIGURE_DPI, pil_kwargs={"compress_level": 1})
    # The first save laid the panels out; keep that layout for the other formats
    # rather than solving it again (the layout costs as much as the drawing).
    fig.set_layout_engine("none")
    for fmt in formats:
        if fmt != "png":
            fig.savefig(folder / f"{name}.{fmt}", dpi=FIGURE_DPI)
    plt.close(fig)


def _draw_share(
    jobs: list[tuple[str, float]],
    data: figures.FigureData,
    folder: Path,
    formats: tuple[str, ...],
    worker: bool = True,
) -> None:
    """Draw these figures (in a worker process unless worker is False)."""
    if worker:
        _worker_signals()
    for job in jobs:
        _draw(job, data, folder, formats)


def _worker_signals() -> None:
    """Figure workers leave Ctrl-C to the main process (which ends them) and die on
    SIGTERM, whatever handler they inherited from it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS)  # blocked while the parent forked


class _sigterm_as_interrupt:
    """Within the block, SIGTERM and SIGINT raise KeyboardInterrupt in the main thread,
    so the clean-up of a Ctrl-C (temporary folder removed, workers ended) runs for both,
    even when the process was started with them ignored or blocked."""

    def __enter__(self):
        self.previous = {}
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            for stop in STOPS:
                self.previous[stop] = signal.signal(stop, _interrupt)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS)
        return self

    def __exit__(self, *exc):
        for stop, previous in self.previous.items():
            signal.signal(stop, previous)
        return False


#: "now" is true while figure workers are forked; a stop then is "held" until after.
_STARTING: dict[str, bool] = {"now": False}


def _interrupt(signum, frame):
    if _STARTING["now"]:
        _STARTING["held"] = True
        return
    raise KeyboardInterrupt(f"signal {signum}")
