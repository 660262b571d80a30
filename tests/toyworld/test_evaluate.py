import json

import pytest

from toyworld.base_model import BASE_MODEL_DIR, DETECTORS_FILE
from toyworld.evaluate import BASE_VARIANT, EvaluationConfig, evaluate
from toyworld.report import PromptSet, format_table

SCALED_DOWN = EvaluationConfig(
    variants=("scoft-m", "scoft-mpc"), per_culture=1, negatives_per_image=1, max_steps=1,
    batch_size=2, unroll_every=1, unroll_steps=2, seeds_per_prompt=2, parallel=False,
)  # fmt: skip
FEW_PROMPTS = PromptSet(cultures=("Veloria", "Quenzar"), categories=("house",), seeds_per_prompt=2)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    work = tmp_path_factory.mktemp("evaluate")
    table = evaluate(work, BASE_MODEL_DIR, DETECTORS_FILE, SCALED_DOWN, FEW_PROMPTS, lambda m: None)
    return work, table


def test_a_scaled_down_evaluate_measures_every_variant_and_culture(evaluated):
    _, table = evaluated
    assert [(r.variant, r.culture) for r in table] == [
        (v, c) for v in (BASE_VARIANT, "scoft-m", "scoft-mpc") for c in ("Veloria", "Quenzar")
    ]
    for row in table:
        assert row.images == 2
        for estimate in (row.stereotype, row.fidelity, row.copies):
            assert 0.0 <= estimate.low <= estimate.value <= estimate.high <= 1.0


def test_evaluate_trains_through_scoft_core_with_base_model_negatives(evaluated):
    work, _ = evaluated
    rows = [json.loads(line) for line in (work / "community" / "metadata.jsonl").open()]
    assert all(len(row["negative_imgpath"]) == 1 for row in rows)
    for variant in ("scoft-m", "scoft-mpc"):
        assert (work / "adapters" / variant / "pytorch_lora_weights.safetensors").is_file()


def test_the_table_is_written_and_printable(evaluated):
    work, table = evaluated
    record = json.loads((work / "table.json").read_text())
    assert len(record["table"]) == len(table)
    assert "scoft-mpc" in format_table(table)
