"""The community data set: reading, validating, batching.

Its layout is docs/ARCHITECTURE.md, "Community data set".

A data set is a folder with images and ``metadata.jsonl``; each line is a JSON object
with ``file_name`` (a relative image path), ``text`` (the community caption),
``blip_text`` (a generic caption, for the memorization loss) and ``negative_imgpath``
(relative paths of negative images, for the contrastive loss), and optionally
``culture`` and ``category``. It is the layout the published SCoFT code reads.

Validation reads every line and reports every problem at once, each with its line
number, before any training starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

METADATA_FILE = "metadata.jsonl"

MISSING_FOLDER = "The data set folder {folder} does not exist."
MISSING_METADATA = "The data set folder {folder} has no metadata.jsonl."
EMPTY_DATA_SET = "The data set {path} has no examples (every line is empty)."
BAD_JSON = "line {line}: not a JSON object ({error})."
NOT_AN_OBJECT = "line {line}: expected a JSON object, found {kind}."
MISSING_FILE_NAME = "line {line}: no file_name (the image's path relative to the data set)."
MISSING_IMAGE = "line {line}: the image {path} does not exist."
UNREADABLE_IMAGE = "line {line}: the image {path} cannot be read as an image."
EMPTY_CAPTION = "line {line}: the caption (text) is empty."
MISSING_GENERIC_CAPTION = (
    "line {line}: no generic caption (blip_text), which the memorization loss needs; "
    "run `python -m scoft_core captions` to fill it."
)
MISSING_NEGATIVES = (
    "line {line}: no negative images (negative_imgpath), which the contrastive loss needs; "
    "run `python -m scoft_core negatives` to make them."
)
BAD_NEGATIVE_LIST = "line {line}: negative_imgpath must be a list of relative paths."
MISSING_NEGATIVE = "line {line}: the negative image {path} does not exist."
UNREADABLE_NEGATIVE = "line {line}: the negative image {path} cannot be read as an image."
PATH_OUTSIDE = "line {line}: the path {path} points outside the data set folder."
INVALID_DATA_SET = "The data set {path} has {count} problem(s); fix them and rerun:\n{problems}"


class DataSetError(ValueError):
    """The data set cannot be used; ``problems`` lists every problem with its line."""

    def __init__(self, path: Path, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(
            INVALID_DATA_SET.format(
                path=path, count=len(self.problems), problems="\n".join(self.problems)
            )
        )


@dataclass(frozen=True)
class Example:
    """One row of metadata.jsonl; `line` is its 1-based line number in the file."""

    line: int
    file_name: str
    text: str
    blip_text: str = ""
    negative_imgpath: tuple[str, ...] = ()
    culture: str = ""
    category: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)


def metadata_path(folder: Path) -> Path:
    """Where the data set's metadata lives."""
    return Path(folder) / METADATA_FILE


def read_rows(folder: Path) -> list[tuple[int, dict | None, str | None]]:
    """Every non-empty line as (line number, parsed object or None, problem or None)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(MISSING_FOLDER.format(folder=folder))
    path = metadata_path(folder)
    if not path.is_file():
        raise FileNotFoundError(MISSING_METADATA.format(folder=folder))
    rows = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            rows.append((number, None, BAD_JSON.format(line=number, error=error.msg)))
            continue
        if not isinstance(value, dict):
            kind = type(value).__name__
            rows.append((number, None, NOT_AN_OBJECT.format(line=number, kind=kind)))
            continue
        rows.append((number, value, None))
    return rows


def write_rows(folder: Path, rows: Iterable[dict]) -> None:
    """Replace metadata.jsonl atomically, so an interrupted write never leaves half a file."""
    path = metadata_path(folder)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    handle, staging = tempfile.mkstemp(prefix=".metadata.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def _inside(folder: Path, relative: str) -> Path | None:
    path = (folder / relative).resolve()
    return path if path.is_relative_to(folder.resolve()) else None


def _image_problem(folder: Path, relative: str, line: int, missing: str, unreadable: str):
    path = _inside(folder, relative)
    if path is None:
        return PATH_OUTSIDE.format(line=line, path=relative)
    if not path.is_file():
        return missing.format(line=line, path=relative)
    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return unreadable.format(line=line, path=relative)
    return None


def _row_problems(
    folder: Path, line: int, row: dict, *, need_caption, need_generic, need_negatives
):
    problems = []
    file_name = row.get("file_name")
    if not isinstance(file_name, str) or not file_name.strip():
        problems.append(MISSING_FILE_NAME.format(line=line))
    else:
        problem = _image_problem(folder, file_name, line, MISSING_IMAGE, UNREADABLE_IMAGE)
        problems += [problem] if problem else []
    if need_caption and not str(row.get("text") or "").strip():
        problems.append(EMPTY_CAPTION.format(line=line))
    if need_generic and not str(row.get("blip_text") or "").strip():
        problems.append(MISSING_GENERIC_CAPTION.format(line=line))
    negatives = row.get("negative_imgpath") or []
    if isinstance(negatives, str):
        negatives = [negatives]
    if not isinstance(negatives, list) or not all(isinstance(p, str) for p in negatives):
        problems.append(BAD_NEGATIVE_LIST.format(line=line))
    elif need_negatives:
        if not negatives:
            problems.append(MISSING_NEGATIVES.format(line=line))
        for negative in negatives:
            problem = _image_problem(folder, negative, line, MISSING_NEGATIVE, UNREADABLE_NEGATIVE)
            problems += [problem] if problem else []
    return problems


def _example(line: int, row: dict) -> Example:
    negatives = row.get("negative_imgpath") or []
    known = {"file_name", "text", "blip_text", "negative_imgpath", "culture", "category"}
    return Example(
        line=line,
        file_name=row["file_name"],
        text=str(row["text"]).strip(),
        blip_text=str(row.get("blip_text") or "").strip(),
        negative_imgpath=tuple([negatives] if isinstance(negatives, str) else negatives),
        culture=str(row.get("culture") or ""),
        category=str(row.get("category") or ""),
        extra={key: value for key, value in row.items() if key not in known},
    )


def validate_data_set(
    folder: Path,
    *,
    need_generic: bool = False,
    need_negatives: bool = False,
    need_caption: bool = True,
) -> list[str]:
    """Every problem in the data set, each a sentence starting with its line number.

    `need_caption`: every row needs its community caption (text); only `captions`,
    which reads images alone, does without.

    `need_generic`: the memorization loss is on, so every row needs blip_text.
    `need_negatives`: the contrastive loss is on, so every row needs a readable negative.
    """
    problems = []
    rows = read_rows(folder)
    for line, row, problem in rows:
        if problem:
            problems.append(problem)
            continue
        problems += _row_problems(
            Path(folder),
            line,
            row,
            need_caption=need_caption,
            need_generic=need_generic,
            need_negatives=need_negatives,
        )
    if not rows:
        problems.append(EMPTY_DATA_SET.format(path=metadata_path(folder)))
    return problems


def load_data_set(
    folder: Path, *, need_generic: bool = False, need_negatives: bool = False
) -> list[Example]:
    """The examples of a valid data set; raises DataSetError listing every problem."""
    problems = validate_data_set(folder, need_generic=need_generic, need_negatives=need_negatives)
    if problems:
        raise DataSetError(metadata_path(folder), problems)
    return [_example(line, row) for line, row, _ in read_rows(folder)]


def data_set_hash(folder: Path, examples: Sequence[Example]) -> str:
    """sha256 over metadata.jsonl and every image it names, so a changed data set shows."""
    folder = Path(folder)
    digest = hashlib.sha256(metadata_path(folder).read_bytes())
    names = sorted(
        {e.file_name for e in examples} | {n for e in examples for n in e.negative_imgpath}
    )
    for name in names:
        digest.update(name.encode())
        digest.update(hashlib.sha256((folder / name).read_bytes()).digest())
    return digest.hexdigest()


def image_tensor(path: Path, resolution: int, *, flip: bool = False) -> torch.Tensor:
    """An image as (3, resolution, resolution) in [-1, 1]: shorter side resized, centre crop.

    Centre crop is what the published script uses; `flip` mirrors it left-right.
    """
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    scale = resolution / min(image.size)
    size = (
        max(resolution, round(image.width * scale)),
        max(resolution, round(image.height * scale)),
    )
    image = image.resize(size, Image.Resampling.BICUBIC)
    left, top = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    image = image.crop((left, top, left + resolution, top + resolution))
    if flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    pixels = data.view(resolution, resolution, 3).permute(2, 0, 1).float()
    return pixels / 127.5 - 1.0


@dataclass
class Batch:
    """Tensors for one micro-batch; negatives are zero-padded to `max_negatives` slots."""

    pixels: torch.Tensor  # (B, 3, H, W) in [-1, 1], the community images
    texts: list[str]  # community captions c
    generic_texts: list[str]  # generic captions c_g
    negatives: torch.Tensor  # (B, K, 3, H, W) in [-1, 1]; zeros where absent
    negative_present: torch.Tensor  # (B, K) bool
    lines: list[int]  # metadata lines, for messages


def collate(
    folder: Path,
    examples: Sequence[Example],
    flips: Sequence[bool],
    *,
    resolution: int,
    max_negatives: int = 0,
) -> Batch:
    """Load a micro-batch; a negative is flipped with its positive so they stay aligned."""
    folder = Path(folder)
    pixels = torch.stack(
        [
            image_tensor(folder / e.file_name, resolution, flip=f)
            for e, f in zip(examples, flips, strict=True)
        ]
    )
    count = len(examples)
    negatives = torch.zeros(count, max_negatives, 3, resolution, resolution)
    present = torch.zeros(count, max_negatives, dtype=torch.bool)
    for i, (example, flip) in enumerate(zip(examples, flips, strict=True)):
        for k, name in enumerate(example.negative_imgpath[:max_negatives]):
            negatives[i, k] = image_tensor(folder / name, resolution, flip=flip)
            present[i, k] = True
    return Batch(
        pixels=pixels,
        texts=[e.text for e in examples],
        generic_texts=[e.blip_text for e in examples],
        negatives=negatives,
        negative_present=present,
        lines=[e.line for e in examples],
    )


def epoch_order(count: int, *, seed: int, epoch: int) -> list[int]:
    """A shuffled order of `count` examples that depends only on (seed, epoch)."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(count, generator=generator).tolist()


def flip_for(*, seed: int, epoch: int, index: int) -> bool:
    """Whether to mirror an example in an epoch; a pure function, so resume replays it."""
    digest = hashlib.sha256(f"{seed}:{epoch}:{index}".encode()).digest()
    return bool(digest[0] & 1)


@dataclass(frozen=True)
class BatchPlan:
    """Which examples each micro-step reads: epoch-wise shuffles, sharded over processes.

    A micro-step's batch is a pure function of its number, so a resumed run reads exactly
    the batches the interrupted one would have.
    """

    count: int
    batch_size: int
    seed: int
    process_index: int = 0
    num_processes: int = 1

    @property
    def batches_per_epoch(self) -> int:
        local = len(range(self.process_index, self.count, self.num_processes))
        return max(1, -(-local // self.batch_size))

    def batch(self, micro_step: int, *, random_flip: bool) -> tuple[list[int], list[bool]]:
        """(example indices, flips) for a micro-step."""
        epoch, position = divmod(micro_step, self.batches_per_epoch)
        order = epoch_order(self.count, seed=self.seed, epoch=epoch)
        local = order[self.process_index :: self.num_processes] or order
        indices = local[position * self.batch_size : (position + 1) * self.batch_size]
        flips = [random_flip and flip_for(seed=self.seed, epoch=epoch, index=i) for i in indices]
        return indices, flips
