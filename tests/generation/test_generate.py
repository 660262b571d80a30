"""generate_batch's service with a fake model: records, resume, failures, shards."""

from dataclasses import replace
from pathlib import Path

import pytest

from generation.models import GeneratedImage, ImageSet, ModelVariant
from generation.services import archive
from generation.services.generate import Planned, Processes, Progress, Summary, batch_generate

from .conftest import Crash, FakeBackend

pytestmark = pytest.mark.django_db


def run(spec, backend, processes=None, **options):
    events = list(
        batch_generate(spec=spec, backend=backend, processes=processes or Processes(), **options)
    )
    assert isinstance(events[0], Planned)
    return events


def files_on_disk(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture
def study(write_spec, media_root):
    # 2 variants x 2 prompts x 2 seeds = 8 images in 4 image sets.
    return write_spec(variants=("pretrained", "scoft-mpc"), countries={"CN": 2}, seeds=(1, 2))


def test_a_run_makes_every_image_and_registers_the_image_sets(study, media_root):
    backend = FakeBackend()
    events = run(study, backend)
    summary = events[-1]
    assert isinstance(summary, Summary)
    assert (summary.generated, summary.skipped, summary.failed) == (8, 0, 0)
    assert [e.generated for e in events if isinstance(e, Progress)] == [2, 4, 6, 8]
    assert backend.loads == ["pretrained", "scoft-mpc"]  # each pipeline loaded once
    assert [len(call) for call in backend.calls] == [2, 2, 2, 2]
    assert ModelVariant.objects.filter(study_slug="test-study").count() == 2
    assert ImageSet.objects.count() == 4
    assert GeneratedImage.objects.count() == 8
    for image in GeneratedImage.objects.select_related("image_set", "variant"):
        assert image.sha256 == archive.sha256_file(media_root / image.file.name)
        assert image.seed == image.image_set.seed
        assert (image.width, image.height) == (16, 16)
        assert (image.scheduler, image.steps, image.guidance) == ("fake", 1, 1.0)
        assert image.base_model == "tiny" and image.device == "cpu"
        assert image.library_versions == {"fake": "1.0"}
        assert image.source == GeneratedImage.Source.GENERATED
    image_set = ImageSet.objects.get(prompt_id="cn-0", seed=2)
    assert image_set.prompt == "A dish from CN number 0" and image_set.country_code == "CN"
    assert sorted(image_set.images.values_list("variant__key", flat=True)) == [
        "pretrained",
        "scoft-mpc",
    ]


def test_the_same_seed_gives_every_variant_of_a_prompt_its_image(study):
    backend = FakeBackend()
    run(study, backend)
    seeds_per_call = [[seed for _, seed in call] for call in backend.calls]
    assert seeds_per_call[:2] == seeds_per_call[2:]  # the second variant repeats the seeds


def test_a_rerun_skips_finished_images_and_changes_no_row(study):
    run(study, FakeBackend())
    before = sorted(GeneratedImage.objects.values_list("public_id", "sha256"))
    backend = FakeBackend()
    summary = run(study, backend)[-1]
    assert (summary.generated, summary.skipped) == (0, 8)
    assert backend.calls == [] and backend.loads == []
    assert sorted(GeneratedImage.objects.values_list("public_id", "sha256")) == before
    assert summary.registered.images_unchanged == 8


def test_a_crash_mid_batch_and_a_rerun_end_with_exactly_the_expected_images(study, media_root):
    with pytest.raises(Crash):
        run(study, FakeBackend(crash_after=3))
    output = media_root / "generated" / "test-study"
    assert len(archive.read_manifests(output)) == 4
    assert GeneratedImage.objects.count() == 0  # nothing registered before the end
    # What a kill can leave besides: a temporary file, and an image without its entry.
    # (the first variant's images are all done: its temporary file is only cleaned up)
    archive.partial_path(output / "pretrained" / "CN" / "cn-1-1.png").write_bytes(b"half")
    (output / "scoft-mpc" / "CN").mkdir(parents=True)
    (output / "scoft-mpc" / "CN" / "cn-0-1.png").write_bytes(b"no manifest entry")

    summary = run(study, FakeBackend())[-1]
    assert (summary.generated, summary.skipped, summary.partials_removed) == (4, 4, 1)
    assert GeneratedImage.objects.count() == 8 and ImageSet.objects.count() == 4
    images = [f for f in files_on_disk(output) if f.endswith(".png")]
    assert len(images) == 8 and not any(".partial" in f for f in files_on_disk(output))
    for image in GeneratedImage.objects.all():
        assert image.sha256 == archive.sha256_file(media_root / image.file.name)


def test_a_corrupted_image_is_made_again_and_its_row_updated_in_place(study, media_root):
    run(study, FakeBackend())
    image = GeneratedImage.objects.first()
    path = media_root / image.file.name
    good = path.read_bytes()
    path.write_bytes(b"bit rot")
    summary = run(study, FakeBackend())[-1]
    assert (summary.generated, summary.skipped) == (1, 7)
    assert path.read_bytes() == good
    assert GeneratedImage.objects.get(pk=image.pk).public_id == image.public_id


def test_a_changed_sampler_setting_remakes_the_images_and_updates_their_rows(study):
    run(study, FakeBackend())
    ids = set(GeneratedImage.objects.values_list("public_id", flat=True))
    backend = FakeBackend()
    backend.settings = replace(backend.settings, steps=2)
    summary = run(study, backend)[-1]
    assert (summary.generated, summary.skipped) == (8, 0)
    assert summary.registered.images_updated == 8
    assert set(GeneratedImage.objects.values_list("steps", flat=True)) == {2}
    assert set(GeneratedImage.objects.values_list("public_id", flat=True)) == ids


def test_a_failed_pipeline_call_is_counted_and_its_image_sets_wait_for_a_rerun(study):
    summary = run(study, FakeBackend(fail_prompts={"A dish from CN number 1"}))[-1]
    assert (summary.generated, summary.failed) == (4, 4)
    assert "out of memory" in summary.errors[0]
    assert set(ImageSet.objects.values_list("prompt_id", flat=True)) == {"cn-0"}
    assert summary.registered.incomplete_image_sets == []
    summary = run(study, FakeBackend())[-1]
    assert (summary.generated, summary.skipped, summary.failed) == (4, 4, 0)
    assert ImageSet.objects.count() == 4 and GeneratedImage.objects.count() == 8


def test_a_variant_that_cannot_load_fails_alone_and_no_incomplete_set_is_registered(study):
    summary = run(study, FakeBackend(fail_load={"scoft-mpc"}))[-1]
    assert (summary.generated, summary.failed) == (4, 4)
    assert "no weights for scoft-mpc" in summary.errors[0]
    assert ImageSet.objects.count() == 0 and GeneratedImage.objects.count() == 0
    assert len(summary.registered.incomplete_image_sets) == 4


def test_each_process_writes_its_own_manifest_and_only_the_main_one_registers(study, media_root):
    waits = []
    second = Processes(index=1, count=2, wait=lambda: waits.append(1))
    main = Processes(index=0, count=2, wait=lambda: waits.append(0))
    backend_1, backend_0 = FakeBackend(), FakeBackend()
    summary_1 = run(study, backend_1, second)[-1]
    assert summary_1.generated == 4 and summary_1.registered is None
    assert GeneratedImage.objects.count() == 0
    summary_0 = run(study, backend_0, main)[-1]
    assert summary_0.generated == 4
    assert backend_0.loads == ["pretrained"] and backend_1.loads == ["scoft-mpc"]
    output = media_root / "generated" / "test-study"
    assert sorted(p.name for p in output.glob("manifest-*")) == [
        "manifest-000.jsonl",
        "manifest-001.jsonl",
    ]
    assert waits == [1, 0]
    assert GeneratedImage.objects.count() == 8 and ImageSet.objects.count() == 4


def test_a_dry_run_describes_the_plan_and_writes_nothing(study, media_root):
    events = run(study, FakeBackend(), dry_run=True)
    assert len(events) == 1
    text = "\n".join(events[0].describe())
    assert "4 image sets x 2 variants = 8 images" in text
    assert "to generate: 8 in 4 pipeline calls of up to 2" in text
    assert not media_root.exists()
    assert ModelVariant.objects.count() == 0


def test_a_batch_size_option_overrides_the_spec(study):
    backend = FakeBackend()
    run(study, backend, batch_size=4)
    assert [len(call) for call in backend.calls] == [4, 4]
