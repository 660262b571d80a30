"""Read the rankings export (docs/ARCHITECTURE.md, the rankings export) from CSV or
Parquet and check its columns; :mod:`analysis.rankings` then checks its rankings.

Words: one row of the export is one *ranked image* (one variant's rank on one page for
one question); a *ranking* is one question's ordering of a page's images, k rows.

Columns read, one row per participant x image set x survey item x variant:

required
    ``study``        study slug; an export with several studies needs ``--study``.
    ``country``      the participant's country (must not be empty).
    ``participant``  participant id; each participant belongs to one country.
    ``image_set``    the image set (prompt x seed) shown on the page.
    ``item``         survey item key (e.g. ``culture``).
    ``variant``      model variant key.
    ``rank``         whole number, 1 = best end for every item; on each page and item
                     the ranks of the variants are a permutation of 1..k.
    ``attention_ok`` whether the participant passed the attention checks (empty = no
                     check, counted as passed).
optional
    ``excluded``          true for participants a researcher excluded (absent or empty =
                          not excluded).
    ``exclusion_reason``  the researcher's reason (absent = no reason given).
    ``variant_label``     researcher-facing label of the variant (absent = the key).
    ``position``          where the image was shown on the page, 1 = first (the
                          position-bias check and the participant-quality table).
    ``page_ms``           time on the page in milliseconds (participant quality).
    ``country_name``      the country's name for the report (absent = the published
                          study's name of the code, else the code).

The other contract columns (``prompt_id``, ``prompt``, ``seed``, ``submitted_at``) are
not needed by the report and are not read, so an export without them is accepted.

Every problem raises :class:`ExportError` with one sentence a researcher understands;
the messages are the module's constants so tests can assert on them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

REQUIRED_COLUMNS = (
    "study",
    "country",
    "participant",
    "image_set",
    "item",
    "variant",
    "rank",
    "attention_ok",
)
OPTIONAL_COLUMNS = (
    "excluded",
    "exclusion_reason",
    "variant_label",
    "position",
    "page_ms",
    "country_name",
)
#: Columns whose values name things; an empty cell there makes a row meaningless.
KEY_COLUMNS = ("study", "country", "participant", "image_set", "item", "variant")

FILE_NOT_FOUND = "The export file {path} does not exist."
UNKNOWN_FORMAT = "The export {path} is neither CSV (.csv) nor Parquet (.parquet, .pq)."
UNREADABLE_FILE = "The export {path} could not be read as {kind}: {reason}."
MISSING_COLUMNS = "The export lacks the column(s) {columns} of the rankings export."
NO_ROWS = "The export {path} holds no rankings."
EMPTY_KEY = "{count} row(s) have an empty {column} (first at data row {row})."
EMPTY_COUNTRY = "{count} row(s) have an empty country (first at data row {row})."
RANK_NOT_WHOLE = "The rank column must hold whole numbers; data row {row} has {value}."
FLAG_NOT_BOOLEAN = "The {column} column must hold true or false; data row {row} has {value}."

_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}


class ExportError(ValueError):
    """The export cannot be analysed; the message says why in one sentence."""


def read_export(path: str | Path) -> pd.DataFrame:
    """Read and check a rankings export; return it with normalised column types.

    The result has the required and optional columns listed in the module docstring
    (optional ones filled in when absent): names as categoricals, ``rank`` as int64,
    ``attention_ok`` and ``excluded`` as bool, ``exclusion_reason`` as str.
    Data rows are numbered from 1 in messages (the CSV header is not a data row).
    """
    path = Path(path)
    if not path.is_file():
        raise ExportError(FILE_NOT_FOUND.format(path=path))
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = _read_csv(path)
    elif suffix in (".parquet", ".pq"):
        frame = _read_parquet(path)
    else:
        raise ExportError(UNKNOWN_FORMAT.format(path=path))
    if frame.empty:
        raise ExportError(NO_ROWS.format(path=path))
    return normalise_export(frame)


def normalise_export(frame: pd.DataFrame) -> pd.DataFrame:
    """Check an export already in memory and return it with the types read_export gives."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ExportError(MISSING_COLUMNS.format(columns=", ".join(missing)))
    frame = frame.reset_index(drop=True)
    out = {}
    for column in KEY_COLUMNS:
        out[column] = _names(frame[column], column)
    out["rank"] = _whole_numbers(frame["rank"])
    out["attention_ok"] = _flags(frame["attention_ok"], "attention_ok", empty=True)
    if "excluded" in frame.columns:
        out["excluded"] = _flags(frame["excluded"], "excluded", empty=False)
    else:
        out["excluded"] = np.zeros(len(frame), dtype=bool)
    if "exclusion_reason" in frame.columns:
        out["exclusion_reason"] = frame["exclusion_reason"].fillna("").astype(str)
    else:
        out["exclusion_reason"] = ""
    if "variant_label" in frame.columns:
        labels = frame["variant_label"].astype(object)
        labels = labels.where(labels.notna() & (labels.astype(str).str.strip() != ""), None)
        out["variant_label"] = labels.fillna(out["variant"].astype(object)).astype("category")
    else:
        out["variant_label"] = out["variant"]
    for column in ("position", "page_ms"):
        if column in frame.columns:
            out[column] = pd.to_numeric(frame[column], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan
            )
    if "country_name" in frame.columns:
        out["country_name"] = frame["country_name"].astype(object)
    return pd.DataFrame(out)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        header = pd.read_csv(path, nrows=0).columns
        wanted = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ExportError(MISSING_COLUMNS.format(columns=", ".join(missing)))
        # Names stay text: an id such as "007" must not become the number 7. Numbers are
        # read as text too and converted here, so a bad cell is named with its row.
        text = {c: "string" for c in wanted}
        return pd.read_csv(path, usecols=wanted, dtype=text, engine="pyarrow")
    except ExportError:
        raise
    except Exception as error:  # any parser failure is one message to the researcher
        raise ExportError(
            UNREADABLE_FILE.format(path=path, kind="CSV", reason=_one_line(error))
        ) from error


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        header = pq.read_schema(path).names
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ExportError(MISSING_COLUMNS.format(columns=", ".join(missing)))
        wanted = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in header]
        return pd.read_parquet(path, columns=wanted)
    except ExportError:
        raise
    except Exception as error:
        raise ExportError(
            UNREADABLE_FILE.format(path=path, kind="Parquet", reason=_one_line(error))
        ) from error


def _one_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _names(column: pd.Series, name: str) -> pd.Series:
    """Categorical of stripped names; an empty or missing name is an error."""
    values = column.astype("category")
    categories = values.cat.categories.astype(str).str.strip()
    if categories.duplicated().any():
        values = values.astype(str).str.strip().astype("category")
    else:
        values = values.cat.rename_categories(list(categories))
    empty_codes = np.flatnonzero(values.cat.categories == "")
    codes = values.cat.codes.to_numpy()
    bad = (codes < 0) | np.isin(codes, empty_codes)
    if bad.any():
        message = EMPTY_COUNTRY if name == "country" else EMPTY_KEY
        first = int(np.flatnonzero(bad)[0]) + 1
        raise ExportError(message.format(count=int(bad.sum()), column=name, row=first))
    return values.cat.remove_unused_categories()


def _whole_numbers(column: pd.Series) -> np.ndarray:
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(numbers) | (numbers != np.round(numbers))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ExportError(RANK_NOT_WHOLE.format(row=row + 1, value=_raw(column.iloc[row])))
    return numbers.astype(np.int64)


def _flags(column: pd.Series, name: str, *, empty: bool) -> np.ndarray:
    """Booleans from a bool column or from text such as true/false/1/0; empty -> `empty`."""
    if pd.api.types.is_bool_dtype(column) and not column.hasnans:
        return column.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        text = column.astype("Float64").astype(str).str.replace(".0", "", regex=False)
    else:
        text = column.astype(str)
    # Only the few distinct spellings are looked at, not every row.
    codes, uniques = pd.factorize(text.str.strip().str.lower(), use_na_sentinel=True)
    lookup = np.empty(len(uniques) + 1, dtype=object)
    lookup[-1] = empty  # the NA sentinel (-1) indexes the last slot
    for i, value in enumerate(uniques):
        if value in _TRUE:
            lookup[i] = True
        elif value in _FALSE:
            lookup[i] = False
        elif value in ("", "nan", "none", "<na>"):
            lookup[i] = empty
        else:
            row = int(np.flatnonzero(codes == i)[0])
            raise ExportError(
                FLAG_NOT_BOOLEAN.format(column=name, row=row + 1, value=_raw(column.iloc[row]))
            )
    return lookup[codes].astype(bool)


def _raw(value: object) -> str:
    """A cell as the message shows it: quoted text, or 'an empty cell'."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "an empty cell"
    return repr(str(value))
