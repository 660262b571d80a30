"""Command line of the toy world: `python -m toyworld <command>`.

Commands:
  community       write the community set (contract 1) to a folder
  train-base      train the toy base model on the web corpus and save it
  fit-detectors   fit the motif, stereotype and category detectors through the VAE
  fit-perceptual  train the toy perceptual distance on simulated similarity judgements
  measure-bias    sample the base model and measure its stereotype rate per culture
  evaluate        fine-tune scoft-m, scoft-mp, scoft-mpc and print the ablation table
  ablation        the sweep of paired differences between variants (resumable)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch


def _community(args: argparse.Namespace) -> None:
    from toyworld.corpus import write_community_set

    folder = write_community_set(args.out, per_culture=args.per_culture, seed=args.seed)
    print(f"wrote the community set to {folder}")


def _train_base(args: argparse.Namespace) -> None:
    from toyworld.base_model import train_base
    from toyworld.base_training import BaseTrainingConfig

    config = BaseTrainingConfig(seed=args.seed)
    if args.quick:  # a smoke run of the whole recipe in seconds
        config = BaseTrainingConfig(
            seed=args.seed, web_size=100, vae_steps=3, denoiser_steps=3, warmup_steps=1
        )
    train_base(args.out, args.work, config, progress=lambda m: print(m, flush=True))


def _fit_detectors(args: argparse.Namespace) -> None:
    from toyworld.calibration import fit_and_measure
    from toyworld.sampling import load_toy_pipeline

    if args.vae:  # the VAE stage of train-base is final before the denoiser stage ends
        from diffusers import AutoencoderKL

        vae = AutoencoderKL.from_pretrained(args.vae).eval()
    else:
        vae = load_toy_pipeline(args.model).vae
    detectors = fit_and_measure(vae, args.train_images, args.test_images)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    detectors.save(args.out)
    print(f"detector accuracy on fresh images through the VAE: {detectors.accuracy}")
    print(f"saved the detectors to {args.out}")


def _fit_perceptual(args: argparse.Namespace) -> None:
    from toyworld.perceptual import fit_perceptual, save_perceptual
    from toyworld.sampling import load_toy_pipeline

    if args.vae:
        from diffusers import AutoencoderKL

        vae = AutoencoderKL.from_pretrained(args.vae).eval()
    else:
        vae = load_toy_pipeline(args.model).vae
    network, facts = fit_perceptual(vae, progress=_say)
    digest = save_perceptual(network, facts, args.out)
    print(f"held-out agreement with the simulated observer: {facts}")
    print(f"saved the toy perceptual distance to {args.out} (sha256 {digest})")


def _measure_bias(args: argparse.Namespace) -> None:
    from toyworld.bias import measure_base_bias

    print(measure_base_bias(args.model, args.detectors, seeds_per_prompt=args.seeds))


def _evaluate(args: argparse.Namespace) -> None:
    from toyworld.evaluate import EvaluationConfig, evaluate
    from toyworld.report import format_table

    config = EvaluationConfig(
        variants=tuple(args.variants.split(",")),
        unroll_every=args.unroll_every,
        loss_weights=args.loss_weights,
        max_steps=args.max_steps,
        seeds_per_prompt=args.seeds,
        feature_distance=args.feature_distance,
        perceptual_distance=args.perceptual_distance,
        learning_rate=args.learning_rate,
        settings=tuple(args.set or ()),
        threads=args.threads,
    )
    if args.quick:  # the whole pipeline at toy-of-a-toy scale, for a smoke run
        config = EvaluationConfig(
            per_culture=2, negatives_per_image=1, max_steps=2, batch_size=2,
            unroll_every=1, unroll_steps=2, seeds_per_prompt=2, threads=args.threads,
        )  # fmt: skip
    table = evaluate(args.work, args.model, args.detectors, config, progress=_say)
    print(format_table(table))


def _ablation(args: argparse.Namespace) -> None:
    import json

    from toyworld.ablation import DEFAULT_SCOPES, JOINT, format_paired, run_ablation, sweep
    from toyworld.evaluate import EvaluationConfig
    from toyworld.world import CULTURE_NAMES

    scopes = {
        "default": list(DEFAULT_SCOPES), "all": [JOINT, *CULTURE_NAMES],
    }.get(args.scopes) or args.scopes.split(",")  # fmt: skip
    config = EvaluationConfig(threads=args.threads, max_steps=args.max_steps)
    record = run_ablation(
        args.work, args.model, args.detectors, config, sweep(args.settings), scopes,
        seeds_per_prompt=args.seeds, max_minutes=args.max_minutes, jobs=args.jobs,
        progress=_say,
    )  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(format_paired(record))
    print(
        f"ran {len(record['done'])} (setting, scope) pairs in {record['minutes']} min; "
        f"{len(record['remaining'])} adapters remain (rerun the command to continue)"
    )


def _say(message: str) -> None:
    print(message, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command."""
    from toyworld.base_model import BASE_MODEL_DIR, DETECTORS_FILE
    from toyworld.perceptual import PERCEPTUAL_FILE

    parser = argparse.ArgumentParser(
        prog="python -m toyworld",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1 is fastest when other jobs share the cores)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    community = commands.add_parser("community", help="write the community set")
    community.add_argument("--out", type=Path, default=Path("var/toyworld/community"))
    community.add_argument("--per-culture", type=int, default=32)
    community.add_argument("--seed", type=int, default=2024)
    community.set_defaults(run=_community)

    train = commands.add_parser("train-base", help="train the toy base model")
    train.add_argument("--out", type=Path, default=BASE_MODEL_DIR)
    train.add_argument("--work", type=Path, default=Path("var/toyworld/train-base"))
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--quick", action="store_true", help="tiny smoke run")
    train.set_defaults(run=_train_base)

    fit = commands.add_parser("fit-detectors", help="fit the motif and stereotype detectors")
    fit.add_argument("--model", type=Path, default=BASE_MODEL_DIR)
    fit.add_argument("--out", type=Path, default=DETECTORS_FILE)
    fit.add_argument("--vae", type=Path, help="a VAE folder to use instead of the model's")
    fit.add_argument("--train-images", type=int, default=3000)
    fit.add_argument("--test-images", type=int, default=600)
    fit.set_defaults(run=_fit_detectors)

    perceptual = commands.add_parser(
        "fit-perceptual", help="train the toy perceptual distance (L_C's DreamSim stand-in)"
    )
    perceptual.add_argument("--model", type=Path, default=BASE_MODEL_DIR)
    perceptual.add_argument("--vae", type=Path, help="a VAE folder to use instead of the model's")
    perceptual.add_argument("--out", type=Path, default=PERCEPTUAL_FILE)
    perceptual.set_defaults(run=_fit_perceptual)

    bias = commands.add_parser("measure-bias", help="measure the base model's stereotype")
    bias.add_argument("--model", type=Path, default=BASE_MODEL_DIR)
    bias.add_argument("--detectors", type=Path, default=DETECTORS_FILE)
    bias.add_argument("--seeds", type=int, default=16, help="images per prompt")
    bias.set_defaults(run=_measure_bias)

    ablation = commands.add_parser("evaluate", help="the ablation table on the toy world")
    ablation.add_argument("--work", type=Path, default=Path("var/toyworld/evaluate"))
    ablation.add_argument("--model", type=Path, default=BASE_MODEL_DIR)
    ablation.add_argument("--detectors", type=Path, default=DETECTORS_FILE)
    ablation.add_argument("--max-steps", type=int, default=300, help="optimizer steps")
    ablation.add_argument("--learning-rate", type=float, default=1e-3)
    ablation.add_argument(
        "--feature-distance", default="toy-perceptual", help="D of L_C (or e.g. random-conv)"
    )
    ablation.add_argument("--perceptual-distance", default="random-conv", help="D of L_P")
    ablation.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="passed to scoft_core train"
    )
    ablation.add_argument("--seeds", type=int, default=16, help="images per prompt")
    ablation.add_argument("--variants", default="scoft-m,scoft-mp,scoft-mpc")
    ablation.add_argument("--loss-weights", help="passed to scoft_core train, e.g. contrastive=0.5")
    ablation.add_argument("--unroll-every", type=int, default=10, help="micro-steps per unroll")
    ablation.add_argument("--quick", action="store_true", help="tiny smoke run")
    ablation.set_defaults(run=_evaluate)

    paired = commands.add_parser(
        "ablation", help="the sweep of paired differences mpc - mp and mp - m (resumable)"
    )
    paired.add_argument("--work", type=Path, default=Path("var/toyworld/ablation"))
    paired.add_argument("--model", type=Path, default=BASE_MODEL_DIR)
    paired.add_argument("--detectors", type=Path, default=DETECTORS_FILE)
    paired.add_argument(
        "--settings", choices=("one-at-a-time", "factorial", "published"), default="one-at-a-time"
    )
    paired.add_argument(
        "--scopes",
        default="default",
        help="'default' (joint and the stereotyped cultures), 'all', or e.g. joint,Quenzar",
    )
    paired.add_argument("--seeds", type=int, default=150, help="images per prompt")
    paired.add_argument("--jobs", type=int, default=2, help="adapters trained at once")
    paired.add_argument("--max-steps", type=int, default=300, help="optimizer steps")
    paired.add_argument("--max-minutes", type=float, help="stop starting new steps after this")
    paired.add_argument("--out", type=Path, default=Path("toyworld/results/ablation_paired.json"))
    paired.set_defaults(run=_ablation)

    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
