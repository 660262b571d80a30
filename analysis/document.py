"""The report's text: a list of blocks (headings, paragraphs, tables, figures) made
from an :class:`analysis.tables.Analysis`, rendered to Markdown and to one
self-contained HTML page.

The statistic sections follow :data:`analysis.tables.TABLES` (heading, sentence,
table), so a new table appears here without a change to this module; the sections
around them (who is counted, the headline, the human-evaluation record, participant
quality, small samples) are written here.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.bootstrap import FEW_PARTICIPANTS, POOLED
from analysis.figures import FIGURES, NARROW_SUFFIX
from analysis.quality import FAST_SECONDS, KEPT_ORDER_SHARE
from analysis.rankings import Rankings
from analysis.tables import LEVEL, TABLES, Analysis

#: Coverage of the report's 95% participant-bootstrap intervals measured on simulated
#: studies with a known truth: share of 1,000 headline-preference intervals holding the
#: true value, by participants in the scope (benchmarks/bench_coverage.py --studies
#: 1000; docs/analysis.md has the mean-rank figures too).
MEASURED_COVERAGE = {2: 0.503, 5: 0.814, 10: 0.890, 20: 0.911, 50: 0.939}
NO_INTERVAL = "no interval: one participant"
ZERO_WIDTH = "no interval: every resample gives the same value"
FEW_MARK = "†"


def document_blocks(analysis: Analysis, export: Path) -> list[tuple[str, object]]:
    """Blocks: ("h1"|"h2"|"p", text), ("table", DataFrame), ("figure", name)."""
    r, t, o = analysis.rankings, analysis.tables, analysis.options
    blocks: list[tuple[str, object]] = [
        ("h1", f"Rankings report: {r.study}"),
        (
            "p",
            f"Export `{export.name}`, {r.rows_read:,} ranked images read (one row per image, "
            f"page and question; {len(r.ranks):,} rankings analysed, one per page and "
            f"question); generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Variants: "
            + ", ".join(f"{r.label(v)} (`{v}`)" for v in r.variants)
            + ". Rank 1 is the best end for every item.",
        ),
        (
            "p",
            f"Intervals are {LEVEL} percentile intervals from {o.n_boot:,} bootstrap "
            f"resamples of participants (the participant is the unit, not the page), "
            f"resampled within each country; seed {o.seed}. Tests use each participant's "
            "mean rank of each variant as one block.",
        ),
        ("h2", "Who is counted"),
        ("p", _left_out_sentence(r, o.keep_excluded)),
        ("table", _with_names(t["participants"], r, "country")),
    ]
    if len(t["left_out"]):
        reasons = t["left_out"].groupby(["country", "reason"]).size().rename("participants")
        blocks.append(("table", _with_names(reasons.reset_index(), r, "country")))
    small = _small_sample_blocks(analysis)
    blocks += [
        ("h2", "Headline"),
        ("p", _headline_sentence(analysis)),
        ("table", _headline_table(analysis)),
        *small,
    ]
    blocks += [("h2", "Figures")] + [("figure", name) for name in analysis_figures(analysis)]
    for table in TABLES:
        if table.shown == "file":
            continue
        shown = t[table.name]
        if table.shown == "pooled" and "scope" in shown:
            shown = shown[shown["scope"] == POOLED]
        shown = shown.drop(columns=[c for c in table.hide if c in shown])
        blocks.append(("h2", table.heading))
        if table.text:
            blocks.append(("p", table.text))
        blocks.append(("table", _with_names(shown, r, "scope")) if len(shown) else ("p", _EMPTY))
    blocks += _human_evaluation_blocks(analysis)
    blocks += _quality_blocks(analysis)
    blocks += [
        ("h2", "Files"),
        (
            "p",
            "Every table as CSV in `tables/` ("
            + ", ".join(f"{n}.csv" for n in t)
            + "); every figure in `figures/` as "
            + ", ".join(f.upper() for f in o.figure_formats)
            + f", at two-column width (6.9 in, `NAME.*`) and one-column width (3.3 in, "
            f"`NAME{NARROW_SUFFIX}.*`).",
        ),
    ]
    return blocks


_EMPTY = "Not computed for this export (it lacks the data, or has a single country)."


def analysis_figures(analysis: Analysis) -> list[str]:
    """The names of the figures this report draws, in the order they are shown.

    Ranks are whole numbers, so the violins (smoothed between ranks) are drawn only when
    asked for, to compare with the published figure.
    """
    return [name for name in FIGURES if name != "violins" or analysis.options.violins]


def _with_names(table: pd.DataFrame, r: Rankings, column: str) -> pd.DataFrame:
    """The table with country codes replaced by their names, for reading."""
    if column not in table:
        return table
    return table.assign(**{column: [r.country_name(str(c)) for c in table[column]]})


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


def interval_text(low: float, high: float, participants: int) -> str:
    """An interval as the report prints it: never a zero-width or one-person interval
    passed off as a 95% interval, and a mark where participants are few."""
    if participants < 2 or np.isnan(low) or np.isnan(high):
        return NO_INTERVAL if participants < 2 else "no interval"
    if high - low < 1e-12:
        return ZERO_WIDTH
    mark = FEW_MARK if participants < FEW_PARTICIPANTS else ""
    return f"{low:.0%}–{high:.0%}{mark}"


def _headline_table(analysis: Analysis) -> pd.DataFrame:
    rows = _headline_rows(analysis)
    shown = pd.DataFrame(
        {
            "scope": [analysis.rankings.country_name(str(s)) for s in rows["scope"]],
            "item": rows["item"].to_numpy(),
            "participants": rows["participants"].to_numpy(),
            "pages": rows["pages"].to_numpy(),
            "share_better": rows["share_better"].to_numpy(),
            f"{LEVEL} interval": [
                interval_text(low, high, n)
                for low, high, n in zip(
                    rows["ci_low"], rows["ci_high"], rows["participants"], strict=True
                )
            ],
        }
    )
    return shown


def _headline_sentence(analysis: Analysis) -> str:
    r = analysis.rankings
    model, baseline = analysis.headline_pair
    rows = _headline_rows(analysis)
    pooled = rows[rows["scope"] == POOLED]
    parts = [
        f"{item}: {share:.0%} ({interval_text(low, high, n)})"
        for item, share, low, high, n in zip(
            pooled["item"],
            pooled["share_better"],
            pooled["ci_low"],
            pooled["ci_high"],
            pooled["participants"],
            strict=True,
        )
    ]
    return (
        f"Share of pages where {r.label(model)} was ranked better than {r.label(baseline)}, "
        f"all countries, with {LEVEL} intervals — " + "; ".join(parts) + "."
    )


def _coverage_sentence() -> str:
    measured = ", ".join(f"{share:.1%} at {n}" for n, share in MEASURED_COVERAGE.items())
    return (
        f"Measured on simulated studies with a known truth, these nominal {LEVEL} "
        f"intervals held the true value in {measured} participants per scope "
        "(benchmarks/bench_coverage.py): below about 20 participants they are too narrow."
    )


def _small_sample_blocks(analysis: Analysis) -> list[tuple[str, object]]:
    """A warning naming every scope with fewer than FEW_PARTICIPANTS participants."""
    summary = analysis.tables["rank_summary"]
    few = summary[summary["few_participants"]].drop_duplicates("scope")
    if few.empty:
        return [("p", _coverage_sentence())]
    r = analysis.rankings
    named = ", ".join(
        f"{r.country_name(str(s))} ({n})"
        for s, n in zip(few["scope"], few["participants"], strict=True)
    )
    return [
        (
            "p",
            f"{FEW_MARK} Warning: fewer than {FEW_PARTICIPANTS} participants in {named}. "
            f"Intervals there are marked {FEW_MARK} (and flagged in the tables' "
            "`few_participants` column); with one participant no interval is given. "
            + _coverage_sentence(),
        )
    ]


def _human_evaluation_blocks(analysis: Analysis) -> list[tuple[str, object]]:
    """The human-evaluation record in the style of Otani et al. (CVPR 2023)."""
    r, t = analysis.rankings, analysis.tables
    quality = t["participant_quality"]
    agreement = t["agreement"]
    pooled_alpha = agreement[agreement["scope"] == POOLED]
    failed = (
        int((r.left_out["reason"] == "failed an attention check").sum()) if len(r.left_out) else 0
    )
    researcher = len(r.left_out) - failed
    per_country = ", ".join(
        f"{r.country_name(c)} {n}"
        for c, n in zip(
            t["participants"]["country"], t["participants"]["participants"], strict=True
        )
        if c != POOLED
    )
    seconds = quality["median_seconds"].dropna()
    time_text = (
        f"median time on a page {seconds.median():.0f} s (participants' medians range "
        f"{seconds.min():.0f}–{seconds.max():.0f} s)"
        if len(seconds)
        else "time on a page not in the export"
    )
    alpha_text = ", ".join(
        f"{item} {alpha:.2f}"
        for item, alpha in zip(pooled_alpha["item"], pooled_alpha["alpha"], strict=True)
    )
    ratings = np.bincount(r.image_set[r.item == 0]) if len(r.ranks) else np.array([0])
    ratings = ratings[ratings > 0]
    lines = [
        f"Participants analysed per country: {per_country}.",
        f"Task: rank {r.k} images of one prompt on a page, once per question "
        f"({', '.join(r.items)}); each image set was ranked by {ratings.min()}–{ratings.max()} "
        f"participants (median {np.median(ratings):.0f}).",
        f"Exclusions: {researcher} participant(s) excluded by a researcher; attention "
        f"checks: {failed} participant(s) failed and were left out"
        + (" (kept on request)." if analysis.options.keep_excluded else "."),
        f"Time: {time_text}.",
        f"Agreement (Krippendorff's alpha, ordinal, all countries): {alpha_text}.",
        "Recruitment platform, pay and the consent text are not in the export; state them "
        "from the study's spec and the recruitment page.",
    ]
    return [("h2", "Human evaluation record"), ("p", " ".join(lines))]


def _quality_blocks(analysis: Analysis) -> list[tuple[str, object]]:
    quality = analysis.tables["participant_quality"]
    flagged = quality[quality["flags"] != ""]
    text = (
        f"Flags, never exclusions: a median page under {FAST_SECONDS:g} s, more than "
        f"{KEPT_ORDER_SHARE:.0%} of rankings submitted in the order shown, or an order "
        "against the other participants of the country (negative Spearman correlation "
        f"with their leave-one-out mean ranks). {len(flagged)} of {len(quality)} "
        "participant(s) flagged; every participant in `tables/participant_quality.csv`."
    )
    blocks: list[tuple[str, object]] = [("h2", "Participant quality"), ("p", text)]
    if len(flagged):
        blocks.append(("table", _with_names(flagged.head(20), analysis.rankings, "country")))
    return blocks


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
            caption = FIGURES[content]
            lines.append(f"![{caption}](figures/{content}.png)\n")
            lines.append(
                f"*{caption}* ([PDF](figures/{content}.pdf), [SVG](figures/{content}.svg), "
                f"[one column](figures/{content}{NARROW_SUFFIX}.pdf))\n"
            )
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
            caption = html.escape(FIGURES[content])
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
