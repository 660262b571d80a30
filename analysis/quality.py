"""Participant quality: who answered fast, who kept the order they were shown, who
disagrees with everyone else. The table flags participants; it never leaves anyone
out (a researcher excludes in the survey's admin, and the export carries that).

Columns, one row per participant analysed:

- ``pages``: image sets ranked; ``median_seconds``: median time on a page;
- ``kept_order_share``: share of rankings submitted exactly in the order shown (rank =
  display position for every image), as after "keep this order";
- ``agreement``: Spearman correlation of the participant's mean ranks with those of the
  other participants of their country (:func:`analysis.agreement.leave_one_out_agreement`);
- ``flags``: the reasons to look, joined by "; " (empty = nothing to look at).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.agreement import leave_one_out_agreement
from analysis.rankings import Rankings

#: A median page time below this many seconds is flagged as fast.
FAST_SECONDS = 5.0
#: A participant submitting more than this share of rankings in the shown order.
KEPT_ORDER_SHARE = 0.5
#: Agreement with the others below this (the reverse of their order) is flagged.
LOW_AGREEMENT = 0.0

FLAG_FAST = "median page under {seconds:g} s"
FLAG_KEPT_ORDER = "kept the shown order on {share:.0%} of rankings"
FLAG_DISAGREES = "orders the variants against the others of their country"


def quality_table(rankings: Rankings) -> pd.DataFrame:
    """The participant-quality table (see the module docstring)."""
    n_p = len(rankings.participants)
    analysed = np.unique(rankings.participant)
    page = rankings.participant * len(rankings.image_sets) + rankings.image_set
    first_of_page = np.unique(page, return_index=True)[1]
    pages = np.bincount(rankings.participant[first_of_page], minlength=n_p)
    seconds = (
        pd.Series(rankings.page_ms[first_of_page] / 1000.0)
        .groupby(rankings.participant[first_of_page])
        .median()
    )
    median_seconds = seconds.reindex(range(n_p)).to_numpy()
    if rankings.has_positions:
        kept = (rankings.ranks == rankings.positions).all(axis=1)
        kept_share = np.bincount(rankings.participant, weights=kept, minlength=n_p) / np.maximum(
            np.bincount(rankings.participant, minlength=n_p), 1
        )
    else:
        kept_share = np.full(n_p, np.nan)
    agreement = leave_one_out_agreement(rankings)
    flags = []
    for p in analysed:
        reasons = []
        if median_seconds[p] < FAST_SECONDS:
            reasons.append(FLAG_FAST.format(seconds=FAST_SECONDS))
        if kept_share[p] > KEPT_ORDER_SHARE:
            reasons.append(FLAG_KEPT_ORDER.format(share=kept_share[p]))
        if agreement[p] < LOW_AGREEMENT:
            reasons.append(FLAG_DISAGREES)
        flags.append("; ".join(reasons))
    return pd.DataFrame(
        {
            "participant": rankings.participants[analysed],
            "country": [rankings.countries[c] for c in rankings.participant_country[analysed]],
            "pages": pages[analysed],
            "median_seconds": median_seconds[analysed],
            "kept_order_share": kept_share[analysed],
            "agreement": agreement[analysed],
            "flags": flags,
        }
    )
