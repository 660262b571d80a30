"""The rankings export (docs/ARCHITECTURE.md, "Rankings export") as CSV or Parquet, streamed.

One row per participant x image set x survey item x variant, plus three columns the
analysis reads when present: ``excluded``, ``exclusion_reason``, ``variant_label`` and
``country_name`` (the country's name, for the report).
Excluded participants and failed attention checks are flagged, never dropped: the
analysis decides whom to leave out.

Rows come from one database query read in chunks (``iterator(chunk_size=...)``) and are
written as they arrive (CSV lines, or one Parquet row group per chunk), so memory stays
bounded whatever the size of the study. A file export goes to a temporary file beside
the target and is renamed into place only when complete: an interrupted export never
leaves a half-written file where the analysis would read it.

A download (admin or API) is complete or visibly fails: the export is first written
to an unnamed temporary file (bounded memory, no name on disk), then sent with its
Content-Length, so every HTTP client reports a cut-short body as an error, and with
its row count and SHA-256 (headers X-Export-Rows, X-Export-SHA256, Repr-Digest) for
the researcher to check the saved file (docs/security.md). A Parquet file cut short
has no footer and does not open at all.
"""

import base64
import csv
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models import Exists, OuterRef
from django.http import FileResponse
from django.utils import timezone

from . import selectors
from .models import AttentionCheck, Study

FORMATS = ("csv", "parquet")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
# Rows read from the database and written per step; one Parquet row group each.
CHUNK_SIZE = 20_000
EXPORTS_FOLDER = "exports"  # in the media storage: the local disk or the object store

ERROR_UNKNOWN_FORMAT = "The export format {format!r} is not offered; choose csv or parquet."
ERROR_OUT_IS_FOLDER = "{path} is a folder; give the path of the export file to write."
ERROR_OUT_FOLDER_MISSING = "The folder {folder} does not exist; create it first."

COLUMNS = selectors.EXPORT_COLUMNS
SCHEMA = pa.schema(
    [
        ("study", pa.string()),
        ("country", pa.string()),
        ("participant", pa.string()),
        ("image_set", pa.string()),
        ("prompt_id", pa.string()),
        ("prompt", pa.string()),
        ("seed", pa.int64()),
        ("item", pa.string()),
        ("variant", pa.string()),
        ("rank", pa.int16()),
        ("position", pa.int16()),
        ("page_ms", pa.int64()),
        ("attention_ok", pa.bool_()),
        ("submitted_at", pa.timestamp("us", tz="UTC")),
        ("excluded", pa.bool_()),
        ("exclusion_reason", pa.string()),
        ("variant_label", pa.string()),
        ("country_name", pa.string()),
    ]
)
assert tuple(SCHEMA.names) == COLUMNS, "the Parquet schema must follow EXPORT_COLUMNS"
ATTENTION = COLUMNS.index("attention_ok")


class ExportError(ValueError):
    """The export cannot be written; the message says what to change."""


def export_filename(*, study: Study, file_format: str) -> str:
    """The file name offered for a download: ``<study>-rankings.<format>``."""
    return f"{study.slug}-rankings.{file_format}"


def export_rows(*, study: Study, chunk_size: int = CHUNK_SIZE) -> Iterator[tuple]:
    """The export's rows as tuples in COLUMNS order, read in chunks.

    ``attention_ok`` is the participant's verdict once they finished; before that it is
    False as soon as one answered check failed and empty otherwise, so a participant who
    failed a check and then left is flagged too.
    """
    failed_check = AttentionCheck.objects.filter(
        participant=OuterRef("page__participant"), passed=False
    )
    query = selectors.rankings_for_export(study=study).annotate(failed_check=Exists(failed_check))
    for row in query.iterator(chunk_size=chunk_size):
        row = list(row)
        if row.pop() and row[ATTENTION] is None:
            row[ATTENTION] = False
        yield tuple(row)


def _chunks(rows: Iterable[tuple], size: int) -> Iterator[list[tuple]]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV
# injection"); such text gets a leading apostrophe, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(text: str) -> str:
    """Text as written to a CSV cell: a leading formula character is escaped with '."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_value(value):
    # Booleans as true/false and times as ISO 8601 read the same in pandas, R and Excel.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return csv_text(value)
    return "" if value is None else value


class _Lines:
    """A file-like object that hands back what csv.writer writes to it."""

    def write(self, text: str) -> str:
        return text


def _csv_bytes(rows: Iterable[tuple], chunk_size: int) -> Iterator[bytes]:
    """CSV as UTF-8 byte strings: the header, then one block per chunk of rows."""
    writer = csv.writer(_Lines(), lineterminator="\n")
    yield writer.writerow(COLUMNS).encode()
    for chunk in _chunks(rows, chunk_size):
        yield "".join(writer.writerow([_csv_value(v) for v in row]) for row in chunk).encode()


class _Sink:
    """A write-only stream for ParquetWriter whose bytes are taken out as they come."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.position = 0
        self.closed = False

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def _parquet_bytes(rows: Iterable[tuple], chunk_size: int) -> Iterator[bytes]:
    """Parquet as byte strings: one row group per chunk of rows, then the footer."""
    sink = _Sink()
    writer = pq.ParquetWriter(sink, SCHEMA, compression="zstd")
    wrote_any = False
    for chunk in _chunks(rows, chunk_size):
        writer.write_table(_table(chunk))
        wrote_any = True
        yield sink.take()
    if not wrote_any:
        # A study without answers yet still gets a readable file with every column.
        writer.write_table(SCHEMA.empty_table())
    writer.close()
    yield sink.take()


def _table(chunk: list[tuple]) -> pa.Table:
    columns = list(zip(*chunk, strict=True))
    return pa.Table.from_arrays(
        [pa.array(values, type=field.type) for values, field in zip(columns, SCHEMA, strict=True)],
        schema=SCHEMA,
    )


def export_stream(
    *, study: Study, file_format: str, chunk_size: int = CHUNK_SIZE, rows=None
) -> Iterator[bytes]:
    """The export in ``file_format`` as an iterator of byte strings (for downloads).

    ``rows`` replaces the study's rows (the file export passes them through a counter).
    """
    if file_format not in FORMATS:
        raise ExportError(ERROR_UNKNOWN_FORMAT.format(format=file_format))
    if rows is None:
        rows = export_rows(study=study, chunk_size=chunk_size)
    encode = _csv_bytes if file_format == "csv" else _parquet_bytes
    return encode(rows, chunk_size)


@dataclass(frozen=True)
class ExportResult:
    """What a file export wrote: where, how many rows and bytes, the file's SHA-256."""

    path: Path | None
    rows: int
    size: int
    sha256: str = ""
    stored_name: str = ""  # the name in the media storage, for an export stored there


def _write(*, study: Study, file_format: str, target, chunk_size: int) -> ExportResult:
    """Write the export to the open binary file ``target``; count rows, bytes, SHA-256."""
    counted = 0

    def counting(rows):
        nonlocal counted
        for row in rows:
            counted += 1
            yield row

    rows = counting(export_rows(study=study, chunk_size=chunk_size))
    stream = export_stream(study=study, file_format=file_format, chunk_size=chunk_size, rows=rows)
    digest, size = hashlib.sha256(), 0
    for data in stream:
        target.write(data)
        digest.update(data)
        size += len(data)
    target.flush()
    return ExportResult(path=None, rows=counted, size=size, sha256=digest.hexdigest())


def rankings_export_write(
    *, study: Study, file_format: str, out: Path | str, chunk_size: int = CHUNK_SIZE
) -> ExportResult:
    """Write the export to ``out`` atomically; return how many rows and bytes it holds.

    The file is built under a temporary name in the same folder and renamed over
    ``out`` at the end, so ``out`` is either the complete new export or untouched.
    """
    out = Path(out)
    if out.is_dir():
        raise ExportError(ERROR_OUT_IS_FOLDER.format(path=out))
    if not out.parent.is_dir():
        raise ExportError(ERROR_OUT_FOLDER_MISSING.format(folder=out.parent))
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    try:
        with os.fdopen(handle, "wb") as target:
            result = _write(
                study=study, file_format=file_format, target=target, chunk_size=chunk_size
            )
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return ExportResult(path=out, rows=result.rows, size=result.size, sha256=result.sha256)


def rankings_export_store(
    *, study: Study, file_format: str, chunk_size: int = CHUNK_SIZE, storage=None
) -> ExportResult:
    """Save the export in the media storage (MEDIA_ROOT, or the object store when one is
    configured) as ``exports/<study>-rankings-<UTC time>.<format>``.

    The export is built in a temporary file first and saved in one piece, so the stored
    file is complete or absent; each export gets a name of its own (the storage adds a
    suffix if two land in the same second), so an earlier export is never replaced.
    """
    if file_format not in FORMATS:
        raise ExportError(ERROR_UNKNOWN_FORMAT.format(format=file_format))
    storage = storage or default_storage
    with tempfile.TemporaryFile(dir=settings.EXPORT_SPOOL_DIR) as spool:
        result = _write(study=study, file_format=file_format, target=spool, chunk_size=chunk_size)
        spool.seek(0)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        name = f"{EXPORTS_FOLDER}/{study.slug}-rankings-{stamp}.{file_format}"
        stored = storage.save(name, File(spool, name=name))
    return ExportResult(
        path=None, rows=result.rows, size=result.size, sha256=result.sha256, stored_name=stored
    )


def export_response(
    *, study: Study, file_format: str, chunk_size: int = CHUNK_SIZE
) -> FileResponse:
    """The study's export as a download of known length (shared by the admin and the API).

    Built first in an unnamed temporary file (EXPORT_SPOOL_DIR, the system's temporary
    folder by default; it vanishes when the response is closed), then sent with
    Content-Length, X-Export-Rows, X-Export-SHA256 and Repr-Digest (RFC 9530). An error
    while building is a 500 before any byte is sent, never a short file.
    """
    if file_format not in FORMATS:
        raise ExportError(ERROR_UNKNOWN_FORMAT.format(format=file_format))
    # Closed by the response once sent (FileResponse closes its file).
    spool = tempfile.TemporaryFile(dir=settings.EXPORT_SPOOL_DIR)  # noqa: SIM115
    try:
        result = _write(study=study, file_format=file_format, target=spool, chunk_size=chunk_size)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    filename = export_filename(study=study, file_format=file_format)
    response = FileResponse(
        spool, as_attachment=True, filename=filename, content_type=CONTENT_TYPES[file_format]
    )
    response["Content-Length"] = str(result.size)
    response["X-Export-Rows"] = str(result.rows)
    response["X-Export-SHA256"] = result.sha256
    response["Repr-Digest"] = (
        "sha-256=:" + base64.b64encode(bytes.fromhex(result.sha256)).decode() + ":"
    )
    response["Cache-Control"] = "no-store"
    return response
