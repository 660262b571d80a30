"""manage.py analyze_study: export to a temporary file, then the analysis as a subprocess."""

import importlib.util
import io
import textwrap

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from survey.management.commands import analyze_study
from survey.management.commands.analyze_study import (
    ERROR_ANALYSIS_FAILED,
    ERROR_ANALYSIS_MISSING,
    ERROR_NO_RANKINGS,
)

from .answered import answer_pages, china_and_india, recruit

pytestmark = pytest.mark.django_db

# A stand-in analysis package: reads the export it is given and writes what it saw.
FAKE_MAIN = """
import sys
from pathlib import Path

import pyarrow.parquet as pq

command, export, _flag, out, *rest = sys.argv[1:]
if rest[:2] != ["--study", "demo"]:
    print("error: wrong study arguments " + repr(rest), file=sys.stderr)
    sys.exit(2)
table = pq.read_table(export)
Path(out).mkdir(parents=True, exist_ok=True)
(Path(out) / "seen.txt").write_text(f"{command} {table.num_rows} {' '.join(rest[2:])}")
print(f"report written to {out}")
"""


@pytest.fixture
def study():
    return china_and_india(sets_per_country=3, pages=3, answers=2)


@pytest.fixture
def fake_analysis(tmp_path, monkeypatch):
    package = tmp_path / "lib" / "fake_analysis"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "report.py").write_text("")
    (package / "__main__.py").write_text(textwrap.dedent(FAKE_MAIN))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "lib"))
    monkeypatch.setattr(analyze_study, "ANALYSIS_PACKAGE", "fake_analysis")
    return package


def test_analyze_study_hands_the_export_to_the_analysis_process(
    study, ready_participant, fake_analysis, tmp_path
):
    answer_pages(ready_participant(study, "CN", recruit(1)))
    out = io.StringIO()
    call_command(
        "analyze_study", study.slug, "--out", tmp_path / "report", "--keep-excluded", stdout=out
    )
    assert (tmp_path / "report" / "seen.txt").read_text().startswith("report 48 --keep-excluded")
    assert "Exported 48 ranked images" in out.getvalue()
    assert "report written to" in out.getvalue()


def test_analyze_study_explains_a_missing_analysis_package(study, tmp_path, monkeypatch):
    monkeypatch.setattr(analyze_study, "ANALYSIS_PACKAGE", "analysis_not_installed")
    with pytest.raises(CommandError) as error:
        call_command("analyze_study", study.slug, "--out", tmp_path / "report")
    assert str(error.value) == ERROR_ANALYSIS_MISSING
    assert not (tmp_path / "report").exists()


def test_analyze_study_refuses_a_study_without_answers(study, fake_analysis, tmp_path):
    with pytest.raises(CommandError) as error:
        call_command("analyze_study", study.slug, "--out", tmp_path / "report")
    assert str(error.value) == ERROR_NO_RANKINGS.format(slug=study.slug)


def test_analyze_study_passes_on_the_analysis_error(
    study, ready_participant, fake_analysis, tmp_path
):
    answer_pages(ready_participant(study, "CN", recruit(1)), pages=1)
    (fake_analysis / "__main__.py").write_text(
        "import sys\nprint('error: the export has one participant', file=sys.stderr)\nsys.exit(2)"
    )
    with pytest.raises(CommandError) as error:
        call_command("analyze_study", study.slug, "--out", tmp_path / "report")
    assert str(error.value) == ERROR_ANALYSIS_FAILED.format(
        status=2, detail="error: the export has one participant"
    )


@pytest.mark.skipif(
    importlib.util.find_spec("analysis.report") is None, reason="analysis not merged yet"
)
def test_analyze_study_writes_the_real_report(ready_participant, tmp_path):
    # Four participants each answer every one of China's three image sets.
    study = china_and_india(sets_per_country=3, pages=3, answers=4)
    for number in range(4):
        answer_pages(ready_participant(study, "CN", recruit(number)))
    call_command(
        "analyze_study",
        study.slug,
        "--out",
        tmp_path / "report",
        "--bootstrap",
        "100",
        stdout=io.StringIO(),
    )
    assert (tmp_path / "report" / "report.md").is_file()
    assert (tmp_path / "report" / "report.html").is_file()


def test_analyze_study_passes_the_study_variant_order_and_headline(
    study, ready_participant, fake_analysis, tmp_path
):
    from generation.models import ModelVariant

    keys = list(
        ModelVariant.objects.filter(study_slug=study.slug)
        .order_by("position", "key")
        .values_list("key", flat=True)
    )
    assert len(keys) >= 2
    answer_pages(ready_participant(study, "CN", recruit(1)))
    call_command("analyze_study", study.slug, "--out", tmp_path / "report", stdout=io.StringIO())
    seen = (tmp_path / "report" / "seen.txt").read_text().split()
    assert seen[2:] == [
        "--variant-order",
        ",".join(keys),
        "--headline",
        f"{keys[-1]}:{keys[0]}",
    ]
