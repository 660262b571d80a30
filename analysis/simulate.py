"""Simulated rankings exports: participants with a known preference order plus noise.

The export has the columns of the rankings export (docs/ARCHITECTURE.md) plus the
optional `excluded`, `exclusion_reason` and `variant_label`, so anything that reads a
real export (the report, its tests, the benchmark, the planner) can run on it. Its
variants, items and countries are the published study's, named as in study.names.

Each participant ranks every variant of an image set by a Plackett-Luce draw: variant
v gets the utility ``preference[v] + participant taste + Gumbel noise * noise`` and the
highest utility is ranked 1 (best). With ``noise`` = 1 and no participant taste, the
chance that v is ranked first is its softmax share of ``preference``; larger ``noise``
drowns the preference, and ``preference`` all equal gives a study with no preference
at all. ``position_bias`` adds a known pull towards the images shown first and
``country_preference`` gives countries preferences of their own, so the report's
position and country checks can be tested on a known answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from study.names import PUBLISHED_COUNTRIES, PUBLISHED_ITEMS, VARIANT_KEYS, variant_label

#: The published study's countries as the export names them (ISO codes).
COUNTRY_CODES = tuple(PUBLISHED_COUNTRIES.values())


def simulate_export(
    *,
    participants_per_country: int = 10,
    pages_per_participant: int = 10,
    countries: Sequence[str] = COUNTRY_CODES,
    variants: Sequence[str] = VARIANT_KEYS,
    labels: Mapping[str, str] | None = None,
    items: Sequence[str] = PUBLISHED_ITEMS,
    preference: Sequence[float] | Mapping[str, Sequence[float]] = (0.0, 0.4, 0.8, 1.2),
    country_preference: Mapping[str, Sequence[float]] | None = None,
    position_bias: float = 0.0,
    noise: float = 1.0,
    participant_taste: float = 0.0,
    image_sets_per_country: int = 50,
    attention_fail_share: float = 0.0,
    excluded_share: float = 0.0,
    study: str = "simulated-study",
    seed: int = 0,
) -> pd.DataFrame:
    """Return a simulated rankings export as a long DataFrame (one row per ranked image).

    preference: one utility per variant (higher = preferred, so ranked nearer 1), or a
    mapping item -> utilities when items differ. noise scales the Gumbel noise of each
    ranking; participant_taste is the standard deviation of a per-participant,
    per-variant shift, which makes rankings of one participant alike (so the
    participant, not the page, is the independent unit). attention_fail_share and
    excluded_share mark that share of participants as failing the attention checks or
    excluded by the researcher. Each participant sees ``pages_per_participant``
    distinct image sets of their country (at most ``image_sets_per_country``).
    country_preference replaces preference for the countries it names (one utility per
    variant, every item alike). position_bias is added to the utility of the image
    shown first, and falls off linearly to 0 for the one shown last.
    """
    rng = np.random.default_rng(seed)
    countries, variants, items = list(countries), list(variants), list(items)
    n_variants, n_items = len(variants), len(items)
    if pages_per_participant > image_sets_per_country:
        raise ValueError("pages_per_participant cannot exceed image_sets_per_country")
    utilities = _utilities_per_item(preference, items, n_variants)  # (items, variants)
    labels = dict(labels) if labels is not None else {v: variant_label(v) for v in variants}

    n_participants = participants_per_country * len(countries)
    participant_country = np.repeat(np.arange(len(countries)), participants_per_country)
    # Each participant sees distinct image sets: a random sample without replacement.
    draws = rng.random((n_participants, image_sets_per_country))
    image_set = np.argsort(draws, axis=1)[:, :pages_per_participant]
    taste = rng.normal(0.0, participant_taste, size=(n_participants, n_variants))

    # One ranking per participant x page x item: shape (participants, pages, items, variants).
    shape = (n_participants, pages_per_participant, n_items, n_variants)
    own = np.broadcast_to(utilities, (len(countries), n_items, n_variants)).copy()
    for c, country in enumerate(countries):
        if country_preference and country in country_preference:
            own[c] = np.asarray(country_preference[country], dtype=float)[None, :]
    gumbel = rng.gumbel(size=shape)  # drawn before the positions, as it always was
    # position[p, page, v]: where variant v's image is shown, 0 = first.
    position = np.argsort(rng.random((n_participants, pages_per_participant, n_variants)), axis=-1)
    pull = position_bias * (1 - position / max(n_variants - 1, 1))  # (P, pages, k)
    score = own[participant_country][:, None, :, :] + taste[:, None, None, :]
    score = score + pull[:, :, None, :] + noise * gumbel
    order = np.argsort(-score, axis=-1)
    rank = np.empty(shape, dtype=np.int64)
    np.put_along_axis(rank, order, np.arange(1, n_variants + 1), axis=-1)

    p_idx, page_idx, item_idx, var_idx = (a.ravel() for a in np.indices(shape))
    country_idx = participant_country[p_idx]
    set_idx = image_set[p_idx, page_idx]
    prompt_idx = set_idx // 2  # two seeds per prompt, as image sets are prompt x seed
    attention_ok = rng.random(n_participants) >= attention_fail_share
    excluded = rng.random(n_participants) < excluded_share
    start = pd.Timestamp("2026-01-05 09:00", tz="UTC")
    submitted = start + pd.to_timedelta(p_idx * 3600 + page_idx * 40, unit="s")

    frame = pd.DataFrame(
        {
            "study": study,
            "country": pd.Categorical.from_codes(country_idx, countries),
            "participant": pd.Categorical.from_codes(
                p_idx, [f"p{i:05d}" for i in range(n_participants)]
            ),
            "image_set": _names(country_idx * image_sets_per_country + set_idx, "set-{}"),
            "prompt_id": _names(country_idx * image_sets_per_country + prompt_idx, "prompt-{}"),
            "prompt": _names(
                country_idx * image_sets_per_country + prompt_idx, "a photo of scene {}"
            ),
            "seed": (set_idx % 2).astype(np.int64) + 1,
            "item": pd.Categorical.from_codes(item_idx, items),
            "variant": pd.Categorical.from_codes(var_idx, variants),
            "rank": rank.ravel(),
            "position": position[p_idx, page_idx, var_idx] + 1,
            "page_ms": rng.integers(4_000, 60_000, size=n_participants * pages_per_participant)[
                p_idx * pages_per_participant + page_idx
            ],
            "attention_ok": attention_ok[p_idx],
            "submitted_at": submitted,
            "excluded": excluded[p_idx],
            "exclusion_reason": np.where(excluded[p_idx], "simulated exclusion", ""),
            "variant_label": pd.Categorical.from_codes(
                var_idx, [labels.get(v, v) for v in variants]
            ),
        }
    )
    return frame


def _utilities_per_item(
    preference: Sequence[float] | Mapping[str, Sequence[float]], items: list[str], n_variants: int
) -> np.ndarray:
    if isinstance(preference, Mapping):
        rows = [preference[item] for item in items]
    else:
        rows = [preference] * len(items)
    utilities = np.asarray(rows, dtype=float)
    if utilities.shape != (len(items), n_variants):
        raise ValueError("preference needs one utility per variant (per item when a mapping)")
    return utilities


def _names(codes: np.ndarray, pattern: str) -> pd.Categorical:
    """Categorical of names such as 'set-7' from integer codes; each name is built once."""
    uniques, inverse = np.unique(codes, return_inverse=True)
    return pd.Categorical.from_codes(inverse, [pattern.format(u) for u in uniques])
