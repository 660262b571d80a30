"""Loading Stable Diffusion pipelines, and the project's tiny one.

A study runs on a real Stable Diffusion model (a local diffusers folder or a hub id such
as CompVis/stable-diffusion-v1-4) on a GPU, or on the project's *tiny* pipeline on a
CPU. The tiny pipeline has the same architecture (a UNet with cross-attention, a VAE that
downsamples 8x into 4 latent channels, a CLIP text encoder and tokenizer, a DDIM
scheduler), only much smaller and randomly initialised from a seed. It is saved as an
ordinary diffusers folder and loaded through the same ``from_pretrained`` path as any
other model, so everything downstream exercises the real code.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from study.names import LORA_WEIGHTS_FILE, TINY_MODEL

MISSING_MODEL_FOLDER = "The model folder {path} does not exist."
NOT_A_PIPELINE_FOLDER = (
    "The folder {path} is not a diffusers Stable Diffusion pipeline (it has no model_index.json)."
)
MODEL_NOT_AVAILABLE = (
    "Could not load the model {model!r}: it is not a local folder, and the hub could not "
    "provide it (offline, or no such model id). Give a local diffusers folder, a hub id "
    "that is downloaded already, or 'tiny'. Details: {error}"
)
MISSING_ADAPTER_FOLDER = "The adapter folder {path} does not exist."
NOT_AN_ADAPTER_FOLDER = (
    "The folder {path} holds no LoRA weights (pytorch_lora_weights.safetensors); "
    "give the output folder of `python -m scoft_core train`."
)

# Stable Diffusion v1's noise schedule, so the tiny model trains and samples like the real one.
SD_SCHEDULE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "prediction_type": "epsilon",
}

# Bump when TinyConfig's defaults or the tokenizer change, so stale caches are not reused.
TINY_FORMAT_VERSION = 1

TINY_SCHEDULERS = ("ddim", "dpm-solver")
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
UNKNOWN_TINY_SCHEDULER = "The tiny pipeline's scheduler must be one of {known}; got {value!r}."
BAD_CROSS_ATTENTION_LEVELS = (
    "unet_cross_attention_levels must lie between 1 and the number of UNet levels ({levels}); "
    "got {value}."
)


@dataclass(frozen=True)
class TinyConfig:
    """Sizes, vocabulary and scheduler of a tiny pipeline.

    The defaults are the project's `tiny` model: small enough that a SCoFT-MPC step takes
    well under 1 s on 2 CPU cores at 64 px, large enough to hold every part of the real
    architecture. The toy world's base model is another instance (toyworld.architecture).
    """

    unet_channels: tuple[int, ...] = (32, 64)  # one UNet level per entry, 2x down each
    unet_cross_attention_levels: int = 1  # the finest levels that have cross-attention
    unet_layers_per_block: int = 1  # SD uses 2; one keeps every block type present
    attention_head_dim: int = 8  # diffusers' name; it is the number of attention heads
    unet_norm_groups: int = 8  # group norm groups; must divide every UNet channel count
    vae_channels: tuple[int, ...] = (16, 16, 32, 32)  # four blocks = 8x downsampling, as SD
    vae_norm_groups: int = 8  # must divide every VAE channel count
    latent_channels: int = 4  # SD's latent depth
    vae_scaling_factor: float = 0.18215  # SD v1's latent scale, so code paths match
    text_hidden_size: int = 32  # CLIP text width = the UNet's cross-attention width
    text_layers: int = 2  # CLIP text transformer depth
    text_heads: int = 4  # CLIP text attention heads
    text_intermediate_size: int = 64  # CLIP text MLP width
    max_text_tokens: int = 77  # SD's prompt length; the tokenizer pads/truncates to it
    image_size: int = 64  # default resolution in pixels (latents are image_size // 8)
    # Words the tokenizer spells as one token each; any other text is spelt byte by byte.
    vocabulary: tuple[str, ...] = ()
    scheduler: str = "ddim"  # saved with the pipeline: "ddim" or "dpm-solver" (multistep)

    def check(self) -> TinyConfig:
        """Raise ValueError with one clear sentence for a configuration no pipeline has."""
        if self.scheduler not in TINY_SCHEDULERS:
            raise ValueError(
                UNKNOWN_TINY_SCHEDULER.format(
                    known=", ".join(TINY_SCHEDULERS), value=self.scheduler
                )
            )
        levels = len(self.unet_channels)
        if not 1 <= self.unet_cross_attention_levels <= levels:
            raise ValueError(
                BAD_CROSS_ATTENTION_LEVELS.format(
                    levels=levels, value=self.unet_cross_attention_levels
                )
            )
        return self


TINY = TinyConfig()


def _byte_level_vocab() -> dict[str, int]:
    """A vocabulary holding every byte (alone and word-final), CLIP's specials first.

    With no merges, the byte-level BPE spells every word byte by byte, so any text
    (including invented culture names or non-Latin scripts) tokenizes without unknowns.
    """
    from tokenizers.pre_tokenizers import ByteLevel

    symbols = sorted(ByteLevel.alphabet())  # the 256 printable stand-ins for raw bytes
    tokens = [BOS, EOS] + symbols + [s + "</w>" for s in symbols]
    return {token: index for index, token in enumerate(tokens)}


def _word_symbols(word: str) -> list[str]:
    """A word as byte-level BPE sees it before any merge: its bytes, the last word-final."""
    from tokenizers.pre_tokenizers import ByteLevel

    spelled = ByteLevel(add_prefix_space=False, use_regex=False).pre_tokenize_str(word)[0][0]
    return [*spelled[:-1], spelled[-1] + "</w>"]


def whole_word_tokenizer(words, max_tokens: int) -> CLIPTokenizer:
    """A CLIP tokenizer that spells each of `words` (lower-cased) as a single token.

    Merges chain each word left to right. BPE applies merges by their global rank, so one
    word's merges can split another word into pieces its own chain never joins; each such
    word then gets merges for the pieces it actually ends up in, appended last (they fire
    only after every earlier merge), until every word is one token. Other text is still
    spelt byte by byte, so no prompt ever fails to tokenize.
    """
    vocab = _byte_level_vocab()
    merges: list[tuple[str, str]] = []
    words = sorted({w.lower() for w in words if w})

    def join(pieces: list[str]) -> None:
        current = pieces[0]
        for piece in pieces[1:]:
            merged = current + piece
            if merged not in vocab:
                vocab[merged] = len(vocab)
            if (current, piece) not in merge_set:
                merges.append((current, piece))
                merge_set.add((current, piece))
            current = merged

    merge_set: set[tuple[str, str]] = set()
    for word in words:
        join(_word_symbols(word))
    for _ in range(len(words) + 1):
        tokenizer = CLIPTokenizer(
            vocab=dict(vocab), merges=list(merges), model_max_length=max_tokens
        )
        split = [
            (w, tokenizer.convert_ids_to_tokens(tokenizer(w, add_special_tokens=False).input_ids))
            for w in words
        ]
        split = [(w, pieces) for w, pieces in split if len(pieces) > 1]
        if not split:
            return tokenizer
        for _word, pieces in split:
            join(pieces)
    raise RuntimeError("The whole-word merges did not settle; this is a bug.")


def tiny_tokenizer(config: TinyConfig = TINY) -> CLIPTokenizer:
    """A CLIP tokenizer the project writes itself (offline): byte-level, plus one token per
    word of ``config.vocabulary``."""
    if config.vocabulary:
        return whole_word_tokenizer(config.vocabulary, config.max_text_tokens)
    return CLIPTokenizer(
        vocab=_byte_level_vocab(), merges=[], model_max_length=config.max_text_tokens
    )


def tiny_unet(config: TinyConfig = TINY) -> UNet2DConditionModel:
    """A cross-attention UNet of the tiny sizes (random weights from the global generator)."""
    config.check()
    levels, cross = len(config.unet_channels), config.unet_cross_attention_levels
    return UNet2DConditionModel(
        sample_size=config.image_size // 8,
        in_channels=config.latent_channels,
        out_channels=config.latent_channels,
        block_out_channels=config.unet_channels,
        layers_per_block=config.unet_layers_per_block,
        down_block_types=("CrossAttnDownBlock2D",) * cross + ("DownBlock2D",) * (levels - cross),
        up_block_types=("UpBlock2D",) * (levels - cross) + ("CrossAttnUpBlock2D",) * cross,
        cross_attention_dim=config.text_hidden_size,
        attention_head_dim=config.attention_head_dim,
        norm_num_groups=config.unet_norm_groups,
    )


def tiny_vae(config: TinyConfig = TINY) -> AutoencoderKL:
    """An AutoencoderKL of the tiny sizes, 8x down with four blocks (random weights)."""
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=config.vae_channels,
        down_block_types=("DownEncoderBlock2D",) * len(config.vae_channels),
        up_block_types=("UpDecoderBlock2D",) * len(config.vae_channels),
        latent_channels=config.latent_channels,
        norm_num_groups=config.vae_norm_groups,
        layers_per_block=1,
        sample_size=config.image_size,
        scaling_factor=config.vae_scaling_factor,
    )


def tiny_text_encoder(tokenizer: CLIPTokenizer, config: TinyConfig = TINY) -> CLIPTextModel:
    """A CLIP text encoder of the tiny sizes over `tokenizer`'s vocabulary (random weights)."""
    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=config.text_hidden_size,
            intermediate_size=config.text_intermediate_size,
            num_hidden_layers=config.text_layers,
            num_attention_heads=config.text_heads,
            max_position_embeddings=config.max_text_tokens,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )


def tiny_scheduler(config: TinyConfig = TINY):
    """The sampling scheduler saved with a tiny pipeline, over SD v1's noise schedule."""
    config.check()
    if config.scheduler == "dpm-solver":
        return DPMSolverMultistepScheduler.from_config(training_noise_scheduler().config)
    return DDIMScheduler(**SD_SCHEDULE)


def training_noise_scheduler() -> DDPMScheduler:
    """The DDPM scheduler of SD v1's noise schedule, as a base model is trained with."""
    return DDPMScheduler(**{k: v for k, v in SD_SCHEDULE.items() if k != "set_alpha_to_one"})


def tiny_components(*, seed: int = 0, config: TinyConfig = TINY) -> dict:
    """Random-initialised tiny Stable Diffusion components, the same for the same seed.

    Returns the dict StableDiffusionPipeline takes: unet, vae, text_encoder, tokenizer,
    scheduler (per ``config.scheduler``, over SD v1's schedule), and no safety checker.
    """
    tokenizer = tiny_tokenizer(config)
    torch.manual_seed(seed)
    unet = tiny_unet(config)
    torch.manual_seed(seed + 1)
    vae = tiny_vae(config)
    torch.manual_seed(seed + 2)
    text_encoder = tiny_text_encoder(tokenizer, config)
    return {
        "unet": unet.eval(),
        "vae": vae.eval(),
        "text_encoder": text_encoder.eval(),
        "tokenizer": tokenizer,
        "scheduler": tiny_scheduler(config),
        "safety_checker": None,
        "feature_extractor": None,
        "image_encoder": None,
    }


def build_tiny_pipeline(folder: Path, *, seed: int = 0, config: TinyConfig = TINY) -> Path:
    """Save a tiny StableDiffusionPipeline (random weights from `seed`) into `folder`."""
    folder = Path(folder)
    pipe = StableDiffusionPipeline(
        **tiny_components(seed=seed, config=config), requires_safety_checker=False
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def cache_dir() -> Path:
    """The folder for built artefacts: $SCOFT_CACHE_DIR, else ~/.cache/scoft."""
    return Path(os.environ.get("SCOFT_CACHE_DIR") or Path.home() / ".cache" / "scoft")


def tiny_pipeline_path(*, seed: int = 0) -> Path:
    """The tiny pipeline's folder, built on first use and reused afterwards.

    The pipeline is built in a temporary sibling folder and renamed into place, so
    concurrent processes never see a half-written folder.
    """
    folder = cache_dir() / f"tiny-pipeline-v{TINY_FORMAT_VERSION}-seed{seed}"
    if (folder / "model_index.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        build_tiny_pipeline(staging, seed=seed)
        try:
            staging.rename(folder)
        except OSError:
            # Another process finished first; its folder is identical.
            if not (folder / "model_index.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def resolve_model(model: str | Path) -> str | Path:
    """A local folder for TINY_MODEL or an existing path; a hub id is returned as given."""
    if str(model) == TINY_MODEL:
        return tiny_pipeline_path()
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "model_index.json").is_file():
            raise ValueError(NOT_A_PIPELINE_FOLDER.format(path=path))
        return path
    looks_like_path = (
        isinstance(model, Path)
        or str(model).startswith((".", "/", "~"))
        or str(model).count("/") > 1
    )
    if looks_like_path:
        raise FileNotFoundError(MISSING_MODEL_FOLDER.format(path=path))
    return str(model)


def check_adapter_folder(adapter: str | Path) -> Path:
    """The adapter folder as a Path, or a clear error when it is missing or empty."""
    path = Path(adapter).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(MISSING_ADAPTER_FOLDER.format(path=path))
    if not (path / LORA_WEIGHTS_FILE).is_file():
        raise FileNotFoundError(NOT_AN_ADAPTER_FOLDER.format(path=path))
    return path


def load_pipeline(
    model: str | Path,
    *,
    adapter: str | Path | None = None,
    device: str = "cpu",
    dtype: torch.dtype | None = None,
) -> StableDiffusionPipeline:
    """Load a Stable Diffusion pipeline, optionally with a LoRA adapter from training.

    `model` is TINY_MODEL, a local diffusers folder, or a hub id (from the local hub
    cache when offline). `adapter` is an output folder of `scoft_core train`, loaded with
    stock ``pipe.load_lora_weights``. The safety checker is left out: the study's
    researchers review every image.
    """
    source = resolve_model(model)
    adapter_path = check_adapter_folder(adapter) if adapter is not None else None
    kwargs = {"safety_checker": None, "requires_safety_checker": False}
    if dtype is not None:
        kwargs["torch_dtype"] = dtype
    try:
        pipe = StableDiffusionPipeline.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as error:
        if isinstance(source, Path):
            raise
        raise ValueError(MODEL_NOT_AVAILABLE.format(model=str(model), error=error)) from error
    if adapter_path is not None:
        pipe.load_lora_weights(adapter_path)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)
