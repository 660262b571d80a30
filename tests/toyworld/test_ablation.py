import json

import numpy as np
import pytest

from toyworld.ablation import (
    JOINT,
    UNKNOWN_SCOPE,
    Setting,
    format_paired,
    paired_difference,
    run_ablation,
    scope_community,
    sweep,
)
from toyworld.base_model import BASE_MODEL_DIR, DETECTORS_FILE
from toyworld.corpus import write_community_set
from toyworld.evaluate import EvaluationConfig


def test_the_sweep_crosses_update_rule_distance_and_contrastive_weight():
    settings = sweep()
    assert len(settings) == len({s.key for s in settings}) == 8
    assert {s.update for s in settings} == {"ddpm", "ddim"}
    assert {s.contrastive_distance for s in settings} == {"random-conv", "toy-perceptual"}
    assert {s.contrastive_weight for s in settings} == {0.05, 0.5}
    assert Setting() in settings  # the published settings with the offline distance


def test_a_paired_difference_is_the_mean_per_image_difference_with_a_normal_interval():
    first = np.array([1, 1, 0, 1, 0, 1, 1, 0])
    second = np.array([1, 0, 0, 0, 0, 1, 0, 0])
    estimate = paired_difference(first, second)
    difference = first - second
    half = 1.959963984540054 * difference.std(ddof=1) / np.sqrt(len(first))
    assert estimate.value == pytest.approx(0.375)
    assert (estimate.low, estimate.high) == pytest.approx((0.375 - half, 0.375 + half))
    same = paired_difference(first, first)
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)


def test_a_culture_scope_is_that_cultures_rows_of_the_full_set(tmp_path):
    full = write_community_set(tmp_path / "full", per_culture=2)
    mine = scope_community(tmp_path / "work", full, "Tukaro")
    rows = [json.loads(line) for line in (mine / "metadata.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and {r["culture"] for r in rows} == {"Tukaro"}
    assert scope_community(tmp_path / "work", full, JOINT) == full
    with pytest.raises(ValueError) as error:
        scope_community(tmp_path / "work", full, "Atlantis")
    assert str(error.value).startswith(UNKNOWN_SCOPE.format(name="Atlantis", known="")[:30])


def test_a_time_boxed_run_reports_what_remains_and_a_rerun_finishes_it(tmp_path):
    config = EvaluationConfig(
        per_culture=1, negatives_per_image=1, max_steps=1, batch_size=2, unroll_every=1,
        unroll_steps=2,
    )  # fmt: skip
    args = (tmp_path, BASE_MODEL_DIR, DETECTORS_FILE, config, [Setting()], ["Quenzar"])
    stopped = run_ablation(*args, seeds_per_prompt=1, max_minutes=0, progress=lambda m: None)
    assert stopped["done"] == [] and len(stopped["remaining"]) == 3
    record = run_ablation(*args, seeds_per_prompt=1, progress=lambda m: None)
    assert record["remaining"] == [] and len(record["done"]) == 1
    pooled = record["done"][0]["pairs"]["scoft-mpc - scoft-mp"]["stereotype"]["pooled"]
    assert pooled["low"] <= pooled["value"] <= pooled["high"]
    assert "Quenzar" in format_paired(record)
    # Out of time, a rerun still reports what is finished, without training anything.
    again = run_ablation(*args, seeds_per_prompt=1, max_minutes=0, progress=lambda m: None)
    assert again["done"] == record["done"] and again["remaining"] == []
