"""scoft_core's SCoFT-MPC optimizer steps against a transcription of the published ones.

`published_steps` below is transcribed from the SCoFT authors' training script (train.py,
the `--recordfirstgradient` branch that their example script runs, with
`--perceptualloss`) and their LPIPS class (utilities/lpips_loss.py): the same calls, in
the same order, on the same tensors. It departs from that code only where a test must:

- random numbers come from scoft_core's per-micro-step generator instead of the global
  one, drawn in the published order (the latent sample, the noise, the timesteps, then
  one draw per stochastic scheduler step), so both sides see the same numbers;
- both sides read the batches of scoft_core's batch plan (the published DataLoader
  shuffles with the global generator);
- DreamSim is not available offline, so the feature distance of L_C is scoft_core's
  `random-conv` on both sides, and the published LPIPS arithmetic runs on random-conv's
  convolution stages (with the in-place ReLUs that torchvision's VGG16 has) instead of
  on VGG16; the stand-in takes pixels in [-1, 1], where VGG16 takes ImageNet-normalised
  ones;
- accelerate's gradient accumulation (the loss divided by the accumulation steps, the
  optimizer and schedule stepped on the last micro-step) is written out.

Two optimizer steps of four micro-steps over six examples: the published cadence
unrolls on micro-steps 0 and 6 (its counter restarts with the second epoch), so the
comparison covers the unroll, both halves of L_C, L_P, the schedule's length and the
cadence.
"""

import copy

import pytest
import torch
import torch.nn.functional as F
from accelerate.utils import set_seed
from diffusers import DDPMScheduler
from diffusers.optimization import get_scheduler
from safetensors.torch import load_file

from scoft_core import adapters, data, training, variants
from scoft_core.pipelines import load_pipeline
from study.names import LORA_WEIGHTS_FILE
from tests.scoft_core.community import make_data_set

EXAMPLES = 6
TOLERANCE = 1e-5


def published_config(**changes) -> variants.TrainingConfig:
    """SCoFT-MPC at the published defaults, on the tiny model's scale."""
    return variants.preset(
        "scoft-mpc",
        resolution=32,
        lora_rank=4,
        max_steps=2,
        feature_distance="random-conv",
        perceptual_distance="random-conv",
        mixed_precision="no",
        **changes,
    )


class PublishedLpips(torch.nn.Module):
    """utilities/lpips_loss.py's LPIPS (normalize=True, pre_relu=True, no augmentation),
    over random-conv's stages, each later one starting with an in-place ReLU as VGG16's."""

    def __init__(self, stages):
        super().__init__()
        self.groups = copy.deepcopy(stages)
        for group in self.groups:
            for layer in group:
                if isinstance(layer, torch.nn.ReLU):
                    layer.inplace = True  # torchvision's VGG16 ReLUs are in place

    def _l2_normalize_features(self, x, eps=1e-10):
        nrm = torch.sqrt(torch.sum(x * x, dim=1, keepdim=True))
        return x / (nrm + eps)

    def forward(self, pred, target):
        feats_pred, feats_target = [], []
        for source, feats in ((pred, feats_pred), (target, feats_target)):
            x = source
            for group in self.groups:
                x = group(x)
                feats.append(x)
        pred = [self._l2_normalize_features(f) for f in feats_pred]
        target = [self._l2_normalize_features(f) for f in feats_target]
        diffs = [torch.sum((p - t) ** 2, 1) for (p, t) in zip(pred, target, strict=True)]
        diffs = [diff.mean([1, 2]) for diff in diffs]
        return sum(diffs)


def published_steps(folder, config, tiny_path, out):
    """The published training loop for `config.max_steps` optimizer steps; saves the
    adapter to `out` with scoft_core's writer, so both sides are read back alike."""
    set_seed(config.seed)
    pipe = load_pipeline(tiny_path)
    unet, vae, text_encoder, tokenizer = pipe.unet, pipe.vae, pipe.text_encoder, pipe.tokenizer
    vae.requires_grad_(False)
    text_encoder.requires_grad_(False)
    feature_loss, _ = training.build_distances(config)
    lpips_loss = PublishedLpips(feature_loss.network)
    adapters.add_lora(unet, config)
    adapters.save_adapter(unet, out / "start")
    lora_layers = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        lora_layers, lr=config.learning_rate, betas=config.adam_betas,
        weight_decay=config.weight_decay, eps=1e-08,
    )  # fmt: skip
    gradient_accumulation_steps = config.grad_accumulation
    lr_scheduler = get_scheduler(
        "cosine",
        optimizer=optimizer,
        num_warmup_steps=0 * gradient_accumulation_steps,
        num_training_steps=config.max_steps * gradient_accumulation_steps,
    )
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    examples = data.load_data_set(folder)
    plan = data.BatchPlan(count=len(examples), batch_size=config.batch_size, seed=config.seed)

    def ids(texts):
        return tokenizer(
            texts, max_length=tokenizer.model_max_length, padding="max_length",
            truncation=True, return_tensors="pt",
        ).input_ids  # fmt: skip

    unet.train()
    for micro_step in range(config.max_steps * gradient_accumulation_steps):
        step = micro_step % plan.batches_per_epoch  # the DataLoader's index in its epoch
        indices, flips = plan.batch(micro_step, random_flip=config.random_flip)
        batch = data.collate(
            folder, [examples[i] for i in indices], flips,
            resolution=config.resolution, max_negatives=config.max_negatives,
        )  # fmt: skip
        generator = training.micro_step_generator(config, 0, micro_step)

        latents = vae.encode(batch.pixels).latent_dist.sample(generator=generator)
        latents = latents * vae.config.scaling_factor
        noise = torch.randn(latents.shape, generator=generator)
        bsz = latents.shape[0]
        timesteps = torch.randint(
            0, noise_scheduler.config.num_train_timesteps, (bsz,), generator=generator
        )
        timesteps = timesteps.long()
        noisy_latents = noise_scheduler.add_noise(latents, noise, timesteps)
        encoder_hidden_states = text_encoder(ids(batch.texts))[0]
        encoder_blip_hidden_states = text_encoder(ids(batch.generic_texts))[0]
        encoder_null_hidden_states = text_encoder(ids([""] * bsz))[0]
        with torch.no_grad():
            model_blip_pred = unet(noisy_latents, timesteps, encoder_blip_hidden_states).sample
            model_null_pred = unet(noisy_latents, timesteps, encoder_null_hidden_states).sample
        target = noise
        model_pred = unet(noisy_latents, timesteps, encoder_hidden_states).sample
        loss_ldm = F.mse_loss(model_pred.float(), target.float(), reduction="mean")
        loss_mem = F.mse_loss(model_pred.float(), model_blip_pred.float(), reduction="mean")
        loss_contrastive = torch.zeros(1)
        loss_lpips = torch.zeros(1)

        if step % 10 == 0:
            num_samplings = 20
            custom_timesteps = []
            if timesteps < (num_samplings - 1) and timesteps != 0:
                custom_timesteps.append((timesteps.cpu())[0])
                custom_timesteps.append(0)
            else:
                custom_steps = timesteps.cpu() // (num_samplings - 1)
                for i_sampling in range(num_samplings):
                    if i_sampling != (num_samplings - 1):
                        custom_timesteps.append((timesteps.cpu() - i_sampling * custom_steps)[0])
                    else:
                        custom_timesteps.append(0)
            noise_scheduler.set_timesteps(timesteps=[int(t) for t in custom_timesteps])
            cfg_scale = 4.5
            for i, t in enumerate(noise_scheduler.timesteps):
                if i != 0:  # 0 has been predicted
                    noisy_latents = noise_scheduler.scale_model_input(noisy_latents, t)
                    with torch.no_grad():
                        model_pred = unet(noisy_latents, t, encoder_hidden_states).sample
                        model_null_pred = unet(noisy_latents, t, encoder_null_hidden_states).sample
                noise_cfg = model_null_pred + cfg_scale * (model_pred - model_null_pred)
                noisy_latents = noise_scheduler.step(
                    noise_cfg, t, noisy_latents, generator=generator
                )[0]
            latent_t0 = noisy_latents / vae.config.scaling_factor
            x0_estimate = vae.decode(latent_t0, return_dict=False)[0]
            x0_positive = batch.pixels
            x0_negative_list = torch.unbind(batch.negatives[0])
            loss_lpips = lpips_loss(x0_estimate, x0_positive)
            positive_loss = feature_loss(x0_estimate, x0_positive)
            negative_loss = torch.zeros(1)
            count_negative = 0
            for x0_negative in x0_negative_list:
                x0_negative_image = x0_negative[None]
                if not (torch.max(x0_negative_image) == 0 and torch.min(x0_negative_image) == 0):
                    negative_loss += feature_loss(x0_estimate, x0_negative_image)
                    count_negative += 1
            if count_negative > 0:
                negative_loss = negative_loss / count_negative
            loss_contrastive = positive_loss - negative_loss

        loss = 0.7 * loss_ldm + 0.3 * loss_mem + 0.05 * loss_contrastive + 0.01 * loss_lpips
        (loss / gradient_accumulation_steps).backward()  # accelerate's accumulate
        if (micro_step + 1) % gradient_accumulation_steps == 0:  # sync_gradients
            torch.nn.utils.clip_grad_norm_(lora_layers, config.max_grad_norm)
            optimizer.step()
            lr_scheduler.step()
            optimizer.zero_grad()
    adapters.save_adapter(unet, out)
    return load_file(out / "start" / LORA_WEIGHTS_FILE), load_file(out / LORA_WEIGHTS_FILE)


def scoft_core_steps(folder, config, tiny_path, out):
    training.train(folder, out, config, base_model=tiny_path, progress=False)
    return load_file(out / LORA_WEIGHTS_FILE)


def largest_difference(first, second):
    assert first.keys() == second.keys()
    return max(float((first[k] - second[k]).abs().max()) for k in first)


@pytest.fixture(scope="module")
def published(tmp_path_factory, tiny_path):
    root = tmp_path_factory.mktemp("published")
    folder = make_data_set(root / "community", count=EXAMPLES, negatives=2)
    return folder, published_steps(folder, published_config(), tiny_path, root / "adapter")


def test_the_published_cadence_unrolls_on_the_first_micro_step_of_each_epoch():
    from scoft_core.objective import unrolls_at

    config = published_config()
    assert [m for m in range(8) if unrolls_at(config, m, EXAMPLES)] == [0, 6]
    glob = published_config(unroll_cadence="global")
    assert [m for m in range(8) if unrolls_at(glob, m, EXAMPLES)] == [0]


def test_scoft_mpc_steps_equal_the_published_steps_at_the_published_defaults(
    published, tiny_path, tmp_path
):
    folder, expected = published
    start, expected = expected
    got = scoft_core_steps(folder, published_config(), tiny_path, tmp_path / "ours")
    assert largest_difference(expected, start) > 1e-4  # the steps moved the weights
    assert largest_difference(got, expected) < TOLERANCE


@pytest.mark.parametrize(
    "deviation",
    [
        "unroll_update=ddim",
        "unroll_timesteps=even",
        "schedule_length=run",
        "unroll_cadence=global",
        "lpips_relu=pre-relu",
    ],
)
def test_each_deviation_switched_on_moves_the_weights_away_from_the_published_step(
    published, tiny_path, tmp_path, deviation
):
    folder, (_start, expected) = published
    config = published_config(**variants.parse_settings([deviation]))
    got = scoft_core_steps(folder, config, tiny_path, tmp_path / "deviating")
    assert largest_difference(got, expected) > TOLERANCE
