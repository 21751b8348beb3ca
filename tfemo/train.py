"""Train a model on TFRecords: `python -m tfemo.train --device 0`.

Checkpoints `model.ckpt-<global step>` go to --train_dir every --save_interval_secs and at the
end; TensorBoard summaries every --save_summaries_secs; `log_train.txt` records every run.
Started again with the same --train_dir, training resumes from the latest checkpoint: the step
count, the optimizer state and the position in the (seeded) data stream all continue.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfemo.files import write_atomic  # noqa: E402

MODEL_FILE = "model.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Every flag, documented in --help."""
    parser = argparse.ArgumentParser(
        prog="python -m tfemo.train", description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default="semantic_fusion", help="model to train")
    parser.add_argument("--modalities", default="audio,text",
                        help="semantic_fusion inputs: audio, text or audio,text")
    parser.add_argument("--hidden", type=int, default=256, help="LSTM units")
    parser.add_argument("--lstm_layers", type=int, default=1, help="stacked LSTM layers")
    parser.add_argument("--audio_variant", default="tzirakis", choices=("tzirakis", "emo18"),
                        help="audio conv stack: Tzirakis et al. or end2you's Emo18")
    parser.add_argument("--dropout", type=float, default=0.5, help="dropout after the conv stack")
    parser.add_argument("--tfrecords", type=Path, default=Path("tfrecords"),
                        help="records folder written by tools/make_tfrecords.py")
    parser.add_argument("--train_dir", type=Path, default=Path("checkpoints"),
                        help="where checkpoints, summaries and log_train.txt go")
    parser.add_argument("--batch_size", type=int, default=8, help="sequences per batch")
    parser.add_argument("--sequence_length", type=int, default=150,
                        help="frames per training sequence (40 ms each)")
    parser.add_argument("--learning_rate", type=float, default=3e-4, help="Adam learning rate")
    parser.add_argument("--max_steps", type=int, default=1000,
                        help="stop when the global step reaches this")
    parser.add_argument("--save_interval_secs", type=float, default=120,
                        help="seconds between checkpoints (one is always saved at the end)")
    parser.add_argument("--save_summaries_secs", type=float, default=60,
                        help="seconds between TensorBoard summaries")
    parser.add_argument("--max_to_keep", type=int, default=5,
                        help="checkpoints kept (older ones are deleted)")
    parser.add_argument("--no_cache", dest="cache", action="store_false",
                        help="do not keep the parsed train records in memory (the cache takes "
                             "about 4 KB per frame: 100 MB for the demo, 13 GB for 40 h)")
    parser.add_argument("--seed", type=int, default=1, help="seed of weights and data order")
    parser.add_argument("--device", type=int, default=0,
                        help="GPU index; -1 for the CPU (a missing GPU falls back to the CPU)")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2),
                        help="Keras progress output")
    return parser.parse_args(argv)


def model_options(args: argparse.Namespace) -> dict:
    """Builder options implied by the flags."""
    if args.model == "semantic_fusion":
        return {"modalities": tuple(m.strip() for m in args.modalities.split(",") if m.strip()),
                "hidden": args.hidden, "lstm_layers": args.lstm_layers,
                "audio_variant": args.audio_variant, "dropout": args.dropout}
    return {}


def check_model_file(train_dir: Path, name: str, config: dict, data: dict) -> None:
    """Refuse to resume a train dir made with another model or data stream; else write it.

    `data` holds what fixes the order of training batches (records, seed, batch and sequence
    sizes): resuming skips the steps already taken, which is only right for the same stream.
    """
    path = train_dir / MODEL_FILE
    spec = {"model": name, "config": config, "data": data}
    if path.exists():
        saved = json.loads(path.read_text())
        if saved != json.loads(json.dumps(spec)):
            raise SystemExit(f"{path}: this train dir holds a {saved['model']} model trained with "
                             "other flags or data; use a new --train_dir or the same flags")
        return
    write_atomic(path, json.dumps(spec, indent=1, sort_keys=True))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import keras

    from tfemo.callbacks import PeriodicCheckpoint, PeriodicSummaries, StopAtStep, global_step
    from tfemo.checkpoints import make_manager, training_checkpoint
    from tfemo.devices import select_device
    from tfemo.losses import MaskedCCCLoss
    from tfemo.metrics import StreamingCCC
    from tfemo.models.registry import build_model
    from tfemo.records.description import DatasetDescription
    from tfemo.records.reader import make_dataset

    print(select_device(args.device), flush=True)
    keras.utils.set_random_seed(args.seed)
    description = DatasetDescription.read(args.tfrecords)
    model = build_model(args.model, description, **model_options(args))
    args.train_dir.mkdir(parents=True, exist_ok=True)
    data_stream = {"records": description.name, "portions": description.portions,
                   "seed": args.seed, "batch_size": args.batch_size,
                   "sequence_length": args.sequence_length}
    check_model_file(args.train_dir, args.model, model.get_config(), data_stream)

    optimizer = keras.optimizers.Adam(args.learning_rate)
    optimizer.build(model.trainable_variables)
    label_names = description.label_names
    model.compile(optimizer=optimizer, loss=MaskedCCCLoss(),
                  metrics=[StreamingCCC(d, name=f"ccc_{n}") for d, n in enumerate(label_names)])
    checkpoint = training_checkpoint(model, optimizer)
    manager = make_manager(checkpoint, args.train_dir, args.max_to_keep)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    start_step = global_step(model)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    _log_start(args, description, start_step, started)
    if start_step:
        print(f"resuming from {manager.latest_checkpoint} (step {start_step})", flush=True)
    if start_step >= args.max_steps:
        print(f"already at step {start_step} >= --max_steps {args.max_steps}; nothing to do")
        return 0

    features = tuple(getattr(model, "input_keys", ("audio", "words"))) + ("labels",)
    data = make_dataset(args.tfrecords, "train", sequence_length=args.sequence_length,
                        batch_size=args.batch_size, shuffle=True, seed=args.seed, repeat=True,
                        drop_remainder=True, features=features, cache=args.cache)
    # The stream is a fixed function of the seed: skipping the steps already taken puts a
    # resumed run at the same data position as an uninterrupted one.
    data = data.map(lambda batch: (batch, batch["labels"], batch["mask"])).skip(start_step)

    train_frames = description.portion("train")["frames"]
    steps_per_epoch = max(1, round(train_frames / (args.sequence_length * args.batch_size)))
    remaining = args.max_steps - start_step
    callbacks = [
        StopAtStep(args.max_steps),
        PeriodicCheckpoint(manager, args.save_interval_secs),
        PeriodicSummaries(str(args.train_dir / "train"), args.save_summaries_secs),
    ]
    model.fit(data, steps_per_epoch=min(steps_per_epoch, remaining),
              epochs=math.ceil(remaining / min(steps_per_epoch, remaining)),
              callbacks=callbacks, shuffle=False, verbose=args.verbose)
    final_step = global_step(model)
    _log_end(args.train_dir, final_step, manager.latest_checkpoint)
    print(f"trained to step {final_step}; checkpoint {manager.latest_checkpoint}")
    return 0


def _log_start(args: argparse.Namespace, description, start_step: int, started: str) -> None:
    """Append this run's block to log_train.txt: hyperparameters and the data it trains on."""
    flags = {k: str(v) for k, v in sorted(vars(args).items())}
    portions = {p: {k: v for k, v in e.items() if k in ("examples", "frames", "seconds")}
                for p, e in description.portions.items()}
    lines = [
        f"=== run started {started} at step {start_step}",
        "command: python -m tfemo.train " + " ".join(sys.argv[1:]),
        "flags: " + json.dumps(flags, sort_keys=True),
        f"data: {args.tfrecords} name={description.name} corpus={description.corpus} "
        f"task={description.task} labels={list(description.label_names)} "
        f"word_vectors={description.word_vectors} ({description.word_dim}-d)",
        "portions: " + json.dumps(portions, sort_keys=True),
        "normalisation: " + json.dumps(description.normalisation, sort_keys=True),
    ]
    with open(args.train_dir / "log_train.txt", "a") as log:
        log.write("\n".join(lines) + "\n")


def _log_end(train_dir: Path, step: int, checkpoint: str | None) -> None:
    with open(train_dir / "log_train.txt", "a") as log:
        log.write(f"=== run ended {time.strftime('%Y-%m-%d %H:%M:%S')} at step {step}; "
                  f"checkpoint {checkpoint}\n")


if __name__ == "__main__":
    sys.exit(main())
