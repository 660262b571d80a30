"""Participant copies: pixels only, the spec's format, one size per image set, made once."""

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image, PngImagePlugin

from generation.models import GeneratedImage
from generation.services import copies
from generation.services.register import ImageRecord, VariantRecord, image_sets_register
from study.spec import ImageFormat

KEYS = ("pretrained", "finetune", "perceptual", "scoft")
VARIANTS = [VariantRecord(key=k, label=k.title(), position=i) for i, k in enumerate(KEYS)]
FORMATS = [
    ImageFormat("png", None),
    ImageFormat("webp_lossless", None),
    ImageFormat("webp", 100),
    ImageFormat("webp", 60),
    ImageFormat("jpeg", 90),
]


def photo_like(seed: int, size: int = 48, detail: float = 1.0) -> Image.Image:
    """A noisy gradient: more `detail`, more bytes in any codec."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, size)[None, :, None] * np.ones((size, 1, 3))
    noise = rng.normal(0, 30 * detail, (size, size, 3))
    return Image.fromarray(np.clip(ramp + noise, 0, 255).astype("uint8"))


def encoded(image: Image.Image, image_format: ImageFormat) -> bytes:
    return copies.encode(image, image_format)


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.parametrize("image_format", FORMATS, ids=lambda f: f.key)
def test_a_padded_set_has_one_size_and_the_same_pixels(image_format):
    images = [photo_like(seed, detail=detail) for seed, detail in enumerate((2, 0.2, 1, 0.5))]
    plain = [encoded(image, image_format) for image in images]
    assert len({len(data) for data in plain}) == 4  # the sizes differ before padding
    padded, size = copies.padded_set(plain)
    assert {len(data) for data in padded} == {size}
    for before, after in zip(plain, padded, strict=True):
        assert np.array_equal(decoded(before), decoded(after))


@pytest.mark.parametrize("image_format", FORMATS[:2], ids=lambda f: f.key)
def test_lossless_formats_keep_every_pixel(image_format):
    image = photo_like(3)
    assert np.array_equal(decoded(encoded(image, image_format)), np.asarray(image))


def test_padding_a_file_to_less_than_a_chunk_is_refused():
    data = encoded(photo_like(1), ImageFormat("png", None))
    with pytest.raises(ValueError, match="at least 12"):
        copies.pad(data, len(data) + 5)


def test_webp_padding_keeps_the_alpha_channel():
    image = Image.new("RGBA", (20, 20), (10, 20, 30, 128))
    data = encoded(image, ImageFormat("webp_lossless", None))
    padded = copies.pad(data, len(data) + 40)
    assert Image.open(io.BytesIO(padded)).convert("RGBA").getpixel((5, 5)) == (10, 20, 30, 128)


def test_the_default_format_is_visually_lossless_on_a_shipped_photograph():
    from skimage import data as shipped
    from skimage.metrics import structural_similarity

    source = Image.fromarray(shipped.astronaut())  # 512 x 512
    copy = encoded(source, ImageFormat())
    luminance = [np.asarray(image.convert("L")) for image in (source, Image.open(io.BytesIO(copy)))]
    assert structural_similarity(*luminance, data_range=255) >= 0.99
    assert len(copy) < 0.4 * len(encoded(source, ImageFormat("png", None)))


# --- registration -------------------------------------------------------------------------


def write_set(media: Path, prompt_id: str, seed: int = 1, detail=(1.2, 0.1, 0.5, 0.3)):
    """Source PNGs of one image set, the first variant the most detailed (largest)."""
    records = []
    for variant, amount in zip(VARIANTS, detail, strict=True):
        name = f"generated/s/{variant.key}/{prompt_id}.png"
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", f"lora={variant.label}")
        buffer = io.BytesIO()
        photo_like(hash((prompt_id, variant.key)) % 1000, detail=amount).save(
            buffer, "PNG", pnginfo=info
        )
        (media / name).parent.mkdir(parents=True, exist_ok=True)
        (media / name).write_bytes(buffer.getvalue())
        records.append(
            ImageRecord(
                variant_key=variant.key,
                country_code="CN",
                prompt_id=prompt_id,
                prompt="a street",
                category="",
                seed=seed,
                file=name,
                sha256=hashlib.sha256(buffer.getvalue()).hexdigest(),
                width=48,
                height=48,
            )
        )
    return records


def register(records, image_format=None):
    return image_sets_register(
        study_slug="s", variants=VARIANTS, images=records, image_format=image_format
    )


@pytest.mark.django_db
def test_registration_writes_one_blinded_copy_per_image_at_one_size_per_set(media_root):
    records = write_set(media_root, "p1") + write_set(media_root, "p2")
    result = register(records)
    assert result.participant_copies == 8
    for set_id in {image.image_set_id for image in GeneratedImage.objects.all()}:
        rows = GeneratedImage.objects.filter(image_set_id=set_id)
        sizes = {(media_root / row.copy_file).stat().st_size for row in rows}
        assert len(sizes) == 1 and sizes == {rows[0].copy_bytes}
    for row in GeneratedImage.objects.select_related("variant"):
        data = (media_root / row.copy_file).read_bytes()
        assert row.copy_format == "webp-q100" and row.copy_file.startswith("participant/")
        assert row.variant.key not in row.copy_file and b"lora" not in data
        assert (media_root / row.file.name).stat().st_size != len(data)


@pytest.mark.django_db
def test_registering_again_makes_no_copy_and_a_changed_image_remakes_its_set(media_root):
    register(write_set(media_root, "p1") + write_set(media_root, "p2"))
    before = dict(GeneratedImage.objects.values_list("pk", "copy_file"))
    assert (
        register(write_set(media_root, "p1") + write_set(media_root, "p2")).participant_copies == 0
    )
    assert dict(GeneratedImage.objects.values_list("pk", "copy_file")) == before
    changed = write_set(media_root, "p1", detail=(0.1, 0.3, 1, 0.6))
    assert register(changed + write_set(media_root, "p2")).participant_copies == 4
    after = dict(GeneratedImage.objects.values_list("pk", "copy_file"))
    remade = {pk for pk in before if before[pk] != after[pk]}
    assert len(remade) == 4
    for pk in remade:  # the old copies are gone
        assert not (media_root / before[pk]).exists()


@pytest.mark.django_db
def test_the_spec_format_is_used_and_a_new_format_remakes_every_copy(media_root):
    register(write_set(media_root, "p1"), ImageFormat("png", None))
    assert set(GeneratedImage.objects.values_list("copy_format", flat=True)) == {"png"}
    register(write_set(media_root, "p1"), ImageFormat("jpeg", 85))
    assert set(GeneratedImage.objects.values_list("copy_format", flat=True)) == {"jpeg-q85"}
    for name in GeneratedImage.objects.values_list("copy_file", flat=True):
        assert name.endswith(".jpg") and (media_root / name).read_bytes()[:2] == b"\xff\xd8"


@pytest.mark.django_db
def test_the_size_signal_is_gone(media_root):
    """The most detailed variant is the largest source of every set, never the largest copy."""
    records = [r for n in range(6) for r in write_set(media_root, f"p{n}")]
    register(records)
    for set_id in {image.image_set_id for image in GeneratedImage.objects.all()}:
        rows = list(
            GeneratedImage.objects.filter(image_set_id=set_id).order_by("variant__position")
        )
        sources = [(media_root / row.file.name).stat().st_size for row in rows]
        assert max(sources) == sources[0] > min(sources)
        assert len({(media_root / row.copy_file).stat().st_size for row in rows}) == 1


@pytest.mark.django_db
def test_the_command_makes_the_copies_of_an_existing_study_once(media_root, capsys):
    register(write_set(media_root, "p1"))
    GeneratedImage.objects.update(copy_file="", copy_format="", copy_bytes=None)
    call_command("make_participant_copies", "--study", "s")
    assert "4 participant copies (webp-q100) in 1 image sets" in capsys.readouterr().out
    assert not GeneratedImage.objects.filter(copy_file="").exists()
    call_command("make_participant_copies", "--study", "s")
    assert "0 participant copies" in capsys.readouterr().out


@pytest.mark.django_db
def test_the_command_refuses_an_unknown_study_and_a_missing_source(media_root):
    with pytest.raises(CommandError, match="No image sets are registered for study 'nope'"):
        call_command("make_participant_copies", "--study", "nope")
    with pytest.raises(CommandError, match="Give --study SLUG or --spec SPEC"):
        call_command("make_participant_copies")
    register(write_set(media_root, "p1"))
    first = GeneratedImage.objects.order_by("pk").first()
    (media_root / first.file.name).unlink()
    expected = copies.SOURCE_MISSING.format(name=first.file.name, public_id=first.public_id)
    with pytest.raises(CommandError) as error:
        call_command("make_participant_copies", "--study", "s", "--redo")
    assert str(error.value) == expected
    # Nothing half-done: the set keeps its previous copies.
    assert not GeneratedImage.objects.filter(copy_file="").exists()
