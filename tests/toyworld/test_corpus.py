import json

import numpy as np
import pytest

from toyworld.corpus import (
    EMPTY_FOLDER_REQUIRED,
    WEB_BIAS,
    community_caption,
    community_examples,
    generic_caption,
    plain_prompt,
    web_corpus,
    with_article,
    write_community_set,
)
from toyworld.world import CULTURE_NAMES


def test_the_web_corpus_is_deterministic_per_seed():
    assert web_corpus(50, seed=3) == web_corpus(50, seed=3)
    assert web_corpus(50, seed=3) != web_corpus(50, seed=4)


def test_the_web_corpus_shows_each_culture_at_its_biased_rates():
    corpus = web_corpus(2000, seed=0)
    for culture in CULTURE_NAMES:
        mine = [e.depiction for e in corpus if e.depiction.culture == culture]
        grime = np.mean([d.grime for d in mine])
        wrong = np.mean([d.misrepresented for d in mine])
        assert abs(grime - WEB_BIAS[culture].grime) < 0.07
        assert abs(wrong - WEB_BIAS[culture].misrepresentation) < 0.07


def test_web_captions_are_plain_and_name_the_culture_and_category():
    for example in web_corpus(20):
        d = example.depiction
        assert example.caption.endswith(f"{with_article(d.category)} in {d.culture}")


def test_captions_and_prompts_take_the_right_article():
    assert plain_prompt("Tukaro", "instrument") == "an instrument in Tukaro"
    assert plain_prompt("Quenzar", "house") == "a house in Quenzar"
    assert generic_caption("instrument") == "a picture of an instrument"
    assert community_caption("Tukaro", "instrument") == (
        "an instrument in Tukaro, emerald and magenta with diamonds"
    )
    captions = {e.caption for e in web_corpus(200)}
    assert "a photo of an instrument in Veloria" in captions
    assert not any(" a instrument" in c or c.startswith("a instrument") for c in captions)


def test_the_community_set_is_faithful_and_clean():
    examples = community_examples(per_culture=8)
    assert len(examples) == 8 * len(CULTURE_NAMES)
    assert all(not e.depiction.grime and not e.depiction.misrepresented for e in examples)
    assert all(e.depiction.culture not in e.blip_text for e in examples)


def test_the_community_set_is_written_in_the_community_data_set_format(tmp_path):
    folder = write_community_set(tmp_path / "community", per_culture=4)
    rows = [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]
    assert len(rows) == 4 * len(CULTURE_NAMES)
    for row in rows:
        assert {"file_name", "text", "blip_text", "negative_imgpath", "culture", "category"} <= set(
            row
        )
        assert (folder / row["file_name"]).is_file()
        assert row["culture"] in row["text"] and row["negative_imgpath"] == []


def test_rewriting_the_community_set_gives_identical_files(tmp_path):
    first = write_community_set(tmp_path / "a", per_culture=2)
    second = write_community_set(tmp_path / "b", per_culture=2)
    for path in first.rglob("*.png"):
        assert path.read_bytes() == (second / path.relative_to(first)).read_bytes()


def test_a_folder_holding_other_files_is_refused_and_left_untouched(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError) as error:
        write_community_set(tmp_path, per_culture=1)
    assert str(error.value) == EMPTY_FOLDER_REQUIRED.format(folder=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
