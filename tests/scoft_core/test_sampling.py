"""Sampling: one seed per image, independent of batch composition, several per call."""

import numpy as np
import pytest

from scoft_core import sampling
from scoft_core.sampling import TINY_SAMPLER, SamplerSettings, sample

FAST = SamplerSettings(scheduler="ddim", steps=3, width=64, height=64)


def pixels(image):
    return np.asarray(image).astype(int)


def test_a_seed_gives_the_same_image_alone_or_in_any_batch(tiny_pipe):
    batched = sample(tiny_pipe, ["a market", "a temple", "a dance"], [7, 8, 9], FAST, batch_size=3)
    alone = sample(tiny_pipe, ["a temple"], [8], FAST)
    # Batched matrix products may round differently in the last bit; allow one grey level.
    assert np.abs(pixels(batched[1]) - pixels(alone[0])).max() <= 1


def test_different_seeds_give_different_images(tiny_pipe):
    first, second = sample(tiny_pipe, ["a market", "a market"], [1, 2], FAST)
    assert np.abs(pixels(first) - pixels(second)).max() > 10


def test_images_come_in_the_order_and_size_asked_for_across_batches(tiny_pipe, monkeypatch):
    calls = []
    original = type(tiny_pipe).__call__

    def counting_call(self, *args, **kwargs):
        calls.append(len(kwargs["prompt"]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(tiny_pipe), "__call__", counting_call)
    images = sample(tiny_pipe, ["a", "b", "c", "d", "e"], [1, 2, 3, 4, 5], FAST, batch_size=2)
    assert calls == [2, 2, 1]
    assert [image.size for image in images] == [(64, 64)] * 5
    solo = sample(tiny_pipe, ["e"], [5], FAST)
    assert np.abs(pixels(images[4]) - pixels(solo[0])).max() <= 1


@pytest.mark.parametrize("scheduler", sorted(sampling.SCHEDULERS))
def test_every_named_scheduler_samples_and_the_pipeline_keeps_its_own(tiny_pipe, scheduler):
    original = tiny_pipe.scheduler
    settings = SamplerSettings(scheduler=scheduler, steps=4, width=64, height=64)
    (image,) = sample(tiny_pipe, ["a market"], [3], settings)
    assert image.size == (64, 64)
    assert tiny_pipe.scheduler is original


def test_tiny_sampler_defaults_fit_the_tiny_pipeline():
    assert (TINY_SAMPLER.width, TINY_SAMPLER.height) == (64, 64)
    assert TINY_SAMPLER.scheduler == SamplerSettings().scheduler


@pytest.mark.parametrize(
    ("settings", "prompts", "seeds", "message"),
    [
        (SamplerSettings(scheduler="magic"), ["a"], [1], "Unknown scheduler 'magic'"),
        (
            SamplerSettings(steps=0, width=64, height=64),
            ["a"],
            [1],
            sampling.BAD_STEPS.format(steps=0),
        ),
        (
            SamplerSettings(width=60, height=64),
            ["a"],
            [1],
            sampling.BAD_SIZE.format(factor=8, width=60, height=64),
        ),
        (FAST, ["a", "b"], [1], sampling.SEEDS_DO_NOT_MATCH_PROMPTS.format(prompts=2, seeds=1)),
    ],
)
def test_bad_settings_fail_with_a_clear_sentence(tiny_pipe, settings, prompts, seeds, message):
    with pytest.raises(ValueError) as error:
        sample(tiny_pipe, prompts, seeds, settings)
    assert str(error.value).startswith(message)
