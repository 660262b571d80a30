"""The rankings export: contract 5 columns, flags kept, streamed, written atomically."""

import csv
import io
import math

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from survey import export
from survey.export import COLUMNS, export_stream, rankings_export_write
from survey.management.commands.export_rankings import ERROR_STUDY_UNKNOWN
from survey.services import participant_exclude

from .answered import answer_pages, china_and_india, recruit

pytestmark = pytest.mark.django_db
CONTRACT_5 = [
    "study",
    "country",
    "participant",
    "image_set",
    "prompt_id",
    "prompt",
    "seed",
    "item",
    "variant",
    "rank",
    "position",
    "page_ms",
    "attention_ok",
    "submitted_at",
]


@pytest.fixture
def study():
    return china_and_india(sets_per_country=4, pages=3, answers=2)


def read_csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def csv_of(study, **kwargs) -> list[dict]:
    return read_csv(b"".join(export_stream(study=study, file_format="csv", **kwargs)))


def test_export_has_the_contract_columns_then_the_three_flags(study):
    assert list(COLUMNS) == [
        *CONTRACT_5, "excluded", "exclusion_reason", "variant_label", "country_name",
    ]  # fmt: skip
    header = next(iter(export_stream(study=study, file_format="csv"))).decode()
    assert header.strip().split(",") == list(COLUMNS)


def test_export_has_one_row_per_participant_image_set_item_and_variant(study, ready_participant):
    first = answer_pages(ready_participant(study, "CN", recruit(1)))
    answer_pages(ready_participant(study, "IN", recruit(2)), pages=1)
    rows = csv_of(study)
    assert len(rows) == (3 + 1) * 4 * 4
    keys = {(r["participant"], r["image_set"], r["item"], r["variant"]) for r in rows}
    assert len(keys) == len(rows)
    mine = [r for r in rows if r["participant"] == first.public_id]
    assert {r["country"] for r in mine} == {"CN"}
    assert {r["study"] for r in rows} == {study.slug}
    assert {r["variant_label"] for r in rows} >= {"Stable Diffusion", "SCoFT full model"}
    # Each page and item holds one permutation of 1..4; rank = position as answered.
    for row in mine:
        assert row["rank"] == row["position"]
    assert {r["page_ms"] for r in mine} == {"12000"}
    assert {r["attention_ok"] for r in mine} == {"true"}
    assert all(r["submitted_at"].endswith("+00:00") for r in rows)


def test_excluded_participants_are_flagged_with_their_reason_not_dropped(study, ready_participant):
    kept = answer_pages(ready_participant(study, "CN", recruit(1)))
    dropped = answer_pages(ready_participant(study, "CN", recruit(2)))
    participant_exclude(participant=dropped, reason="straight-lined every page")
    rows = csv_of(study)
    flags = {(r["participant"], r["excluded"], r["exclusion_reason"]) for r in rows}
    assert flags == {
        (kept.public_id, "false", ""),
        (dropped.public_id, "true", "straight-lined every page"),
    }


def test_failed_attention_checks_are_flagged_even_before_the_participant_finishes(
    study, ready_participant
):
    finished = answer_pages(ready_participant(study, "CN", recruit(1)), fail_attention=True)
    left_early = answer_pages(ready_participant(study, "IN", recruit(2)), pages=2)
    failed_then_left = answer_pages(
        ready_participant(study, "IN", recruit(3)), pages=2, fail_attention=True
    )
    verdicts = {(r["participant"], r["attention_ok"]) for r in csv_of(study)}
    assert verdicts == {
        (finished.public_id, "false"),
        (left_early.public_id, ""),
        (failed_then_left.public_id, "false"),
    }


def test_parquet_holds_the_same_rows_as_csv_with_typed_columns(study, ready_participant):
    answer_pages(ready_participant(study, "CN", recruit(1)))
    participant_exclude(
        participant=answer_pages(ready_participant(study, "IN", recruit(2)), pages=1),
        reason="test run",
    )
    data = b"".join(export_stream(study=study, file_format="parquet"))
    table = pq.read_table(io.BytesIO(data))
    assert table.column_names == list(COLUMNS)
    assert str(table.schema.field("rank").type) == "int16"
    assert str(table.schema.field("submitted_at").type) == "timestamp[us, tz=UTC]"
    from_parquet = table.to_pylist()
    from_csv = csv_of(study)
    assert len(from_parquet) == len(from_csv) == 16 * 4
    for typed, text in zip(from_parquet, from_csv, strict=True):
        assert str(typed["rank"]) == text["rank"]
        assert typed["participant"] == text["participant"]
        assert typed["excluded"] == (text["excluded"] == "true")
        assert typed["submitted_at"].isoformat() == text["submitted_at"]


def test_export_is_written_in_chunks_one_parquet_row_group_each(study, ready_participant):
    answer_pages(ready_participant(study, "CN", recruit(1)))  # 48 rows
    parts = list(export_stream(study=study, file_format="csv", chunk_size=10))
    assert len(parts) == 1 + math.ceil(48 / 10)  # header, then one block per chunk
    data = b"".join(export_stream(study=study, file_format="parquet", chunk_size=10))
    assert pq.ParquetFile(io.BytesIO(data)).metadata.num_row_groups == 5


def test_export_reads_the_database_in_a_fixed_number_of_queries(
    study, ready_participant, django_assert_max_num_queries
):
    for number in range(3):
        answer_pages(ready_participant(study, "CN", recruit(number)))
    with django_assert_max_num_queries(2):
        rows = list(export.export_rows(study=study, chunk_size=1000))
    # 4 sets x 2 answers wanted: the third participant ranks the 2 sets with room left.
    assert len(rows) == 8 * 16


def test_an_empty_study_exports_a_header_and_a_readable_parquet_file(study):
    assert csv_of(study) == []
    data = b"".join(export_stream(study=study, file_format="parquet"))
    table = pq.read_table(io.BytesIO(data))
    assert (table.num_rows, table.column_names) == (0, list(COLUMNS))


def test_export_rankings_writes_csv_and_parquet_files(study, ready_participant, tmp_path):
    answer_pages(ready_participant(study, "CN", recruit(1)))
    out = io.StringIO()
    call_command("export_rankings", study.slug, "--out", tmp_path / "r.csv", stdout=out)
    assert "Wrote 48 ranked images" in out.getvalue()
    assert len(read_csv((tmp_path / "r.csv").read_bytes())) == 48
    call_command(
        "export_rankings",
        study.slug,
        "--format",
        "parquet",
        "--out",
        tmp_path / "r.parquet",
        stdout=io.StringIO(),
    )
    assert pq.read_table(tmp_path / "r.parquet").num_rows == 48


def test_export_rankings_to_storage_saves_a_new_complete_file_each_time(
    study, ready_participant, tmp_path, settings, monkeypatch
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    answer_pages(ready_participant(study, "CN", recruit(1)))
    call_command("export_rankings", study.slug, "--out", tmp_path / "r.csv", stdout=io.StringIO())
    out = io.StringIO()
    call_command("export_rankings", study.slug, "--to-storage", stdout=out)
    call_command("export_rankings", study.slug, "--to-storage", stdout=io.StringIO())
    stored = sorted((tmp_path / "media" / export.EXPORTS_FOLDER).iterdir())
    assert len(stored) == 2 and all(p.name.startswith(f"{study.slug}-rankings-") for p in stored)
    assert stored[0].read_bytes() == (tmp_path / "r.csv").read_bytes()
    message = out.getvalue()
    assert any(f"to the media storage as exports/{p.name} " in message for p in stored)

    # A failure while building stores nothing.
    def failing_rows(**kwargs):
        yield from []
        raise ConnectionError("database went away")

    monkeypatch.setattr(export, "export_rows", failing_rows)
    with pytest.raises(ConnectionError):
        export.rankings_export_store(study=study, file_format="parquet")
    assert len(list((tmp_path / "media" / export.EXPORTS_FOLDER).iterdir())) == 2


def test_an_interrupted_export_leaves_the_previous_file_and_no_temporary_file(
    study, ready_participant, tmp_path, monkeypatch
):
    answer_pages(ready_participant(study, "CN", recruit(1)))
    target = tmp_path / "rankings.csv"
    target.write_text("the previous export\n")

    def failing_rows(**kwargs):
        yield from []
        raise ConnectionError("database went away")

    monkeypatch.setattr(export, "export_rows", failing_rows)
    with pytest.raises(ConnectionError):
        rankings_export_write(study=study, file_format="csv", out=target)
    assert target.read_text() == "the previous export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["rankings.csv"]


def test_export_rankings_names_the_studies_when_the_slug_is_unknown(study, tmp_path):
    with pytest.raises(CommandError) as error:
        call_command("export_rankings", "nope", "--out", tmp_path / "r.csv")
    assert str(error.value) == ERROR_STUDY_UNKNOWN.format(slug="nope", known=study.slug)
    assert list(tmp_path.iterdir()) == []


def test_export_rankings_refuses_a_missing_folder_or_a_folder_as_target(study, tmp_path):
    with pytest.raises(CommandError) as error:
        call_command("export_rankings", study.slug, "--out", tmp_path / "no" / "r.csv")
    assert str(error.value) == export.ERROR_OUT_FOLDER_MISSING.format(folder=tmp_path / "no")
    with pytest.raises(CommandError) as error:
        call_command("export_rankings", study.slug, "--out", tmp_path)
    assert str(error.value) == export.ERROR_OUT_IS_FOLDER.format(path=tmp_path)
