"""From the long export to one row per ranking, after checks and exclusions.

A *ranking* is what one participant gave for one survey item on one page (image
set): the ranks of the k variants, a permutation of 1..k. Everything the report
computes starts from these rankings, held as integer arrays so a study with a million
export rows is analysed in seconds.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.export import ExportError
from study.names import PUBLISHED_COUNTRIES, PUBLISHED_ITEMS, VARIANT_KEYS, variant_label

SEVERAL_STUDIES = "The export holds several studies ({studies}); choose one with --study."
UNKNOWN_STUDY = "The export has no study {study!r}; it holds {studies}."
SINGLE_VARIANT = "The export has only one variant ({variant}); a ranking needs at least two."
NOT_A_PERMUTATION = (
    "Ranks on a page must be a permutation of 1..{k}: participant {participant}, image set "
    "{image_set}, item {item!r} has {found} ({count} ranking(s) have this problem)."
)
RANK_OUT_OF_RANGE = (
    "Ranks run from 1 to {k} (the number of variants); data row {row} gives {variant!r} "
    "rank {rank} ({count} row(s) have a rank outside 1..{k})."
)
RARE_VARIANT = (
    "The variant {variant!r} appears in only {count} of {rankings} rankings (first at data "
    "row {row}), where every ranking should hold every variant; is it a misspelling"
    "{suggestion}?"
)
#: What NOT_A_PERMUTATION says a faulty ranking has.
FOUND_MISSING = "a variant missing: no rank for {variants}"
FOUND_TWICE = "a variant ranked twice: {variants} (data rows {rows})"
FOUND_SHARED = "ranks {ranks}"
PARTICIPANT_IN_TWO_COUNTRIES = (
    "Participant {participant} appears under more than one country ({countries})."
)
UNKNOWN_VARIANT_ORDER = "The variant order names {names}, which the export does not hold."
NOTHING_LEFT = (
    "No rankings are left after leaving out excluded participants and failed attention "
    "checks ({count} participant(s)); use --keep-excluded to analyse them anyway."
)

REASON_RESEARCHER = "excluded by a researcher"
REASON_ATTENTION = "failed an attention check"


@dataclass(frozen=True)
class Rankings:
    """The rankings of one study, one row per participant x image set x item.

    ``ranks[j, v]`` is the rank (1 = best) that ranking j gave variant v. Integer codes
    index the name lists: ``participant[j]`` into ``participants``, ``item[j]`` into
    ``items``, ``image_set[j]`` into ``image_sets``; ``participant_country[p]`` into
    ``countries``. ``positions[j, v]`` is where variant v's image was shown on the page
    (1 = first; 0 when the export has no ``position`` column) and ``page_ms[j]`` the
    time on the page in milliseconds (NaN when not known). ``country_names`` maps a
    country code to the name the report shows.
    """

    study: str
    countries: list[str]
    items: list[str]
    variants: list[str]
    labels: dict[str, str]
    participants: np.ndarray
    participant_country: np.ndarray
    image_sets: np.ndarray
    participant: np.ndarray
    image_set: np.ndarray
    item: np.ndarray
    ranks: np.ndarray
    positions: np.ndarray
    page_ms: np.ndarray
    country_names: dict[str, str]
    rows_read: int
    left_out: pd.DataFrame  # participant, country, reason
    flagged_kept: pd.DataFrame  # the same, for flagged participants kept on request

    @property
    def k(self) -> int:
        """Number of variants ranked on each page."""
        return len(self.variants)

    def label(self, variant: str) -> str:
        """Researcher-facing label of a variant key."""
        return self.labels.get(variant, variant)

    def country_name(self, country: str) -> str:
        """The name of a country code (the code itself when no name is known)."""
        return self.country_names.get(country, country)

    @property
    def has_positions(self) -> bool:
        """Whether the export said where each image was shown."""
        return bool((self.positions > 0).all()) and len(self.positions) > 0

    def country_of_ranking(self) -> np.ndarray:
        """Country code of each ranking."""
        return self.participant_country[self.participant]


def rankings_from_export(
    export: pd.DataFrame,
    *,
    keep_excluded: bool = False,
    study: str | None = None,
    variant_order: Sequence[str] | None = None,
) -> Rankings:
    """Check the export's rankings and return them as a :class:`Rankings`.

    export is what :func:`analysis.io.read_export` returns. Participants a researcher
    excluded and participants who failed an attention check are left out unless
    keep_excluded; who was left out and why is in ``left_out`` (or, when kept, in
    ``flagged_kept``). Raises ExportError naming the data row when a rank lies outside
    1..k, a variant is (nearly) absent from the rankings, ranks on a page are not a
    permutation, there is a single variant, a participant appears in two countries, or
    the export holds several studies and ``study`` does not pick one.
    """
    export = _one_study(export, study)
    variants = _variant_order(export, variant_order)
    items = _ordered(export["item"], PUBLISHED_ITEMS)
    countries = sorted(export["country"].cat.categories[export["country"].cat.codes.unique()])
    if len(variants) < 2:
        raise ExportError(SINGLE_VARIANT.format(variant=variants[0]))

    participant_codes, participants = pd.factorize(export["participant"], sort=True)
    country_codes = _recode(export["country"], countries)
    participant_country = _country_of_participants(
        participant_codes, country_codes, participants, countries
    )
    set_codes, image_sets = pd.factorize(export["image_set"], sort=True)
    item_codes = _recode(export["item"], items)
    variant_codes = _recode(export["variant"], variants)
    rank = export["rank"].to_numpy()
    _check_rank_range(rank, variant_codes, variants, export.index)

    key = (participant_codes.astype(np.int64) * len(image_sets) + set_codes) * len(
        items
    ) + item_codes
    ranking_keys, ranking_of_row = np.unique(key, return_inverse=True)
    _check_rare_variants(variant_codes, ranking_of_row, variants, export.index)
    ranks = _wide(ranking_of_row, variant_codes, rank, len(ranking_keys), len(variants))
    ranking_item = ranking_keys % len(items)
    ranking_set = (ranking_keys // len(items)) % len(image_sets)
    ranking_participant = ranking_keys // (len(items) * len(image_sets))
    _check_permutations(
        ranks,
        ranking_of_row,
        variant_codes,
        export.index,
        (ranking_participant, ranking_set, ranking_item),
        (participants, image_sets, items, variants),
    )
    positions, page_ms = _positions_and_times(export, ranking_of_row, variant_codes, ranks.shape)

    left_out = _left_out(export, participant_codes, participants, participant_country, countries)
    flagged_kept = left_out.iloc[0:0]
    if not keep_excluded and len(left_out):
        keep_participant = ~np.isin(np.arange(len(participants)), left_out["code"].to_numpy())
        keep = keep_participant[ranking_participant]
        if not keep.any():
            raise ExportError(NOTHING_LEFT.format(count=len(left_out)))
        ranks, ranking_participant = ranks[keep], ranking_participant[keep]
        ranking_set, ranking_item = ranking_set[keep], ranking_item[keep]
        positions, page_ms = positions[keep], page_ms[keep]
    elif keep_excluded:
        left_out, flagged_kept = left_out.iloc[0:0], left_out

    labels = _labels(export)
    return Rankings(
        study=str(export["study"].iloc[0]),
        countries=countries,
        items=items,
        variants=variants,
        labels={v: labels.get(v, v) for v in variants},
        participants=np.asarray(participants, dtype=object),
        participant_country=participant_country,
        image_sets=np.asarray(image_sets, dtype=object),
        participant=ranking_participant.astype(np.int64),
        image_set=ranking_set.astype(np.int64),
        item=ranking_item.astype(np.int64),
        ranks=ranks,
        positions=positions,
        page_ms=page_ms,
        country_names=_country_names(export, countries),
        rows_read=len(export),
        left_out=left_out.drop(columns="code"),
        flagged_kept=flagged_kept.drop(columns="code"),
    )


def _one_study(export: pd.DataFrame, study: str | None) -> pd.DataFrame:
    studies = list(export["study"].cat.categories)
    if study is not None:
        if study not in studies:
            raise ExportError(UNKNOWN_STUDY.format(study=study, studies=", ".join(studies)))
        if len(studies) > 1:
            export = export[export["study"] == study]
            export = export.assign(
                **{c: export[c].cat.remove_unused_categories() for c in _categoricals(export)}
            )
        return export
    if len(studies) > 1:
        raise ExportError(SEVERAL_STUDIES.format(studies=", ".join(studies)))
    return export


def _categoricals(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]


def _ordered(column: pd.Series, known: Sequence[str]) -> list[str]:
    """Names in the published study's order when they are its keys, else first seen first."""
    seen = [str(column.cat.categories[c]) for c in pd.unique(column.cat.codes.to_numpy())]
    if set(seen) <= set(known):
        return [name for name in known if name in seen]
    return seen


def _variant_order(export: pd.DataFrame, variant_order: Sequence[str] | None) -> list[str]:
    seen = _ordered(export["variant"], VARIANT_KEYS)
    if not variant_order:
        return seen
    unknown = [v for v in variant_order if v not in seen]
    if unknown:
        raise ExportError(UNKNOWN_VARIANT_ORDER.format(names=", ".join(unknown)))
    return list(variant_order) + [v for v in seen if v not in variant_order]


def _recode(column: pd.Series, order: list[str]) -> np.ndarray:
    """Integer codes of a categorical column in the given order of names."""
    position = {name: i for i, name in enumerate(order)}
    lookup = np.array([position.get(str(c), -1) for c in column.cat.categories], dtype=np.int64)
    return lookup[column.cat.codes.to_numpy()]


def _country_of_participants(
    participant_codes: np.ndarray,
    country_codes: np.ndarray,
    participants: pd.Index,
    countries: list[str],
) -> np.ndarray:
    n = len(participants)
    first = np.full(n, -1, dtype=np.int64)
    first[participant_codes[::-1]] = country_codes[::-1]  # last write wins: the first row
    differs = first[participant_codes] != country_codes
    if differs.any():
        p = participant_codes[np.flatnonzero(differs)[0]]
        seen = sorted({countries[c] for c in np.unique(country_codes[participant_codes == p])})
        raise ExportError(
            PARTICIPANT_IN_TWO_COUNTRIES.format(
                participant=participants[p], countries=", ".join(seen)
            )
        )
    return first


def _wide(
    ranking_of_row: np.ndarray, variant: np.ndarray, values: np.ndarray, n: int, k: int
) -> np.ndarray:
    """Per-row values as an (n rankings, k variants) array; 0 where a variant is missing
    (ranks are checked to lie in 1..k first, so 0 is never a rank)."""
    wide = np.zeros((n, k), dtype=np.int64)
    wide[ranking_of_row, variant] = values
    return wide


def _check_rank_range(
    rank: np.ndarray, variant: np.ndarray, variants: list[str], index: pd.Index
) -> None:
    k = len(variants)
    bad = (rank < 1) | (rank > k)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ExportError(
            RANK_OUT_OF_RANGE.format(
                k=k,
                row=int(index[first]) + 1,
                variant=variants[variant[first]],
                rank=int(rank[first]),
                count=int(bad.sum()),
            )
        )


def _check_rare_variants(
    variant: np.ndarray, ranking_of_row: np.ndarray, variants: list[str], index: pd.Index
) -> None:
    """A variant missing from most rankings is a misspelt name, not a permutation slip."""
    n_rankings = int(ranking_of_row.max()) + 1 if len(ranking_of_row) else 0
    counts = np.bincount(variant, minlength=len(variants))
    rare = np.flatnonzero(counts * 2 < n_rankings)
    if len(rare) == 0 or len(rare) == len(variants):
        return
    v = int(rare[np.argmin(counts[rare])])
    common = [name for c, name in enumerate(variants) if c not in set(rare.tolist())]
    close = difflib.get_close_matches(variants[v], common, n=1, cutoff=0.5)
    raise ExportError(
        RARE_VARIANT.format(
            variant=variants[v],
            count=int(counts[v]),
            rankings=n_rankings,
            row=int(index[int(np.flatnonzero(variant == v)[0])]) + 1,
            suggestion=f" of {close[0]!r}" if close else "",
        )
    )


def _check_permutations(
    ranks: np.ndarray,
    ranking_of_row: np.ndarray,
    variant: np.ndarray,
    index: pd.Index,
    codes: tuple[np.ndarray, np.ndarray, np.ndarray],
    names: tuple[pd.Index, pd.Index, list[str], list[str]],
) -> None:
    k = ranks.shape[1]
    rows_per_ranking = np.bincount(ranking_of_row, minlength=len(ranks))
    valid = (np.sort(ranks, axis=1) == np.arange(1, k + 1)).all(axis=1) & (rows_per_ranking == k)
    if valid.all():
        return
    bad = np.flatnonzero(~valid)
    j = bad[0]
    participant, image_set, item = (c[j] for c in codes)
    participants, image_sets, items, variants = names
    rows = np.flatnonzero(ranking_of_row == j)
    per_variant = np.bincount(variant[rows], minlength=k)
    if (per_variant > 1).any():
        twice = np.flatnonzero(per_variant > 1)
        found = FOUND_TWICE.format(
            variants=repr(variants[twice[0]])
            + (f" (and {len(twice) - 1} more)" if len(twice) > 1 else ""),
            rows=", ".join(str(int(index[r]) + 1) for r in rows if variant[r] in twice[:1]),
        )
    elif (per_variant == 0).any():
        found = FOUND_MISSING.format(
            variants=", ".join(repr(variants[v]) for v in np.flatnonzero(per_variant == 0))
        )
    else:
        found = FOUND_SHARED.format(ranks=sorted(int(r) for r in ranks[j]))
    raise ExportError(
        NOT_A_PERMUTATION.format(
            k=k,
            participant=participants[participant],
            image_set=image_sets[image_set],
            item=items[item],
            found=found,
            count=len(bad),
        )
    )


def _positions_and_times(
    export: pd.DataFrame, ranking_of_row: np.ndarray, variant: np.ndarray, shape: tuple
) -> tuple[np.ndarray, np.ndarray]:
    """Display positions (n, k; 0 = unknown) and time on page (n; NaN = unknown)."""
    n, k = shape
    positions = np.zeros(shape, dtype=np.int64)
    if "position" in export:
        given = export["position"].to_numpy(dtype=float, na_value=np.nan)
        known = np.isfinite(given)
        positions[ranking_of_row[known], variant[known]] = given[known].astype(np.int64)
        # A page whose positions are not 1..k says nothing reliable about position.
        valid = (np.sort(positions, axis=1) == np.arange(1, k + 1)).all(axis=1)
        positions[~valid] = 0
    page_ms = np.full(n, np.nan)
    if "page_ms" in export:
        given = export["page_ms"].to_numpy(dtype=float, na_value=np.nan)
        page_ms[ranking_of_row] = given
    return positions, page_ms


def _country_names(export: pd.DataFrame, countries: list[str]) -> dict[str, str]:
    """Code -> name: the export's country_name column, else the published study's names."""
    published = {code: name for name, code in PUBLISHED_COUNTRIES.items()}
    names = {c: published.get(c, c) for c in countries}
    if "country_name" in export:
        pairs = export[["country", "country_name"]].drop_duplicates("country")
        for code, name in zip(pairs["country"], pairs["country_name"], strict=True):
            if isinstance(name, str) and name.strip():
                names[str(code)] = name.strip()
    return names


def _left_out(
    export: pd.DataFrame,
    participant_codes: np.ndarray,
    participants: pd.Index,
    participant_country: np.ndarray,
    countries: list[str],
) -> pd.DataFrame:
    """Participants excluded by a researcher or failing attention checks, with the reason.

    Attention results are stored per participant; a participant with any failed check
    is left out whole, so their remaining pages do not count either.
    """
    n = len(participants)
    excluded = np.bincount(participant_codes, weights=export["excluded"].to_numpy(), minlength=n)
    failed = np.bincount(participant_codes, weights=~export["attention_ok"].to_numpy(), minlength=n)
    codes = np.flatnonzero((excluded > 0) | (failed > 0))
    reasons = []
    if len(codes):
        given = export.loc[export["excluded"].to_numpy(), ["exclusion_reason"]].assign(
            code=participant_codes[export["excluded"].to_numpy()]
        )
        given = given.drop_duplicates("code").set_index("code")["exclusion_reason"]
        for code in codes:
            if excluded[code] > 0:
                reason = str(given.get(code, "")).strip()
                reasons.append(f"{REASON_RESEARCHER}: {reason}" if reason else REASON_RESEARCHER)
            else:
                reasons.append(REASON_ATTENTION)
    return pd.DataFrame(
        {
            "code": codes,
            "participant": np.asarray(participants, dtype=object)[codes],
            "country": [countries[c] for c in participant_country[codes]],
            "reason": reasons,
        }
    )


def _labels(export: pd.DataFrame) -> dict[str, str]:
    """Key -> label: the export's label when it gives one, else the shared vocabulary's."""
    pairs = export[["variant", "variant_label"]].drop_duplicates("variant")
    return {
        str(v): str(label) if str(label) != str(v) else variant_label(str(v))
        for v, label in zip(pairs["variant"], pairs["variant_label"], strict=True)
    }
