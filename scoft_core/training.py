"""Training a SCoFT variant: LoRA on the UNet, accelerate, checkpoints with exact resume.

The sequence is the diffusers LoRA example's (freeze, add the adapter, cast the
trainable parameters, save with ``save_lora_weights``), kept as named functions. One
run writes into its output folder:

- ``training_config.json`` first, so a rerun can tell whether it continues the same run;
- ``checkpoints/step-NNNNNN/`` every `checkpoint_every` optimizer steps (LoRA weights,
  optimizer, schedule, scaler); a rerun of the same command resumes from the latest;
- ``loss_log.csv`` (one row per optimizer step, one column per loss term) and, when
  tensorboard is installed, ``logs/``;
- at the end the adapter (``pytorch_lora_weights.safetensors``, readable by stock
  ``pipeline.load_lora_weights(folder)``) and then ``scoft_variant.json``, written last,
  so its presence means the adapter is complete (ARCHITECTURE.md contract 2).

Every micro-step draws its noise, timesteps and augmentation from generators seeded by
(seed, process, micro-step), and its batch from `BatchPlan`, so a resumed run repeats the
uninterrupted one exactly.
"""

from __future__ import annotations

import csv
import importlib.metadata
import json
import math
import shutil
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from diffusers import DDPMScheduler, StableDiffusionPipeline
from diffusers.optimization import get_scheduler
from diffusers.training_utils import cast_training_params
from diffusers.utils import convert_state_dict_to_diffusers, convert_unet_state_dict_to_peft
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from tqdm.auto import tqdm

from scoft_core import data, objective
from scoft_core.losses import TERM_NAMES, total_loss
from scoft_core.models import LORA_WEIGHTS_FILE, load_pipeline
from scoft_core.variants import TrainingConfig, config_from_dict, config_to_dict

VARIANT_FILE = "scoft_variant.json"
RUN_FILE = "training_config.json"
LOSS_LOG = "loss_log.csv"
CHECKPOINTS = "checkpoints"

DIFFERENT_RUN = (
    "The output folder {folder} holds a run with different {what}; "
    "choose another output folder or delete that one."
)
ALREADY_TRAINED = "The adapter in {folder} is already trained ({steps} steps); nothing to do."
FP16_NEEDS_GPU = "Mixed precision {kind} needs a GPU here; use --mixed-precision no on a CPU."
LOG_COLUMNS = ("step", "lr", "loss", *TERM_NAMES)


@dataclass(frozen=True)
class TrainingResult:
    """What a finished `train` call produced."""

    output: Path
    steps: int
    resumed_from: int  # optimizer step the run resumed at (0 for a fresh run)
    already_done: bool = False


def library_versions() -> dict[str, str]:
    """Versions of the libraries that decide an adapter's numbers."""
    names = ("torch", "diffusers", "transformers", "peft", "accelerate", "safetensors")
    return {name: importlib.metadata.version(name) for name in names}


def total_steps(config: TrainingConfig, batches_per_epoch: int) -> int:
    """Optimizer steps of a run: max_steps, or enough for `epochs` passes over the data."""
    if config.max_steps is not None:
        return config.max_steps
    return max(1, math.ceil(config.epochs * batches_per_epoch / config.grad_accumulation))


def resolve_precision(config: TrainingConfig) -> str:
    """fp16 on a GPU as published; full precision on a CPU, where fp16 does not run."""
    if config.mixed_precision == "auto":
        return "fp16" if torch.cuda.is_available() else "no"
    if config.mixed_precision == "fp16" and not torch.cuda.is_available():
        raise ValueError(FP16_NEEDS_GPU.format(kind="fp16"))
    return config.mixed_precision


def add_lora(unet: torch.nn.Module, config: TrainingConfig) -> list[torch.nn.Parameter]:
    """Freeze the UNet, add a LoRA adapter to the target projections; returns its params."""
    unet.requires_grad_(False)
    unet.add_adapter(
        LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha or config.lora_rank,
            init_lora_weights="gaussian",
            target_modules=list(config.lora_targets),
        )
    )
    return [p for p in unet.parameters() if p.requires_grad]


def lora_layers(unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The adapter's weights in the naming stock diffusers loads."""
    return convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))


def save_adapter(unet: torch.nn.Module, folder: Path) -> None:
    """Write the LoRA weights (plus their config) where `load_lora_weights(folder)` reads."""
    StableDiffusionPipeline.save_lora_weights(
        folder,
        unet_lora_layers=lora_layers(unet),
        unet_lora_adapter_metadata=unet.peft_config["default"].to_dict(),
        safe_serialization=True,
    )


def load_adapter_into(unet: torch.nn.Module, folder: Path) -> None:
    """Put the LoRA weights saved in `folder` into a UNet that has the same adapter."""
    state, _ = StableDiffusionPipeline.lora_state_dict(folder)
    unet_state = {k.removeprefix("unet."): v for k, v in state.items() if k.startswith("unet.")}
    incompatible = set_peft_model_state_dict(
        unet, convert_unet_state_dict_to_peft(unet_state), adapter_name="default"
    )
    unexpected = getattr(incompatible, "unexpected_keys", None)
    if unexpected:
        raise ValueError(
            f"The checkpoint in {folder} has weights this adapter lacks: {unexpected[:3]}"
        )


def build_distances(config: TrainingConfig, options: dict | None = None):
    """The feature networks, built once per run: D for L_C and the one for L_P."""
    options = options or {}
    feature = perceptual = None
    if not config.unrolls:
        return feature, perceptual
    from scoft_core.features import build_feature_distance

    if config.contrastive != "off":
        feature = build_feature_distance(config.feature_distance, **options.get("feature", {}))
    if config.perceptual:
        if feature is not None and config.perceptual_distance == config.feature_distance:
            perceptual = feature
        else:
            perceptual = build_feature_distance(
                config.perceptual_distance, **options.get("perceptual", {})
            )
    return feature, perceptual


def _run_record(config: TrainingConfig, base_model: str, data_hash: str) -> dict:
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


class StepTerms:
    """Mean of each loss term over the micro-steps of one optimizer step that computed it."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, terms: dict[str, torch.Tensor], total: torch.Tensor) -> None:
        for name, value in {**terms, "loss": total}.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(value.detach())
            self.counts[name] = self.counts.get(name, 0) + 1

    def means(self) -> dict[str, float]:
        return {name: self.sums[name] / self.counts[name] for name in self.sums}


def _tensorboard_available() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def _prepare_output(output: Path, record: dict, *, resume: bool) -> bool:
    """Create or check the output folder; True when the adapter is already complete."""
    output.mkdir(parents=True, exist_ok=True)
    if (output / RUN_FILE).is_file():
        _check_same_run(output, record)
        if (output / VARIANT_FILE).is_file() and (output / LORA_WEIGHTS_FILE).is_file():
            return True
        if not resume:
            shutil.rmtree(output / CHECKPOINTS, ignore_errors=True)
    (output / RUN_FILE).write_text(json.dumps(record, indent=2))
    return False


def _register_checkpoint_hooks(accelerator: Accelerator) -> None:
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


def _save_checkpoint(accelerator: Accelerator, output: Path, step: int, kept: int) -> None:
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


def train(
    data_dir: Path,
    output: Path,
    config: TrainingConfig,
    *,
    base_model: str = "tiny",
    resume: bool = True,
    progress: bool = True,
    distance_options: dict | None = None,
    stop_after: int | None = None,
    on_step: Callable[[int, dict], None] | None = None,
) -> TrainingResult:
    """Train `config`'s variant on the data set in `data_dir`; write the adapter to `output`.

    The data set is validated first, and every problem is reported at once
    (`data.DataSetError`). With `resume`, a rerun continues from the latest checkpoint in
    `output`. `stop_after` ends the run after that many optimizer steps in total without
    writing the adapter (as if interrupted), for tests and time-boxed jobs.
    """
    config.check()
    data_dir, output = Path(data_dir), Path(output)
    examples = data.load_data_set(
        data_dir, need_generic=config.memorization, need_negatives=config.needs_negatives
    )
    data_hash = data.data_set_hash(data_dir, examples)
    record = _run_record(config, str(base_model), data_hash)
    precision = resolve_precision(config)
    if _prepare_output(output, record, resume=resume):
        steps = json.loads((output / VARIANT_FILE).read_text())["steps"]
        return TrainingResult(output=output, steps=steps, resumed_from=steps, already_done=True)

    use_tensorboard = _tensorboard_available()
    accelerator = Accelerator(
        mixed_precision=precision,
        project_dir=str(output),
        log_with="tensorboard" if use_tensorboard else None,
    )
    set_seed(config.seed)
    weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
    unet, parts = _load_parts(
        base_model, config, accelerator.device, weight_dtype, distance_options
    )
    trainable = add_lora(unet, config)
    cast_training_params(unet, dtype=torch.float32)
    optimizer = torch.optim.AdamW(
        trainable,
        lr=config.learning_rate,
        betas=config.adam_betas,
        weight_decay=config.weight_decay,
    )
    plan = data.BatchPlan(
        count=len(examples),
        batch_size=config.batch_size,
        seed=config.seed,
        process_index=accelerator.process_index,
        num_processes=accelerator.num_processes,
    )
    max_steps = total_steps(config, plan.batches_per_epoch)
    lr_schedule = get_scheduler(
        config.lr_schedule,
        optimizer=optimizer,
        num_warmup_steps=config.warmup_steps * accelerator.num_processes,
        num_training_steps=max_steps * accelerator.num_processes,
    )
    unet, optimizer, lr_schedule = accelerator.prepare(unet, optimizer, lr_schedule)
    _register_checkpoint_hooks(accelerator)

    start = 0
    checkpoint = latest_checkpoint(output) if resume else None
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        start = json.loads((checkpoint / "training_state.json").read_text())["step"]
    if use_tensorboard:
        accelerator.init_trackers("logs")
    log = LossLog(output / LOSS_LOG, resume_step=start, enabled=accelerator.is_main_process)
    end = max_steps if stop_after is None else min(max_steps, stop_after)
    bar = tqdm(
        total=max_steps,
        initial=start,
        desc=f"training {config.variant}",
        disable=not (progress and accelerator.is_local_main_process),
    )
    unet.train()
    for step in range(start, end):
        row = _optimizer_step(
            accelerator,
            unet,
            parts,
            optimizer,
            lr_schedule,
            trainable,
            config,
            plan,
            examples,
            data_dir,
            step,
        )
        log.append(row)
        if use_tensorboard:
            accelerator.log(
                {k: v for k, v in row.items() if k != "step" and v != ""}, step=step + 1
            )
        bar.update(1)
        bar.set_postfix(loss=f"{row['loss']:.4f}")
        if on_step is not None:
            on_step(step + 1, row)
        if (step + 1) % config.checkpoint_every == 0 and step + 1 < max_steps:
            _save_checkpoint(accelerator, output, step + 1, config.checkpoints_kept)
    bar.close()
    if end == max_steps:
        _finish(accelerator, unet, output, config, record, max_steps)
    accelerator.end_training()
    return TrainingResult(output=output, steps=end, resumed_from=start)


def _load_parts(base_model, config, device, weight_dtype, distance_options):
    pipe = load_pipeline(base_model)
    unet, vae, text_encoder = pipe.unet, pipe.vae, pipe.text_encoder
    vae.requires_grad_(False)
    text_encoder.requires_grad_(False)
    for module in (unet, vae, text_encoder):
        # Frozen weights in half precision under fp16/bf16 halve memory, as in diffusers.
        module.to(device) if weight_dtype == torch.float32 else module.to(device, weight_dtype)
    feature, perceptual = build_distances(config, distance_options)
    for distance in {id(d): d for d in (feature, perceptual) if d is not None}.values():
        if isinstance(distance, torch.nn.Module):
            distance.to(device).requires_grad_(False).eval()
    parts = objective.FrozenParts(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=pipe.tokenizer,
        noise_scheduler=DDPMScheduler.from_config(pipe.scheduler.config),
        feature_distance=feature,
        perceptual_distance=perceptual,
    )
    return unet, parts


def micro_step_generator(config: TrainingConfig, process: int, micro_step: int) -> torch.Generator:
    """The random source of one micro-step: a pure function of its coordinates."""
    return torch.Generator().manual_seed((config.seed * 1_000_003 + micro_step) * 131 + process)


def _optimizer_step(
    accelerator,
    unet,
    parts,
    optimizer,
    lr_schedule,
    trainable,
    config,
    plan,
    examples,
    data_dir,
    step,
) -> dict:
    terms_of_step = StepTerms()
    for micro in range(config.grad_accumulation):
        micro_step = step * config.grad_accumulation + micro
        indices, flips = plan.batch(micro_step, random_flip=config.random_flip)
        batch = data.collate(
            data_dir,
            [examples[i] for i in indices],
            flips,
            resolution=config.resolution,
            max_negatives=config.max_negatives if config.needs_negatives else 0,
        )
        generator = micro_step_generator(config, accelerator.process_index, micro_step)
        # Processes exchange gradients only on the last micro-step of an optimizer step.
        last = micro == config.grad_accumulation - 1
        with nullcontext() if last else accelerator.no_sync(unet):
            with accelerator.autocast():
                terms = objective.scoft_terms(
                    unet, parts, batch, config, micro_step=micro_step, generator=generator
                )
                loss = total_loss(terms, config.weights)
            accelerator.backward(loss / config.grad_accumulation)
        terms_of_step.add(terms, loss)
    if config.max_grad_norm > 0:
        accelerator.clip_grad_norm_(trainable, config.max_grad_norm)
    optimizer.step()
    lr_schedule.step()
    optimizer.zero_grad(set_to_none=True)
    means = terms_of_step.means()
    row = {name: means.get(name, "") for name in LOG_COLUMNS}
    row.update(step=step + 1, lr=lr_schedule.get_last_lr()[0])
    return row


def _finish(accelerator, unet, output, config, record, steps) -> None:
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (output / VARIANT_FILE).unlink(missing_ok=True)
        save_adapter(accelerator.unwrap_model(unet), output)
        description = {
            "variant": config.variant,
            "base_model": record["base_model"],
            "loss_weights": config_to_dict(config)["weights"],
            "steps": steps,
            "data_set_hash": record["data_set_hash"],
            "versions": library_versions(),
            "config": record["config"],
        }
        # Written last: its presence means the adapter beside it is complete.
        (output / VARIANT_FILE).write_text(json.dumps(description, indent=2))


def read_variant(folder: Path) -> tuple[dict, TrainingConfig]:
    """scoft_variant.json of an adapter folder, and the config it was trained with."""
    description = json.loads((Path(folder) / VARIANT_FILE).read_text())
    return description, config_from_dict(description["config"])
