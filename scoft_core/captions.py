"""`captions`: fill each example's generic caption (blip_text) with an image captioner.

The memorization loss compares the model's prediction for the community caption with
its prediction for a generic caption of the same image; the published work used BLIP
captions, which describe the scene without the cultural detail. Any BLIP captioning
model transformers can load (a local folder or a hub id) works here.

Resumable: rows that already have a generic caption are kept unless `overwrite`, and
metadata.jsonl is rewritten atomically after every batch, so an interrupted run keeps
what it finished and a rerun does the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from scoft_core import data

DEFAULT_CAPTIONER = "Salesforce/blip-image-captioning-base"
CAPTIONER_NOT_AVAILABLE = (
    "Could not load the captioning model {model!r}: give a local folder of a BLIP "
    "captioning model, or a hub id that is downloaded already. Details: {error}"
)
CANNOT_CAPTION = "Cannot caption the data set; fix these rows first:\n{problems}"


@dataclass(frozen=True)
class CaptionProgress:
    """Progress of a captions run, yielded after each batch."""

    done: int  # rows captioned so far in this run
    total: int  # rows this run captions
    skipped: int  # rows that already had a generic caption


def load_captioner(model: str | Path, *, device: str = "cpu"):
    """A BLIP captioning model and its processor, from a folder or hub id."""
    from transformers import BlipForConditionalGeneration, BlipProcessor

    try:
        processor = BlipProcessor.from_pretrained(str(model))
        captioner = BlipForConditionalGeneration.from_pretrained(str(model))
    except (OSError, ValueError) as error:
        raise ValueError(CAPTIONER_NOT_AVAILABLE.format(model=str(model), error=error)) from error
    return captioner.to(device).eval(), processor


@torch.no_grad()
def caption_images(captioner, processor, images: list[Image.Image], *, max_new_tokens: int = 30):
    """One generic caption per image (greedy decoding, so reruns agree)."""
    inputs = processor(images=images, return_tensors="pt").to(captioner.device)
    tokens = captioner.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return [text.strip() for text in processor.batch_decode(tokens, skip_special_tokens=True)]


def fill_generic_captions(
    folder: Path,
    *,
    model: str | Path = DEFAULT_CAPTIONER,
    batch_size: int = 8,
    overwrite: bool = False,
    max_new_tokens: int = 30,
    device: str = "cpu",
) -> Iterator[CaptionProgress]:
    """Caption every row without blip_text (all rows with `overwrite`); yields progress."""
    folder = Path(folder)
    problems = data.validate_data_set(folder, need_caption=False)
    if problems:
        raise ValueError(CANNOT_CAPTION.format(problems="\n".join(problems)))
    rows = [row for _, row, _ in data.read_rows(folder)]
    todo = [
        i for i, row in enumerate(rows) if overwrite or not str(row.get("blip_text") or "").strip()
    ]
    skipped = len(rows) - len(todo)
    if not todo:
        yield CaptionProgress(done=0, total=0, skipped=skipped)
        return
    captioner, processor = load_captioner(model, device=device)
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        images = []
        for i in chunk:
            with Image.open(folder / rows[i]["file_name"]) as image:
                images.append(image.convert("RGB"))
        for i, caption in zip(
            chunk,
            caption_images(captioner, processor, images, max_new_tokens=max_new_tokens),
            strict=True,
        ):
            rows[i]["blip_text"] = caption
        data.write_rows(folder, rows)
        yield CaptionProgress(done=start + len(chunk), total=len(todo), skipped=skipped)
