#!/usr/bin/env python
"""Add class-conditional generated training examples to every fold, leak-proof.

For each records folder (the one given, or each fold-NN/ under it), a class-conditional
generator (--generator vae: the β-VAE, the default; gan: a conditional WGAN-GP) is trained
on that folder's TRAIN portion only (its own train dir under --train_root),
and N examples per class (--per_class N, or --factor F: F x the class's train count) are
decoded from the prior and written as the folder's `generated` portion; the description
records the generator, the fold and the train items it saw. Normalisation statistics stay
train-only; devel and test are untouched. Train on them with
`tfemo.train --train_portions train+generated` (a features-only model: conv1d).
After writing, it prints per folder the sample-quality measures of the generated examples
against the train portion (tfemo.evaluation.sample_quality).

    python tools/generate_samples.py --tfrecords tfrecords/emodb-loso --factor 1 \
        --train_root checkpoints/generators --max_steps 1000 [--generator gan]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfemo.core.cli import report_user_errors
from tfemo.core.config_file import parse_with_config
from tfemo.core.errors import TfemoError
from tfemo.core.flags import config_flags, max_steps_flags
from tfemo.core.options import add_flags, names
from tfemo.models.beta_vae import BetaVAEConfig
from tfemo.models.wgan_gp import WGANConfig
from tfemo.training.config import TrainConfig

GENERATOR_CONFIGS = {"vae": ("beta_vae", BetaVAEConfig), "gan": ("wgan_gp", WGANConfig)}
LEARNING_RATES = {"vae": 1e-3, "gan": 1e-4}  # --learning_rate 0


def _config_generator(config: Path | None) -> str | None:
    """The `generator` key of a --config file (its options decide the flags offered), if any;
    a bad file is reported by the full parse."""
    from tfemo.core.options import OptionError, read_toml

    if config is None:
        return None
    try:
        value = read_toml(config).get("generator")
    except (OptionError, OSError):
        return None
    return value if value in GENERATOR_CONFIGS else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (every option documented in --help; the generator's options are
    those of the --generator chosen)."""
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--generator", choices=tuple(GENERATOR_CONFIGS), default=None)
    first.add_argument("--config", type=Path, default=None)
    known = first.parse_known_args(argv)[0]
    chosen = known.generator or _config_generator(known.config) or "vae"
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[max_steps_flags(1000, "generator training steps (default: 1000)"),
                 config_flags()])
    parser.add_argument("--generator", choices=tuple(GENERATOR_CONFIGS), default="vae",
                        help="vae: class-conditional β-VAE; gan: class-conditional WGAN-GP "
                             "(its options show with --generator gan --help)")
    parser.add_argument("--tfrecords", type=Path, required=True,
                        help="a categorical records folder with features, or a folder of "
                             "fold-NN/ records folders")
    parser.add_argument("--train_root", type=Path, required=True,
                        help="where each fold's generator train dir goes (fold-NN/)")
    parser.add_argument("--per_class", type=int, default=0,
                        help="examples generated per class")
    parser.add_argument("--factor", type=float, default=0.0,
                        help="instead of --per_class: per class, this many times the class's "
                             "train examples (0.5, 1: half or the whole train size)")
    parser.add_argument("--batch_size", type=int, default=16, help="generator batch size")
    parser.add_argument("--learning_rate", type=float, default=0.0,
                        help="generator learning rate (0: 1e-3 for the vae, 1e-4 for the gan)")
    parser.add_argument("--seed", type=int, default=1, help="seed of training and sampling")
    parser.add_argument("--no_quality", action="store_true",
                        help="skip the sample-quality measures after writing")
    model_name, config = GENERATOR_CONFIGS[chosen]
    add_flags(parser.add_argument_group(f"generator ({model_name}) options; conditional is "
                                        "always class"), config)
    return parse_with_config(parser, argv)


def run(args: argparse.Namespace) -> int:
    """One generator per records folder, one generated portion each."""
    from tfemo.evaluation.sample_quality import portion_quality
    from tfemo.training.generate import generate_for_fold
    from tfemo.training.loop import fold_record_dirs

    if not args.tfrecords.is_dir():
        raise TfemoError(f"{args.tfrecords}: no such records folder")
    folders = fold_record_dirs(args.tfrecords) or [args.tfrecords]
    model_name, config_class = GENERATOR_CONFIGS[args.generator]
    config = config_class(**{k: getattr(args, k) for k in names(config_class)
                             if hasattr(args, k)})
    train = TrainConfig(max_steps=args.max_steps, batch_size=args.batch_size,
                        learning_rate=args.learning_rate or LEARNING_RATES[args.generator],
                        seed=args.seed)
    for folder in folders:
        train_dir = args.train_root / folder.name if folder != args.tfrecords else args.train_root
        description = generate_for_fold(folder, train_dir, train, config,
                                        per_class=args.per_class, factor=args.factor,
                                        seed=args.seed, model_name=model_name)
        generated = description.portions["generated"]
        print(f"{folder}: {generated['examples']} generated examples "
              f"({generated['classes']}) from a generator trained on "
              f"{description.portions['train']['examples']} train items", flush=True)
        if not args.no_quality:
            for line in portion_quality(folder, seed=args.seed).lines():
                print(f"  {line}", flush=True)
    return 0


@report_user_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of tools/generate_samples.py and python -m tfemo.generate_samples."""
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
