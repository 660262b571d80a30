"""Fixtures for generation: study specs written on the fly, a fake and the tiny backend."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from generation.services.generate import Processes
from tests.study.conftest import COUNTRY, PROMPT, spec_text, write_spec  # noqa: F401  (shared)


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


@dataclass(frozen=True)
class FakeSettings:
    scheduler: str = "fake"
    steps: int = 1
    guidance: float = 1.0
    width: int = 16
    height: int = 16


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing catches it."""


class FakeBackend:
    """Draws a deterministic image per (variant, prompt, seed) without torch.

    crash_after: die (raise Crash) on the pipeline call after this many images.
    fail_prompts: pipeline calls containing one of these prompts raise an error.
    fail_load: variant keys whose pipeline cannot be loaded.
    """

    def __init__(self, *, crash_after=None, fail_prompts=(), fail_load=(), settings=None):
        self.settings = settings or FakeSettings()
        self.device = "cpu"
        self.crash_after = crash_after
        self.fail_prompts = set(fail_prompts)
        self.fail_load = set(fail_load)
        self.loads: list[str] = []
        self.calls: list[list[tuple[str, int]]] = []
        self.made = 0

    def library_versions(self):
        return {"fake": "1.0"}

    def load(self, variant):
        if variant.key in self.fail_load:
            raise OSError(f"no weights for {variant.key}")
        self.loads.append(variant.key)
        return variant.key

    def sample(self, pipe, prompts, seeds):
        if self.crash_after is not None and self.made >= self.crash_after:
            raise Crash()
        if self.fail_prompts & set(prompts):
            raise RuntimeError("out of memory")
        self.calls.append(list(zip(prompts, seeds, strict=True)))
        self.made += len(prompts)
        size = (self.settings.width, self.settings.height)
        images = []
        for prompt, seed in zip(prompts, seeds, strict=True):
            digest = hashlib.sha256(f"{pipe}|{prompt}|{seed}|{self.settings}".encode()).digest()
            pixels = (digest * (3 * size[0] * size[1] // len(digest) + 1))[: 3 * size[0] * size[1]]
            images.append(Image.frombytes("RGB", size, pixels))
        return images


@pytest.fixture
def one_process() -> Processes:
    return Processes()


@pytest.fixture(scope="session")
def scoft_cache(tmp_path_factory):
    """Build the tiny pipeline once per session, outside the user's cache."""
    folder = tmp_path_factory.getbasetemp() / "scoft-cache"
    previous = os.environ.get("SCOFT_CACHE_DIR")
    os.environ["SCOFT_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("SCOFT_CACHE_DIR", None)
    else:
        os.environ["SCOFT_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def tiny_model(scoft_cache) -> Path:
    import torch

    from scoft_core.pipelines import tiny_pipeline_path

    # Other helpers share the 2 cores; one intra-op thread keeps timings predictable.
    torch.set_num_threads(1)
    return tiny_pipeline_path()
