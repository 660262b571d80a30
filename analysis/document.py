"""The report's text: a list of blocks (headings, paragraphs, tables, figures) made
from the analysis, rendered to Markdown and to one self-contained HTML page."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.rankings import Rankings
from analysis.ranks import CONFIDENCE
from analysis.stats import HOLM_FAMILY
from analysis.tallies import POOLED

if TYPE_CHECKING:
    from analysis.report import Analysis


FIGURE_CAPTIONS = {
    "violins": "Ranks per variant, one panel per item, one row per country and the pooled row.",
    "rank_shares": "Share of pages at each rank.",
    "preference": "Pairwise preference: share of pages where the row variant was ranked "
    "better than the column variant.",
    "critical_difference": "Critical-difference diagrams (Friedman average ranks, Nemenyi test).",
}


def document_blocks(analysis: Analysis, export: Path) -> list[tuple[str, object]]:
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
            f"{len(r.flagged_kept)} participant(s) excluded by a researcher or failing an "
            "attention check are kept, as asked (--keep-excluded)."
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


def to_markdown(blocks: list[tuple[str, object]]) -> str:
    """Markdown of the blocks; figures link to figures/<name>.png and .svg."""
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


def to_html(blocks: list[tuple[str, object]], embedded: dict[str, str], title: str) -> str:
    """One HTML page; embedded maps figure names to base64 PNG, so it needs no files."""
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
    title = html.escape(title)
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
