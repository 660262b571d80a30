"""The command line: python -m scoft_core train | negatives | captions | sample.

Each subcommand parses its options and calls one library function; errors the user can
fix end the program with a sentence on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from scoft_core import variants
from study.names import TINY_MODEL

TINY_RESOLUTION = 64
TINY_DISTANCE = "random-conv"


def _threads(value: int | None) -> None:
    # Several jobs may share a small machine; let the user cap torch's intra-op threads.
    if value:
        import torch

        torch.set_num_threads(value)


def _sampler_settings(args, *, tiny: bool):
    from scoft_core.sampling import TINY_SAMPLER, SamplerSettings

    base = TINY_SAMPLER if tiny else SamplerSettings()
    return SamplerSettings(
        scheduler=args.scheduler or base.scheduler,
        steps=args.steps or base.steps,
        guidance=base.guidance if args.guidance is None else args.guidance,
        width=args.width or base.width,
        height=args.height or base.height,
    )


def _add_sampler_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scheduler", help="dpm-solver-multistep (default), ddim, ddpm, euler, ..."
    )
    parser.add_argument("--steps", type=int, help="denoising steps (default 50; 8 for tiny)")
    parser.add_argument("--guidance", type=float, help="classifier-free guidance (default 4.5)")
    parser.add_argument("--width", type=int, help="pixels (default 512; 64 for tiny)")
    parser.add_argument("--height", type=int, help="pixels (default 512; 64 for tiny)")


def _train_overrides(args) -> dict:
    tiny = args.model == TINY_MODEL
    overrides = {
        "resolution": args.resolution or (TINY_RESOLUTION if tiny else None),
        "max_steps": args.max_steps,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "grad_accumulation": args.grad_accumulation,
        "lora_rank": args.lora_rank,
        "lora_targets": tuple(args.lora_targets.split(",")) if args.lora_targets else None,
        "learning_rate": args.learning_rate,
        "mixed_precision": args.mixed_precision,
        "feature_distance": args.feature_distance or (TINY_DISTANCE if tiny else None),
        "perceptual_distance": args.perceptual_distance or (TINY_DISTANCE if tiny else None),
        "unroll_every": args.unroll_every,
        "unroll_steps": args.unroll_steps,
        "unroll_guidance": args.unroll_guidance,
        "grad_step": args.grad_step,
        "max_negatives": args.max_negatives,
        "checkpoint_every": args.checkpoint_every,
        "seed": args.seed,
        "weights": variants.parse_loss_weights(args.loss_weights) if args.loss_weights else None,
    }
    overrides = {key: value for key, value in overrides.items() if value is not None}
    return {**overrides, **variants.parse_settings(args.set or [])}


def run_train(args) -> None:
    from scoft_core.training import ALREADY_TRAINED, train

    _threads(args.threads)
    config = variants.preset(args.variant, **_train_overrides(args))
    options = {}
    if args.feature_model:
        options["feature"] = {"model": args.feature_model}
    if args.perceptual_model:
        options["perceptual"] = {"model": args.perceptual_model}
    result = train(
        args.data,
        args.output,
        config,
        base_model=args.model,
        resume=not args.restart,
        progress=not args.quiet,
        distance_options=options,
    )
    if result.already_done:
        print(ALREADY_TRAINED.format(folder=result.output, steps=result.steps))
    else:
        print(f"Adapter for {config.variant} written to {result.output} ({result.steps} steps).")


def run_negatives(args) -> None:
    from tqdm.auto import tqdm

    from scoft_core.negatives import make_negatives

    _threads(args.threads)
    settings = _sampler_settings(args, tiny=args.model == TINY_MODEL)
    bar = tqdm(desc="negatives", disable=args.quiet, unit="image")
    for progress in make_negatives(
        args.data,
        model=args.model,
        per_image=args.per_image,
        settings=settings,
        seed=args.seed,
        batch_size=args.batch_size,
        controlnet=args.controlnet,
        depth_estimator=args.depth_estimator,
        device=args.device,
    ):
        bar.total = progress.total
        bar.n = progress.made
        bar.refresh()
    bar.close()
    print(f"Negatives recorded in {Path(args.data) / 'metadata.jsonl'}.")


def run_captions(args) -> None:
    from tqdm.auto import tqdm

    from scoft_core.captions import fill_generic_captions

    _threads(args.threads)
    bar = tqdm(desc="captions", disable=args.quiet, unit="image")
    for progress in fill_generic_captions(
        args.data,
        model=args.model,
        batch_size=args.batch_size,
        overwrite=args.overwrite,
        device=args.device,
    ):
        bar.total = progress.total
        bar.n = progress.done
        bar.refresh()
    bar.close()
    print(f"Generic captions recorded in {Path(args.data) / 'metadata.jsonl'}.")


def _prompts(args) -> list[str]:
    prompts = list(args.prompt or [])
    if args.prompts_file:
        lines = Path(args.prompts_file).read_text(encoding="utf-8").splitlines()
        prompts += [line.strip() for line in lines if line.strip()]
    if not prompts:
        raise ValueError("Give at least one prompt (--prompt or --prompts-file).")
    return prompts


def run_sample(args) -> None:
    from scoft_core.pipelines import load_pipeline
    from scoft_core.sampling import sample

    _threads(args.threads)
    prompts = _prompts(args)
    seeds = [int(s) for s in args.seeds.split(",")]
    pairs = [(p, s) for p in prompts for s in seeds]
    settings = _sampler_settings(args, tiny=args.model == TINY_MODEL)
    pipe = load_pipeline(args.model, adapter=args.adapter, device=args.device)
    images = sample(
        pipe, [p for p, _ in pairs], [s for _, s in pairs], settings, batch_size=args.batch_size
    )
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    with (output / "images.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_name", "prompt", "seed"])
        for index, ((prompt, seed), image) in enumerate(zip(pairs, images, strict=True)):
            name = f"{index:04d}_seed{seed}.png"
            image.save(output / name)
            writer.writerow([name, prompt, seed])
    print(f"{len(images)} images written to {output}.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scoft_core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a SCoFT variant's LoRA adapter")
    train.add_argument("--data", required=True, type=Path, help="community data set folder")
    train.add_argument("--output", required=True, type=Path, help="adapter folder to write")
    train.add_argument("--variant", required=True, choices=list(variants.PRESETS))
    train.add_argument("--model", default=TINY_MODEL, help="base model: folder, hub id or tiny")
    train.add_argument("--resolution", type=int, help="pixels (default 512; 64 for tiny)")
    train.add_argument("--max-steps", type=int, help="optimizer steps (default: 100 epochs)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int, help="examples per micro-step (default 1)")
    train.add_argument("--grad-accumulation", type=int, help="micro-steps per step (default 4)")
    train.add_argument("--lora-rank", type=int, help="default 64")
    train.add_argument("--lora-targets", help="comma-separated module names (to_q,to_k,...)")
    train.add_argument("--learning-rate", type=float, help="default 1e-4")
    train.add_argument("--mixed-precision", choices=variants.MIXED_PRECISIONS)
    train.add_argument("--feature-distance", help="D of L_C (dreamsim; random-conv for tiny)")
    train.add_argument("--feature-model", help="path or id of the feature network, if any")
    train.add_argument("--perceptual-distance", help="D of L_P (vgg-lpips; random-conv for tiny)")
    train.add_argument("--perceptual-model", help="path or id of the perceptual network, if any")
    train.add_argument("--unroll-every", type=int, help="micro-steps between unrolls (10)")
    train.add_argument("--unroll-steps", type=int, help="UNet calls from z_t to x0 (20)")
    train.add_argument("--unroll-guidance", type=float, help="guidance in the unroll (4.5)")
    train.add_argument("--grad-step", choices=variants.GRAD_STEPS)
    train.add_argument("--max-negatives", type=int, help="negatives read per example (3)")
    train.add_argument("--checkpoint-every", type=int, help="optimizer steps (500)")
    train.add_argument("--seed", type=int, help="default 1024")
    train.add_argument("--loss-weights", help="e.g. ldm=0.7,memorization=0.3,contrastive=0.05")
    train.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="any other training setting, e.g. weight_decay=0 or lora_alpha=32 (repeatable)",
    )
    train.add_argument("--restart", action="store_true", help="ignore earlier checkpoints")
    train.set_defaults(run=run_train)

    negatives = commands.add_parser("negatives", help="make the base model's negatives")
    negatives.add_argument("--data", required=True, type=Path)
    negatives.add_argument("--model", default=TINY_MODEL, help="frozen base model")
    negatives.add_argument("--per-image", type=int, default=3)
    negatives.add_argument("--seed", type=int, default=1024)
    negatives.add_argument("--batch-size", type=int, default=4)
    negatives.add_argument("--controlnet", help="depth ControlNet folder or hub id")
    negatives.add_argument("--depth-estimator", help="transformers depth model folder or id")
    _add_sampler_options(negatives)
    negatives.set_defaults(run=run_negatives)

    captions = commands.add_parser("captions", help="fill blip_text with BLIP captions")
    captions.add_argument("--data", required=True, type=Path)
    captions.add_argument("--model", default="Salesforce/blip-image-captioning-base")
    captions.add_argument("--batch-size", type=int, default=8)
    captions.add_argument("--overwrite", action="store_true", help="recaption every row")
    captions.set_defaults(run=run_captions)

    sample = commands.add_parser("sample", help="images from a base model and optional adapter")
    sample.add_argument("--model", default=TINY_MODEL)
    sample.add_argument("--adapter", type=Path, help="output folder of train")
    sample.add_argument("--prompt", action="append", help="repeat for several prompts")
    sample.add_argument("--prompts-file", type=Path, help="one prompt per line")
    sample.add_argument("--seeds", default="0", help="comma-separated; every prompt gets each")
    sample.add_argument("--output", required=True, type=Path)
    sample.add_argument("--batch-size", type=int, default=4)
    _add_sampler_options(sample)
    sample.set_defaults(run=run_sample)

    for command in (train, negatives, captions, sample):
        command.add_argument("--threads", type=int, help="torch CPU threads (default: all)")
        command.add_argument("--quiet", action="store_true", help="no progress bar")
        if command is not train:
            command.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
