import json

from scoft_core.pipelines import load_pipeline
from toyworld.architecture import toy_architecture
from toyworld.base_model import train_base, verify_base_model
from toyworld.base_training import BaseTrainingConfig

SMALL = toy_architecture(vae_channels=(8, 8, 16, 16), unet_channels=(16, 32, 32), text_layers=1)
QUICK = BaseTrainingConfig(web_size=40, vae_steps=2, vae_batch=4, denoiser_steps=2,
                           denoiser_batch=4, warmup_steps=1)  # fmt: skip


def test_the_training_recipe_writes_a_loadable_checksummed_pipeline(tmp_path):
    out = train_base(tmp_path / "base", tmp_path / "work", QUICK, SMALL, progress=lambda m: None)
    assert "unet/diffusion_pytorch_model.safetensors" in verify_base_model(out)
    recipe = json.loads((out / "toyworld_recipe.json").read_text())
    assert recipe["command"] == "python -m toyworld train-base"
    assert recipe["training"]["vae_steps"] == 2
    assert load_pipeline(out).vae.config.scaling_factor > 0


def test_training_is_reproducible_for_a_seed(tmp_path):
    first = train_base(tmp_path / "a", tmp_path / "wa", QUICK, SMALL, progress=lambda m: None)
    second = train_base(tmp_path / "b", tmp_path / "wb", QUICK, SMALL, progress=lambda m: None)
    assert (first / "SHA256SUMS").read_text() == (second / "SHA256SUMS").read_text()


def test_a_rerun_reuses_the_finished_stages(tmp_path):
    train_base(tmp_path / "a", tmp_path / "work", QUICK, SMALL, progress=lambda m: None)
    messages = []
    train_base(tmp_path / "b", tmp_path / "work", QUICK, SMALL, progress=messages.append)
    assert any(m.startswith("reusing the trained VAE") for m in messages)
    assert any(m.startswith("reusing the trained denoiser") for m in messages)
