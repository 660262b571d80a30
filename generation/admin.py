"""Researcher admin for image records: read-mostly, since the commands write them.

Images and image sets are made only by generate_batch and import_batch (which keep the
files, hashes and manifests consistent), so they cannot be added or edited here. A
variant's researcher-facing label and display position can be changed.
"""

from django.contrib import admin
from django.utils.html import format_html

from .models import IMAGE_FIELDS, GeneratedImage, ImageSet, ModelVariant

THUMBNAIL = '<img src="{}" alt="" style="height:{}px;width:auto;image-rendering:pixelated">'


def thumbnail(image: GeneratedImage, size: int = 96) -> str:
    if not image.file:
        return "-"
    return format_html(THUMBNAIL, image.file.url, size)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nothing added or edited by hand; deleting stays possible to withdraw a record."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ModelVariant)
class ModelVariantAdmin(admin.ModelAdmin):
    list_display = (
        "study_slug",
        "key",
        "label",
        "position",
        "base_model",
        "adapter_short",
        "image_count",
    )
    list_filter = ("study_slug",)
    list_editable = ("label", "position")
    search_fields = ("key", "label", "base_model")
    readonly_fields = ("study_slug", "key", "base_model", "adapter_path", "adapter_sha256")

    def has_add_permission(self, request):
        return False

    @admin.display(description="adapter sha256")
    def adapter_short(self, variant):
        return variant.adapter_sha256[:12] or "-"

    @admin.display(description="images")
    def image_count(self, variant):
        return variant.images.count()


class GeneratedImageInline(admin.TabularInline):
    model = GeneratedImage
    extra = 0
    can_delete = False
    fields = ("preview", "variant", "public_id", "sha256", "width", "height", "source")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="image")
    def preview(self, image):
        return thumbnail(image)


@admin.register(ImageSet)
class ImageSetAdmin(ReadOnlyAdmin):
    list_display = (
        "study_slug",
        "country_code",
        "prompt_id",
        "seed",
        "category",
        "prompt",
        "image_count",
        "created_at",
    )
    list_filter = ("study_slug", "country_code", "category")
    search_fields = ("prompt_id", "prompt", "public_id")
    readonly_fields = (
        "public_id",
        "study_slug",
        "country_code",
        "prompt_id",
        "prompt",
        "category",
        "seed",
        "created_at",
    )
    inlines = [GeneratedImageInline]

    @admin.display(description="images")
    def image_count(self, image_set):
        return image_set.images.count()


@admin.register(GeneratedImage)
class GeneratedImageAdmin(ReadOnlyAdmin):
    list_display = (
        "preview",
        "image_set",
        "variant",
        "seed",
        "source",
        "scheduler",
        "steps",
        "guidance",
        "width",
        "height",
        "device",
    )
    list_filter = ("image_set__study_slug", "variant__key", "source", "image_set__country_code")
    list_select_related = ("image_set", "variant")
    search_fields = ("public_id", "sha256", "image_set__prompt", "image_set__prompt_id")
    readonly_fields = (
        "large_preview",
        "public_id",
        "image_set",
        "variant",
        *IMAGE_FIELDS,
        "created_at",
    )

    @admin.display(description="image")
    def preview(self, image):
        return thumbnail(image, 48)

    @admin.display(description="image")
    def large_preview(self, image):
        return thumbnail(image, 256)
