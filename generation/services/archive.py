"""The image archive on disk: crash-safe writes, hashes and per-process manifests.

An image is written to a hidden temporary file beside its final name and renamed into
place only once complete, so a file under its final name is never half-written. Each
process then appends one JSON line to its own manifest (no two processes share a file,
so no locking is needed). A rerun trusts an image only when its file exists and its
sha256 matches the manifest entry made with the same recipe; anything else is remade.

No torch here; Pillow writes the images.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

MANIFEST_GLOB = "manifest-*.jsonl"
PARTIAL_SUFFIX = ".partial"
CHUNK = 1 << 20


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_folder(folder: Path | str) -> str:
    """One hash for a folder's files (relative names and contents), e.g. an adapter."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(sha256_file(path).encode() + b"\n")
    return digest.hexdigest()


def partial_path(path: Path) -> Path:
    """The temporary name an image is written under before it is complete."""
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


def write_atomically(path: Path, write) -> None:
    """Call `write(handle)` on a temporary file, then rename it to `path`.

    No fsync: a killed process loses nothing the page cache holds, and after a power loss
    a rerun finds any image whose bytes did not reach the disk by its hash, and remakes it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_path(path)
    try:
        with open(temporary, "wb") as handle:
            write(handle)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def save_png(image: Image.Image, path: Path, *, text: Mapping[str, str] | None = None) -> str:
    """Save `image` as PNG at `path` atomically, with optional text chunks; return sha256.

    The archive copy may carry its generation settings (`text`); participants are only
    ever served re-encoded copies without them.
    """
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_itxt(key, value)
    write_atomically(path, lambda handle: image.save(handle, format="PNG", pnginfo=info))
    return sha256_file(path)


def copy_file(source: Path, target: Path) -> str:
    """Copy `source` to `target` atomically; return the sha256 of the copy."""

    def write(handle):
        with open(source, "rb") as src:
            while chunk := src.read(CHUNK):
                handle.write(chunk)

    write_atomically(target, write)
    return sha256_file(target)


def remove_partials(folder: Path) -> int:
    """Delete temporary files a killed run left behind; return how many."""
    removed = 0
    if folder.is_dir():
        for path in folder.rglob(f".*{PARTIAL_SUFFIX}"):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


# --- manifests ------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestEntry:
    """One finished image: its job, file (relative to the output folder), hash, recipe."""

    job: str
    file: str
    sha256: str
    recipe: str  # hash of everything that determines the image; changes force a remake
    record: Mapping[str, Any]  # the fields of its database row

    def to_json(self) -> str:
        data = {
            "job": self.job,
            "file": self.file,
            "sha256": self.sha256,
            "recipe": self.recipe,
            "record": dict(self.record),
        }
        return json.dumps(data, sort_keys=True, ensure_ascii=False)


def manifest_path(folder: Path, process_index: int) -> Path:
    """The manifest one process appends to."""
    return folder / f"manifest-{process_index:03d}.jsonl"


class ManifestWriter:
    """Appends entries to one process's manifest, one durable line each."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_last_line(path)
        self.handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def append(self, entry: ManifestEntry) -> None:
        # Flushed (not fsynced) per line: a killed process keeps every whole line; a torn
        # last line is cut on the next open, and its image made again.
        self.handle.write(entry.to_json() + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _drop_torn_last_line(path: Path) -> None:
    """A kill during an append can leave a line without its newline: cut it off."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def read_manifests(folder: Path) -> dict[str, ManifestEntry]:
    """Every process's entries, by job; a later line for the same job wins."""
    entries: dict[str, ManifestEntry] = {}
    for path in sorted(folder.glob(MANIFEST_GLOB)):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                data = json.loads(line)
                entry = ManifestEntry(
                    data["job"], data["file"], data["sha256"], data["recipe"], data["record"]
                )
            except (ValueError, KeyError, TypeError):
                continue  # a torn line from a killed process: its image is remade
            entries[entry.job] = entry
    return entries


def is_intact(entry: ManifestEntry | None, folder: Path, *, recipe: str) -> bool:
    """True when the entry's file exists, matches its hash and was made by `recipe`."""
    if entry is None or entry.recipe != recipe:
        return False
    path = folder / entry.file
    return path.is_file() and sha256_file(path) == entry.sha256


def recipe_hash(parts: Iterable[Any]) -> str:
    """A short stable hash of the things that determine an image."""
    text = json.dumps(list(parts), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
