"""From export rows to rankings: permutation checks, studies, countries, exclusions."""

import numpy as np
import pandas as pd
import pytest

from analysis import rankings as rk
from analysis.export import ExportError, normalise_export
from analysis.rankings import rankings_from_export


def load(frame, **options):
    return rankings_from_export(normalise_export(frame), **options)


def test_each_ranking_holds_the_ranks_of_every_variant(small_export, small_rankings):
    r = small_rankings
    assert r.ranks.shape == (len(small_export) // 4, 4)
    assert (np.sort(r.ranks, axis=1) == [1, 2, 3, 4]).all()
    # The published variant keys come in the paper's order, labels from the export.
    assert r.variants == ["pretrained", "scoft-m", "scoft-mp", "scoft-mpc"]
    assert r.label("scoft-mpc") == "SCoFT+MPC"
    first = small_export.iloc[:4]
    j = np.flatnonzero(
        (r.participants[r.participant] == first["participant"].iloc[0])
        & (r.image_sets[r.image_set] == first["image_set"].iloc[0])
        & (np.asarray(r.items)[r.item] == first["item"].iloc[0])
    )
    assert len(j) == 1
    expected = dict(zip(first["variant"], first["rank"], strict=True))
    assert list(r.ranks[j[0]]) == [expected[v] for v in r.variants]


def test_ranks_that_are_not_a_permutation_are_refused_naming_the_page(small_export):
    broken = small_export.copy()
    broken.loc[1, "rank"] = broken.loc[0, "rank"]  # two variants share a rank
    with pytest.raises(ExportError) as caught:
        load(broken)
    message = str(caught.value)
    assert message.startswith("Ranks on a page must be a permutation of 1..4")
    assert str(broken.loc[0, "participant"]) in message
    assert str(broken.loc[0, "image_set"]) in message


def test_a_variant_ranked_twice_on_one_page_is_refused(small_export):
    doubled = pd.concat([small_export, small_export.iloc[[0]]], ignore_index=True)
    with pytest.raises(ExportError, match="a variant ranked twice"):
        load(doubled)


def test_a_single_variant_is_refused(small_export):
    one = small_export[small_export["variant"] == "scoft-mpc"].assign(rank=1)
    with pytest.raises(ExportError) as caught:
        load(one)
    assert str(caught.value) == rk.SINGLE_VARIANT.format(variant="scoft-mpc")


def test_several_studies_need_a_choice(small_export):
    two = small_export.astype({"study": object})
    two.loc[two["country"] == "Korea", "study"] = "other-study"
    with pytest.raises(ExportError) as caught:
        load(two)
    assert str(caught.value) == rk.SEVERAL_STUDIES.format(studies="other-study, simulated-study")
    chosen = load(two, study="other-study")
    assert chosen.countries == ["Korea"]
    with pytest.raises(ExportError, match="no study 'missing'"):
        load(two, study="missing")


def test_a_participant_under_two_countries_is_refused(small_export):
    mixed = small_export.astype({"country": object})
    first = mixed["participant"] == mixed["participant"].iloc[0]
    mixed.loc[first & (mixed.index % 8 == 0), "country"] = "Nigeria"
    with pytest.raises(ExportError, match="appears under more than one country"):
        load(mixed)


def test_excluded_and_inattentive_participants_are_left_out_with_their_reason(small_export):
    marked = small_export.copy()
    p0, p1 = marked["participant"].cat.categories[:2]
    marked.loc[marked["participant"] == p0, "excluded"] = True
    marked.loc[marked["participant"] == p0, "exclusion_reason"] = "straight-lining"
    marked.loc[marked["participant"] == p1, "attention_ok"] = False
    r = load(marked)
    assert set(r.left_out["participant"]) == {p0, p1}
    reasons = dict(zip(r.left_out["participant"], r.left_out["reason"], strict=True))
    assert reasons[p0] == f"{rk.REASON_RESEARCHER}: straight-lining"
    assert reasons[p1] == rk.REASON_ATTENTION
    used = set(r.participants[np.unique(r.participant)])
    assert p0 not in used and p1 not in used
    kept = load(marked, keep_excluded=True)
    assert len(kept.ranks) == len(marked) // 4
    assert kept.left_out.empty
    assert set(kept.flagged_kept["participant"]) == {p0, p1}


def test_leaving_out_everyone_is_refused_with_the_switch_named(small_export):
    with pytest.raises(ExportError, match="--keep-excluded"):
        load(small_export.assign(attention_ok=False))


def test_a_variant_order_puts_named_variants_first(small_export):
    r = load(small_export, variant_order=["scoft-mpc", "pretrained"])
    assert r.variants == ["scoft-mpc", "pretrained", "scoft-m", "scoft-mp"]
    with pytest.raises(ExportError, match="nope"):
        load(small_export, variant_order=["nope"])
