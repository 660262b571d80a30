"""Participant copy formats: bytes and SSIM against the source on shipped photographs.

For each format the spec's `[survey] image_format` offers (and a few qualities), this
encodes the colour photographs that scikit-image ships, cropped to 512 x 512, through
the same code as registration (generation.services.copies.encode) and prints the median
and largest size, the SSIM against the source (on luminance, the usual measure, and the
mean over R, G and B), the time to encode, and the size of a four-image page padded to
its largest copy, next to the PNG baseline the survey served before.

    .venv/bin/python benchmarks/bench_image_formats.py
"""

import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FORMATS = [
    ("png", None),
    ("webp_lossless", None),
    ("webp", 100),
    ("webp", 95),
    ("webp", 90),
    ("jpeg", 98),
    ("jpeg", 95),
    ("jpeg", 90),
]


def main() -> int:
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    import numpy as np
    from PIL import Image
    from skimage.metrics import structural_similarity

    from benchmarks.bench_survey_load import photographs
    from generation.services.copies import encode
    from study.spec import DEFAULT_IMAGE_FORMAT, DEFAULT_IMAGE_QUALITY, ImageFormat

    photos = photographs()
    sources = [np.asarray(photo) for photo in photos]
    print(f"{len(photos)} photographs of 512 x 512 (scikit-image's data module)\n")
    print(
        f"{'format':<16}{'median KB':>10}{'max KB':>8}{'min SSIM Y':>12}{'min SSIM RGB':>14}"
        f"{'ms/image':>10}{'4-image page KB':>17}"
    )
    for name, quality in FORMATS:
        image_format = ImageFormat(name, quality)
        sizes, ssim_y, ssim_rgb, seconds = [], [], [], []
        for photo, source in zip(photos, sources, strict=True):
            started = time.perf_counter()
            data = encode(photo, image_format)
            seconds.append(time.perf_counter() - started)
            copy = Image.open(io.BytesIO(data)).convert("RGB")
            sizes.append(len(data))
            ssim_rgb.append(
                structural_similarity(source, np.asarray(copy), channel_axis=2, data_range=255)
            )
            luminance = [np.asarray(image.convert("L")) for image in (photo, copy)]
            ssim_y.append(structural_similarity(*luminance, data_range=255))
        default = (
            " (default)"
            if (name, quality)
            == (
                DEFAULT_IMAGE_FORMAT,
                DEFAULT_IMAGE_QUALITY,
            )
            else ""
        )
        print(
            f"{image_format.key:<16}{statistics.median(sizes) / 1024:>10.0f}"
            f"{max(sizes) / 1024:>8.0f}{min(ssim_y):>12.4f}{min(ssim_rgb):>14.4f}"
            f"{1000 * statistics.median(seconds):>10.0f}{4 * max(sizes) / 1024:>17.0f}{default}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
