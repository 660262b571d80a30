import json

import numpy as np
import pytest

from toyworld.ablation import (
    JOINT,
    POOLED_CULTURES,
    PUBLISHED,
    STEREOTYPED,
    UNKNOWN_SCOPE,
    UNKNOWN_SWEEP,
    Setting,
    adapter_dir,
    collect,
    format_paired,
    paired_difference,
    run_ablation,
    scope_community,
    sweep,
)
from toyworld.base_model import BASE_MODEL_DIR, DETECTORS_FILE
from toyworld.corpus import write_community_set
from toyworld.evaluate import EvaluationConfig


def test_the_factorial_sweep_crosses_update_rule_distance_and_contrastive_weight():
    settings = sweep("factorial")
    assert len(settings) == len({s.key for s in settings}) == 8
    assert {s.update for s in settings} == {"ddpm", "ddim"}
    assert {s.contrastive_distance for s in settings} == {"random-conv", "toy-perceptual"}
    assert {s.contrastive_weight for s in settings} == {0.05, 0.5}
    assert Setting() in settings


def test_the_default_sweep_changes_one_published_choice_at_a_time():
    settings = sweep()
    assert settings[0] == PUBLISHED == Setting("ddpm", "toy-perceptual", 0.05)
    changed = [
        {f for f in ("update", "contrastive_distance", "contrastive_weight")
         if getattr(s, f) != getattr(PUBLISHED, f)}
        for s in settings[1:]
    ]  # fmt: skip
    assert changed == [{"update"}, {"contrastive_distance"}, {"contrastive_weight"}]
    assert sweep("published") == [PUBLISHED]
    with pytest.raises(ValueError, match=UNKNOWN_SWEEP.format(name="all", choices="")[:20]):
        sweep("all")


def test_scoft_m_is_shared_by_every_setting_and_the_others_are_not(tmp_path):
    other = Setting(update="ddim")
    assert adapter_dir(tmp_path, PUBLISHED, "Quenzar", "scoft-m") == adapter_dir(
        tmp_path, other, "Quenzar", "scoft-m"
    )
    for variant in ("scoft-mp", "scoft-mpc"):
        assert adapter_dir(tmp_path, PUBLISHED, "Quenzar", variant) != adapter_dir(
            tmp_path, other, "Quenzar", variant
        )
    assert STEREOTYPED == ("Quenzar", "Mossavi", "Tukaro")


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
    # The command checks its scopes before it writes anything.
    config = EvaluationConfig()
    with pytest.raises(ValueError, match="Unknown scope 'Atlantis'"):
        run_ablation(tmp_path / "fresh", BASE_MODEL_DIR, DETECTORS_FILE, config, [Setting()],
                     ["joint", "Atlantis"], seeds_per_prompt=1)  # fmt: skip
    assert not (tmp_path / "fresh").exists()


def test_a_time_boxed_run_reports_what_remains_and_a_rerun_finishes_it(tmp_path):
    config = EvaluationConfig(
        per_culture=1, negatives_per_image=1, max_steps=1, batch_size=2, unroll_every=1,
        unroll_steps=2,
    )  # fmt: skip
    args = (tmp_path, BASE_MODEL_DIR, DETECTORS_FILE, config, [Setting()], ["Quenzar"])
    stopped = run_ablation(*args, seeds_per_prompt=1, max_minutes=0, progress=lambda m: None)
    assert stopped["done"] == [] and len(stopped["remaining"]) == 3
    assert stopped["remaining"][0] == "Quenzar/scoft-m"
    # The rerun trains in two worker processes, as the command line does by default.
    record = run_ablation(*args, seeds_per_prompt=1, jobs=2, progress=lambda m: None)
    assert record["remaining"] == [] and len(record["done"]) == 1
    pooled = record["done"][0]["pairs"]["scoft-mpc - scoft-mp"]["stereotype"]["pooled"]
    assert pooled["low"] <= pooled["value"] <= pooled["high"]
    assert "Quenzar" in format_paired(record)
    # Out of time, a rerun still reports what is finished, without training anything.
    again = run_ablation(*args, seeds_per_prompt=1, max_minutes=0, progress=lambda m: None)
    assert again["done"] == record["done"] and again["remaining"] == []


def test_the_per_culture_adapters_are_pooled_per_setting(tmp_path):
    # Measured indicators written by hand: scoft-mpc flags nothing, scoft-mp every image.
    seeds = 3
    for scope in ("Quenzar", "Tukaro"):
        for variant, flagged in (("scoft-m", 1), ("scoft-mp", 1), ("scoft-mpc", 0)):
            folder = adapter_dir(tmp_path, PUBLISHED, scope, variant)
            folder.mkdir(parents=True)
            ones = np.full(4 * seeds, flagged, dtype=np.int8)
            np.savez(folder / "measured.npz", stereotype=ones, motif=ones, category=ones)
    done = collect(tmp_path, [PUBLISHED], ["Quenzar", "Tukaro"], seeds)
    assert [d["scope"] for d in done] == ["Quenzar", "Tukaro", POOLED_CULTURES]
    pooled = done[-1]["pairs"]["scoft-mpc - scoft-mp"]["stereotype"]
    assert set(pooled) == {"Quenzar", "Tukaro", "pooled"}
    assert pooled["pooled"]["value"] == -1.0
    table = format_paired({"done": done})
    assert table.count("\n") == 3 and "cultures" in table
