"""Unrolled denoising: schedules, the DDIM update, guidance, batching and where gradient goes."""

import pytest
import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

from scoft_core.unroll import (
    FIRST_EPS_SHAPE,
    NO_ALPHAS,
    STEPS_TOO_FEW,
    TIMESTEP_RANGE,
    TIMESTEPS_NOT_INTEGER,
    UNKNOWN_GRAD_STEP,
    UNKNOWN_TIMESTEP_RULE,
    denoise_step,
    unroll_schedule,
    unroll_to_x0,
)

LATENT = (4, 4, 4)  # channels, height, width of the tiny latents


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Other jobs share the two cores; one intra-op thread keeps these tiny models quick."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_unet() -> UNet2DConditionModel:
    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=4,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=4,
    )


@pytest.fixture(scope="module")
def vae() -> AutoencoderKL:
    torch.manual_seed(1)
    model = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 8),
        layers_per_block=1,
        norm_num_groups=4,
        latent_channels=4,
        sample_size=8,
    )
    return model.eval().requires_grad_(False)


@pytest.fixture
def unet() -> UNet2DConditionModel:
    return tiny_unet()


def scheduler(prediction_type="epsilon") -> DDPMScheduler:
    return DDPMScheduler(
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        clip_sample=False,
        prediction_type=prediction_type,
    )


class OracleUNet(torch.nn.Module):
    """Predicts exactly, reading each row's clean latent from its caption embedding."""

    def __init__(self, alphas_cumprod, prediction_type):
        super().__init__()
        self.alphas = alphas_cumprod
        self.prediction_type = prediction_type
        self.weight = torch.nn.Parameter(torch.ones(()))
        self.calls = []

    def forward(self, sample, t, encoder_hidden_states, return_dict=True):
        self.calls.append(t.tolist())
        x0 = encoder_hidden_states.reshape(sample.shape)
        a = self.alphas[t].view(-1, 1, 1, 1)
        eps = (sample - a.sqrt() * x0) / (1 - a).sqrt()
        if self.prediction_type == "v_prediction":
            return (self.weight * (a.sqrt() * eps - (1 - a).sqrt() * x0),)
        return (self.weight * eps,)


class ConstantUNet(torch.nn.Module):
    """Predicts, everywhere, the first number of each row's caption embedding."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(()))

    def forward(self, sample, t, encoder_hidden_states, return_dict=True):
        value = encoder_hidden_states[:, 0, 0].view(-1, 1, 1, 1)
        return (self.weight * value.expand_as(sample),)


def noised(x0, timesteps, sched, seed=0):
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    return sched.add_noise(x0, noise, timesteps)


def record_calls(unet):
    """Every UNet call as (grad enabled, timesteps); hooks see the real call."""
    calls = []
    unet.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append((torch.is_grad_enabled(), args[1].tolist())),
        with_kwargs=True,
    )
    return calls


# --- schedules ---------------------------------------------------------------------------


def test_schedule_spaces_steps_evenly_from_t_down_to_zero():
    schedule = unroll_schedule(999, 20)
    assert len(schedule) == 20
    assert schedule[0] == 999 and schedule[-1] == 0
    gaps = [a - b for a, b in zip(schedule, schedule[1:], strict=False)]
    assert min(gaps) >= 52 and max(gaps) <= 53


def test_schedule_is_t_then_zero_below_steps_minus_one_and_zero_alone_at_t_zero():
    assert unroll_schedule(10, 20) == [10, 0]
    assert unroll_schedule(18, 20) == [18, 0]
    assert unroll_schedule(19, 20) == list(range(19, -1, -1))
    assert unroll_schedule(0, 20) == [0]
    assert unroll_schedule(300, 1) == [300]


def test_the_published_rule_steps_down_by_t_floor_divided_by_steps_minus_one_then_jumps_to_zero():
    assert unroll_schedule(999, 20, "published") == [999 - 52 * i for i in range(19)] + [0]
    assert unroll_schedule(40, 20, "published") == [40 - 2 * i for i in range(19)] + [0]
    assert unroll_schedule(19, 20, "published") == list(range(19, 0, -1)) + [0]
    assert unroll_schedule(18, 20, "published") == [18, 0]
    assert unroll_schedule(0, 20, "published") == [0]
    differ = sum(
        unroll_schedule(t, 20, "published") != unroll_schedule(t, 20, "even")
        for t in range(1, 1000)
    )
    assert differ == 929  # the count the method review measured


def test_schedule_refuses_an_unknown_rule():
    with pytest.raises(ValueError) as error:
        unroll_schedule(10, 20, "uneven")
    assert str(error.value) == UNKNOWN_TIMESTEP_RULE.format(known="published, even", value="uneven")


def test_schedule_refuses_zero_steps():
    with pytest.raises(ValueError, match=STEPS_TOO_FEW.format(value=0)):
        unroll_schedule(10, 0)


# --- the update ----------------------------------------------------------------------------


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_an_exact_prediction_steps_to_the_exact_clean_latent(prediction_type):
    sched = scheduler()
    x0 = torch.randn(2, *LATENT, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([600, 40])
    z = noised(x0, t, sched)
    a = sched.alphas_cumprod[t].view(-1, 1, 1, 1)
    eps = (z - a.sqrt() * x0) / (1 - a).sqrt()
    output = {"epsilon": eps, "v_prediction": a.sqrt() * eps - (1 - a).sqrt() * x0, "sample": x0}
    stepped = denoise_step(
        z, output[prediction_type], sched.alphas_cumprod[t], torch.ones(2), prediction_type
    )
    assert torch.allclose(stepped, x0, atol=1e-5)


def test_eta_one_is_the_ancestral_ddpm_update_of_the_published_script():
    sched = scheduler()
    sched.set_timesteps(timesteps=[700, 350, 0])
    sample = torch.randn(1, *LATENT, generator=torch.Generator().manual_seed(4))
    output = torch.randn(1, *LATENT, generator=torch.Generator().manual_seed(5))
    expected = sched.step(output, 700, sample, generator=torch.Generator().manual_seed(6))
    noise = torch.randn(sample.shape, generator=torch.Generator().manual_seed(6))
    alphas = sched.alphas_cumprod
    ours = denoise_step(
        sample, output, alphas[[700]], alphas[[350]], "epsilon", eta=1.0, noise=noise
    )
    assert torch.allclose(ours, expected.prev_sample, atol=1e-5)


# --- the unroll ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grad_step", "prediction_type", "eta"),
    [
        ("first", "epsilon", 0.0),
        ("last", "epsilon", 0.0),
        ("random", "epsilon", 0.0),
        ("first", "v_prediction", 0.0),
        ("last", "v_prediction", 1.0),
        ("random", "epsilon", 1.0),
    ],
)
def test_a_mixed_batch_denoises_every_example_to_its_own_clean_latent(
    vae, grad_step, prediction_type, eta
):
    sched = scheduler(prediction_type)
    x0 = torch.randn(4, *LATENT, generator=torch.Generator().manual_seed(7))
    t = torch.tensor([999, 500, 10, 0])
    oracle = OracleUNet(sched.alphas_cumprod, prediction_type)
    cond = x0.reshape(4, 4, 16)  # the oracle reads each row's x0 from its caption
    images = unroll_to_x0(
        oracle,
        sched,
        vae,
        noised(x0, t, sched),
        t,
        cond,
        cond.clone(),
        grad_step=grad_step,
        eta=eta,
        generator=torch.Generator().manual_seed(8),
    )
    expected = vae.decode(x0 / vae.config.scaling_factor).sample
    assert images.shape == (4, 3, 8, 8)
    assert torch.allclose(images, expected, atol=1e-4)
    # 20 calls for the long schedules; rows of the short ones share calls with them.
    assert len(oracle.calls) <= 20 + 1


def test_guidance_mixes_conditional_and_unconditional_outputs(vae):
    sched = scheduler()
    z = torch.randn(1, *LATENT, generator=torch.Generator().manual_seed(9))
    cond = torch.full((1, 2, 16), 1.0)
    uncond = torch.full((1, 2, 16), 0.2)
    t = torch.tensor([300])
    images = unroll_to_x0(ConstantUNet(), sched, vae, z, t, cond, uncond, steps=1, guidance=4.5)
    guided = torch.full_like(z, 0.2 + 4.5 * (1.0 - 0.2))
    x0 = denoise_step(z, guided, sched.alphas_cumprod[t], torch.ones(1), "epsilon")
    expected = vae.decode(x0 / vae.config.scaling_factor).sample
    assert torch.allclose(images, expected, atol=1e-5)


def test_timestep_zero_takes_one_call_that_predicts_the_clean_latent(vae):
    sched = scheduler()
    x0 = torch.randn(1, *LATENT, generator=torch.Generator().manual_seed(10))
    oracle = OracleUNet(sched.alphas_cumprod, "epsilon")
    t = torch.tensor([0])
    cond = x0.reshape(1, 4, 16)
    with torch.no_grad():
        images = unroll_to_x0(oracle, sched, vae, noised(x0, t, sched), t, cond, cond)
    assert oracle.calls == [[0, 0]]  # conditional and unconditional rows in one call
    expected = vae.decode(x0 / vae.config.scaling_factor).sample
    assert torch.allclose(images, expected, atol=1e-4)


@pytest.mark.parametrize("grad_step", ["first", "last", "random"])
def test_a_batch_gives_the_images_each_example_gives_alone(vae, unet, grad_step):
    sched = scheduler()
    t = torch.tensor([700, 12, 0])
    z = torch.randn(3, *LATENT, generator=torch.Generator().manual_seed(11))
    cond = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(12))
    uncond = torch.randn(1, 5, 16, generator=torch.Generator().manual_seed(13))
    with torch.no_grad():
        batch = unroll_to_x0(
            unet,
            sched,
            vae,
            z,
            t,
            cond,
            uncond,
            steps=6,
            grad_step=grad_step,
            generator=torch.Generator().manual_seed(14),
        )
        alone = [
            unroll_to_x0(
                unet,
                sched,
                vae,
                z[i : i + 1],
                t[i : i + 1],
                cond[i : i + 1],
                uncond,
                steps=6,
                grad_step=grad_step,
                generator=torch.Generator().manual_seed(14),
            )
            for i in range(3)
        ]
    assert torch.allclose(batch, torch.cat(alone), atol=1e-5)


@pytest.mark.parametrize(
    ("grad_step", "grad_timesteps"),
    [("first", [700, 12, 0]), ("last", [0, 0, 0])],
)
def test_gradient_reaches_the_unet_through_one_batched_call(vae, unet, grad_step, grad_timesteps):
    sched = scheduler()
    calls = record_calls(unet)
    t = torch.tensor([700, 12, 0])
    z = torch.randn(3, *LATENT, generator=torch.Generator().manual_seed(15))
    cond = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(16))
    uncond = torch.zeros(1, 5, 16)
    images = unroll_to_x0(unet, sched, vae, z, t, cond, uncond, steps=6, grad_step=grad_step)
    images.square().mean().backward()
    with_grad = [timesteps for enabled, timesteps in calls if enabled]
    assert with_grad == [grad_timesteps]  # the conditional rows of every example, once
    assert len(calls) == 6 + 1  # five no-grad batched calls, the grad call, its uncond pass
    # Cross-attention keys act only through the conditional pass, so they prove it too.
    keys = [p for name, p in unet.named_parameters() if "attn2.to_k" in name]
    assert keys and all(p.grad is not None and p.grad.abs().sum() > 0 for p in keys)


def test_a_random_gradient_call_is_one_call_drawn_from_the_generator(vae, unet):
    sched = scheduler()
    calls = record_calls(unet)
    t = torch.tensor([800, 600])
    z = torch.randn(2, *LATENT, generator=torch.Generator().manual_seed(17))
    cond = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(18))
    seen = set()
    for seed in range(6):
        calls.clear()
        unroll_to_x0(
            unet,
            sched,
            vae,
            z,
            t,
            cond,
            cond[:1],
            steps=5,
            grad_step="random",
            generator=torch.Generator().manual_seed(seed),
        )
        grad_calls = [i for i, (enabled, _) in enumerate(calls) if enabled]
        assert len(grad_calls) == 1
        seen.add(grad_calls[0])
    assert len(seen) > 1


def test_without_first_eps_no_other_call_moves_the_unet(vae):
    """A leaf first_eps stands in for the L_LDM pass: the UNet itself then gets no gradient."""
    sched = scheduler()
    unet = tiny_unet()
    t = torch.tensor([500, 300])
    z = torch.randn(2, *LATENT, generator=torch.Generator().manual_seed(19))
    cond = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(20))
    first_eps = torch.randn(2, *LATENT, generator=torch.Generator().manual_seed(21))
    first_eps.requires_grad_(True)
    z.requires_grad_(True)
    images = unroll_to_x0(unet, sched, vae, z, t, cond, cond[:1], steps=5, first_eps=first_eps)
    images.square().mean().backward()
    assert all(p.grad is None for p in unet.parameters())
    assert first_eps.grad.abs().sum() > 0
    assert z.grad.abs().sum() > 0  # the update arithmetic stays differentiable


def test_reusing_the_ldm_pass_gives_the_same_images_and_gradient(vae):
    sched = scheduler()
    t = torch.tensor([640, 90])
    z = torch.randn(2, *LATENT, generator=torch.Generator().manual_seed(22))
    cond = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(23))
    uncond = torch.zeros(1, 5, 16)
    fresh, reused = tiny_unet(), tiny_unet()
    calls = record_calls(reused)

    plain = unroll_to_x0(fresh, sched, vae, z, t, cond, uncond, steps=4)
    plain.square().mean().backward()
    ldm_pass = reused(z, t, encoder_hidden_states=cond).sample
    calls.clear()
    shared = unroll_to_x0(reused, sched, vae, z, t, cond, uncond, steps=4, first_eps=ldm_pass)
    shared.square().mean().backward()

    assert torch.allclose(plain, shared, atol=1e-5)
    assert not any(enabled for enabled, _ in calls)  # the L_LDM pass was the gradient call
    for (name, a), b in zip(fresh.named_parameters(), reused.parameters(), strict=True):
        assert (a.grad is None) == (b.grad is None), name
        if a.grad is not None:
            assert torch.allclose(a.grad, b.grad, atol=1e-6, rtol=1e-4), name


def test_guidance_one_skips_the_unconditional_pass(vae, unet):
    calls = record_calls(unet)
    z = torch.randn(1, *LATENT)
    cond = torch.randn(1, 5, 16)
    with torch.no_grad():
        unroll_to_x0(
            unet, scheduler(), vae, z, torch.tensor([100]), cond, cond, steps=3, guidance=1.0
        )
    assert [len(timesteps) for _, timesteps in calls] == [1, 1, 1]


# --- errors --------------------------------------------------------------------------------


def test_unroll_rejects_bad_arguments_with_clear_messages(vae):
    sched = scheduler()
    oracle = OracleUNet(sched.alphas_cumprod, "epsilon")
    z = torch.zeros(2, *LATENT)
    t = torch.tensor([5, 6])
    cond = torch.zeros(2, 4, 16)

    def run(**changes):
        arguments = {"z_t": z, "timesteps": t, "cond": cond, "uncond": cond[:1]} | changes
        grad_step = arguments.pop("grad_step", "first")
        first_eps = arguments.pop("first_eps", None)
        noise_scheduler = arguments.pop("noise_scheduler", sched)
        return unroll_to_x0(
            oracle, noise_scheduler, vae, **arguments, grad_step=grad_step, first_eps=first_eps
        )

    with pytest.raises(ValueError) as error:
        run(grad_step="middle")
    assert str(error.value) == UNKNOWN_GRAD_STEP.format(known="first, last, random", value="middle")
    with pytest.raises(ValueError) as error:
        run(timesteps=torch.tensor([5, 1000]))
    assert str(error.value) == TIMESTEP_RANGE.format(limit=1000, value=1000)
    with pytest.raises(ValueError) as error:
        run(timesteps=torch.tensor([5.0, 6.0]))
    assert str(error.value) == TIMESTEPS_NOT_INTEGER.format(dtype=torch.float32)
    with pytest.raises(ValueError, match="one timestep per example"):
        run(timesteps=torch.tensor([5]))
    with pytest.raises(ValueError, match="conditional caption embeddings"):
        run(cond=torch.zeros(3, 4, 16))
    with pytest.raises(ValueError, match="unconditional caption embeddings"):
        run(uncond=torch.zeros(1, 3, 16))
    with pytest.raises(ValueError) as error:
        run(first_eps=torch.zeros(2, 4, 2, 2))
    assert str(error.value) == FIRST_EPS_SHAPE.format(expected=(2, *LATENT), got=(2, 4, 2, 2))
    with pytest.raises(ValueError, match="batch of latents"):
        run(z_t=torch.zeros(*LATENT))

    class NoAlphas:
        config = {"prediction_type": "epsilon"}

    with pytest.raises(ValueError) as error:
        run(noise_scheduler=NoAlphas())
    assert str(error.value) == NO_ALPHAS.format(name="NoAlphas")


def test_every_example_gets_gradient_through_exactly_one_call_when_reusing_the_ldm_pass(vae):
    sched = scheduler()
    unet = tiny_unet()
    calls = record_calls(unet)
    t = torch.tensor([800, 10, 0])  # schedules of 5, 2 and 1 calls
    z = torch.randn(3, *LATENT, generator=torch.Generator().manual_seed(24))
    cond = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(25))
    for grad_step, seed in [("first", 0), ("last", 0)] + [("random", s) for s in range(5)]:
        calls.clear()
        first_eps = torch.randn(3, *LATENT, generator=torch.Generator().manual_seed(26))
        first_eps.requires_grad_(True)
        images = unroll_to_x0(
            unet,
            sched,
            vae,
            z,
            t,
            cond,
            cond[:1],
            steps=5,
            grad_step=grad_step,
            first_eps=first_eps,
            generator=torch.Generator().manual_seed(seed),
        )
        images.square().mean().backward()
        through_unet = sum(len(timesteps) for enabled, timesteps in calls if enabled)
        through_ldm_pass = int((first_eps.grad.flatten(1).abs().sum(1) > 0).sum())
        assert through_unet + through_ldm_pass == 3, (grad_step, seed)
        assert sum(enabled for enabled, _ in calls) <= 1
