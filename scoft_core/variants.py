"""One training configuration, and the paper's ablation variants as named presets of it.

| variant     | survey folder | losses                                            |
|-------------|---------------|---------------------------------------------------|
| pretrained  | genericSD     | none: the base model, no adapter                  |
| scoft-m     | baseline      | L_LDM + L_M                                       |
| scoft-mp    | positive      | + L_P and the positive half of L_C                |
| scoft-mpc   | contrastive   | + the full L_C against the base model's negatives |
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from scoft_core.features.lpips import RELU_FLAVOURS
from scoft_core.losses import LossWeights
from scoft_core.unroll import GRAD_STEPS, TIMESTEP_RULES
from study.names import BASELINE_VARIANT as PRETRAINED

CONTRASTIVE_MODES = ("off", "positive", "full")
# How the unroll moves from one timestep to the next: the published stochastic
# (ancestral DDPM) step, or the deterministic DDIM step.
UNROLL_UPDATES = {"ddpm": 1.0, "ddim": 0.0}  # name -> DDIM eta
# Which micro-steps unroll: the published counter restarts every epoch; "global" counts
# micro-steps over the whole run.
UNROLL_CADENCES = ("epoch", "global")
# The cosine schedule's length: published = max_steps x grad_accumulation (so with
# accumulation 4 the rate only falls to ~0.85 of its peak); "run" = max_steps (falls to 0).
SCHEDULE_LENGTHS = ("published", "run")
MIXED_PRECISIONS = ("auto", "no", "fp16", "bf16")

UNKNOWN_VARIANT = "Unknown variant {name!r}; choose one of: {choices}."
PRETRAINED_IS_NOT_TRAINED = (
    "The 'pretrained' variant is the base model with no adapter; there is nothing to train."
)
UNKNOWN_SETTING = "Unknown training setting {name!r}; the settings are: {choices}."
BAD_SETTING = "The training setting {name} must be {rule}; got {value!r}."
BAD_ASSIGNMENT = "Write a setting as NAME=VALUE (e.g. weight_decay=0.01); got {text!r}."
BAD_VALUE = "The training setting {name} takes {kind}; got {text!r}."
UNKNOWN_TERM = "Unknown loss term {name!r}; the terms are: {choices}."


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides a training run. Defaults are the published script's."""

    variant: str = "scoft-mpc"  # name recorded in scoft_variant.json
    # --- losses
    weights: LossWeights = field(default_factory=LossWeights)  # 0.7 / 0.3 / 0.05 / 0.01
    memorization: bool = True  # L_M against the generic (BLIP) caption
    contrastive: str = "full"  # "off", "positive" (D to x+ only) or "full" (with negatives)
    perceptual: bool = True  # L_P, the LPIPS-style distance to x+
    feature_distance: str = "dreamsim"  # D of L_C; the example script's choice
    perceptual_distance: str = "vgg-lpips"  # D of L_P; LPIPS on VGG16 as published
    unroll_every: int = 10  # L_C and L_P on one micro-step in ten, as published
    unroll_steps: int = 20  # denoising steps from z_t to x0_hat
    unroll_guidance: float = 4.5  # classifier-free guidance against the empty caption
    grad_step: str = "first"  # which UNet call of the unroll carries gradient
    # --- the published procedure's choices, each a switch (docs/method.md, "Deviations")
    unroll_update: str = "ddpm"  # "ddpm": published stochastic step; "ddim": deterministic
    unroll_timesteps: str = "published"  # "published": steps of t // (steps - 1); "even"
    unroll_cadence: str = "epoch"  # "epoch": published counter restarts each epoch; "global"
    lpips_relu: str = "published"  # L_P features: "published" (post-ReLU) or "pre-relu"
    schedule_length: str = "published"  # "published": max_steps x accumulation; "run"
    max_negatives: int = 3  # negatives per example read; the project page shows three
    # --- adapter
    lora_rank: int = 64  # published rank
    lora_alpha: int | None = None  # None = rank, so the LoRA scale is 1 as in the old script
    lora_targets: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0")  # every attention
    # --- optimisation
    learning_rate: float = 1e-4  # AdamW, as published
    adam_betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-2
    lr_schedule: str = "cosine"  # no warm-up, as published
    warmup_steps: int = 0
    max_grad_norm: float = 1.0  # gradient norm clipping
    batch_size: int = 1  # per process; the published script could only do 1
    grad_accumulation: int = 4  # published: 4 micro-steps per optimizer step
    epochs: int = 100  # used when max_steps is None
    max_steps: int | None = None  # optimizer steps; overrides epochs when set
    mixed_precision: str = "auto"  # fp16 on a GPU as published, off on a CPU
    seed: int = 1024  # published seed
    # --- data
    resolution: int = 512  # SD v1's size; the tiny model uses 64
    random_flip: bool = True  # published augmentation; centre crop always
    # --- bookkeeping
    checkpoint_every: int = 500  # optimizer steps between resumable checkpoints
    checkpoints_kept: int = 2  # older checkpoints are deleted

    def check(self) -> TrainingConfig:
        """Raise ValueError with a clear sentence for any setting no run could honour."""
        rules = [
            ("contrastive", self.contrastive in CONTRASTIVE_MODES, f"one of {CONTRASTIVE_MODES}"),
            ("grad_step", self.grad_step in GRAD_STEPS, f"one of {GRAD_STEPS}"),
            (
                "unroll_update",
                self.unroll_update in UNROLL_UPDATES,
                f"one of {tuple(UNROLL_UPDATES)}",
            ),
            (
                "unroll_timesteps",
                self.unroll_timesteps in TIMESTEP_RULES,
                f"one of {TIMESTEP_RULES}",
            ),
            ("unroll_cadence", self.unroll_cadence in UNROLL_CADENCES, f"one of {UNROLL_CADENCES}"),
            ("lpips_relu", self.lpips_relu in RELU_FLAVOURS, f"one of {RELU_FLAVOURS}"),
            (
                "schedule_length",
                self.schedule_length in SCHEDULE_LENGTHS,
                f"one of {SCHEDULE_LENGTHS}",
            ),
            (
                "mixed_precision",
                self.mixed_precision in MIXED_PRECISIONS,
                f"one of {MIXED_PRECISIONS}",
            ),
            ("lora_rank", self.lora_rank >= 1, "at least 1"),
            ("lora_targets", bool(self.lora_targets), "a non-empty list of module names"),
            ("batch_size", self.batch_size >= 1, "at least 1"),
            ("grad_accumulation", self.grad_accumulation >= 1, "at least 1"),
            ("unroll_every", self.unroll_every >= 1, "at least 1"),
            ("unroll_steps", self.unroll_steps >= 1, "at least 1"),
            ("max_negatives", self.max_negatives >= 1, "at least 1"),
            ("resolution", self.resolution >= 8 and self.resolution % 8 == 0, "a multiple of 8"),
            ("learning_rate", self.learning_rate > 0, "positive"),
            ("epochs", self.epochs >= 1, "at least 1"),
            ("max_steps", self.max_steps is None or self.max_steps >= 1, "at least 1"),
            ("checkpoint_every", self.checkpoint_every >= 1, "at least 1"),
            ("checkpoints_kept", self.checkpoints_kept >= 1, "at least 1"),
        ]
        for name, ok, rule in rules:
            if not ok:
                raise ValueError(
                    BAD_SETTING.format(name=name, rule=rule, value=getattr(self, name))
                )
        return self

    @property
    def unrolls(self) -> bool:
        """Whether any micro-step decodes the model's own image x0_hat."""
        return self.contrastive != "off" or self.perceptual

    @property
    def needs_negatives(self) -> bool:
        return self.contrastive == "full"

    @property
    def unroll_eta(self) -> float:
        """The DDIM eta of the unroll's update (1 = the published ancestral step)."""
        return UNROLL_UPDATES[self.unroll_update]


PRESETS: dict[str, TrainingConfig] = {
    "scoft-m": TrainingConfig(variant="scoft-m", contrastive="off", perceptual=False),
    "scoft-mp": TrainingConfig(variant="scoft-mp", contrastive="positive", perceptual=True),
    "scoft-mpc": TrainingConfig(variant="scoft-mpc", contrastive="full", perceptual=True),
}
VARIANTS = (PRETRAINED, *PRESETS)


def preset(name: str, **overrides) -> TrainingConfig:
    """The named variant's config with some settings changed (e.g. resolution=64)."""
    if name == PRETRAINED:
        raise ValueError(PRETRAINED_IS_NOT_TRAINED)
    if name not in PRESETS:
        raise ValueError(UNKNOWN_VARIANT.format(name=name, choices=", ".join(VARIANTS)))
    known = {f.name for f in dataclasses.fields(TrainingConfig)}
    for key in overrides:
        if key not in known:
            raise ValueError(UNKNOWN_SETTING.format(name=key, choices=", ".join(sorted(known))))
    return dataclasses.replace(PRESETS[name], **overrides).check()


def config_to_dict(config: TrainingConfig) -> dict:
    """Plain JSON-ready data (tuples become lists)."""
    return dataclasses.asdict(config)


def config_from_dict(data: dict) -> TrainingConfig:
    """The inverse of config_to_dict."""
    values = dict(data)
    values["weights"] = LossWeights(**values["weights"])
    values["lora_targets"] = tuple(values["lora_targets"])
    values["adam_betas"] = tuple(values["adam_betas"])
    return TrainingConfig(**values)


def _parse_value(name: str, text: str, default):
    """A command-line string as the type of the setting's default value."""
    if isinstance(default, bool):
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(BAD_VALUE.format(name=name, kind="true or false", text=text))
        return text.lower() in ("true", "1", "yes")
    if isinstance(default, tuple):
        kind = type(default[0]) if default else str
        return tuple(_parse_value(name, part.strip(), kind()) for part in text.split(","))
    if default is None or isinstance(default, int | float):
        number = float if isinstance(default, float) else int
        if default is None and text.lower() == "none":
            return None
        try:
            return number(text)
        except ValueError:
            kind = "a number" if number is float else "a whole number"
            raise ValueError(BAD_VALUE.format(name=name, kind=kind, text=text)) from None
    return text


def parse_settings(assignments: list[str]) -> dict:
    """Overrides from NAME=VALUE strings, typed like TrainingConfig's defaults."""
    defaults = TrainingConfig()
    known = {f.name for f in dataclasses.fields(TrainingConfig)} - {"weights", "variant"}
    overrides = {}
    for text in assignments:
        name, sep, value = text.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise ValueError(BAD_ASSIGNMENT.format(text=text))
        if name not in known:
            raise ValueError(UNKNOWN_SETTING.format(name=name, choices=", ".join(sorted(known))))
        overrides[name] = _parse_value(name, value.strip(), getattr(defaults, name))
    return overrides


def parse_loss_weights(text: str) -> LossWeights:
    """LossWeights from "ldm=0.7,memorization=0.3,..."; unnamed terms keep their defaults."""
    names = [f.name for f in dataclasses.fields(LossWeights)]
    values = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(BAD_ASSIGNMENT.format(text=part))
        if name.strip() not in names:
            raise ValueError(UNKNOWN_TERM.format(name=name.strip(), choices=", ".join(names)))
        values[name.strip()] = _parse_value(name.strip(), value.strip(), 0.0)
    return LossWeights(**values)
