"""The report's tables: what is computed, in which order, and how the report shows it.

:data:`TABLES` is the one list of the report's statistic tables. Each entry names the
table (its CSV file is ``tables/<name>.csv``), the function that builds it from the
rankings and the bootstrap tallies, and the heading and sentence the report document
prints above it. :func:`analyse` builds every table into an :class:`Analysis`, which
the document and the figures read; nothing here writes a file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.agreement import agreement_table
from analysis.bootstrap import CONFIDENCE, POOLED, Tallies, tally_scopes
from analysis.descriptive import pairwise_preference, rank_shares, rank_summary
from analysis.export import ExportError
from analysis.quality import quality_table
from analysis.rankings import Rankings
from analysis.significance import (
    HOLM_FAMILY,
    cd_ranks_table,
    country_test_table,
    friedman_table,
    nemenyi_table,
    position_bias_table,
    wilcoxon_table,
)
from analysis.worth import worth_table
from study.names import BASELINE_VARIANT, FULL_METHOD_VARIANT

UNKNOWN_HEADLINE = (
    "The headline pair {pair!r} must be MODEL:BASELINE with two variants of {variants}."
)
LEVEL = f"{CONFIDENCE:.0%}"


@dataclass(frozen=True)
class ReportOptions:
    """Choices of one report; every default is what a plain command line gives."""

    keep_excluded: bool = False  # analyse excluded / failed-attention participants too
    n_boot: int = 2000  # participant-bootstrap replicates per interval
    seed: int = 0  # seeds the bootstrap so a rerun gives the same intervals
    study: str | None = None  # which study, when the export holds several
    variant_order: Sequence[str] | None = None  # order in tables and figures
    headline: str | None = None  # "MODEL:BASELINE"; default last variant vs first
    figure_formats: Sequence[str] = ("png", "svg", "pdf")
    violins: bool = False  # also draw the published figure's violins, for comparison


Build = Callable[[Rankings, list[Tallies], ReportOptions], pd.DataFrame]


@dataclass(frozen=True)
class Table:
    """One statistic table of the report.

    shown: "pooled" prints the all-countries rows (the CSV has every country),
    "all" prints every row, "file" only writes the CSV. hide: columns left out of
    the printed table (never of the CSV).
    """

    name: str
    build: Build
    heading: str
    text: str
    shown: str = "pooled"
    hide: tuple[str, ...] = ()


TABLES: tuple[Table, ...] = (
    Table(
        "rank_summary",
        lambda r, s, o: rank_summary(r, s),
        "Rank statistics, all countries",
        f"Mean rank with its {LEVEL} interval, median, standard error over pages "
        "(as published; it ignores that one participant ranks many pages), and the "
        "share of pages ranked first. Per country: `tables/rank_summary.csv`.",
        hide=("scope", "variant"),
    ),
    Table(
        "rank_summary_all_questions",
        lambda r, s, o: rank_summary(r, s, all_questions=True),
        "Every question together",
        "The same statistics over every question's pages at once, per country.",
        shown="all",
        hide=("item", "variant", "median_rank", "se_rank"),
    ),
    Table("rank_shares", lambda r, s, o: rank_shares(r, s), "", "", shown="file"),
    Table(
        "pairwise_preference",
        lambda r, s, o: pairwise_preference(r, s),
        "",
        "",
        shown="file",
    ),
    Table(
        "friedman",
        lambda r, s, o: friedman_table(r, s),
        "Friedman test and Kendall's W",
        "Blocks are participants (their mean rank of each variant); Kendall's W "
        "is the participants' concordance on the order of the variants (0 none, 1 "
        "complete).",
        shown="all",
    ),
    Table(
        "friedman_all_questions",
        lambda r, s, o: friedman_table(r, s, all_questions=True),
        "Friedman test, every question together",
        "Each participant's mean rank of each variant over all their pages and questions.",
        shown="all",
        hide=("item",),
    ),
    Table(
        "wilcoxon",
        lambda r, s, o: wilcoxon_table(r, s),
        "Pairwise Wilcoxon signed-rank tests, Holm-corrected, all countries",
        f"Holm's correction covers one family: {HOLM_FAMILY}. A negative median "
        "difference means the first variant was ranked better. Per country: "
        "`tables/wilcoxon.csv`.",
        hide=("scope", "family"),
    ),
    Table(
        "nemenyi",
        lambda r, s, o: nemenyi_table(r, s),
        "Nemenyi post-hoc test, all countries",
        "",
        hide=("scope",),
    ),
    Table("cd_ranks", lambda r, s, o: cd_ranks_table(r, s), "", "", shown="file"),
    Table(
        "agreement",
        lambda r, s, o: agreement_table(r, s),
        "Rater agreement: Krippendorff's alpha (ordinal)",
        "Raters are participants; a unit is one variant's image in one image set, "
        "its value the rank given; units rated once are left out.",
        shown="all",
    ),
    Table(
        "plackett_luce",
        lambda r, s, o: worth_table(r, s),
        "Plackett-Luce worth, all countries",
        "Worths sum to 1: the model's probability that a variant is ranked first "
        "among all. Per country: `tables/plackett_luce.csv`.",
        hide=("scope", "variant"),
    ),
    Table(
        "position_bias",
        lambda r, s, o: position_bias_table(r, s),
        "Position bias, all countries",
        "Mean rank of the image shown first, second, ... on the page, and the Friedman "
        "test of positions (blocks = participants). A small p means where an image was "
        "shown moved its rank; the display order is shuffled per page, so such a bias "
        "adds noise but favours no variant. Per country: `tables/position_bias.csv`.",
        hide=("scope",),
    ),
    Table(
        "country_differences",
        lambda r, s, o: country_test_table(r, s, seed=o.seed),
        "Do preferences differ between countries?",
        "A permutation test of the participants' mean ranks: country labels are shuffled "
        "over participants (each participant's pages stay together), and p is the share "
        "of shuffles whose between-country spread is at least the observed one.",
        shown="all",
    ),
)


@dataclass
class Analysis:
    """Everything the report shows, computed in memory before anything is written."""

    rankings: Rankings
    options: ReportOptions
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    headline_pair: tuple[str, str] = ("", "")


def analyse(rankings: Rankings, options: ReportOptions) -> Analysis:
    """Compute every table of the report from the rankings."""
    headline = headline_pair(rankings, options)
    scopes = tally_scopes(rankings, n_boot=options.n_boot, seed=options.seed)
    tables = {
        "participants": participants_table(rankings),
        "left_out": rankings.left_out,
        "participant_quality": quality_table(rankings),
    }
    for table in TABLES:
        tables[table.name] = table.build(rankings, scopes, options)
    return Analysis(rankings=rankings, options=options, tables=tables, headline_pair=headline)


def headline_pair(rankings: Rankings, options: ReportOptions) -> tuple[str, str]:
    """(model, baseline): given as MODEL:BASELINE; else the last variant of a given
    variant order against its first; else the full method against the base model when
    the export uses the shared variant keys; else the last variant against the first."""
    variants = rankings.variants
    if options.headline:
        model, _, baseline = options.headline.partition(":")
        if model not in variants or baseline not in variants or model == baseline:
            raise ExportError(
                UNKNOWN_HEADLINE.format(pair=options.headline, variants=", ".join(variants))
            )
        return model, baseline
    if not options.variant_order and {BASELINE_VARIANT, FULL_METHOD_VARIANT} <= set(variants):
        return FULL_METHOD_VARIANT, BASELINE_VARIANT
    return variants[-1], variants[0]


def participants_table(rankings: Rankings) -> pd.DataFrame:
    """Per country: participants, pages, rankings (one per page and question), left out."""
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
