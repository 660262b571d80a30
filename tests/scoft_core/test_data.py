"""The community data set: every problem reported at once with its line, batches replayable."""

import json

import pytest
import torch

from scoft_core import data
from tests.scoft_core.community import make_data_set


def write_metadata(folder, lines):
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")


def test_a_valid_data_set_loads_with_line_numbers(tmp_path):
    make_data_set(tmp_path, count=3)
    examples = data.load_data_set(tmp_path, need_generic=True, need_negatives=True)
    assert [e.line for e in examples] == [1, 2, 3]
    assert examples[0].negative_imgpath == ("negatives/0_0.png", "negatives/0_1.png")
    assert examples[0].blip_text == "a woman wearing a headscarf"


def test_every_problem_is_reported_at_once_with_its_line(tmp_path):
    make_data_set(tmp_path, count=2)
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    good = json.loads((tmp_path / "metadata.jsonl").read_text().splitlines()[0])
    write_metadata(
        tmp_path,
        [
            json.dumps(good),
            json.dumps({**good, "file_name": "images/absent.png"}),
            json.dumps({**good, "file_name": "broken.png"}),
            json.dumps({**good, "text": "  "}),
            json.dumps({**good, "blip_text": ""}),
            json.dumps({**good, "negative_imgpath": []}),
            json.dumps({**good, "negative_imgpath": ["negatives/absent.png"]}),
            "{not json",
            "",
            json.dumps({**good, "file_name": "../outside.png"}),
        ],
    )
    with pytest.raises(data.DataSetError) as error:
        data.load_data_set(tmp_path, need_generic=True, need_negatives=True)
    assert error.value.problems == [
        data.MISSING_IMAGE.format(line=2, path="images/absent.png"),
        data.UNREADABLE_IMAGE.format(line=3, path="broken.png"),
        data.EMPTY_CAPTION.format(line=4),
        data.MISSING_GENERIC_CAPTION.format(line=5),
        data.MISSING_NEGATIVES.format(line=6),
        data.MISSING_NEGATIVE.format(line=7, path="negatives/absent.png"),
        data.BAD_JSON.format(line=8, error="Expecting property name enclosed in double quotes"),
        data.PATH_OUTSIDE.format(line=10, path="../outside.png"),
    ]
    assert "has 8 problem(s)" in str(error.value)


def test_generic_captions_and_negatives_are_only_required_by_the_losses_that_use_them(tmp_path):
    make_data_set(tmp_path, count=2, negatives=0, generic=False)
    assert data.validate_data_set(tmp_path) == []
    assert data.validate_data_set(tmp_path, need_generic=True) == [
        data.MISSING_GENERIC_CAPTION.format(line=1),
        data.MISSING_GENERIC_CAPTION.format(line=2),
    ]
    assert data.validate_data_set(tmp_path, need_negatives=True) == [
        data.MISSING_NEGATIVES.format(line=1),
        data.MISSING_NEGATIVES.format(line=2),
    ]


def test_a_missing_folder_or_metadata_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_data_set(tmp_path / "absent")
    with pytest.raises(FileNotFoundError) as error:
        data.load_data_set(tmp_path)
    assert str(error.value) == data.MISSING_METADATA.format(folder=tmp_path)


def test_images_are_centre_cropped_to_the_resolution_in_minus_one_to_one(tmp_path):
    make_data_set(tmp_path, count=1)
    pixels = data.image_tensor(tmp_path / "images/0.png", 32)
    assert pixels.shape == (3, 32, 32)
    assert pixels.min() >= -1 and pixels.max() <= 1
    flipped = data.image_tensor(tmp_path / "images/0.png", 32, flip=True)
    assert torch.equal(flipped, pixels.flip(-1))


def test_a_negative_is_flipped_with_its_positive_and_absent_slots_are_masked(tmp_path):
    make_data_set(tmp_path, count=2, negatives=1)
    examples = data.load_data_set(tmp_path)
    batch = data.collate(tmp_path, examples, [True, False], resolution=16, max_negatives=2)
    assert batch.negatives.shape == (2, 2, 3, 16, 16)
    assert batch.negative_present.tolist() == [[True, False], [True, False]]
    expected = data.image_tensor(tmp_path / "negatives/0_0.png", 16, flip=True)
    assert torch.equal(batch.negatives[0, 0], expected)
    assert torch.count_nonzero(batch.negatives[:, 1]) == 0


def test_a_micro_steps_batch_depends_only_on_its_number():
    plan = data.BatchPlan(count=5, batch_size=2, seed=3)
    assert plan.batches_per_epoch == 3
    first_epoch = [plan.batch(m, random_flip=True)[0] for m in range(3)]
    assert sorted(i for batch in first_epoch for i in batch) == [0, 1, 2, 3, 4]
    assert plan.batch(4, random_flip=True) == data.BatchPlan(5, 2, 3).batch(4, random_flip=True)
    assert plan.batch(0, random_flip=False)[1] == [False, False]


def test_processes_read_disjoint_shards_of_an_epoch():
    shards = [
        data.BatchPlan(count=6, batch_size=3, seed=1, process_index=p, num_processes=2)
        for p in (0, 1)
    ]
    seen = [set(plan.batch(0, random_flip=False)[0]) for plan in shards]
    assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == set(range(6))


def test_the_data_set_hash_changes_when_an_image_changes(tmp_path):
    make_data_set(tmp_path, count=2)
    examples = data.load_data_set(tmp_path)
    before = data.data_set_hash(tmp_path, examples)
    (tmp_path / "negatives/1_0.png").write_bytes((tmp_path / "images/0.png").read_bytes())
    assert data.data_set_hash(tmp_path, examples) != before
