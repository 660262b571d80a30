"""Unrolled denoising: the model's own image x0hat, from a noised latent z_t down to t = 0.

SCoFT's contrastive and perceptual terms compare images, not latents, so every tenth
micro-step the training loop denoises the noised training latent z_t to a clean latent with
classifier-free guidance and decodes it with the frozen VAE. Backpropagating through all
twenty UNet calls would cost twenty times the activations, so, as published, gradient
reaches the UNet through one call only (the first, the last or a random one); the other
calls run without gradient, while the update arithmetic between calls and the VAE decode
stay differentiable.

Compared with the published script this module:

- takes a batch whose examples have different timesteps: each example follows its own
  schedule, and the calls of all examples are lined up on the gradient-carrying call so
  that call is one batched UNet call (examples whose schedule has not started or has
  ended sit that call out);
- handles t = 0 (a single call that predicts the clean latent);
- batches the conditional and unconditional passes in one UNet call;
- uses a deterministic DDIM update (``eta=0``) computed from the scheduler's
  ``alphas_cumprod`` per example. ``eta=1`` gives the ancestral (DDPM) update of the
  published script, whose posterior variance is the DDIM variance at eta = 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

GRAD_STEPS = ("first", "last", "random")
# How an example's timesteps are spaced from its t down to 0: "published" steps down by
# t // (steps - 1) as the published script does, "even" spaces them evenly (rounded).
TIMESTEP_RULES = ("published", "even")
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")

UNKNOWN_GRAD_STEP = "grad_step must be one of {known}; it is {value!r}."
UNKNOWN_PREDICTION_TYPE = "The noise scheduler predicts {value!r}; the unroll supports {known}."
NO_ALPHAS = (
    "The noise scheduler {name} has no alphas_cumprod; the unroll needs a DDPM-style "
    "scheduler (DDPMScheduler, DDIMScheduler, ...)."
)
LATENTS_NOT_4D = "z_t must be a batch of latents, shape (B, C, h, w); it has shape {got}."
TIMESTEPS_SHAPE = (
    "timesteps must hold one timestep per example, shape ({batch},); it has shape {got}."
)
TIMESTEPS_NOT_INTEGER = "timesteps must be integers (a long tensor); they are {dtype}."
TIMESTEP_RANGE = "Every timestep must lie in [0, {limit}); got {value}."
CONDITION_SHAPE = (
    "The {what} caption embeddings must have shape ({batch}, L, D) or (1, L, D) with the "
    "same L and D as the other; they have shape {got}."
)
FIRST_EPS_SHAPE = "first_eps must have the shape of z_t, {expected}; it has shape {got}."
STEPS_TOO_FEW = "steps must be at least 1; it is {value}."
UNKNOWN_TIMESTEP_RULE = "The unroll timestep rule must be one of {known}; it is {value!r}."
NEGATIVE_ETA = "eta must be zero or positive; it is {value}."


def unroll_schedule(t: int, steps: int, rule: str = "even") -> list[int]:
    """The timesteps one example visits, from its own t down to 0, one UNet call each.

    rule "published" (the published script): t, t - k, t - 2k, ... with k = t // (steps - 1),
    for steps - 1 calls, then 0, which leaves a longer last jump. rule "even": ``steps``
    timesteps evenly spaced from t to 0, rounded to integers. Under both, [t, 0] when
    0 < t < steps - 1 (where the spacing would repeat timesteps), and [0] when t = 0 (the
    published script fails there; one call predicts the clean latent instead). After the
    call at the last timestep the update goes to the clean latent.
    """
    if steps < 1:
        raise ValueError(STEPS_TOO_FEW.format(value=steps))
    if rule not in TIMESTEP_RULES:
        raise ValueError(UNKNOWN_TIMESTEP_RULE.format(known=", ".join(TIMESTEP_RULES), value=rule))
    if t == 0:
        return [0]
    if steps == 1:
        return [t]
    if t < steps - 1:
        return [t, 0]
    if rule == "published":
        stride = t // (steps - 1)
        return [t - i * stride for i in range(steps - 1)] + [0]
    return [round(t - i * t / (steps - 1)) for i in range(steps)]


def denoise_step(
    sample: Tensor,
    model_output: Tensor,
    alpha: Tensor,
    alpha_prev: Tensor,
    prediction_type: str,
    *,
    eta: float = 0.0,
    clip: float | None = None,
    noise: Tensor | None = None,
) -> Tensor:
    """One DDIM update from timestep t to an earlier timestep, per example.

    sample: (N, C, h, w) latents at t. model_output: (N, C, h, w), what the UNet predicts
    (epsilon, v or the clean sample, per ``prediction_type``). alpha, alpha_prev: (N,),
    the cumulative alpha products at t and at the target timestep (1 for the clean
    latent). ``clip`` clamps the predicted clean latent, as the scheduler's clip_sample
    does. ``noise`` (N, C, h, w) is needed when eta > 0. Returns (N, C, h, w). Every
    operation is differentiable in sample and model_output.
    """
    a = alpha.view(-1, 1, 1, 1)
    a_prev = alpha_prev.view(-1, 1, 1, 1)
    if prediction_type == "epsilon":
        eps = model_output
        x0 = (sample - (1 - a).sqrt() * eps) / a.sqrt()
    elif prediction_type == "v_prediction":
        x0 = a.sqrt() * sample - (1 - a).sqrt() * model_output
        eps = a.sqrt() * model_output + (1 - a).sqrt() * sample
    elif prediction_type == "sample":
        x0 = model_output
        eps = (sample - a.sqrt() * x0) / (1 - a).sqrt()
    else:
        raise ValueError(
            UNKNOWN_PREDICTION_TYPE.format(value=prediction_type, known=", ".join(PREDICTION_TYPES))
        )
    if clip is not None:
        x0 = x0.clamp(-clip, clip)
        # Keep eps consistent with the clipped x0, as diffusers' DDIM step does.
        eps = (sample - a.sqrt() * x0) / (1 - a).sqrt()
    if eta == 0:
        return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)).clamp(min=0).sqrt()
    direction = (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps
    return a_prev.sqrt() * x0 + direction + sigma * noise


def unroll_to_x0(
    unet,
    noise_scheduler,
    vae,
    z_t: Tensor,
    timesteps: Tensor,
    cond: Tensor,
    uncond: Tensor,
    *,
    steps: int = 20,
    guidance: float = 4.5,
    grad_step: str = "first",
    first_eps: Tensor | None = None,
    eta: float = 0.0,
    timestep_rule: str = "even",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Denoise z_t to t = 0 with guidance and decode it: the model's own image x0hat.

    unet: a diffusers UNet2DConditionModel (with or without a LoRA adapter).
    noise_scheduler: any scheduler with ``alphas_cumprod`` and a ``config`` holding
    ``prediction_type`` (epsilon, v_prediction or sample); only those are read, the
    scheduler's own state is left alone. vae: the frozen AutoencoderKL.
    z_t: (B, C, h, w) noised latents (already multiplied by the VAE scaling factor).
    timesteps: (B,) long, each example's t. cond: (B, L, D) embeddings of the captions;
    uncond: (B, L, D) or (1, L, D) embeddings of the empty caption.

    Each example follows ``unroll_schedule(t, steps, timestep_rule)``. Guidance mixes the
    two predictions as uncond + guidance * (cond - uncond) (guidance 1 skips the
    unconditional pass).
    ``grad_step`` picks the one UNet call per example that carries gradient: "first",
    "last", or "random" (one uniform draw from ``generator`` is shared by the batch and
    mapped onto each example's schedule, so examples with schedules of equal length share
    the call, and each example's choice is still uniform over its calls). As published,
    gradient flows through the conditional prediction of that call; its unconditional
    prediction runs without gradient.

    first_eps: (B, C, h, w), optional, the UNet output for (z_t, t, cond), e.g. the
    forward pass already made for L_LDM. It replaces the conditional half of each
    example's first call; guidance still applies, so that first call runs only the
    unconditional pass (without gradient) and the guided output is
    uncond + guidance * (first_eps - uncond), which scales the gradient that reaches the
    L_LDM pass by ``guidance``. With grad_step "first" this is the published default and
    the L_LDM pass is the only UNet call that carries gradient; otherwise first_eps is
    used detached, except for an example whose gradient call is its first call anyway.

    eta: 0 for the deterministic DDIM update; > 0 adds fresh noise from ``generator`` at
    each step that starts above t = 0 (1 is the ancestral DDPM update of the published
    script, which draws its noise the same way: one draw per step, none at t = 0).

    Returns (B, 3, H, W) float32 images, nominally in [-1, 1]; they are not clamped, so
    gradient is not cut where the decoder overshoots.
    """
    batch = _check_inputs(z_t, timesteps, cond, uncond, first_eps, noise_scheduler, grad_step)
    if eta < 0:
        raise ValueError(NEGATIVE_ETA.format(value=eta))
    alphas = noise_scheduler.alphas_cumprod.to(device=z_t.device, dtype=torch.float32)
    config = noise_scheduler.config
    prediction_type = config.prediction_type
    clip = config.get("clip_sample_range", 1.0) if config.get("clip_sample", False) else None
    uncond = uncond.expand(batch, -1, -1)

    schedules = [unroll_schedule(int(t), steps, timestep_rule) for t in timesteps.tolist()]
    grad_calls = _grad_calls(schedules, grad_step, generator)
    # Line every example up on its gradient-carrying call, so that call is one global call.
    aligned = max(grad_calls)
    offsets = [aligned - r for r in grad_calls]
    total_calls = max(o + len(s) for o, s in zip(offsets, schedules, strict=True))

    latents = list(z_t.float().unbind(0))
    for call in range(total_calls):
        rows = [i for i in range(batch) if 0 <= call - offsets[i] < len(schedules[i])]
        local = [call - offsets[i] for i in rows]
        t_now = [schedules[i][j] for i, j in zip(rows, local, strict=True)]
        t_next = [
            schedules[i][j + 1] if j + 1 < len(schedules[i]) else -1
            for i, j in zip(rows, local, strict=True)
        ]
        reuse = None
        if first_eps is not None:
            # A row at its first call during the aligned call has its gradient call first.
            reuse = {
                k: first_eps[i] if call == aligned else first_eps[i].detach()
                for k, (i, j) in enumerate(zip(rows, local, strict=True))
                if j == 0
            }
        sample = torch.stack([latents[i] for i in rows])
        output = _guided_output(
            unet,
            sample,
            torch.tensor(t_now, device=z_t.device, dtype=torch.long),
            cond[rows],
            uncond[rows],
            guidance,
            # Outside autograd (sampling, benchmarks) even the chosen call batches both passes.
            with_grad=call == aligned and torch.is_grad_enabled(),
            reuse=reuse,
        )
        alpha = alphas[t_now]
        alpha_prev = torch.stack([alphas[t] if t >= 0 else alphas.new_ones(()) for t in t_next])
        noise = None
        if eta > 0 and max(t_now) > 0:  # a step from t = 0 adds no noise, so draws none
            where = generator.device if generator is not None else "cpu"
            noise = torch.randn(sample.shape, generator=generator, device=where)
            noise = noise.to(sample.device)
        # Every step from t = 0 lands on the clean latent, where eta changes nothing.
        updated = denoise_step(
            sample,
            output,
            alpha,
            alpha_prev,
            prediction_type,
            eta=eta if noise is not None else 0.0,
            clip=clip,
            noise=noise,
        )
        for k, i in enumerate(rows):
            latents[i] = updated[k]
    return _decode(vae, torch.stack(latents))


def _check_inputs(z_t, timesteps, cond, uncond, first_eps, noise_scheduler, grad_step) -> int:
    if grad_step not in GRAD_STEPS:
        raise ValueError(UNKNOWN_GRAD_STEP.format(known=", ".join(GRAD_STEPS), value=grad_step))
    if getattr(noise_scheduler, "alphas_cumprod", None) is None:
        raise ValueError(NO_ALPHAS.format(name=type(noise_scheduler).__name__))
    prediction_type = noise_scheduler.config.prediction_type
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(
            UNKNOWN_PREDICTION_TYPE.format(value=prediction_type, known=", ".join(PREDICTION_TYPES))
        )
    if z_t.dim() != 4:
        raise ValueError(LATENTS_NOT_4D.format(got=tuple(z_t.shape)))
    batch = z_t.shape[0]
    if timesteps.shape != (batch,):
        raise ValueError(TIMESTEPS_SHAPE.format(batch=batch, got=tuple(timesteps.shape)))
    if timesteps.is_floating_point() or timesteps.is_complex() or timesteps.dtype == torch.bool:
        raise ValueError(TIMESTEPS_NOT_INTEGER.format(dtype=timesteps.dtype))
    limit = len(noise_scheduler.alphas_cumprod)
    for t in timesteps.tolist():
        if not 0 <= t < limit:
            raise ValueError(TIMESTEP_RANGE.format(limit=limit, value=t))
    if cond.dim() != 3 or cond.shape[0] != batch:
        raise ValueError(
            CONDITION_SHAPE.format(what="conditional", batch=batch, got=tuple(cond.shape))
        )
    if uncond.dim() != 3 or uncond.shape[0] not in (1, batch) or uncond.shape[1:] != cond.shape[1:]:
        raise ValueError(
            CONDITION_SHAPE.format(what="unconditional", batch=batch, got=tuple(uncond.shape))
        )
    if first_eps is not None and first_eps.shape != z_t.shape:
        raise ValueError(
            FIRST_EPS_SHAPE.format(expected=tuple(z_t.shape), got=tuple(first_eps.shape))
        )
    return batch


def _grad_calls(
    schedules: Sequence[Sequence[int]], grad_step: str, generator: torch.Generator | None
) -> list[int]:
    """Index, within each example's schedule, of the call that carries gradient."""
    if grad_step == "first":
        return [0] * len(schedules)
    if grad_step == "last":
        return [len(s) - 1 for s in schedules]
    where = generator.device if generator is not None else "cpu"
    draw = torch.rand((), generator=generator, device=where).item()
    return [min(math.floor(draw * len(s)), len(s) - 1) for s in schedules]


def _guided_output(
    unet,
    sample: Tensor,
    t: Tensor,
    cond: Tensor,
    uncond: Tensor,
    guidance: float,
    *,
    with_grad: bool,
    reuse: dict[int, Tensor] | None,
) -> Tensor:
    """Classifier-free-guided UNet output for the rows of one call, float32.

    Rows listed in ``reuse`` take their conditional output from it instead of the UNet.
    Without gradient, the conditional and unconditional passes go through the UNet as
    one batch. With gradient, only the conditional pass records it (as published), so
    the unconditional pass runs apart, under no_grad, and costs no backward.
    """
    reuse = reuse or {}
    compute = [k for k in range(sample.shape[0]) if k not in reuse]
    use_uncond = guidance != 1
    cond_rows = uncond_out = None
    if with_grad:
        cond_rows = _unet(unet, sample[compute], t[compute], cond[compute]) if compute else None
        with torch.no_grad():
            uncond_out = _unet(unet, sample, t, uncond) if use_uncond else None
    elif compute or use_uncond:
        with torch.no_grad():
            rows = compute + (list(range(sample.shape[0])) if use_uncond else [])
            both = _unet(
                unet,
                sample[rows],
                t[rows],
                torch.cat([cond[compute], uncond]) if use_uncond else cond[compute],
            )
            cond_rows = both[: len(compute)] if compute else None
            uncond_out = both[len(compute) :] if use_uncond else None
    cond_out = _merge_rows(sample.shape[0], compute, cond_rows, reuse)
    if not use_uncond:
        return cond_out
    return uncond_out + guidance * (cond_out - uncond_out)


def _merge_rows(
    n: int, compute: list[int], computed: Tensor | None, reuse: dict[int, Tensor]
) -> Tensor:
    position = {k: p for p, k in enumerate(compute)}
    return torch.stack(
        [reuse[k].float() if k in reuse else computed[position[k]] for k in range(n)]
    )


def _unet(unet, sample: Tensor, t: Tensor, hidden: Tensor) -> Tensor:
    dtype = getattr(unet, "dtype", None) or next(unet.parameters()).dtype
    out = unet(sample.to(dtype), t, encoder_hidden_states=hidden.to(dtype), return_dict=False)[0]
    return out.float()


def _decode(vae, latents: Tensor) -> Tensor:
    """Frozen-VAE decode that stays differentiable in the latents."""
    config = vae.config
    latents = latents / config.scaling_factor
    shift = config.get("shift_factor", None)
    if shift is not None:
        latents = latents + shift
    return vae.decode(latents.to(getattr(vae, "dtype", latents.dtype)), return_dict=False)[
        0
    ].float()
