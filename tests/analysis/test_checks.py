"""The checks a careful reader asks for, each on simulated data with a known answer:
position bias, differences between countries, participant quality, small samples;
and bad input named by its row."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from analysis import document
from analysis import export as io
from analysis import rankings as rk
from analysis.bootstrap import ALL_QUESTIONS, POOLED, tally_scopes
from analysis.export import ExportError, normalise_export, read_export
from analysis.quality import FLAG_DISAGREES, quality_table
from analysis.rankings import rankings_from_export
from analysis.significance import country_test_table, position_bias_table
from analysis.simulate import simulate_export

ROOT = Path(__file__).resolve().parents[2]


def load(frame, **options):
    return rankings_from_export(normalise_export(frame), **options)


def position_p(position_bias, seed):
    export = simulate_export(
        participants_per_country=15,
        pages_per_participant=6,
        countries=("KR",),
        items=("culture",),
        position_bias=position_bias,
        seed=seed,
    )
    r = load(export)
    table = position_bias_table(r, tally_scopes(r, n_boot=100, seed=0))
    at = table[(table["scope"] == POOLED) & (table["item"] == "culture")]
    return at, float(at["p"].iloc[0])


def test_a_pull_towards_the_first_image_is_found_and_its_position_ranked_best():
    at, p = position_p(1.5, seed=4)
    assert p < 0.001
    assert at.sort_values("mean_rank")["position"].iloc[0] == 1


def test_without_position_bias_the_position_test_rejects_about_five_percent():
    p = np.array([position_p(0.0, seed)[1] for seed in range(40)])
    assert (p < 0.05).mean() <= 0.15


def test_an_export_without_positions_gives_an_empty_position_table(small_export):
    r = load(small_export.drop(columns="position"))
    assert position_bias_table(r, tally_scopes(r, n_boot=100, seed=0)).empty


def country_p(different: bool, seed: int):
    preference = {"KR": (0.0, 0.4, 0.8, 1.2), "NG": (1.2, 0.8, 0.4, 0.0) if different else None}
    export = simulate_export(
        participants_per_country=12,
        pages_per_participant=4,
        countries=("KR", "NG"),
        items=("culture",),
        country_preference={c: p for c, p in preference.items() if p is not None},
        seed=seed,
    )
    r = load(export)
    table = country_test_table(r, tally_scopes(r, n_boot=100, seed=0), seed=seed)
    return table.set_index("item")["p"]


def test_countries_with_opposite_preferences_differ_and_alike_ones_mostly_not():
    assert country_p(True, seed=1)["culture"] < 0.01
    p = np.array([country_p(False, seed)["culture"] for seed in range(30)])
    assert (p < 0.05).mean() <= 0.15
    assert set(country_p(False, seed=0).index) == {"culture", ALL_QUESTIONS}


def test_a_participant_who_reverses_the_order_is_flagged_never_left_out(small_export):
    reversed_export = small_export.copy()
    first = reversed_export["participant"] == reversed_export["participant"].cat.categories[0]
    reversed_export.loc[first, "rank"] = 5 - reversed_export.loc[first, "rank"]
    r = load(reversed_export)
    table = quality_table(r).set_index("participant")
    one = reversed_export["participant"].cat.categories[0]
    assert FLAG_DISAGREES in table.loc[one, "flags"]
    assert table.loc[one, "agreement"] < 0
    assert len(table) == reversed_export["participant"].nunique()


def test_submitting_the_shown_order_is_counted(small_export):
    kept = small_export.copy()
    first = kept["participant"] == kept["participant"].cat.categories[0]
    kept.loc[first, "rank"] = kept.loc[first, "position"]
    table = quality_table(load(kept)).set_index("participant")
    assert table.loc[kept["participant"].cat.categories[0], "kept_order_share"] == 1.0


@pytest.mark.parametrize(
    ("participants", "expected"),
    [(1, document.NO_INTERVAL), (5, "†")],
)
def test_small_scopes_get_no_interval_or_a_mark(participants, expected):
    low, high = (0.8, 0.8) if participants == 1 else (0.6, 0.9)
    assert expected in document.interval_text(low, high, participants)
    assert document.interval_text(0.8, 0.8, 12) == document.ZERO_WIDTH


def test_rank_zero_and_negative_ranks_are_named_with_their_row(small_export):
    for bad in (0, -1, 9):
        broken = small_export.copy()
        broken.loc[6, "rank"] = bad
        with pytest.raises(ExportError) as caught:
            load(broken)
        assert str(caught.value) == rk.RANK_OUT_OF_RANGE.format(
            k=4, row=7, variant=str(broken.loc[6, "variant"]), rank=bad, count=1
        )


def test_a_misspelt_variant_in_one_row_is_named_as_such(small_export):
    typo = small_export.astype({"variant": object})
    typo.loc[10, "variant"] = "scoft-mcp"
    with pytest.raises(ExportError) as caught:
        load(typo)
    message = str(caught.value)
    assert "'scoft-mcp' appears in only 1 of" in message
    assert "data row 11" in message


def test_a_missing_rank_in_a_csv_is_named_with_its_row(small_export, tmp_path):
    path = tmp_path / "export.csv"
    small_export.to_csv(path, index=False)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[4].split(",")
    cells[header.index("rank")] = "NaN"
    lines[4] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ExportError) as caught:
        read_export(path)
    # The CSV reader takes NaN for a missing value, as pandas does.
    assert str(caught.value) == io.RANK_NOT_WHOLE.format(row=4, value="an empty cell")


def workers_of(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in children.read_text().split()] if children.exists() else []


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_while_drawing_leaves_no_folder_and_no_process(tmp_path, stop):
    export = simulate_export(participants_per_country=10, pages_per_participant=5, seed=1)
    path = tmp_path / "export.parquet"
    export.to_parquet(path)
    run = subprocess.Popen(
        [sys.executable, "-m", "analysis", "report", str(path), "--out", str(tmp_path / "out")],
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 240
    workers: list[int] = []
    while time.monotonic() < deadline and run.poll() is None:
        workers = workers_of(run.pid)
        if workers and list(tmp_path.glob(".out.*.building")):
            break
        time.sleep(0.05)
    assert run.poll() is None and workers, "the report ended before it could be stopped"
    os.kill(run.pid, stop)
    run.wait(timeout=60)
    assert run.returncode == 130
    assert run.stderr.read().decode().splitlines()[-1] == (
        "error: the report was stopped; nothing was written."
    )
    time.sleep(0.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.parquet"]
    alive = [w for w in workers if Path(f"/proc/{w}").exists() and _not_zombie(w)]
    assert not alive


def _not_zombie(pid: int) -> bool:
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False


def test_country_names_come_from_the_shared_vocabulary(small_export):
    r = load(
        small_export.assign(country=small_export["country"].map({"Korea": "KR", "Nigeria": "NG"}))
    )
    assert r.country_name("KR") == "Korea"
    named = load(small_export.assign(country_name=small_export["country"].astype(str) + " (named)"))
    assert named.country_name("Korea") == "Korea (named)"
