"""Blinding: nothing a participant receives names or hints at a model variant."""

import io
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from PIL import Image

from generation.models import GeneratedImage, ModelVariant
from survey.blinding import pixels_to_png

from .factories import make_study, png_bytes
from .participants import SimulatedParticipant

pytestmark = pytest.mark.django_db


def png_chunks(data: bytes) -> list[str]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        chunks.append(data[offset + 4 : offset + 8].decode("ascii"))
        offset += 12 + length
    return chunks


def webp_chunks(data: bytes) -> list[str]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    chunks, offset = [], 12
    while offset < len(data):
        length = int.from_bytes(data[offset + 4 : offset + 8], "little")
        chunks.append(data[offset : offset + 4].decode("ascii"))
        offset += 8 + length + length % 2
    return chunks


def forbidden_words(study) -> set[str]:
    """Variant keys and labels, adapter paths, model ids, file names, the study's slug."""
    words = {study.slug}
    for variant in ModelVariant.objects.all():
        words |= {variant.key, variant.label, variant.adapter_path, variant.base_model}
    for image in GeneratedImage.objects.all():
        words |= {image.file.name, image.file.name.rsplit("/", 1)[-1], image.public_id}
    return {word.lower() for word in words if word}


def test_a_blinded_copy_keeps_the_pixels_and_drops_every_text_chunk():
    original = png_bytes((10, 20, 30), variant_key="scoft", label="SCoFT full model")
    assert b"scoft" in original
    blinded = pixels_to_png(Image.open(io.BytesIO(original)))
    assert png_chunks(blinded) == ["IHDR", "IDAT", "IEND"]
    assert b"scoft" not in blinded.lower()
    assert Image.open(io.BytesIO(blinded)).getpixel((3, 3)) == (10, 20, 30)


def test_exif_and_icc_profiles_do_not_survive_blinding():
    source = Image.new("RGB", (8, 8), (1, 2, 3))
    exif = Image.Exif()
    exif[0x010E] = "lora=scoft-all"  # ImageDescription
    buffer = io.BytesIO()
    source.save(buffer, "JPEG", exif=exif, icc_profile=b"lora=scoft-all icc")
    blinded = pixels_to_png(Image.open(io.BytesIO(buffer.getvalue())))
    assert png_chunks(blinded) == ["IHDR", "IDAT", "IEND"]
    assert b"scoft" not in blinded


def test_no_participant_facing_response_names_a_variant():
    # A slug named after the method must not reach participants either.
    study = make_study(pages=3, slug="scoft-vs-baseline")
    client = Client()
    bot = SimulatedParticipant(client, study, seed=7, query="?PROLIFIC_PID=scan1")
    bot.take_study(fetch_images=True)
    bot.get(f"/s/{study.public_id}/done/")
    bot.get("/")
    for number in range(1, 5):
        bot.get(f"/s/{study.public_id}/practice/{number}.png")
    words = forbidden_words(study)
    assert "pretrained" in words and "adapters/scoft-all" in words

    images = 0
    for url, response in bot.responses:
        body = b"".join(response) if response.streaming else response.content
        if response.get("Content-Type", "").startswith("image/"):
            images += 1
            if "/practice/" in url:
                assert png_chunks(body) == ["IHDR", "IDAT", "IEND"], url
            else:  # the participant copy: pixels and a zero padding chunk, nothing else
                assert response["Content-Type"] == "image/webp"
                assert webp_chunks(body) == ["VP8X", "VP8 ", "PAD "], url
                assert body.endswith(b"\0" * (len(body) - body.index(b"PAD ") - 8))
        for word in words:
            assert word.encode() not in body.lower(), (url, word)
        assert not any(word in url.lower() for word in words), url
        location = response.get("Location", "").lower()
        assert not any(word in location for word in words)
    assert images == 3 * 4 + 4

    for name in ("survey/ranking.js", "survey/survey.css"):
        static = Path(finders.find(name)).read_bytes().lower()
        assert not any(word.encode() in static for word in words), name


def test_image_urls_are_opaque_and_differ_between_participants():
    study = make_study(sets_per_country=1, pages=1)
    urls = []
    for seed in range(2):
        bot = SimulatedParticipant(Client(), study, seed=seed)
        bot.take_study(fetch_images=True)
        urls.append({u for u, r in bot.responses if "/image/" in u})
    assert len(urls[0]) == len(urls[1]) == 4
    assert not urls[0] & urls[1]
    for url in urls[0]:
        assert re.fullmatch(rf"/s/{study.public_id}/image/[-\w]{{100,200}}", url)
