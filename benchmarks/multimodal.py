#!/usr/bin/env python
"""Audio, text and audio+text emotion classes on the demo's unseen-sentence protocol.

The devel and test speakers of `DemoConfig(unseen_sentences=True)` say sentences never
spoken in train (the same valences in other words), so the text scores measure
generalisation. Every system is `--model multimodal` trained through tfemo.train with the
same hyperparameters (fixed here, before any test score was seen) and scored on test with
tfemo.eval; the table gives UAR and WA as mean ± sd over the seeds, and a majority-class row.

    python benchmarks/multimodal.py [--work /tmp/tfemo-multimodal] [--seeds 1,2,3]
        [--steps 300] [--tiny]

--tiny uses one speaker per portion and 2 sentences per emotion (a smoke run, not a result).
"""

from __future__ import annotations

import tfemo.core.quiet  # noqa: F401  (before TensorFlow loads)

import argparse
import contextlib
import io
import json
import shutil
import statistics
import time
from dataclasses import replace
from pathlib import Path

from tfemo import eval as evaluate
from tfemo import train
from tfemo.corpora.demo import TINY_CONFIG, UNSEEN_CONFIG, ensure_demo_corpus
from tfemo.make_tfrecords import main as make_tfrecords_main
from tfemo.records.description import DatasetDescription

FAMILIES = "rms,mfcc,pitch"
SYSTEMS = {  # name: the model flags of that system
    "audio": ["--modalities", "audio"],
    "text": ["--modalities", "text"],
    "audio+text concat": ["--modalities", "audio,text", "--fusion", "concat"],
    "audio+text gated": ["--modalities", "audio,text", "--fusion", "gated"],
    "audio+text attention": ["--modalities", "audio,text", "--fusion", "attention"],
}
# Fixed in advance for every system (never tuned on test).
HYPERPARAMETERS = ["--batch_size", "16", "--learning_rate", "2e-3", "--filters", "32",
                   "--blocks", "2", "--text_units", "32", "--fusion_size", "32", "--hidden", "32",
                   "--dropout", "0.3", "--save_interval_secs", "1e9", "--verbose", "0",
                   "--device", "-1"]


def records(work: Path, tiny: bool) -> Path:
    """The records of the unseen-sentence demo (features and word vectors), made once."""
    config = replace(TINY_CONFIG, unseen_sentences=True) if tiny else UNSEEN_CONFIG
    corpus = ensure_demo_corpus(config, work / ("demo-unseen-tiny" if tiny else "demo-unseen"))
    output = work / ("records-tiny" if tiny else "records")
    if not (output / "description.json").exists():
        assert make_tfrecords_main(["--corpus", "demo", "--data_dir", str(corpus), "--task",
                                    "categorical", "--output_dir", str(output), "--features",
                                    FAMILIES, "--workers", "2", "--quiet"]) == 0
    return output


def majority_baseline(description: DatasetDescription) -> dict[str, float]:
    """UAR and WA on test of always answering the most frequent train class."""
    train_counts = description.portion("train")["classes"]
    test_counts = description.portion("test")["classes"]
    majority = max(train_counts, key=train_counts.get)
    classes = [c for c in description.label_names if test_counts.get(c)]
    return {"uar": 1.0 / len(classes),
            "wa": test_counts.get(majority, 0) / sum(test_counts.values())}


def run(tfrecords: Path, train_dir: Path, flags: list[str], seed: int, steps: int) -> dict:
    """Train one system with one seed and score it on test."""
    shutil.rmtree(train_dir, ignore_errors=True)
    with contextlib.redirect_stdout(io.StringIO()):
        assert train.main(["--tfrecords", str(tfrecords), "--train_dir", str(train_dir),
                           "--model", "multimodal", "--seed", str(seed), "--max_steps",
                           str(steps), *HYPERPARAMETERS, *flags]) == 0
        assert evaluate.main(["--portion", "test", "--steps", str(steps), "--train_dir",
                              str(train_dir), "--tfrecords", str(tfrecords),
                              "--device", "-1"]) == 0
    return json.loads((train_dir / f"eval-test-{steps}.json").read_text())


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * sd:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/tfemo-multimodal"))
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help="comma-separated subset of: " + ", ".join(SYSTEMS))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    tfrecords = records(args.work, args.tiny)
    description = DatasetDescription.read(tfrecords)
    print(f"records {tfrecords}: " + ", ".join(
        f"{p} {description.portion(p)['examples']}" for p in ("train", "devel", "test")))
    rows = {}
    for name in args.systems.split(","):
        scores = []
        for seed in seeds:
            started = time.perf_counter()
            scores.append(run(tfrecords, args.work / "runs" / name.replace(" ", "-"),
                              SYSTEMS[name], seed, args.steps))
            print(f"{name} seed {seed}: UAR {scores[-1]['uar']:.3f} WA {scores[-1]['wa']:.3f} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
        rows[name] = {"uar": [s["uar"] for s in scores], "wa": [s["wa"] for s in scores]}
    baseline = majority_baseline(description)
    print(f"\ntest of the unseen-sentence demo ({description.portion('test')['examples']} "
          f"utterances, {len(description.label_names)} classes), {args.steps} steps, "
          f"seeds {args.seeds}; UAR / WA in %, mean ± sd\n")
    print("| system | UAR | WA |\n|---|---|---|")
    print(f"| majority class | {100 * baseline['uar']:.1f} | {100 * baseline['wa']:.1f} |")
    for name, row in rows.items():
        print(f"| {name} | {mean_sd(row['uar'])} | {mean_sd(row['wa'])} |")
    singles = [statistics.mean(rows[n]["uar"]) for n in ("audio", "text") if n in rows]
    fused = [statistics.mean(r["uar"]) for n, r in rows.items() if n.startswith("audio+text")]
    if singles and fused:
        print(f"\nbest audio+text - best single modality: "
              f"{100 * (max(fused) - max(singles)):+.1f} UAR points (target >= +3)")
    (args.work / "multimodal.json").write_text(json.dumps(
        {"steps": args.steps, "seeds": seeds, "majority": baseline, "systems": rows}, indent=1))


if __name__ == "__main__":
    main()
