"""The LoRA adapter on the UNet: adding it, and saving/loading it the way stock diffusers does.

The saved folder holds ``pytorch_lora_weights.safetensors`` in the layout that
``StableDiffusionPipeline.load_lora_weights(folder)`` reads, with the adapter's peft
config as metadata so rank and alpha load exactly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline
from diffusers.utils import convert_state_dict_to_diffusers, convert_unet_state_dict_to_peft
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

from scoft_core.variants import TrainingConfig


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
