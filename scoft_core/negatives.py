"""`negatives`: the base model's own images for each example, the contrastive loss's x⁻.

For every example, k images from the frozen base model for the example's caption. With a
ControlNet and a depth estimator (as the project page's method figure shows), each
negative is also conditioned on the depth map of the community image, so it shares the
layout and differs in how the base model depicts the culture.

Each negative has its own seed (from the run's seed, the example's line and its slot),
is written as ``negatives/<image path>__neg<k>.png``, and is recorded in the row's
``negative_imgpath``. Existing files are reused and metadata.jsonl is rewritten
atomically after every batch, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from scoft_core import data
from scoft_core.pipelines import load_pipeline
from scoft_core.sampling import SamplerSettings, check_settings, sample

NEGATIVES_FOLDER = "negatives"
CANNOT_MAKE_NEGATIVES = "Cannot make negatives for the data set; fix these rows first:\n{problems}"
DEPTH_NEEDS_BOTH = "Depth-conditioned negatives need both a ControlNet and a depth estimator."
CONTROLNET_NOT_AVAILABLE = (
    "Could not load the ControlNet {model!r}: give a local diffusers ControlNet folder or a "
    "hub id that is downloaded already. Details: {error}"
)
DEPTH_NOT_AVAILABLE = (
    "Could not load the depth estimator {model!r}: give a local folder or a hub id of a "
    "transformers depth-estimation model that is downloaded already. Details: {error}"
)
PUBLISHED_SAMPLER = SamplerSettings()
BAD_COUNT = "The number of negatives per image must be at least 1; got {count}."


@dataclass(frozen=True)
class NegativesProgress:
    """Progress of a negatives run, yielded after each batch."""

    made: int  # negative images generated so far in this run
    total: int  # negative images this run generates
    reused: int  # negatives found on disk from an earlier run


def negative_name(file_name: str, slot: int) -> str:
    """Relative path of an example's k-th negative (unique per image path)."""
    flat = file_name.replace("\\", "/").replace("/", "__")
    return f"{NEGATIVES_FOLDER}/{Path(flat).stem}__neg{slot}.png"


def negative_seed(seed: int, line: int, slot: int) -> int:
    """The seed of one negative: stable across reruns, distinct per line and slot."""
    return seed + 1000 * line + slot


class DepthMaps:
    """Depth maps of community images, as 3-channel images a depth ControlNet reads."""

    def __init__(self, model: str | Path, *, device: str = "cpu"):
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        try:
            self.processor = AutoImageProcessor.from_pretrained(str(model))
            self.model = AutoModelForDepthEstimation.from_pretrained(str(model)).to(device).eval()
        except (OSError, ValueError) as error:
            raise ValueError(DEPTH_NOT_AVAILABLE.format(model=str(model), error=error)) from error

    @torch.no_grad()
    def __call__(self, image: Image.Image, size: tuple[int, int]) -> Image.Image:
        inputs = self.processor(images=image, return_tensors="pt").to(self.model.device)
        depth = self.model(**inputs).predicted_depth  # (1, h, w)
        depth = torch.nn.functional.interpolate(
            depth[:, None].float(), size=(size[1], size[0]), mode="bicubic", align_corners=False
        )[0, 0]
        # Stretch to the full grey range per image, as the diffusers depth examples do.
        depth = (depth - depth.min()) / (depth.max() - depth.min()).clamp(min=1e-6)
        grey = (depth * 255).round().clamp(0, 255).to(torch.uint8).numpy()
        return Image.fromarray(grey).convert("RGB")


def negatives_pipeline(model, *, controlnet=None, device="cpu"):
    """The frozen base pipeline, wrapped in a ControlNet pipeline when one is given."""
    pipe = load_pipeline(model, device=device)
    if controlnet is None:
        return pipe
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    try:
        net = ControlNetModel.from_pretrained(str(controlnet))
    except (OSError, ValueError) as error:
        raise ValueError(
            CONTROLNET_NOT_AVAILABLE.format(model=str(controlnet), error=error)
        ) from error
    wrapped = StableDiffusionControlNetPipeline(
        **{k: v for k, v in pipe.components.items()},
        controlnet=net,
        requires_safety_checker=False,
    )
    wrapped.set_progress_bar_config(disable=True)
    return wrapped.to(device)


def _save_atomically(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=".neg.", suffix=".png", dir=path.parent)
    os.close(handle)
    try:
        image.save(staging, format="PNG")
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def make_negatives(
    folder: Path,
    *,
    model: str | Path,
    per_image: int = 3,
    settings: SamplerSettings = PUBLISHED_SAMPLER,
    seed: int = 1024,
    batch_size: int = 4,
    controlnet: str | Path | None = None,
    depth_estimator: str | Path | None = None,
    device: str = "cpu",
) -> Iterator[NegativesProgress]:
    """Generate `per_image` negatives per example; yields progress after each batch."""
    folder = Path(folder)
    if per_image < 1:
        raise ValueError(BAD_COUNT.format(count=per_image))
    if (controlnet is None) != (depth_estimator is None):
        raise ValueError(DEPTH_NEEDS_BOTH)
    check_settings(settings)
    problems = data.validate_data_set(folder)
    if problems:
        raise ValueError(CANNOT_MAKE_NEGATIVES.format(problems="\n".join(problems)))
    numbered = [(line, row) for line, row, _ in data.read_rows(folder)]
    rows = [row for _, row in numbered]
    jobs, reused = [], 0
    for index, (line, row) in enumerate(numbered):
        for slot in range(per_image):
            if (folder / negative_name(row["file_name"], slot)).is_file():
                reused += 1
            else:
                jobs.append((index, line, slot))
    _record(folder, rows, per_image)
    if not jobs:
        yield NegativesProgress(made=0, total=0, reused=reused)
        return
    pipe = negatives_pipeline(model, controlnet=controlnet, device=device)
    depth = DepthMaps(depth_estimator, device=device) if depth_estimator else None
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start : start + batch_size]
        controls = None
        if depth is not None:
            controls = [_depth_of(depth, folder, rows[i], settings) for i, _, _ in chunk]
        images = sample(
            pipe,
            [rows[i]["text"] for i, _, _ in chunk],
            [negative_seed(seed, line, slot) for _, line, slot in chunk],
            settings,
            batch_size=batch_size,
            control_images=controls,
        )
        for (i, _, slot), image in zip(chunk, images, strict=True):
            _save_atomically(image, folder / negative_name(rows[i]["file_name"], slot))
        _record(folder, rows, per_image)
        yield NegativesProgress(made=start + len(chunk), total=len(jobs), reused=reused)


def _depth_of(depth: DepthMaps, folder: Path, row: dict, settings: SamplerSettings):
    with Image.open(folder / row["file_name"]) as image:
        return depth(image.convert("RGB"), (settings.width, settings.height))


def _record(folder: Path, rows: list[dict], per_image: int) -> None:
    """List in each row the negatives of ours that exist, after any it already had."""
    changed = False
    for row in rows:
        listed = row.get("negative_imgpath") or []
        listed = [listed] if isinstance(listed, str) else list(listed)
        ours = [negative_name(row["file_name"], k) for k in range(per_image)]
        new = [name for name in ours if (folder / name).is_file() and name not in listed]
        if new:
            row["negative_imgpath"] = listed + new
            changed = True
    if changed:
        data.write_rows(folder, rows)
