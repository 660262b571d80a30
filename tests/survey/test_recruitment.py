"""The recruitment platforms table (survey/recruitment.py): ids in, the way back out."""

import pytest

from survey import recruitment as R


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"PROLIFIC_PID": "p1", "STUDY_ID": "s", "SESSION_ID": "x"}, ("prolific", "p1", "s", "x")),
        ({"workerId": "W1", "hitId": "h", "assignmentId": "a"}, ("mturk", "W1", "h", "a")),
        ({"participant_id": "g1", "study_id": "s2"}, ("generic", "g1", "s2", "")),
        ({}, ("direct", "", "", "")),
    ],
)
def test_each_platforms_ids_are_read_from_its_own_parameters(query, expected):
    found = R.recruitment_from_fields(R.recruitment_fields(query))
    assert (found.source, found.recruit_id, found.study_id, found.session_id) == expected


def test_an_mturk_preview_is_recognised_without_a_worker():
    found = R.recruitment_from_fields({"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"})
    assert found.preview and found.source == "mturk" and found.recruit_id == ""


@pytest.mark.parametrize("value", ["<script>", "a b", "é1", "x" * 129])
def test_a_damaged_id_is_refused(value):
    with pytest.raises(R.RecruitmentError):
        R.recruitment_from_fields({"PROLIFIC_PID": value})


@pytest.mark.parametrize(
    ("source", "study_platform", "study_url", "expected"),
    [
        ("prolific", "prolific", "", "https://app.prolific.com/submissions/complete?cc=AB12"),
        ("prolific", "prolific", "https://e.org/done?c={code}", "https://e.org/done?c=AB12"),
        ("mturk", "mturk", "https://e.org/done", ""),  # the worker pastes the code
        ("generic", "generic", "https://e.org/back/{code}", "https://e.org/back/AB12"),
        ("generic", "prolific", "https://e.org/back", ""),  # no standard link
        ("direct", "prolific", "https://e.org/back", ""),
    ],
)
def test_the_completion_rule_follows_the_platform(source, study_platform, study_url, expected):
    url = R.completion_return_url(
        source=source, study_platform=study_platform, study_url=study_url, code="AB12"
    )
    assert url == expected


def test_every_platform_is_one_entry_with_distinct_keys_and_parameters():
    keys = [p.key for p in R.PLATFORMS]
    params = [name for p in R.PLATFORMS for name in p.params()]
    assert len(set(keys)) == len(keys) and R.DIRECT not in keys
    assert len(set(params)) == len(params)
    assert [key for key, _label in R.SOURCE_CHOICES] == [R.DIRECT, *keys]
