"""The report: every table as CSV, every figure as PNG and SVG, and the whole as
Markdown (report.md) and as one self-contained HTML page (report.html, figures
embedded as base64 PNG).

The report is built in a temporary folder next to the output folder and renamed into
place at the end, so a failure never leaves a partial report, and a rerun replaces an
earlier report whole.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis import document, figures
from analysis.io import ExportError, read_export
from analysis.rankings import Rankings, rankings_from_export
from analysis.ranks import pairwise_preference, rank_shares, rank_summary
from analysis.simulate import PAPER_VARIANTS
from analysis.stats import hypothesis_tables
from analysis.tallies import POOLED, tally_scopes
from analysis.worth import worth_table

MARKER = "report.md"
FIGURE_DPI = 150
OUT_NOT_A_REPORT = (
    "The output folder {path} already holds files that are not a report; choose a new or "
    "empty folder."
)
OUT_IS_A_FILE = "The output path {path} is a file; choose a folder."
UNKNOWN_HEADLINE = (
    "The headline pair {pair!r} must be MODEL:BASELINE with two variants of {variants}."
)
BAD_BOOTSTRAP = "The number of bootstrap replicates must be at least 100, not {n}."


@dataclass(frozen=True)
class ReportOptions:
    """Choices of one report; every default is what a plain command line gives."""

    keep_excluded: bool = False  # analyse excluded / failed-attention participants too
    n_boot: int = 2000  # participant-bootstrap replicates per interval
    seed: int = 0  # seeds the bootstrap so a rerun gives the same intervals
    study: str | None = None  # which study, when the export holds several
    variant_order: Sequence[str] | None = None  # order in tables and figures
    headline: str | None = None  # "MODEL:BASELINE"; default full model vs pretrained
    figure_formats: Sequence[str] = ("png", "svg")


@dataclass
class Analysis:
    """Everything the report shows, computed in memory before anything is written."""

    rankings: Rankings
    options: ReportOptions
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    headline_pair: tuple[str, str] = ("", "")


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
    _write_atomically(out, lambda folder: _write(analysis, Path(export), folder))
    return out


def analyse(rankings: Rankings, options: ReportOptions) -> Analysis:
    """Compute every table of the report from the rankings."""
    headline = _headline_pair(rankings, options.headline)
    scopes = tally_scopes(rankings, n_boot=options.n_boot, seed=options.seed)
    tables = {
        "participants": _participants_table(rankings),
        "left_out": rankings.left_out,
        "rank_summary": rank_summary(rankings, scopes),
        "rank_shares": rank_shares(rankings, scopes),
        "pairwise_preference": pairwise_preference(rankings, scopes),
        "plackett_luce": worth_table(rankings, scopes),
    }
    tables.update(hypothesis_tables(rankings, scopes))
    return Analysis(rankings=rankings, options=options, tables=tables, headline_pair=headline)


def _headline_pair(rankings: Rankings, headline: str | None) -> tuple[str, str]:
    """(model, baseline): given as MODEL:BASELINE, else the published pair when the
    export uses the survey's keys, else the last variant against the first."""
    variants = rankings.variants
    if headline:
        model, _, baseline = headline.partition(":")
        if model not in variants or baseline not in variants or model == baseline:
            raise ExportError(UNKNOWN_HEADLINE.format(pair=headline, variants=", ".join(variants)))
        return model, baseline
    if PAPER_VARIANTS[0] in variants and PAPER_VARIANTS[-1] in variants:
        return PAPER_VARIANTS[-1], PAPER_VARIANTS[0]
    return variants[-1], variants[0]


def _participants_table(rankings: Rankings) -> pd.DataFrame:
    country = rankings.country_of_ranking()
    page = rankings.participant * len(rankings.image_sets) + rankings.image_set
    rows = []
    for c, name in enumerate(rankings.countries):
        mine = country == c
        left = rankings.left_out[rankings.left_out["country"] == name]
        rows.append(
            {
                "country": name,
                "participants": len(np.unique(rankings.participant[mine])),
                "pages": len(np.unique(page[mine])),
                "rankings": int(mine.sum()),
                "left_out": len(left),
            }
        )
    table = pd.DataFrame(rows)
    total = table.drop(columns="country").sum().to_dict()
    return pd.concat([table, pd.DataFrame([{"country": POOLED, **total}])], ignore_index=True)


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
    """Draw and save every figure; return each one's PNG as base64 for the HTML page.

    Figures are independent and drawing them is most of a report's time, so they are
    drawn in parallel processes, one per CPU (forked: the small tables they need are
    passed along, nothing is imported again).
    """
    jobs = _figure_jobs(analysis)
    formats = tuple(analysis.options.figure_formats)
    workers = min(len(jobs), os.cpu_count() or 1)
    plt.close("all")
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            list(pool.map(_draw, jobs, repeat(folder), repeat(formats)))
    else:
        for job in jobs:
            _draw(job, folder, formats)
    # The HTML page embeds the same PNG, so it stands alone without the folder.
    return {
        name: base64.b64encode((folder / f"{name}.png").read_bytes()).decode("ascii")
        for name, _, _ in jobs
    }


def _figure_jobs(analysis: Analysis) -> list[tuple[str, Callable, dict]]:
    """(name, figure function, its arguments) for each figure of the report."""
    r, t = analysis.rankings, analysis.tables
    scopes = [s for s in [*r.countries, POOLED] if s in set(t["rank_summary"]["scope"])]
    labels = [r.label(v) for v in r.variants]
    common = {"scopes": scopes, "items": r.items, "study": r.study}
    return [
        (
            "violins",
            figures.violin_figure,
            {"shares": t["rank_shares"], "labels": labels, **common},
        ),
        (
            "rank_shares",
            figures.share_figure,
            {"shares": t["rank_shares"], "labels": labels, **common},
        ),
        (
            "preference",
            figures.preference_figure,
            {"pairs": t["pairwise_preference"], "labels": labels, **common},
        ),
        (
            "critical_difference",
            figures.critical_difference_figure,
            {
                "cd_ranks": t["cd_ranks"],
                "nemenyi": t["nemenyi"],
                "friedman": t["friedman"],
                **common,
            },
        ),
    ]


def _draw(job: tuple[str, Callable, dict], folder: Path, formats: tuple[str, ...]) -> None:
    """Build one figure and save it as PNG and the other formats."""
    name, make, arguments = job
    fig = make(**arguments)
    # Fast zlib level: the default spends a second per figure shrinking it by a third.
    fig.savefig(folder / f"{name}.png", dpi=FIGURE_DPI, pil_kwargs={"compress_level": 1})
    # The first save laid the panels out; keep that layout for the other formats
    # rather than solving it again (the layout costs as much as the drawing).
    fig.set_layout_engine("none")
    for fmt in formats:
        if fmt != "png":
            fig.savefig(folder / f"{name}.{fmt}", dpi=FIGURE_DPI)
    plt.close(fig)
