"""import_batch: image sets made elsewhere, including the published survey's folder layout."""

import csv
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from generation.models import GeneratedImage, ImageSet, ModelVariant
from generation.services import archive
from generation.services import importing as I
from generation.services.importing import ImportProblems, import_apply, import_plan
from study.spec import load_spec

from .conftest import spec_text

pytestmark = pytest.mark.django_db

PUBLISHED = [
    "prompt",
    "Generic Stable Diffusion",
    "Pure Finetune",
    "Positive",
    "Contrastive",
    "seed",
]
FOLDERS = ["genericSD", "baseline", "positive", "contrastive"]


def write_image(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 10), colour).save(path)


def published_country(root: Path, country: str, prompts: list[str], seed: int = 10551):
    """A country folder as published: <Country>/<Country>_files.csv, paths from `root`."""
    rows = []
    for n, prompt in enumerate(prompts):
        paths = []
        for v, folder in enumerate(FOLDERS):
            relative = f"{country}/{folder}/{n}.png"
            write_image(root / relative, (len(country) * 9 % 256, n * 40 % 256, v * 60))
            paths.append(relative)
        rows.append([prompt, *paths, seed + n])
    with open(root / country / f"{country}_files.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PUBLISHED)
        writer.writerows(rows)
    return root / country / f"{country}_files.csv"


@pytest.fixture
def survey_images(tmp_path):
    root = tmp_path / "survey_images"
    published_country(root, "China", ["A temple in Beijing", "Dumplings on a table"])
    published_country(root, "Nigeria", ["A market in Lagos"])
    return root


def rewrite(csv_path: Path, edit) -> None:
    with open(csv_path, newline="") as handle:
        rows = list(csv.reader(handle))
    edit(rows)
    with open(csv_path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)


def test_the_published_layout_imports_every_country_with_the_paper_variants(
    survey_images, media_root
):
    call_command("import_batch", str(survey_images), "--study", "scoft-2024", stdout=None)
    variants = list(ModelVariant.objects.filter(study_slug="scoft-2024"))
    assert [(v.key, v.label) for v in variants] == [
        ("pretrained", "Stable Diffusion"),
        ("scoft-m", "SCoFT+M"),
        ("scoft-mp", "SCoFT+MP"),
        ("scoft-mpc", "SCoFT+MPC"),
    ]
    assert sorted(ImageSet.objects.values_list("country_code", "prompt", "seed")) == [
        ("CN", "A temple in Beijing", 10551),
        ("CN", "Dumplings on a table", 10552),
        ("NG", "A market in Lagos", 10551),
    ]
    assert GeneratedImage.objects.count() == 12
    for image in GeneratedImage.objects.all():
        assert image.source == GeneratedImage.Source.IMPORTED
        assert (image.width, image.height) == (12, 10)
        assert archive.sha256_file(media_root / image.file.name) == image.sha256


def test_importing_the_same_folder_again_changes_nothing(survey_images):
    plan = import_plan(survey_images, study_slug="scoft-2024")
    import_apply(plan)
    before = sorted(GeneratedImage.objects.values_list("public_id", "sha256", "file"))
    result = import_apply(import_plan(survey_images, study_slug="scoft-2024"))
    assert (result.images_created, result.images_updated, result.images_unchanged) == (0, 0, 12)
    assert sorted(GeneratedImage.objects.values_list("public_id", "sha256", "file")) == before


def test_a_single_country_folder_can_be_imported(survey_images):
    plan = import_plan(survey_images / "Nigeria", study_slug="s")
    assert plan.image_set_count == 1 and len(plan.images) == 4


def test_every_bad_file_and_row_is_listed_and_nothing_is_written(survey_images, media_root):
    china = survey_images / "China" / "China_files.csv"
    (survey_images / "China" / "baseline" / "1.png").write_bytes(b"\x89PNG not really")
    (survey_images / "China" / "positive" / "0.png").unlink()

    def edit(rows):
        rows[2][4] = rows[2][1]  # line 3: Contrastive is the same file as Generic SD
        rows.append(["A temple in Beijing", *rows[1][1:5], "10551"])  # line 4: repeated set
        rows.append(["", "x.png", "y.png", "z.png", "w.png", "seven"])  # line 5

    rewrite(china, edit)
    with pytest.raises(ImportProblems) as caught:
        import_plan(survey_images, study_slug="s")
    problems = caught.value.problems
    col = "Generic Stable Diffusion"
    assert problems[:4] == [
        I.FILE_MISSING.format(
            csv="China_files.csv", line=2, column="Positive", path="China/positive/0.png"
        ),
        I.FILE_UNREADABLE.format(
            csv="China_files.csv", line=3, column="Pure Finetune", path="China/baseline/1.png"
        ),
        I.DUPLICATE_FILE.format(
            csv="China_files.csv",
            line=3,
            column="Contrastive",
            path="China/genericSD/1.png",
            other=f"China_files.csv line 3 {col!r}",
        ),
        I.DUPLICATE_SET.format(
            csv="China_files.csv",
            line=4,
            prompt="A temple in Beijing",
            seed=10551,
            other="China_files.csv line 2",
        ),
    ]
    assert I.EMPTY_PROMPT.format(csv="China_files.csv", line=5) in problems
    assert I.BAD_SEED.format(csv="China_files.csv", line=5, value="seven") in problems
    assert (
        I.FILE_MISSING.format(csv="China_files.csv", line=5, column=col, path="x.png") in problems
    )
    assert str(caught.value).startswith(
        I.IMPORT_HAS_PROBLEMS.format(path=survey_images, count=len(problems))
    )
    assert GeneratedImage.objects.count() == 0 and not media_root.exists()


def test_the_command_reports_problems_as_a_command_error(survey_images):
    (survey_images / "Nigeria" / "contrastive" / "0.png").unlink()
    with pytest.raises(CommandError) as caught:
        call_command("import_batch", str(survey_images), "--study", "s")
    assert I.FILE_MISSING.format(
        csv="Nigeria_files.csv", line=2, column="Contrastive", path="Nigeria/contrastive/0.png"
    ) in str(caught.value)
    assert ModelVariant.objects.count() == 0


def test_a_study_is_required():
    with pytest.raises(CommandError, match=I.NO_STUDY):
        call_command("import_batch", "/nonexistent")


def test_a_path_without_manifests_is_refused(tmp_path):
    with pytest.raises(ImportProblems) as caught:
        import_plan(tmp_path, study_slug="s")
    assert caught.value.problems == [I.NOTHING_TO_IMPORT.format(path=tmp_path)]


def test_variant_columns_map_to_keys_from_the_command_line(survey_images):
    call_command(
        "import_batch",
        str(survey_images / "Nigeria"),
        "--study",
        "s",
        "--variant",
        "Generic Stable Diffusion=sd14",
        "--variant",
        "Contrastive=full",
        stdout=None,
    )
    assert list(ModelVariant.objects.values_list("key", "label")) == [
        ("sd14", "Generic Stable Diffusion"),
        ("scoft-m", "SCoFT+M"),
        ("scoft-mp", "SCoFT+MP"),
        ("full", "Contrastive"),
    ]


def test_variant_columns_map_to_the_spec_variants_and_prompts_to_its_ids(survey_images, tmp_path):
    text = spec_text(slug="from-spec", variants=("a", "b", "c", "d"), countries={"CN": 1})
    for key, column in zip("abcd", PUBLISHED[1:5], strict=True):
        text = text.replace(
            f'label = "Variant {key}"', f'label = "Variant {key}"\ncsv_column = "{column}"'
        )
    text = text.replace("A dish from CN number 0", "A temple in Beijing")
    (tmp_path / "study.toml").write_text(text)
    call_command(
        "import_batch",
        str(survey_images / "China"),
        "--spec",
        str(tmp_path / "study.toml"),
        stdout=None,
    )
    assert list(ModelVariant.objects.values_list("key", "label")) == [
        ("a", "Variant a"),
        ("b", "Variant b"),
        ("c", "Variant c"),
        ("d", "Variant d"),
    ]
    temple = ImageSet.objects.get(prompt="A temple in Beijing")
    assert (temple.study_slug, temple.prompt_id, temple.category) == ("from-spec", "cn-0", "food")
    other = ImageSet.objects.get(prompt="Dumplings on a table")
    assert other.prompt_id.startswith("cn-")  # not in the spec: a stable id from its text


def test_an_unmapped_column_and_an_unknown_country_are_problems(tmp_path):
    root = tmp_path / "images"
    csv_path = published_country(root, "Atlantis", ["A harbour"])
    rewrite(csv_path, lambda rows: rows[0].__setitem__(3, "Mystery"))
    with pytest.raises(ImportProblems) as caught:
        import_plan(root, study_slug="s")
    assert caught.value.problems == [
        I.UNMAPPED_COLUMN.format(csv="Atlantis_files.csv", column="Mystery"),
        I.UNKNOWN_COUNTRY.format(csv="Atlantis_files.csv", name="Atlantis"),
    ]
    plan = import_plan(
        root, study_slug="s", country_codes={"Atlantis": "AT"}, variant_keys={"Mystery": "mystery"}
    )
    assert {image.record.country_code for image in plan.images} == {"AT"}


def test_a_plain_manifest_csv_with_ids_and_categories_imports(tmp_path):
    write_image(tmp_path / "one.png", (1, 2, 3))
    write_image(tmp_path / "two.png", (3, 2, 1))
    (tmp_path / "batch.csv").write_text(
        "prompt_id,prompt,category,seed,old,new\nkr-1,A hanok at dusk,architecture,5,one.png,"
        "two.png\n"
    )
    call_command(
        "import_batch",
        str(tmp_path / "batch.csv"),
        "--study",
        "s",
        "--country",
        "=KR",
        "--variant",
        "old=pretrained",
        "--variant",
        "new=scoft-mpc",
        stdout=None,
    )
    image_set = ImageSet.objects.get()
    assert (image_set.prompt_id, image_set.category, image_set.country_code, image_set.seed) == (
        "kr-1",
        "architecture",
        "KR",
        5,
    )
    assert image_set.images.count() == 2


def test_an_image_already_registered_elsewhere_is_a_duplicate(survey_images):
    import_apply(import_plan(survey_images / "Nigeria", study_slug="first"))
    with pytest.raises(ImportProblems) as caught:
        import_plan(survey_images / "Nigeria", study_slug="second")
    assert len(caught.value.problems) == 4
    assert caught.value.problems[0].startswith(
        "Nigeria_files.csv line 2: 'Generic Stable Diffusion' image Nigeria/genericSD/0.png "
        "is already in the database"
    )


def test_a_badly_written_option_is_a_command_error(survey_images):
    with pytest.raises(CommandError, match="must look like NAME=VALUE"):
        call_command("import_batch", str(survey_images), "--study", "s", "--variant", "oops")


def test_an_import_without_a_spec_keeps_what_generate_batch_recorded_about_a_variant(
    survey_images,
):
    ModelVariant.objects.create(
        study_slug="s",
        key="pretrained",
        label="SD 1.4 (ours)",
        base_model="CompVis/stable-diffusion-v1-4",
        position=0,
    )
    import_apply(import_plan(survey_images / "Nigeria", study_slug="s"))
    variant = ModelVariant.objects.get(study_slug="s", key="pretrained")
    assert (variant.label, variant.base_model) == ("SD 1.4 (ours)", "CompVis/stable-diffusion-v1-4")
    assert ModelVariant.objects.get(study_slug="s", key="scoft-mpc").label == "SCoFT+MPC"


def test_a_seed_written_as_a_float_by_a_spreadsheet_is_accepted(survey_images):
    rewrite(
        survey_images / "Nigeria" / "Nigeria_files.csv",
        lambda rows: rows[1].__setitem__(5, "10551.0"),
    )
    plan = import_plan(survey_images / "Nigeria", study_slug="s")
    assert {image.record.seed for image in plan.images} == {10551}


def test_a_manifest_that_is_not_utf8_csv_is_a_problem(tmp_path):
    (tmp_path / "batch.csv").write_bytes(b"prompt,seed\n\xff\xfe\n")
    with pytest.raises(ImportProblems) as caught:
        import_plan(tmp_path / "batch.csv", study_slug="s", country_codes={"": "CN"})
    [problem] = caught.value.problems
    assert problem.startswith(I.CSV_UNREADABLE.split("{reason}")[0].format(csv="batch.csv"))


def test_missing_columns_are_problems(tmp_path):
    (tmp_path / "batch.csv").write_text("text,number\nA hut,1\n")
    with pytest.raises(ImportProblems) as caught:
        import_plan(
            tmp_path / "batch.csv",
            study_slug="s",
            country_codes={"": "CN"},
            variant_keys={"text": "a", "number": "b"},
        )
    assert caught.value.problems == [
        I.MISSING_COLUMN.format(csv="batch.csv", column="prompt"),
        I.MISSING_COLUMN.format(csv="batch.csv", column="seed"),
    ]
    (tmp_path / "batch.csv").write_text("prompt,seed\nA hut,1\n")
    with pytest.raises(ImportProblems) as caught:
        import_plan(tmp_path / "batch.csv", study_slug="s", country_codes={"": "CN"})
    assert caught.value.problems == [I.NO_VARIANT_COLUMNS.format(csv="batch.csv")]


def test_bad_variant_mappings_are_problems(survey_images, tmp_path):
    with pytest.raises(ImportProblems) as caught:
        import_plan(
            survey_images / "Nigeria",
            study_slug="s",
            variant_keys={"Positive": "scoft-mpc", "Pure Finetune": "no good"},
        )
    assert caught.value.problems == [
        I.BAD_VARIANT_KEY.format(column="Pure Finetune", key="no good"),
        I.DUPLICATE_VARIANT_KEY.format(key="scoft-mpc", columns="'Positive', 'Contrastive'"),
    ]
    (tmp_path / "study.toml").write_text(spec_text())
    with pytest.raises(ImportProblems) as caught:
        import_plan(
            survey_images / "Nigeria",
            spec=load_spec(tmp_path / "study.toml"),
            variant_keys={"Positive": "elsewhere"},
        )
    assert I.UNKNOWN_VARIANT.format(column="Positive", key="elsewhere") in caught.value.problems


def test_an_empty_image_cell_is_a_problem(survey_images):
    rewrite(
        survey_images / "Nigeria" / "Nigeria_files.csv", lambda rows: rows[1].__setitem__(2, "")
    )
    with pytest.raises(ImportProblems) as caught:
        import_plan(survey_images / "Nigeria", study_slug="s")
    assert caught.value.problems == [
        I.EMPTY_PATH.format(csv="Nigeria_files.csv", line=2, column="Pure Finetune")
    ]


def test_the_already_registered_message_names_the_existing_record(survey_images):
    import_apply(import_plan(survey_images / "Nigeria", study_slug="first"))
    with pytest.raises(ImportProblems) as caught:
        import_plan(survey_images / "Nigeria", study_slug="second")
    image_set = ImageSet.objects.get(study_slug="first")
    assert caught.value.problems[0] == I.ALREADY_REGISTERED.format(
        csv="Nigeria_files.csv",
        line=2,
        column="Generic Stable Diffusion",
        path="Nigeria/genericSD/0.png",
        other=f"{image_set} [pretrained]",
    )


def test_a_published_csv_given_alone_reads_paths_from_its_folders_parent(survey_images):
    plan = import_plan(survey_images / "China" / "China_files.csv", study_slug="s")
    assert plan.image_set_count == 2
    assert {image.record.country_code for image in plan.images} == {"CN"}


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height pixels, with no pixel data behind it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))


# Pillow warns on opening a header this large; the import refuses it before decoding.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_an_image_of_too_many_pixels_is_refused_before_it_is_decoded(survey_images):
    # 10000 x 9000 = 90 megapixels, about 360 MB once decoded: refused from its header.
    png_header_only(survey_images / "Nigeria" / "positive" / "0.png", 10_000, 9_000)
    with pytest.raises(ImportProblems) as caught:
        import_plan(survey_images / "Nigeria", study_slug="s")
    assert caught.value.problems == [
        I.IMAGE_TOO_LARGE.format(
            csv="Nigeria_files.csv",
            line=2,
            column="Positive",
            path="Nigeria/positive/0.png",
            width=10_000,
            height=9_000,
            limit=I.MAX_IMAGE_PIXELS,
            megabytes=360,
        )
    ]


def test_skip_incomplete_imports_every_complete_row_and_lists_the_others(
    survey_images, media_root
):
    """Three images of one set missing, one truncated PNG, one image of another size."""
    china, nigeria = survey_images / "China", survey_images / "Nigeria"
    for folder in FOLDERS[1:]:
        (china / folder / "0.png").unlink()
    truncated = china / "positive" / "1.png"
    truncated.write_bytes(truncated.read_bytes()[:-40])
    Image.new("RGB", (24, 20), (5, 5, 5)).save(nigeria / "baseline" / "0.png")
    published_country(survey_images, "Korea", ["A hanok village", "Tteokbokki"])
    for number, image in enumerate(sorted((survey_images / "Korea").rglob("*.png"))):
        write_image(image, (200, 7 * number, 99))  # China's have the same colours

    with pytest.raises(CommandError) as caught:  # without the flag: all or nothing
        call_command("import_batch", str(survey_images), "--study", "s", stdout=io.StringIO())
    assert "5 problem(s); nothing was imported" in str(caught.value)
    assert GeneratedImage.objects.count() == 0

    out = io.StringIO()
    call_command(
        "import_batch", str(survey_images), "--study", "s", "--skip-incomplete", stdout=out
    )
    assert sorted(ImageSet.objects.values_list("country_code", "prompt")) == [
        ("KR", "A hanok village"),
        ("KR", "Tteokbokki"),
    ]
    assert GeneratedImage.objects.count() == 8
    report = out.getvalue()
    missing = [
        I.FILE_MISSING.format(
            csv="China_files.csv", line=2, column=column, path=f"China/{folder}/0.png"
        )
        for column, folder in zip(PUBLISHED[2:5], FOLDERS[1:], strict=True)
    ]
    assert f"Skipped China_files.csv line 2 ('A temple in Beijing'): {'; '.join(missing)}" in report
    assert (
        "Skipped China_files.csv line 3 ('Dumplings on a table'): "
        + I.FILE_UNREADABLE.format(
            csv="China_files.csv", line=3, column="Positive", path="China/positive/1.png"
        )
    ) in report
    assert (
        "Skipped Nigeria_files.csv line 2 ('A market in Lagos'): "
        + I.WRONG_SIZE.format(
            csv="Nigeria_files.csv",
            line=2,
            column="Pure Finetune",
            path="Nigeria/baseline/0.png",
            width=24,
            height=20,
            common_width=12,
            common_height=10,
        )
    ) in report
    assert "Skipped 3 incomplete rows; nothing was written for them." in report
    # Nothing of a skipped row reached the media folder either.
    assert len(list(media_root.rglob("*.png"))) == 8


def test_an_import_spec_without_variants_prompts_or_seeds_uses_the_published_layout(
    survey_images, tmp_path
):
    spec = tmp_path / "study.toml"
    spec.write_text(
        '[study]\nslug = "published"\ntitle = "The published survey"\n\n'
        '[[countries]]\ncode = "CN"\nname = "China"\nadjective = "Chinese"\n'
        'language = "zh-hans"\n',
        encoding="utf-8",
    )
    call_command("import_batch", str(survey_images), "--spec", str(spec), stdout=io.StringIO())
    assert list(ModelVariant.objects.values_list("key", flat=True)) == [
        "pretrained",
        "scoft-m",
        "scoft-mp",
        "scoft-mpc",
    ]
    assert set(ImageSet.objects.values_list("study_slug", "country_code")) == {
        ("published", "CN"),
        ("published", "NG"),
    }
