#!/usr/bin/env python
"""Write a trained β-VAE's per-utterance latent mean and log-variance into a feature store.

The latents are computed from the RECORDS' frames (the features and normalisation the model
was trained on), whole utterances, for every portion of the records (or --portions), and
written under /latents/<name> of the store with the model, train dir, checkpoint and β as
provenance. Every encoded item id must be an item of the store (make both from one corpus).

    python -m tfemo.encode_latents --train_dir runs/vae --store features/demo.h5
    python tools/encode_latents.py --train_dir runs/vae --store features/demo.h5 --name vae_b4
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from tfemo.core.cli import report_user_errors
from tfemo.core.config_file import parse_with_config
from tfemo.core.errors import TfemoError
from tfemo.core.flags import config_flags, steps_flags, train_dir_flags
from tfemo.training.run_dir import RUN_CONFIG


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (every option documented in --help)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[train_dir_flags("train dir of a beta_vae run (tfemo.train --model beta_vae; "
                                 "default: %(default)s)"),
                 steps_flags("the checkpoint to restore: its global step, or 'latest' "
                             "(default: latest)"), config_flags()])
    parser.add_argument("--store", type=Path, required=True,
                        help="the HDF5 feature store (tfemo.make_feature_store) to write into")
    parser.add_argument("--tfrecords", type=Path, default=None,
                        help="records to encode (default: the ones the run trained on, "
                             "from its run.toml)")
    parser.add_argument("--portions", default="",
                        help="portions to encode, joined with + (default: every portion)")
    parser.add_argument("--name", default="",
                        help="name of the latents in the store (default: the train dir name)")
    parser.add_argument("--batch_size", type=int, default=16, help="utterances per batch")
    return parse_with_config(parser, argv)


def run(args: argparse.Namespace) -> int:
    """Restore, encode, write; print what was written."""
    from tfemo.evaluation.latents import encode_records
    from tfemo.records.description import DatasetDescription
    from tfemo.store.reader import FeatureStore
    from tfemo.training.restore import restore_train_dir

    if not args.store.exists():
        raise TfemoError(f"{args.store}: no such feature store (make it with "
                         "tfemo.make_feature_store)")
    tfrecords = args.tfrecords
    if tfrecords is None:
        run_file = args.train_dir / RUN_CONFIG
        if not run_file.exists():
            raise TfemoError(f"{run_file}: missing; give --tfrecords")
        tfrecords = Path(tomllib.loads(run_file.read_text())["tfrecords"])
    restored = restore_train_dir(args.train_dir, args.steps, wants="latents")
    model, path = restored.model, restored.checkpoint
    description = DatasetDescription.read(tfrecords)
    portions = args.portions.split("+") if args.portions else sorted(description.portions)
    encoded = encode_records(model, tfrecords, portions, args.batch_size,
                             speaker_normalise=restored.speaker_normalise)
    name = args.name or args.train_dir.resolve().name
    provenance = {"model": restored.name, "train_dir": str(args.train_dir.resolve()),
                  "checkpoint": path, "tfrecords": str(Path(tfrecords).resolve()),
                  "portions": portions, "beta": model.beta, "latent_dim": model.latent_dim,
                  "conditional": model.conditional, "computed_from": "records"}
    with FeatureStore(args.store) as store:
        store.write_latents(name, {i: (m, v) for i, m, v in zip(
            encoded.ids, encoded.mean, encoded.log_var, strict=True)}, provenance)
    print(f"wrote {len(encoded.ids)} latents ({model.latent_dim}-d) of {path} to "
          f"{args.store}:/latents/{name}; mean reconstruction error "
          f"{encoded.reconstruction.mean():.3f}, mean KL {encoded.kl.mean():.3f}")
    return 0


@report_user_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of tools/encode_latents.py and python -m tfemo.encode_latents."""
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
