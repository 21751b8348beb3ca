"""Train a model on TFRecords: `python -m tfemo.train --device 0`.

Checkpoints `model.ckpt-<global step>` go to --train_dir every --save_interval_secs and at the
end; TensorBoard summaries every --save_summaries_secs; `log_train.txt` records every run.
Started again with the same --train_dir, training resumes from the latest checkpoint: the step
count, the optimizer state and the position in the (seeded) data stream all continue.

Continuous models (semantic_fusion, gru_regressor) learn 1 - CCC on chunks of
--sequence_length frames; the categorical conv1d classifier learns cross-entropy on whole
utterances, with --balance weights or sampling against class imbalance. When --tfrecords holds
folds (fold-NN/ folders written by make_tfrecords --partition), one model is trained per fold
into --train_dir/fold-NN.
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
DESCRIPTION_COPY = "description.json"  # the records' description, kept for tfemo.predict


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Every flag, documented in --help."""
    parser = argparse.ArgumentParser(
        prog="python -m tfemo.train", description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default="semantic_fusion",
                        choices=("semantic_fusion", "conv1d", "gru_regressor"),
                        help="model to train")
    parser.add_argument("--modalities", default="audio,text",
                        help="semantic_fusion inputs: audio, text or audio,text")
    parser.add_argument("--hidden", type=int, default=None,
                        help="hidden units (semantic_fusion LSTM: 256, gru_regressor GRU: 128, "
                             "conv1d dense layer: 128)")
    parser.add_argument("--lstm_layers", type=int, default=1, help="semantic_fusion LSTM layers")
    parser.add_argument("--gru_layers", type=int, default=None,
                        help="gru_regressor GRU layers (2)")
    parser.add_argument("--audio_variant", default="tzirakis", choices=("tzirakis", "emo18"),
                        help="semantic_fusion audio conv stack: Tzirakis et al. or Emo18")
    parser.add_argument("--dropout", type=float, default=None,
                        help="dropout (default: the model's own, 0.5 for semantic_fusion)")
    parser.add_argument("--variant", default=None,
                        choices=("frames", "utterance", "utterance_rich"),
                        help="conv1d: Conv1D blocks over frames, or the utterance-statistics "
                             "baseline (mean, std; rich: also percentiles and deltas)")
    parser.add_argument("--filters", type=int, default=None, help="conv1d filters per block")
    parser.add_argument("--kernel_size", type=int, default=None, help="conv1d kernel size")
    parser.add_argument("--blocks", type=int, default=None, help="conv1d blocks")
    parser.add_argument("--normalise", default="train", choices=("train", "speaker"),
                        help="features: standardise with train-set statistics (inside the "
                             "model) or per speaker (each speaker's own frames, no labels)")
    parser.add_argument("--balance", default="none", choices=("none", "weights", "sampling"),
                        help="categorical: class weights in the loss, or balanced sampling")
    parser.add_argument("--train_portions", default="train",
                        help="portions to train on, joined with + (e.g. train+devel once the "
                             "flags are fixed); normalisation statistics stay train-only")
    parser.add_argument("--crop_frames", type=int, default=0,
                        help="categorical: train on a random window of this many frames of "
                             "each longer utterance, new each epoch (0: whole utterances)")
    parser.add_argument("--weight_decay", type=float, default=0.0,
                        help="decoupled weight decay (AdamW) when > 0")
    parser.add_argument("--tfrecords", type=Path, default=Path("tfrecords"),
                        help="records folder written by tools/make_tfrecords.py")
    parser.add_argument("--train_dir", type=Path, default=Path("checkpoints"),
                        help="where checkpoints, summaries and log_train.txt go")
    parser.add_argument("--batch_size", type=int, default=8, help="sequences per batch")
    parser.add_argument("--sequence_length", type=int, default=150,
                        help="continuous tasks: frames per training sequence (40 ms each); "
                             "categorical tasks train on whole utterances")
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


# model -> the flags it takes, each passed as the builder option of the same name
MODEL_FLAGS = {
    "semantic_fusion": ("hidden", "lstm_layers", "audio_variant", "dropout"),
    "conv1d": ("variant", "filters", "kernel_size", "blocks", "hidden", "dropout"),
    "gru_regressor": ("hidden", "gru_layers", "dropout"),
}


def model_options(args: argparse.Namespace, feature_dim: int = 0) -> dict:
    """Builder options implied by the flags (flags left at None keep the model's default)."""
    options = {flag: getattr(args, flag) for flag in MODEL_FLAGS.get(args.model, ())
               if getattr(args, flag) is not None}
    if args.model == "semantic_fusion":
        options["modalities"] = tuple(m.strip() for m in args.modalities.split(",") if m.strip())
    if args.normalise == "speaker" and feature_dim:
        # the reader standardises per speaker; the model's own normalisation is the identity
        options.update(feature_mean=[0.0] * feature_dim, feature_std=[1.0] * feature_dim)
    return options


def fold_dirs(tfrecords: Path) -> list[Path]:
    """The fold-NN record folders under `tfrecords` when it holds folds, else []."""
    if (tfrecords / "description.json").exists():
        return []
    return sorted(p for p in tfrecords.glob("fold-*") if (p / "description.json").exists())


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
    from tfemo.devices import select_device

    print(select_device(args.device), flush=True)
    folds = fold_dirs(args.tfrecords)
    if not folds:
        return train_one(args, args.tfrecords, args.train_dir)
    for fold in folds:
        print(f"=== {fold.name}: {fold} -> {args.train_dir / fold.name}", flush=True)
        code = train_one(args, fold, args.train_dir / fold.name)
        if code:
            return code
    return 0


def train_one(args: argparse.Namespace, tfrecords: Path, train_dir: Path) -> int:
    """Train (or resume) one model on the records in `tfrecords`, into `train_dir`."""
    import keras

    from tfemo.callbacks import PeriodicCheckpoint, PeriodicSummaries, StopAtStep, global_step
    from tfemo.checkpoints import make_manager, training_checkpoint
    from tfemo.models.registry import build_model
    from tfemo.records.description import DatasetDescription

    keras.utils.set_random_seed(args.seed)
    description = DatasetDescription.read(tfrecords)
    if args.normalise == "speaker" and not description.features:
        raise SystemExit(f"{tfrecords}: --normalise speaker needs records made with --features")
    model = build_model(args.model, description,
                        **model_options(args, description.feature_dim))
    categorical = description.task == "categorical"
    train_dir.mkdir(parents=True, exist_ok=True)
    data_stream = {"records": description.name, "portions": description.portions,
                   "seed": args.seed, "batch_size": args.batch_size,
                   "sequence_length": None if categorical else args.sequence_length,
                   "speaker_normalise": args.normalise == "speaker",
                   "balance": args.balance if categorical else "none",
                   "crop_frames": args.crop_frames if categorical else 0,
                   "train_portions": args.train_portions}
    check_model_file(train_dir, args.model, model.get_config(), data_stream)
    description.write(train_dir / DESCRIPTION_COPY)

    if args.weight_decay > 0:
        optimizer = keras.optimizers.AdamW(args.learning_rate, weight_decay=args.weight_decay)
    else:
        optimizer = keras.optimizers.Adam(args.learning_rate)
    optimizer.build(model.trainable_variables)
    model.compile(optimizer=optimizer, **_loss_and_metrics(description))
    checkpoint = training_checkpoint(model, optimizer)
    manager = make_manager(checkpoint, train_dir, args.max_to_keep)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    start_step = global_step(model)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    _log_start(args, tfrecords, train_dir, description, start_step, started)
    if start_step:
        print(f"resuming from {manager.latest_checkpoint} (step {start_step})", flush=True)
    if start_step >= args.max_steps:
        print(f"already at step {start_step} >= --max_steps {args.max_steps}; nothing to do")
        return 0

    data, steps_per_epoch = training_stream(args, tfrecords, description, model)
    # The stream is a fixed function of the seed: skipping the steps already taken puts a
    # resumed run at the same data position as an uninterrupted one.
    data = data.skip(start_step)
    remaining = args.max_steps - start_step
    callbacks = [
        StopAtStep(args.max_steps),
        PeriodicCheckpoint(manager, args.save_interval_secs),
        PeriodicSummaries(str(train_dir / "train"), args.save_summaries_secs),
    ]
    model.fit(data, steps_per_epoch=min(steps_per_epoch, remaining),
              epochs=math.ceil(remaining / min(steps_per_epoch, remaining)),
              callbacks=callbacks, shuffle=False, verbose=args.verbose)
    final_step = global_step(model)
    _log_end(train_dir, final_step, manager.latest_checkpoint)
    print(f"trained to step {final_step}; checkpoint {manager.latest_checkpoint}")
    return 0


def _loss_and_metrics(description) -> dict:
    """Masked 1 - CCC and per-dimension CCC (continuous), or cross-entropy and accuracy."""
    import keras

    from tfemo.losses import MaskedCCCLoss
    from tfemo.metrics import StreamingCCC

    if description.task == "categorical":
        return {"loss": keras.losses.SparseCategoricalCrossentropy(),
                "weighted_metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}
    return {"loss": MaskedCCCLoss(),
            "metrics": [StreamingCCC(d, name=f"ccc_{n}")
                        for d, n in enumerate(description.label_names)]}


def class_weights(description, portions: str = "train") -> list[float]:
    """Inverse-frequency weights n / (C * n_c) of the training classes (0 if absent)."""
    counts: dict[str, int] = {}
    for portion in portions.split("+"):
        for name, count in description.portion(portion).get("classes", {}).items():
            counts[name] = counts.get(name, 0) + count
    total, present = sum(counts.values()), sum(1 for n in counts.values() if n)
    return [total / (present * counts[c]) if counts.get(c) else 0.0
            for c in description.label_names]


def training_stream(args: argparse.Namespace, tfrecords: Path, description, model):
    """The endless, seeded (inputs, targets, sample weights) stream and the steps per epoch."""
    import tensorflow as tf

    from tfemo.records.reader import make_dataset

    keys = tuple(getattr(model, "input_keys", ("audio", "words")))
    speaker_normalise = args.normalise == "speaker"
    portions = [description.portion(p) for p in args.train_portions.split("+")]
    train = {key: sum(p[key] for p in portions) for key in ("examples", "frames")}
    if description.task != "categorical":
        data = make_dataset(tfrecords, args.train_portions, sequence_length=args.sequence_length,
                            batch_size=args.batch_size, shuffle=True, seed=args.seed,
                            repeat=True, drop_remainder=True, features=keys + ("labels",),
                            cache=args.cache, speaker_normalise=speaker_normalise)
        steps = round(train["frames"] / (args.sequence_length * args.batch_size))
        return data.map(lambda b: (b, b["labels"], b["mask"])), max(1, steps)

    weights = class_weights(description, args.train_portions)
    balance = tuple(c for c, w in enumerate(weights) if w) if args.balance == "sampling" else ()
    data = make_dataset(tfrecords, args.train_portions, sequence_length=None,
                        batch_size=args.batch_size,
                        shuffle=True, seed=args.seed, repeat=True, drop_remainder=True,
                        features=keys, cache=args.cache, speaker_normalise=speaker_normalise,
                        balance_classes=balance, crop_frames=args.crop_frames)
    if args.balance == "weights":
        table = tf.constant(weights, dtype=tf.float32)
        data = data.map(lambda b: (b, b["label"], tf.gather(table, b["label"])))
    else:
        data = data.map(lambda b: (b, b["label"]))
    return data, max(1, math.ceil(train["examples"] / args.batch_size))


def _log_start(args: argparse.Namespace, tfrecords: Path, train_dir: Path, description,
               start_step: int, started: str) -> None:
    """Append this run's block to log_train.txt: hyperparameters and the data it trains on."""
    flags = {k: str(v) for k, v in sorted(vars(args).items())}
    portions = {p: {k: v for k, v in e.items() if k in ("examples", "frames", "seconds")}
                for p, e in description.portions.items()}
    lines = [
        f"=== run started {started} at step {start_step}",
        "command: python -m tfemo.train " + " ".join(sys.argv[1:]),
        "flags: " + json.dumps(flags, sort_keys=True),
        f"data: {tfrecords} name={description.name} corpus={description.corpus} "
        f"task={description.task} labels={list(description.label_names)} "
        f"word_vectors={description.word_vectors} ({description.word_dim}-d) "
        f"features={description.features}",
        "portions: " + json.dumps(portions, sort_keys=True),
        "normalisation: " + json.dumps(description.normalisation, sort_keys=True),
    ]
    with open(train_dir / "log_train.txt", "a") as log:
        log.write("\n".join(lines) + "\n")


def _log_end(train_dir: Path, step: int, checkpoint: str | None) -> None:
    with open(train_dir / "log_train.txt", "a") as log:
        log.write(f"=== run ended {time.strftime('%Y-%m-%d %H:%M:%S')} at step {step}; "
                  f"checkpoint {checkpoint}\n")


if __name__ == "__main__":
    sys.exit(main())
