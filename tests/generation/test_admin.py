"""The researcher admin shows image records read-only, with previews."""

import pytest
from django.urls import reverse

from generation.models import GeneratedImage, ImageSet, ModelVariant
from generation.services.generate import Processes, batch_generate

from .conftest import FakeBackend

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(write_spec, media_root):
    spec = write_spec(countries={"CN": 1}, seeds=(1,))
    list(batch_generate(spec=spec, backend=FakeBackend(), processes=Processes()))
    return ImageSet.objects.get()


def test_researchers_see_image_sets_with_their_images(admin_client, records):
    page = admin_client.get(reverse("admin:generation_imageset_change", args=[records.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "A dish from CN number 0" in html
    assert html.count("<img src=") == 2  # one preview per variant


@pytest.mark.parametrize("model", ["imageset", "generatedimage", "modelvariant"])
def test_every_record_list_renders(admin_client, records, model):
    assert admin_client.get(reverse(f"admin:generation_{model}_changelist")).status_code == 200


def test_images_and_image_sets_cannot_be_added_or_edited_by_hand(admin_client, records):
    image = GeneratedImage.objects.first()
    assert admin_client.get(reverse("admin:generation_imageset_add")).status_code == 403
    assert admin_client.get(reverse("admin:generation_generatedimage_add")).status_code == 403
    page = admin_client.post(
        reverse("admin:generation_generatedimage_change", args=[image.pk]), {"seed": 99}
    )
    assert page.status_code == 403
    assert GeneratedImage.objects.get(pk=image.pk).seed == 1


def test_a_variant_label_can_be_renamed(admin_client, records):
    variant = ModelVariant.objects.get(key="pretrained")
    url = reverse("admin:generation_modelvariant_change", args=[variant.pk])
    page = admin_client.post(url, {"label": "Stable Diffusion 1.4", "position": 3})
    assert page.status_code == 302
    variant.refresh_from_db()
    assert (variant.label, variant.position, variant.key) == (
        "Stable Diffusion 1.4",
        3,
        "pretrained",
    )
    assert admin_client.get(reverse("admin:generation_modelvariant_add")).status_code == 403
