"""The study's shared vocabulary: one place for names that several parts must agree on.

Every part of the project (scoft_core, generation, survey, analysis, toyworld, demo)
reads these from here instead of keeping its own copy. The module imports nothing, so
it may be imported anywhere, the web process included (an import-linter contract in
pyproject.toml keeps it so).
"""

from __future__ import annotations

from dataclasses import dataclass

# --- models and adapters (docs/ARCHITECTURE.md, contract 2) -----------------------------

#: A model id meaning "the project's tiny Stable Diffusion pipeline" wherever a model
#: path or hub id is taken (scoft_core builds it on first use).
TINY_MODEL = "tiny"
#: The LoRA weights file of an adapter folder: the name stock diffusers
#: ``pipeline.load_lora_weights(folder)`` looks for.
LORA_WEIGHTS_FILE = "pytorch_lora_weights.safetensors"
#: Written last by ``scoft_core train`` beside the weights: its presence means the
#: adapter is complete.
VARIANT_FILE = "scoft_variant.json"


# --- the study's model variants -------------------------------------------------------


@dataclass(frozen=True)
class VariantName:
    """One model variant of the published study, under each name it goes by."""

    key: str  # the platform's key: spec, database, export, adapters
    label: str  # the paper's name, shown to researchers
    published_column: str  # its column in the published survey's <Country>_files.csv
    description: str  # what it is, in one line


#: The four variants of the published study, in the paper's order (baseline first,
#: full method last): the default display order and headline pair of a report.
VARIANTS = (
    VariantName(
        "pretrained", "Stable Diffusion", "Generic Stable Diffusion", "the base model, no adapter"
    ),
    VariantName("scoft-m", "SCoFT+M", "Pure Finetune", "LoRA with L_LDM + L_M"),
    VariantName(
        "scoft-mp", "SCoFT+MP", "Positive", "SCoFT+M + L_P + the positive half of L_C"
    ),
    VariantName("scoft-mpc", "SCoFT+MPC", "Contrastive", "SCoFT+M + L_P + L_C (the method)"),
)
VARIANT_KEYS = tuple(v.key for v in VARIANTS)
VARIANT_LABELS = {v.key: v.label for v in VARIANTS}
#: The published survey CSV's column -> the platform's variant key.
PUBLISHED_COLUMNS = {v.published_column: v.key for v in VARIANTS}
#: The variants trained by ``scoft_core train`` (everything but the base model).
TRAINED_VARIANT_KEYS = VARIANT_KEYS[1:]
BASELINE_VARIANT = VARIANT_KEYS[0]
FULL_METHOD_VARIANT = VARIANT_KEYS[-1]


def variant_label(key: str) -> str:
    """The paper's name of a variant key, or the key itself for a study's own variant."""
    return VARIANT_LABELS.get(key, key)


# --- the survey ----------------------------------------------------------------------

#: The four questions of the published survey, in its order (rank 1 is the best end).
PUBLISHED_ITEMS = ("alignment", "culture", "stereotypes", "offensiveness")

#: The published survey's five countries: name -> ISO 3166 code.
PUBLISHED_COUNTRIES = {
    "China": "CN",
    "India": "IN",
    "Korea": "KR",
    "Mexico": "MX",
    "Nigeria": "NG",
}

#: The languages the participant pages are translated into (Django language codes),
#: with each one's own name for the language switch.
LANGUAGES = {
    "en": "English",
    "zh-hans": "简体中文",
    "hi": "हिन्दी",
    "ko": "한국어",
    "es": "Español",
}
DEFAULT_LANGUAGE = "en"
