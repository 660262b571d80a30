"""The output folder of a training run: run record, checkpoints, loss log, variant file.

- ``training_config.json`` is written first, so a rerun can tell whether it continues
  the same run (same settings, base model and data) or would mix two runs;
- ``checkpoints/step-NNNNNN/`` hold the adapter, optimizer, schedule and scaler; each is
  written under a temporary name and renamed, so only complete ones are ever found;
- ``loss_log.csv`` has one row per optimizer step, one column per loss term;
- ``scoft_variant.json`` is written last, beside the adapter: its presence means the
  adapter is complete (docs/ARCHITECTURE.md, "Adapter folder").
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path

from accelerate import Accelerator, PartialState

from scoft_core.adapters import load_adapter_into, save_adapter
from scoft_core.losses import TERM_NAMES
from scoft_core.variants import TrainingConfig, config_from_dict, config_to_dict
from study.names import LORA_WEIGHTS_FILE, VARIANT_FILE

# accelerate logs three INFO lines per checkpoint (optimizer, scheduler, random states);
# where a host application logs INFO (the demo's Django settings do) they bury the
# progress bars. The checkpoint folder is this module's to report.
logging.getLogger("accelerate.checkpointing").setLevel(logging.WARNING)

RUN_FILE = "training_config.json"
LOSS_LOG = "loss_log.csv"
CHECKPOINTS = "checkpoints"
LOG_COLUMNS = ("step", "lr", "loss", *TERM_NAMES)

DIFFERENT_RUN = (
    "The output folder {folder} holds a run with different {what}; "
    "choose another output folder or delete that one."
)


def run_record(config: TrainingConfig, base_model: str, data_hash: str) -> dict:
    record = {
        "config": config_to_dict(config),
        "base_model": base_model,
        "data_set_hash": data_hash,
    }
    return json.loads(json.dumps(record))  # as it reads back from disk (lists, not tuples)


def _check_same_run(folder: Path, record: dict) -> None:
    previous = json.loads((folder / RUN_FILE).read_text())
    for key, what in (
        ("config", "settings"),
        ("base_model", "base model"),
        ("data_set_hash", "data"),
    ):
        if previous.get(key) != record[key]:
            raise ValueError(DIFFERENT_RUN.format(folder=folder, what=what))


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint of a run, if any."""
    found = sorted((folder / CHECKPOINTS).glob("step-[0-9]*[0-9]"))
    complete = [path for path in found if (path / "training_state.json").is_file()]
    return complete[-1] if complete else None


class LossLog:
    """loss_log.csv, one row per optimizer step; a resumed run drops rows after its step."""

    def __init__(self, path: Path, *, resume_step: int, enabled: bool):
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        kept = []
        if resume_step and path.is_file():
            with path.open(newline="") as handle:
                kept = [row for row in csv.DictReader(handle) if int(row["step"]) <= resume_step]
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, LOG_COLUMNS)
            writer.writeheader()
            writer.writerows(kept)

    def append(self, row: dict) -> None:
        if self.enabled:
            with self.path.open("a", newline="") as handle:
                csv.DictWriter(handle, LOG_COLUMNS).writerow(row)


def prepare_output(output: Path, record: dict, *, resume: bool) -> bool:
    """Create or check the output folder; True when the adapter is already complete.

    Every process checks; only the main one writes, and the others wait for it.
    """
    state = PartialState()
    done = False
    if (output / RUN_FILE).is_file():
        _check_same_run(output, record)
        done = (output / VARIANT_FILE).is_file() and (output / LORA_WEIGHTS_FILE).is_file()
    if state.is_main_process and not done:
        output.mkdir(parents=True, exist_ok=True)
        if not resume:
            shutil.rmtree(output / CHECKPOINTS, ignore_errors=True)
        (output / RUN_FILE).write_text(json.dumps(record, indent=2))
    state.wait_for_everyone()
    return done


def register_checkpoint_hooks(accelerator: Accelerator) -> None:
    # accelerate would save the whole UNet (gigabytes for SD); keep only the adapter.
    def save_hook(models, weights, folder):
        if accelerator.is_main_process:
            for model in models:
                save_adapter(accelerator.unwrap_model(model), Path(folder))
        while weights:
            weights.pop()

    def load_hook(models, folder):
        while models:
            load_adapter_into(accelerator.unwrap_model(models.pop()), Path(folder))

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def save_checkpoint(accelerator: Accelerator, output: Path, step: int, kept: int) -> None:
    folder = output / CHECKPOINTS / f"step-{step:06d}"
    staging = folder.with_name(folder.name + ".partial")
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (staging / "training_state.json").write_text(json.dumps({"step": step}))
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        for old in sorted((output / CHECKPOINTS).glob("step-[0-9]*[0-9]"))[:-kept]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def read_variant(folder: Path) -> tuple[dict, TrainingConfig]:
    """scoft_variant.json of an adapter folder, and the config it was trained with."""
    description = json.loads((Path(folder) / VARIANT_FILE).read_text())
    return description, config_from_dict(description["config"])


def write_variant_file(
    output: Path, config: TrainingConfig, record: dict, *, steps: int, versions: dict
) -> None:
    """scoft_variant.json; call it after the adapter is saved, since it marks completion."""
    description = {
        "variant": config.variant,
        "base_model": record["base_model"],
        "loss_weights": config_to_dict(config)["weights"],
        "steps": steps,
        "data_set_hash": record["data_set_hash"],
        "versions": versions,
        "config": record["config"],
    }
    (output / VARIANT_FILE).write_text(json.dumps(description, indent=2))
