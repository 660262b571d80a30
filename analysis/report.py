"""The report: every table as CSV, every figure as PNG and SVG, and the whole as
Markdown (report.md) and as one self-contained HTML page (report.html, figures
embedded as base64 PNG).

The report is built in a temporary folder next to the output folder and renamed into
place at the end, so a failure never leaves a partial report, and a rerun replaces an
earlier report whole.
"""

from __future__ import annotations

import base64
import html
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis import figures
from analysis.io import ExportError, read_export
from analysis.rankings import Rankings, rankings_from_export
from analysis.ranks import CONFIDENCE, pairwise_preference, rank_shares, rank_summary
from analysis.simulate import PAPER_VARIANTS
from analysis.stats import HOLM_FAMILY, hypothesis_tables
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
    embedded = {}
    for name, fig in _figures(analysis).items():
        png = figures_dir / f"{name}.png"
        # Fast zlib level: the default spends a second per figure shrinking it by a third.
        fig.savefig(png, dpi=FIGURE_DPI, pil_kwargs={"compress_level": 1})
        # The first save laid the panels out; keep that layout for the other formats
        # rather than solving it again (the layout costs as much as the drawing).
        fig.set_layout_engine("none")
        for fmt in analysis.options.figure_formats:
            if fmt != "png":
                fig.savefig(figures_dir / f"{name}.{fmt}", dpi=FIGURE_DPI)
        # The HTML page embeds the same PNG, so it stands alone without the folder.
        embedded[name] = base64.b64encode(png.read_bytes()).decode("ascii")
        plt.close(fig)
    # Only the figures drawn appear (all of them, unless a caller leaves some out).
    document = [b for b in _document(analysis, export) if b[0] != "figure" or b[1] in embedded]
    (folder / "report.html").write_text(_html(document, embedded, analysis), encoding="utf-8")
    (folder / MARKER).write_text(_markdown(document), encoding="utf-8")


def _figures(analysis: Analysis) -> dict[str, plt.Figure]:
    r, t = analysis.rankings, analysis.tables
    scopes = [s for s in [*r.countries, POOLED] if s in set(t["rank_summary"]["scope"])]
    labels = [r.label(v) for v in r.variants]
    common = {"scopes": scopes, "items": r.items, "study": r.study}
    return {
        "violins": figures.violin_figure(t["rank_shares"], labels=labels, **common),
        "rank_shares": figures.share_figure(t["rank_shares"], labels=labels, **common),
        "preference": figures.preference_figure(t["pairwise_preference"], labels=labels, **common),
        "critical_difference": figures.critical_difference_figure(
            t["cd_ranks"], t["nemenyi"], t["friedman"], **common
        ),
    }


# --- the document: a list of blocks rendered to Markdown and to HTML -----------------

FIGURE_CAPTIONS = {
    "violins": "Ranks per variant, one panel per item, one row per country and the pooled row.",
    "rank_shares": "Share of pages at each rank.",
    "preference": "Pairwise preference: share of pages where the row variant was ranked "
    "better than the column variant.",
    "critical_difference": "Critical-difference diagrams (Friedman average ranks, Nemenyi test).",
}


def _document(analysis: Analysis, export: Path) -> list[tuple[str, object]]:
    """Blocks: ("h1"|"h2"|"p", text), ("table", DataFrame), ("figure", name)."""
    r, t, o = analysis.rankings, analysis.tables, analysis.options
    level = f"{CONFIDENCE:.0%}"
    blocks: list[tuple[str, object]] = [
        ("h1", f"Rankings report: {r.study}"),
        (
            "p",
            f"Export `{export.name}`, {r.rows_read:,} rows read; generated "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Variants: "
            + ", ".join(f"{r.label(v)} (`{v}`)" for v in r.variants)
            + ". Rank 1 is the best end for every item.",
        ),
        (
            "p",
            f"Intervals are {level} percentile intervals from {o.n_boot:,} bootstrap "
            f"resamples of participants (the participant is the unit, not the page), "
            f"resampled within each country; seed {o.seed}. Tests use each participant's "
            "mean rank of each variant as one block.",
        ),
        ("h2", "Who is counted"),
        ("p", _left_out_sentence(r, o.keep_excluded)),
        ("table", t["participants"]),
    ]
    if len(t["left_out"]):
        reasons = t["left_out"].groupby(["country", "reason"]).size().rename("participants")
        blocks.append(("table", reasons.reset_index()))
    blocks += [
        ("h2", "Headline"),
        ("p", _headline_sentence(analysis)),
        ("table", _headline_table(analysis)),
    ]
    blocks += [("h2", "Figures")] + [("figure", name) for name in FIGURE_CAPTIONS]
    pooled = {
        name: table[table["scope"] == POOLED] if "scope" in table else table
        for name, table in t.items()
    }
    blocks += [
        ("h2", "Rank statistics, all countries"),
        (
            "p",
            f"Mean rank with its {level} interval, median, standard error over pages "
            "(as published; it ignores that one participant ranks many pages), and the "
            "share of pages ranked first. Per country: `tables/rank_summary.csv`.",
        ),
        ("table", pooled["rank_summary"].drop(columns=["scope", "variant"])),
        ("h2", "Friedman test and Kendall's W"),
        (
            "p",
            "Blocks are participants (their mean rank of each variant); Kendall's W "
            "is the participants' concordance on the order of the variants (0 none, 1 "
            "complete).",
        ),
        ("table", t["friedman"]),
        ("h2", "Pairwise Wilcoxon signed-rank tests, Holm-corrected, all countries"),
        (
            "p",
            f"Holm's correction covers one family: {HOLM_FAMILY}. A negative median "
            "difference means the first variant was ranked better. Per country: "
            "`tables/wilcoxon.csv`.",
        ),
        ("table", pooled["wilcoxon"].drop(columns=["scope", "family"])),
        ("h2", "Nemenyi post-hoc test, all countries"),
        ("table", pooled["nemenyi"].drop(columns="scope")),
        ("h2", "Rater agreement: Krippendorff's alpha (ordinal)"),
        (
            "p",
            "Raters are participants; a unit is one variant's image in one image set, "
            "its value the rank given; units rated once are left out.",
        ),
        ("table", t["agreement"]),
        ("h2", "Plackett-Luce worth, all countries"),
        (
            "p",
            "Worths sum to 1: the model's probability that a variant is ranked first "
            "among all. Per country: `tables/plackett_luce.csv`.",
        ),
        ("table", pooled["plackett_luce"].drop(columns=["scope", "variant"])),
        ("h2", "Files"),
        (
            "p",
            "Every table as CSV in `tables/` ("
            + ", ".join(f"{n}.csv" for n in t)
            + "); every figure in `figures/` as "
            + " and ".join(f.upper() for f in o.figure_formats)
            + ".",
        ),
    ]
    return blocks


def _left_out_sentence(r: Rankings, kept: bool) -> str:
    if kept:
        return (
            "Excluded participants and failed attention checks are kept, as asked "
            "(--keep-excluded)."
        )
    if not len(r.left_out):
        return "No participant was excluded or failed an attention check."
    reasons = r.left_out["reason"].str.split(":").str[0].value_counts()
    parts = [f"{n} {reason}" for reason, n in reasons.items()]
    return (
        f"{len(r.left_out)} participant(s) are left out: "
        + "; ".join(parts)
        + ". Rerun with --keep-excluded to include them."
    )


def _headline_rows(analysis: Analysis) -> pd.DataFrame:
    model, baseline = analysis.headline_pair
    pairs = analysis.tables["pairwise_preference"]
    return pairs[(pairs["variant"] == model) & (pairs["other"] == baseline)]


def _headline_table(analysis: Analysis) -> pd.DataFrame:
    return _headline_rows(analysis)[["scope", "item", "pages", "share_better", "ci_low", "ci_high"]]


def _headline_sentence(analysis: Analysis) -> str:
    r = analysis.rankings
    model, baseline = analysis.headline_pair
    rows = _headline_rows(analysis)
    pooled = rows[rows["scope"] == POOLED]
    parts = [
        f"{item}: {share:.0%} ({low:.0%}–{high:.0%})"
        for item, share, low, high in zip(
            pooled["item"], pooled["share_better"], pooled["ci_low"], pooled["ci_high"], strict=True
        )
    ]
    return (
        f"Share of pages where {r.label(model)} was ranked better than {r.label(baseline)}, "
        f"all countries, with {CONFIDENCE:.0%} intervals — " + "; ".join(parts) + "."
    )


def _display(table: pd.DataFrame) -> pd.DataFrame:
    """Numbers as text for reading: p-values in 3 significant digits, others 3 decimals."""
    shown = table.copy()
    for column in shown.columns:
        values = shown[column]
        if pd.api.types.is_float_dtype(values):
            pattern = "{:.3g}" if column.startswith("p") and column != "pages" else "{:.3f}"
            shown[column] = [("" if np.isnan(v) else pattern.format(v)) for v in values]
    return shown


def _markdown(blocks: list[tuple[str, object]]) -> str:
    lines = []
    for kind, content in blocks:
        if kind == "h1":
            lines.append(f"# {content}\n")
        elif kind == "h2":
            lines.append(f"## {content}\n")
        elif kind == "p":
            lines.append(f"{content}\n")
        elif kind == "table":
            lines.append(_display(content).to_markdown(index=False) + "\n")
        elif kind == "figure":
            lines.append(f"![{FIGURE_CAPTIONS[content]}](figures/{content}.png)\n")
            lines.append(f"*{FIGURE_CAPTIONS[content]}* ([SVG](figures/{content}.svg))\n")
    return "\n".join(lines)


def _html(blocks: list[tuple[str, object]], embedded: dict[str, str], analysis: Analysis) -> str:
    body = []
    for kind, content in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{html.escape(str(content))}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline_code(html.escape(str(content)))}</p>")
        elif kind == "table":
            body.append(_display(content).to_html(index=False, border=0, classes="table"))
        elif kind == "figure":
            caption = html.escape(FIGURE_CAPTIONS[content])
            body.append(
                f'<figure><img alt="{caption}" src="data:image/png;base64,{embedded[content]}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )
    title = html.escape(f"Rankings report: {analysis.rankings.study}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _inline_code(text: str) -> str:
    parts = text.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;"
    "line-height:1.45;color:#222}table{border-collapse:collapse;margin:0.8em 0;font-size:0.85em}"
    "th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}"
    "th{background:#f3f3f3}img{max-width:100%}figure{margin:1.5em 0}"
    "figcaption{font-style:italic;color:#555}code{background:#f3f3f3;padding:0 3px}"
)
