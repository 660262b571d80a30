"""The whole loop, scaled down: `python -m demo --simulate` on the tiny model, end to end.

One run of the real command in a child process: community set and negatives, three
adapters trained for two steps each, image sets generated at 64 px, the survey set up
and served by runserver, four simulated participants ranking over HTTP, then the
export and the analysis report. The report's tables are checked against the rankings
stored in the database, and a second run must reuse everything.
"""

import os
import socket
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toyworld.detectors import detector_depictions, fit_detectors
from toyworld.world import render_array

PROJECT = Path(__file__).resolve().parents[2]
BOTS = 4
PAGES = 2

RANKINGS_SQL = """
SELECT c.code, i.key, v.key, r.rank, pa.recruit_id, pa.demographics, p.id
FROM survey_ranking r
JOIN survey_page p ON p.id = r.page_id
JOIN survey_participant pa ON pa.id = p.participant_id
JOIN survey_country c ON c.id = pa.country_id
JOIN survey_surveyitem i ON i.id = r.item_id
JOIN survey_pageimage pi ON pi.id = r.page_image_id
JOIN generation_generatedimage g ON g.id = pi.image_id
JOIN generation_modelvariant v ON v.id = g.variant_id
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_demo(var: Path, detectors: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "demo", "--var", str(var), "--base-model", "tiny",
        "--detectors", str(detectors), "--train-steps", "2", "--batch-size", "2",
        "--unroll-every", "1", "--unroll-steps", "2", "--sampler-steps", "4",
        "--cultures", "2", "--categories", "2", "--seeds", "7",
        "--community-per-culture", "2", "--negatives-per-image", "1",
        "--pages", str(PAGES), "--bootstrap", "100", "--lapse", "0",
        "--port", str(free_port()), "--no-serve", "--quiet", *extra,
    ]  # fmt: skip
    env = {**os.environ, "DEMO_RESEARCHER_PASSWORD": "", "DATABASE_URL": "", "CACHE_URL": ""}
    return subprocess.run(
        command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def detectors(tmp_path_factory) -> Path:
    """Detectors fitted on procedural images (the tiny model's images are noise to them)."""
    items = detector_depictions(60, seed=5)
    images = np.stack([render_array(depiction, seed) for depiction, seed in items])
    path = tmp_path_factory.mktemp("detectors") / "detectors.safetensors"
    fit_detectors(images, [depiction for depiction, _ in items]).save(path)
    return path


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, detectors):
    var = tmp_path_factory.mktemp("demo-var")
    first = run_demo(var, detectors, "--simulate", str(BOTS))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return var, first


def stored_rankings(var: Path) -> pd.DataFrame:
    with sqlite3.connect(var / "db.sqlite3") as connection:
        rows = connection.execute(RANKINGS_SQL).fetchall()
    columns = ["country", "item", "variant", "rank", "recruit_id", "demographics", "page"]
    return pd.DataFrame(rows, columns=columns)


def test_every_simulated_participant_finishes_and_is_marked_simulated(demo_run):
    var, run = demo_run
    assert f"{BOTS} of {BOTS} simulated participants finished" in run.stdout
    stored = stored_rankings(var)
    assert stored["recruit_id"].str.startswith("SIMULATED-").all()
    assert stored["recruit_id"].nunique() == BOTS
    assert stored["demographics"].str.contains('"simulated": true').all()
    assert stored["page"].nunique() == BOTS * PAGES
    assert "Simulated data" in (var / "demo" / "report" / "report.md").read_text()
    assert "Simulated data" in (var / "demo" / "report" / "report.html").read_text()


def test_report_mean_ranks_agree_with_the_rankings_stored(demo_run):
    var, _ = demo_run
    stored = stored_rankings(var)
    summary = pd.read_csv(var / "demo" / "report" / "tables" / "rank_summary.csv")
    expected = defaultdict(list)
    for row in stored.itertuples():
        expected[(row.country, row.item, row.variant)].append(row.rank)
        expected[("All countries", row.item, row.variant)].append(row.rank)
    assert set(summary["scope"]) == {"All countries", *stored["country"]}
    assert len(summary) == len(expected)
    for row in summary.itertuples():
        ranks = expected[(row.scope, row.item, row.variant)]
        assert row.mean_rank == pytest.approx(np.mean(ranks))
        assert row.pages == len(ranks)
        assert row.first_share == pytest.approx(np.mean(np.array(ranks) == 1))


def test_a_second_run_reuses_the_adapters_images_and_database(demo_run, detectors):
    var, _ = demo_run
    again = run_demo(var, detectors)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "reusing the adapters" in again.stdout
    assert "image sets: reusing" in again.stdout
    assert "python -m scoft_core" not in again.stdout
    assert "Participant link:" in again.stdout
