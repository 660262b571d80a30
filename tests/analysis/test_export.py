"""Reading the rankings export from CSV and Parquet, and refusing bad files clearly."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis import export as io
from analysis.export import ExportError, read_export


def write(frame: pd.DataFrame, path):
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


def test_csv_and_parquet_exports_read_the_same(small_export, tmp_path):
    from_csv = read_export(write(small_export, tmp_path / "e.csv"))
    from_parquet = read_export(write(small_export, tmp_path / "e.parquet"))
    assert len(from_csv) == len(small_export)
    for column in ("country", "participant", "image_set", "item", "variant", "variant_label"):
        assert list(from_csv[column].astype(str)) == list(from_parquet[column].astype(str))
    assert (from_csv["rank"].to_numpy() == small_export["rank"].to_numpy()).all()
    assert (from_csv["excluded"] == from_parquet["excluded"]).all()


def test_optional_columns_default_to_not_excluded_and_label_equal_to_key(small_export, tmp_path):
    bare = small_export.drop(columns=["excluded", "exclusion_reason", "variant_label"])
    frame = read_export(write(bare, tmp_path / "bare.csv"))
    assert not frame["excluded"].any()
    assert list(frame["variant_label"].astype(str)) == list(frame["variant"].astype(str))


def test_missing_columns_are_named(small_export, tmp_path):
    path = write(small_export.drop(columns=["rank", "variant"]), tmp_path / "e.csv")
    with pytest.raises(ExportError) as caught:
        read_export(path)
    assert str(caught.value) == io.MISSING_COLUMNS.format(columns="variant, rank")


def test_an_unreadable_parquet_file_gets_one_clear_sentence(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(ExportError, match=r"could not be read as Parquet") as caught:
        read_export(path)
    assert "\n" not in str(caught.value)


def test_a_missing_file_and_an_unknown_format_are_refused(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        read_export(tmp_path / "nothing.csv")
    other = tmp_path / "export.xlsx"
    other.write_text("x")
    with pytest.raises(ExportError) as caught:
        read_export(other)
    assert str(caught.value) == io.UNKNOWN_FORMAT.format(path=other)


def test_an_export_without_rows_is_refused(small_export, tmp_path):
    path = write(small_export.iloc[0:0], tmp_path / "empty.csv")
    with pytest.raises(ExportError, match="holds no rankings"):
        read_export(path)


def test_an_empty_country_is_named_with_its_first_row(small_export, tmp_path):
    broken = small_export.astype({"country": object})
    broken.loc[[3, 7], "country"] = ""
    with pytest.raises(ExportError) as caught:
        read_export(write(broken, tmp_path / "e.csv"))
    assert str(caught.value) == io.EMPTY_COUNTRY.format(count=2, row=4)


def test_a_rank_that_is_not_a_whole_number_is_refused(small_export, tmp_path):
    broken = small_export.astype({"rank": object})
    broken.loc[5, "rank"] = "first"
    with pytest.raises(ExportError) as caught:
        read_export(write(broken, tmp_path / "e.csv"))
    assert str(caught.value) == io.RANK_NOT_WHOLE.format(row=6, value="'first'")
    broken.loc[5, "rank"] = None
    with pytest.raises(ExportError) as caught:
        read_export(write(broken, tmp_path / "e.parquet"))
    assert str(caught.value) == io.RANK_NOT_WHOLE.format(row=6, value="an empty cell")


def test_attention_flags_are_read_from_common_spellings(small_export):
    frame = small_export.head(6).astype({"attention_ok": object})
    frame["attention_ok"] = ["true", "False", "1", "0", "", None]
    assert list(io.normalise_export(frame)["attention_ok"]) == [True, False, True, False] + [
        True,
        True,
    ]
    frame["attention_ok"] = ["maybe"] * 6
    with pytest.raises(ExportError) as caught:
        io.normalise_export(frame)
    assert str(caught.value) == io.FLAG_NOT_BOOLEAN.format(
        column="attention_ok", row=1, value="'maybe'"
    )


def test_names_keep_leading_zeros_from_csv(small_export, tmp_path):
    frame = small_export.astype({"participant": object})
    frame["participant"] = np.where(frame["participant"] == "p00000", "007", frame["participant"])
    read = read_export(write(frame, tmp_path / "e.csv"))
    assert "007" in set(read["participant"].astype(str))


def test_a_parquet_export_with_the_survey_schema_and_unknown_attention_reads(
    small_export, tmp_path
):
    # The survey writes rank as int16 and attention_ok as a nullable bool (empty while
    # a participant has not finished): empty counts as passed.
    frame = small_export.astype({"attention_ok": object, "rank": "int16"})
    frame.loc[frame.index < 16, "attention_ok"] = None
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(
        table.schema.get_field_index("attention_ok"),
        "attention_ok",
        pa.array(frame["attention_ok"].tolist(), type=pa.bool_()),
    )
    pq.write_table(table, tmp_path / "survey.parquet")
    read = read_export(tmp_path / "survey.parquet")
    assert read["attention_ok"].all()
    assert read["rank"].dtype == np.int64
