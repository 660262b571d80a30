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
  so its presence means the adapter is complete (docs/ARCHITECTURE.md, "Adapter folder").

Every micro-step draws its noise, timesteps and augmentation from generators seeded by
(seed, process, micro-step), and its batch from `BatchPlan`, so a resumed run repeats the
uninterrupted one exactly.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from diffusers import DDPMScheduler
from diffusers.optimization import get_scheduler
from diffusers.training_utils import cast_training_params
from tqdm.auto import tqdm

from scoft_core import data, objective
from scoft_core.adapters import add_lora, save_adapter
from scoft_core.losses import total_loss
from scoft_core.pipelines import load_pipeline
from scoft_core.run_folder import (
    LOG_COLUMNS,
    LOSS_LOG,
    VARIANT_FILE,
    LossLog,
    latest_checkpoint,
    prepare_output,
    register_checkpoint_hooks,
    run_record,
    save_checkpoint,
    write_variant_file,
)
from scoft_core.variants import TrainingConfig

ALREADY_TRAINED = "The adapter in {folder} is already trained ({steps} steps); nothing to do."
FP16_NEEDS_GPU = "Mixed precision {kind} needs a GPU here; use --mixed-precision no on a CPU."


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


@dataclass(frozen=True)
class ScheduleSteps:
    """The learning-rate schedule's warm-up and total length, in schedule steps."""

    warmup: int
    total: int


def schedule_steps(config: TrainingConfig, max_steps: int) -> ScheduleSteps:
    """The schedule's length. The published script passes warm-up and length in
    micro-steps (x grad_accumulation) while stepping the schedule once per optimizer step,
    so its cosine stops early (at 0.85 of the peak with accumulation 4); "run" spans the
    run's optimizer steps and decays to 0."""
    factor = config.grad_accumulation if config.schedule_length == "published" else 1
    return ScheduleSteps(warmup=config.warmup_steps * factor, total=max_steps * factor)


def resolve_precision(config: TrainingConfig) -> str:
    """fp16 on a GPU as published; full precision on a CPU, where fp16 does not run."""
    if config.mixed_precision == "auto":
        return "fp16" if torch.cuda.is_available() else "no"
    if config.mixed_precision == "fp16" and not torch.cuda.is_available():
        raise ValueError(FP16_NEEDS_GPU.format(kind="fp16"))
    return config.mixed_precision


def build_distances(config: TrainingConfig, options: dict | None = None):
    """The feature networks, built once per run: D for L_C and the one for L_P."""
    options = options or {}
    feature = perceptual = None
    if not config.unrolls:
        return feature, perceptual
    from scoft_core.features import build_feature_distance

    feature_options = _with_relu(config.feature_distance, options.get("feature", {}), "published")
    perceptual_options = _with_relu(
        config.perceptual_distance, options.get("perceptual", {}), config.lpips_relu
    )
    if config.contrastive != "off":
        feature = build_feature_distance(config.feature_distance, **feature_options)
    if config.perceptual:
        same = config.perceptual_distance == config.feature_distance
        if feature is not None and same and perceptual_options == feature_options:
            perceptual = feature  # one network serves both terms
        else:
            perceptual = build_feature_distance(config.perceptual_distance, **perceptual_options)
    return feature, perceptual


# Distances with LPIPS's arithmetic, whose features can be read before or after the ReLU.
LPIPS_STYLE = ("vgg-lpips", "random-conv")


def _with_relu(name: str, options: dict, relu: str) -> dict:
    """The options of distance `name`, with the ReLU flavour set unless given already."""
    if name not in LPIPS_STYLE:
        return dict(options)
    return {**options, "relu": options.get("relu", relu)}


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


@dataclass
class _Run:
    """Everything one training run's steps read: models, optimizer, data plan, settings."""

    accelerator: Accelerator
    unet: torch.nn.Module
    parts: objective.FrozenParts
    optimizer: torch.optim.Optimizer
    lr_schedule: object
    trainable: list[torch.nn.Parameter]
    config: TrainingConfig
    plan: data.BatchPlan
    examples: list[data.Example]
    data_dir: Path
    max_steps: int


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
    record = run_record(config, str(base_model), data.data_set_hash(data_dir, examples))
    precision = resolve_precision(config)
    if prepare_output(output, record, resume=resume):
        steps = json.loads((output / VARIANT_FILE).read_text())["steps"]
        return TrainingResult(output=output, steps=steps, resumed_from=steps, already_done=True)

    use_tensorboard = _tensorboard_available()
    accelerator = Accelerator(
        mixed_precision=precision,
        project_dir=str(output),
        log_with="tensorboard" if use_tensorboard else None,
    )
    run = _set_up(accelerator, config, base_model, examples, data_dir, distance_options)
    start = 0
    checkpoint = latest_checkpoint(output) if resume else None
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        start = json.loads((checkpoint / "training_state.json").read_text())["step"]
    if use_tensorboard:
        accelerator.init_trackers("logs")
    log = LossLog(output / LOSS_LOG, resume_step=start, enabled=accelerator.is_main_process)
    end = run.max_steps if stop_after is None else min(run.max_steps, stop_after)
    bar = tqdm(
        total=run.max_steps,
        initial=start,
        desc=f"training {config.variant}",
        disable=not (progress and accelerator.is_local_main_process),
    )
    run.unet.train()
    for step in range(start, end):
        row = _optimizer_step(run, step)
        log.append(row)
        if use_tensorboard:
            accelerator.log(
                {k: v for k, v in row.items() if k != "step" and v != ""}, step=step + 1
            )
        bar.update(1)
        bar.set_postfix(loss=f"{row['loss']:.4f}")
        if (step + 1) % config.checkpoint_every == 0 and step + 1 < run.max_steps:
            save_checkpoint(accelerator, output, step + 1, config.checkpoints_kept)
    bar.close()
    if end == run.max_steps:
        _finish(accelerator, run.unet, output, config, record, run.max_steps)
    accelerator.end_training()
    return TrainingResult(output=output, steps=end, resumed_from=start)


def _set_up(accelerator, config, base_model, examples, data_dir, distance_options) -> _Run:
    """Models with the adapter, optimizer and schedule, prepared by accelerate."""
    set_seed(config.seed)  # the LoRA initialisation draws from the global generator
    precision = accelerator.mixed_precision
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
    # accelerate steps a prepared schedule once per process, hence the factor.
    length = schedule_steps(config, max_steps)
    lr_schedule = get_scheduler(
        config.lr_schedule,
        optimizer=optimizer,
        num_warmup_steps=length.warmup * accelerator.num_processes,
        num_training_steps=length.total * accelerator.num_processes,
    )
    unet, optimizer, lr_schedule = accelerator.prepare(unet, optimizer, lr_schedule)
    register_checkpoint_hooks(accelerator)
    return _Run(
        accelerator, unet, parts, optimizer, lr_schedule, trainable, config, plan, examples,
        data_dir, max_steps,
    )  # fmt: skip


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
        if hasattr(distance, "to"):  # feature networks come frozen; only placement is ours
            distance.to(device)
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


def _micro_batch(run: _Run, micro_step: int) -> data.Batch:
    config = run.config
    indices, flips = run.plan.batch(micro_step, random_flip=config.random_flip)
    return data.collate(
        run.data_dir,
        [run.examples[i] for i in indices],
        flips,
        resolution=config.resolution,
        max_negatives=config.max_negatives if config.needs_negatives else 0,
    )


def _optimizer_step(run: _Run, step: int) -> dict:
    """One optimizer step over `grad_accumulation` micro-steps; returns its loss-log row."""
    accelerator, config = run.accelerator, run.config
    terms_of_step = StepTerms()
    for micro in range(config.grad_accumulation):
        micro_step = step * config.grad_accumulation + micro
        batch = _micro_batch(run, micro_step)
        generator = micro_step_generator(config, accelerator.process_index, micro_step)
        # Processes exchange gradients only on the last micro-step of an optimizer step.
        last = micro == config.grad_accumulation - 1
        with nullcontext() if last else accelerator.no_sync(run.unet):
            with accelerator.autocast():
                terms = objective.scoft_terms(
                    run.unet,
                    run.parts,
                    batch,
                    config,
                    micro_step=micro_step,
                    generator=generator,
                    batches_per_epoch=run.plan.batches_per_epoch,
                )
                loss = total_loss(terms, config.weights)
            accelerator.backward(loss / config.grad_accumulation)
        terms_of_step.add(terms, loss)
    if config.max_grad_norm > 0:
        accelerator.clip_grad_norm_(run.trainable, config.max_grad_norm)
    run.optimizer.step()
    run.lr_schedule.step()
    run.optimizer.zero_grad(set_to_none=True)
    means = terms_of_step.means()
    row = {name: means.get(name, "") for name in LOG_COLUMNS}
    row.update(step=step + 1, lr=run.lr_schedule.get_last_lr()[0])
    return row


def _finish(accelerator, unet, output, config, record, steps) -> None:
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (output / VARIANT_FILE).unlink(missing_ok=True)
        save_adapter(accelerator.unwrap_model(unet), output)
        write_variant_file(output, config, record, steps=steps, versions=library_versions())
