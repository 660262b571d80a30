"""The archive on disk: no half-written image under its final name, torn manifests healed."""

import pytest
from PIL import Image

from generation.services import archive


def entry(job="a/p/1", file="a.png", sha="0" * 64, recipe="r"):
    return archive.ManifestEntry(job, file, sha, recipe, {"seed": 1})


def test_a_saved_png_is_complete_and_its_hash_is_returned(tmp_path):
    path = tmp_path / "v" / "x.png"
    sha = archive.save_png(Image.new("RGB", (8, 8), "red"), path, text={"parameters": "{}"})
    assert sha == archive.sha256_file(path)
    with Image.open(path) as image:
        assert image.size == (8, 8)
        assert image.text["parameters"] == "{}"
    assert not archive.partial_path(path).exists()


def test_a_write_that_fails_midway_leaves_nothing_under_either_name(tmp_path):
    path = tmp_path / "x.png"

    def write(handle):
        handle.write(b"half an image")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        archive.write_atomically(path, write)
    assert not path.exists()
    assert not archive.partial_path(path).exists()


def test_leftover_partial_files_are_removed(tmp_path):
    (tmp_path / "v").mkdir()
    archive.partial_path(tmp_path / "v" / "x.png").write_bytes(b"half")
    (tmp_path / "v" / "y.png").write_bytes(b"whole")
    assert archive.remove_partials(tmp_path) == 1
    assert [p.name for p in (tmp_path / "v").iterdir()] == ["y.png"]


def test_manifests_of_all_processes_are_read_and_the_last_entry_wins(tmp_path):
    with archive.ManifestWriter(archive.manifest_path(tmp_path, 0)) as writer:
        writer.append(entry(job="a", sha="1" * 64))
        writer.append(entry(job="a", sha="2" * 64))
    with archive.ManifestWriter(archive.manifest_path(tmp_path, 1)) as writer:
        writer.append(entry(job="b"))
    entries = archive.read_manifests(tmp_path)
    assert sorted(entries) == ["a", "b"]
    assert entries["a"].sha256 == "2" * 64


def test_a_torn_last_line_is_ignored_and_cut_before_the_next_append(tmp_path):
    path = archive.manifest_path(tmp_path, 0)
    with archive.ManifestWriter(path) as writer:
        writer.append(entry(job="a"))
    with open(path, "a") as handle:
        handle.write('{"job": "b", "fi')  # the process died mid-line
    assert sorted(archive.read_manifests(tmp_path)) == ["a"]
    with archive.ManifestWriter(path) as writer:
        writer.append(entry(job="c"))
    assert sorted(archive.read_manifests(tmp_path)) == ["a", "c"]
    assert len(path.read_text().splitlines()) == 2


def test_an_image_is_intact_only_with_its_file_hash_and_recipe(tmp_path):
    sha = archive.save_png(Image.new("RGB", (4, 4)), tmp_path / "a.png")
    good = entry(file="a.png", sha=sha, recipe="r1")
    assert archive.is_intact(good, tmp_path, recipe="r1")
    assert not archive.is_intact(good, tmp_path, recipe="r2")
    assert not archive.is_intact(None, tmp_path, recipe="r1")
    (tmp_path / "a.png").write_bytes(b"corrupt")
    assert not archive.is_intact(good, tmp_path, recipe="r1")
    (tmp_path / "a.png").unlink()
    assert not archive.is_intact(good, tmp_path, recipe="r1")


def test_a_folder_hash_changes_with_any_file(tmp_path):
    (tmp_path / "w.safetensors").write_bytes(b"1")
    first = archive.sha256_folder(tmp_path)
    assert archive.sha256_folder(tmp_path) == first
    (tmp_path / "w.safetensors").write_bytes(b"2")
    assert archive.sha256_folder(tmp_path) != first
