"""The report command: files written, numbers agreeing with the export, exclusions
stated, and bad input ending with one clear line and no partial report."""

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis import document
from analysis import report as report_module
from analysis.__main__ import main
from analysis.bootstrap import POOLED
from analysis.export import ExportError
from analysis.figures import FIGURES
from analysis.report import ReportOptions, build_report
from analysis.simulate import simulate_export

ROOT = Path(__file__).resolve().parents[2]
FAST = ReportOptions(n_boot=200)


def export_with_one_exclusion(folder: Path) -> Path:
    marked = simulate_export(
        participants_per_country=6,
        pages_per_participant=5,
        countries=("Korea", "Nigeria"),
        items=("culture", "stereotypes"),
        image_sets_per_country=8,
        seed=3,
    )
    first = marked["participant"] == marked["participant"].cat.categories[0]
    marked.loc[first, "excluded"] = True
    marked.loc[first, "exclusion_reason"] = "said they were not from Korea"
    path = folder / "export.csv"
    marked.to_csv(path, index=False)
    return path


@pytest.fixture
def export_csv(tmp_path):
    return export_with_one_exclusion(tmp_path)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One report written by `python -m analysis report`, as the lead's command runs it;
    the tests below read it (figures are the slow part, so it is built once)."""
    folder = tmp_path_factory.mktemp("cli")
    export = export_with_one_exclusion(folder)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis",
            "report",
            str(export),
            "--out",
            str(folder / "report"),
            "--bootstrap",
            "200",
            "--violins",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("report written to")
    return folder / "report"


@pytest.fixture
def no_figures(monkeypatch):
    """Tests of writing and refusing do not need the figures drawn."""
    monkeypatch.setattr(report_module, "_figure_jobs", lambda analysis: [])


def test_the_report_holds_markdown_html_every_figure_and_every_table(built):
    names = {p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file()}
    assert {"report.md", "report.html"} <= names
    for figure in ("violins", "rank_shares", "preference", "critical_difference"):
        assert {f"figures/{figure}.png", f"figures/{figure}.svg"} <= names
    for table in (
        "rank_summary",
        "pairwise_preference",
        "friedman",
        "wilcoxon",
        "nemenyi",
        "agreement",
        "plackett_luce",
        "participants",
        "left_out",
    ):
        assert f"tables/{table}.csv" in names


def test_violins_are_drawn_only_when_asked_for(export_csv):
    from analysis.export import read_export
    from analysis.rankings import rankings_from_export
    from analysis.tables import analyse

    rankings = rankings_from_export(read_export(export_csv))
    plain = analyse(rankings, FAST)
    asked = analyse(rankings, ReportOptions(n_boot=200, violins=True))
    assert "violins" not in document.analysis_figures(plain)
    assert document.analysis_figures(asked)[-1] == "violins"
    assert set(document.analysis_figures(plain)) | {"violins"} == set(FIGURES)


def test_the_html_page_stands_alone_with_embedded_figures(built):
    page = (built / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == len(FIGURES)  # one per figure, the two-column version
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in page


def test_report_tables_agree_with_the_included_rows_of_the_export(built):
    rows = pd.read_csv(built.parent / "export.csv")
    rows = rows[~rows["excluded"] & rows["attention_ok"]]
    summary = pd.read_csv(built / "tables" / "rank_summary.csv")
    pooled = summary[summary["scope"] == POOLED].set_index(["item", "variant"])
    expected = rows.groupby(["item", "variant"])["rank"].mean()
    for key, mean in expected.items():
        assert pooled.loc[key, "mean_rank"] == pytest.approx(mean)
    participants = pd.read_csv(built / "tables" / "participants.csv").set_index("country")
    assert participants.loc[POOLED, "participants"] == rows["participant"].nunique()


def test_the_report_states_who_was_left_out_and_why(built):
    text = (built / "report.md").read_text()
    assert "1 participant(s) are left out: 1 excluded by a researcher" in text
    assert "said they were not from Korea" in text
    left_out = pd.read_csv(built / "tables" / "left_out.csv")
    assert list(left_out["reason"]) == ["excluded by a researcher: said they were not from Korea"]


def test_keeping_excluded_participants_is_a_switch(export_csv, tmp_path, no_figures):
    options = ReportOptions(n_boot=200, keep_excluded=True)
    out = build_report(export_csv, tmp_path / "kept", options)
    participants = pd.read_csv(out / "tables" / "participants.csv").set_index("country")
    assert participants.loc[POOLED, "participants"] == 12
    assert (
        "1 participant(s) excluded by a researcher or failing an attention check are kept"
        in (out / "report.md").read_text()
    )


def test_the_headline_is_the_full_model_against_the_pretrained_one(built):
    text = (built / "report.md").read_text()
    assert "where SCoFT+MPC was ranked better than Stable Diffusion" in text
    assert "Holm's correction covers one family" in text


def test_a_rerun_replaces_the_report_whole_and_leaves_no_temporary_folders(
    export_csv, tmp_path, no_figures
):
    out = build_report(export_csv, tmp_path / "report", FAST)
    (out / "stale.txt").write_text("from an older run")
    build_report(export_csv, out, FAST)
    assert not (out / "stale.txt").exists()
    assert (out / "report.md").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv", "report"]


def test_a_folder_that_is_not_a_report_is_not_overwritten(export_csv, tmp_path):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("...")
    with pytest.raises(ExportError) as caught:
        build_report(export_csv, precious, FAST)
    assert str(caught.value) == report_module.OUT_NOT_A_REPORT.format(path=precious)
    assert [p.name for p in precious.iterdir()] == ["chapter1.tex"]


def test_a_failure_while_writing_leaves_neither_a_partial_report_nor_a_temporary_folder(
    export_csv, tmp_path, monkeypatch, no_figures
):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(document, "to_markdown", broken)
    with pytest.raises(RuntimeError):
        build_report(export_csv, tmp_path / "report", FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv"]


def test_bad_input_exits_non_zero_with_one_line_and_writes_nothing(small_export, tmp_path, capsys):
    broken = small_export.copy()
    broken.loc[2, "rank"] = broken.loc[3, "rank"]
    path = tmp_path / "broken.parquet"
    broken.to_parquet(path)
    status = main(["report", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: Ranks on a page must be a permutation of 1..4")
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_missing_export_exits_with_status_2_and_one_line(tmp_path):
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis",
            "report",
            str(tmp_path / "nope.csv"),
            "--out",
            str(tmp_path / "never"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0
    assert "does not exist" in missing.stderr
    assert not (tmp_path / "never").exists()


def test_the_headline_pair_can_be_chosen_and_must_name_two_variants(
    export_csv, tmp_path, no_figures
):
    out = build_report(
        export_csv, tmp_path / "r", ReportOptions(n_boot=200, headline="scoft-mp:scoft-m")
    )
    assert "SCoFT+MP was ranked better than SCoFT+M" in (out / "report.md").read_text()
    with pytest.raises(ExportError, match="MODEL:BASELINE"):
        build_report(export_csv, tmp_path / "s", ReportOptions(n_boot=200, headline="scoft-mp"))


def test_an_output_folder_that_cannot_be_written_is_one_line_too(
    export_csv, tmp_path, capsys, monkeypatch, no_figures
):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(report_module.tempfile, "mkdtemp", refuse)
    status = main(["report", str(export_csv), "--out", str(tmp_path / "out"), "--bootstrap", "100"])
    err = capsys.readouterr().err
    assert status == 1
    assert err == f"error: the report could not be written: Permission denied ({tmp_path}).\n"
