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
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")



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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tfemo.core.devices import select_device
    from tfemo.training.loop import fold_record_dirs, train_one

    print(select_device(args.device), flush=True)
    folds = fold_record_dirs(args.tfrecords)
    if not folds:
        return train_one(args, args.tfrecords, args.train_dir)
    for fold in folds:
        print(f"=== {fold.name}: {fold} -> {args.train_dir / fold.name}", flush=True)
        code = train_one(args, fold, args.train_dir / fold.name)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
