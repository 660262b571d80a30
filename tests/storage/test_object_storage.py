"""Media on an S3-compatible object store: sources, participant copies, several web hosts."""

import hashlib
import io
import os
import re
import secrets
import subprocess
import sys
import textwrap
from html import unescape
from pathlib import Path

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from PIL import Image

from .conftest import ACCESS_KEY, BUCKET, SECRET_KEY, free_port, s3_environment, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


def provider(endpoint):
    return {
        "type": "libcloud.storage.types.Provider.MINIO",
        "user": ACCESS_KEY,
        "key": SECRET_KEY,
        "bucket": BUCKET,
        "endpoint": endpoint,
        "region": "us-east-1",
    }


@pytest.fixture
def object_storage(settings, s3_endpoint, tmp_path):
    """The default storage is the object store; MEDIA_ROOT a local folder of its own."""
    settings.LIBCLOUD_PROVIDERS = {"media": provider(s3_endpoint)}
    settings.DEFAULT_LIBCLOUD_PROVIDER = "media"
    settings.MEDIA_ROOT = str(tmp_path / "local-media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "config.storage.S3CompatibleStorage"},
    }
    from django.core.files.storage import default_storage

    return default_storage


def test_a_file_goes_to_the_store_and_comes_back(object_storage):
    name = f"exports/{secrets.token_hex(4)}.csv"
    stored = object_storage.save(name, io.BytesIO(b"participant,rank\n"))
    assert stored == name and object_storage.exists(name)
    assert object_storage.size(name) == 17
    with object_storage.open(name) as handle:
        assert handle.read() == b"participant,rank\n"
    object_storage.delete(name)
    assert not object_storage.exists(name)


def test_a_bad_endpoint_is_named(settings, s3_endpoint):
    settings.LIBCLOUD_PROVIDERS = {"media": provider("s3.example.org")}
    settings.DEFAULT_LIBCLOUD_PROVIDER = "media"
    from config.storage import BAD_ENDPOINT, S3CompatibleStorage

    with pytest.raises(ImproperlyConfigured) as error:
        S3CompatibleStorage()
    assert str(error.value) == BAD_ENDPOINT.format(endpoint="s3.example.org")


@pytest.mark.django_db
def test_an_export_is_saved_on_the_store(object_storage, settings):
    from survey.export import export_stream, rankings_export_store
    from tests.survey.answered import china_and_india

    study = china_and_india(sets_per_country=1, pages=1, answers=1)
    result = rankings_export_store(study=study, file_format="csv")
    assert result.stored_name.startswith(f"exports/{study.slug}-rankings-")
    assert not (Path(settings.MEDIA_ROOT) / result.stored_name).exists()  # not on the disk
    with object_storage.open(result.stored_name) as handle:
        assert handle.read() == b"".join(export_stream(study=study, file_format="csv"))
    assert object_storage.size(result.stored_name) == result.size


@pytest.mark.django_db
def test_registration_uploads_the_sources_and_the_copies_to_the_store(object_storage, settings):
    from generation.models import GeneratedImage
    from generation.services.register import image_sets_register

    records = write_sources(Path(settings.MEDIA_ROOT), "s3-study")
    image_sets_register(study_slug="s3-study", variants=_variants(), images=records)
    rows = list(GeneratedImage.objects.all())
    assert len(rows) == 4
    for row in rows:
        assert object_storage.exists(row.file.name)  # the source, uploaded
        assert object_storage.size(row.copy_file) == row.copy_bytes
        assert not (Path(settings.MEDIA_ROOT) / row.copy_file).exists()  # not on the disk
    assert len({row.copy_bytes for row in rows}) == 1


# --- two web hosts -------------------------------------------------------------------------

VARIANT_KEYS = ("pretrained", "finetune", "perceptual", "scoft")


def _variants():
    from generation.services.register import VariantRecord

    return [VariantRecord(key=k, label=k, position=i) for i, k in enumerate(VARIANT_KEYS)]


def write_sources(media: Path, slug: str, sets: int = 1):
    """One image set per country CN of small photo-like PNGs, in MEDIA_ROOT."""
    from generation.services.register import ImageRecord

    records = []
    for number in range(sets):
        for position, key in enumerate(VARIANT_KEYS):
            name = f"generated/{slug}/{key}/cn-{number}.png"
            buffer = io.BytesIO()
            noise = os.urandom(32 * 32 * 3 // (position + 1)).ljust(32 * 32 * 3, b"\x80")
            Image.frombytes("RGB", (32, 32), noise).save(buffer, "PNG")
            (media / name).parent.mkdir(parents=True, exist_ok=True)
            (media / name).write_bytes(buffer.getvalue())
            records.append(
                ImageRecord(
                    variant_key=key,
                    country_code="CN",
                    prompt_id=f"cn-{number}",
                    prompt="a street",
                    category="",
                    seed=1,
                    file=name,
                    sha256=hashlib.sha256(buffer.getvalue()).hexdigest(),
                    width=32,
                    height=32,
                )
            )
    return records


SETUP = textwrap.dedent(
    """
    from pathlib import Path
    from django.conf import settings
    from django.core.management import call_command
    from generation.services.register import image_sets_register
    from study.spec import Country, StudySpec, SurveySettings
    from survey.services import study_setup
    from tests.storage.test_object_storage import write_sources, _variants

    call_command("migrate", verbosity=0)
    spec = StudySpec(
        path=Path("s.toml"), slug="hosts", title="Two hosts",
        countries=(Country("CN", "China", "Chinese", "en"),),
        survey=SurveySettings(pages_per_participant=2, answers_per_image_set=5),
    )
    study, _ = study_setup(spec=spec)
    records = write_sources(Path(settings.MEDIA_ROOT), "hosts", sets=2)
    image_sets_register(study_slug="hosts", variants=_variants(), images=records)
    print(study.public_id)
    """
)


def test_two_web_processes_with_separate_disks_serve_the_same_study(s3_endpoint, tmp_path):
    base = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        **s3_environment(s3_endpoint),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "SQLITE_PATH": str(tmp_path / "shared.sqlite3"),
    }
    hosts = {name: {**base, "MEDIA_ROOT": str(tmp_path / f"disk-{name}")} for name in "ab"}
    setup = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SETUP],
        env=hosts["a"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert setup.returncode == 0, setup.stderr
    study_id = setup.stdout.strip().splitlines()[-1]
    servers, ports = [], {}
    try:
        for name, env in hosts.items():
            ports[name] = free_port()
            servers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "config.wsgi:application",
                        "--workers",
                        "1",
                        "--bind",
                        f"127.0.0.1:{ports[name]}",
                    ],
                    env=env,
                    cwd=ROOT,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_for_port(ports[name], servers[-1])
        # One browser, its requests spread over both hosts as a load balancer would.
        with httpx.Client(follow_redirects=False, timeout=30) as browser:
            host_a, host_b = (f"http://127.0.0.1:{ports[n]}" for n in "ab")
            html = take_study_to_first_page(browser, host_a, study_id)
            urls = [unescape(src) for src in re.findall(r'<img src="([^"]+)"', html)]
            assert len(urls) == 4
            for url in urls:
                from_a = browser.get(host_a + url)
                from_b = browser.get(host_b + url)
                assert from_a.status_code == from_b.status_code == 200
                assert from_a.content == from_b.content
                assert from_b.headers["content-type"] == "image/webp"
                Image.open(io.BytesIO(from_b.content)).load()
            # Host b answers the page too, from the same database.
            assert browser.get(f"{host_b}/s/{study_id}/rank/").status_code == 200
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
    # Neither web host keeps a participant copy on its own disk; b holds nothing at all.
    for name in "ab":
        assert not list((tmp_path / f"disk-{name}").glob("participant/*"))
    assert not (tmp_path / "disk-b").exists() or not any((tmp_path / "disk-b").rglob("*.*"))


def take_study_to_first_page(browser: httpx.Client, host: str, study_id: str) -> str:
    base = f"{host}/s/{study_id}/"

    def post(url, data):
        data = {**data, "csrfmiddlewaretoken": browser.cookies.get("csrftoken", "")}
        response = browser.post(url, data=data)
        assert response.status_code == 302, response.text[:500]

    landing = browser.get(base)
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', landing.text))
    hidden.pop("csrfmiddlewaretoken", None)
    post(base, hidden)
    post(base + "consent/", {"agree": "yes"})
    post(
        base + "about-you/",
        {"country": "CN", "age": "25-34", "gender": "woman", "years_in_country": "15+"},
    )
    practice = browser.get(base + "practice/").text
    names = re.findall(r'<select[^>]* name="(rank-[-\w]+-\d+)"', practice)
    post(base + "practice/", {name: str(i % 4 + 1) for i, name in enumerate(names)})
    page = browser.get(base + "rank/")
    assert page.status_code == 200
    return page.text
