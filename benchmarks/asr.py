#!/usr/bin/env python
"""What recognised words cost: the demo corpus's true words against pocketsphinx's.

On the demo corpus, whose words are known exactly (espeak-ng said them):
- WER of the recogniser (tfemo.text.transcription) on the audio it is scored on;
- semantic fusion (continuous, the sessions): CCC of arousal and valence on devel and test,
  and the multimodal classifier (the unseen-sentence protocol: devel and test speakers say
  sentences never spoken in train): UAR on test, each
  - with the true transcripts (records as made by default),
  - with recognised transcripts (the same trained model, scored on records whose devel and
    test words are the recogniser's: `make_tfrecords --transcripts FILE.csv`), the case of
    the service answering audio alone,
  - with no text (the audio-only model, `--modalities audio`);
- a constant baseline: CCC 0 (a constant trace) and the majority class's UAR.
Models train on the true words of train (a model is trained once per seed; only what it is
given to read at devel and test changes). Mean ± sd over the seeds. Settings are fixed here in
advance (small sizes and few steps: the machine is shared), never chosen on test.

Every stage is resumable: recognition appends to its CSV, records keep their ledger, and each
(model, seed) keeps its scores in <work>/runs/<name>/scores.json once done.

    nice -n 10 python benchmarks/asr.py [--work /tmp/tfemo-asr] [--seeds 1,2,3]
        [--steps_fusion 300] [--steps_multimodal 300] [--skip fusion|multimodal]
"""

from __future__ import annotations

import tfemo.core.quiet  # noqa: F401  (before TensorFlow loads)

import argparse
import contextlib
import io
import json
import statistics
from pathlib import Path

from tfemo import eval as evaluate
from tfemo import train
from tfemo.corpora.demo import (
    DEFAULT_CONFIG,
    UNSEEN_CONFIG,
    DemoCorpus,
    default_root,
    ensure_demo_corpus,
)
from tfemo.make_tfrecords import main as make_tfrecords_main
from tfemo.records.description import DatasetDescription
from tfemo.text.recognised import recognise_items
from tfemo.text.tokens import tokenize

# portions scored: semantic fusion devel and test; the classifier test (its unseen sentences)
SCORED = {"fusion": ("devel", "test"), "multimodal": ("test",)}
FAMILIES = "rms,mfcc,pitch"
FUSION = ["--model", "semantic_fusion", "--hidden", "32", "--fusion_size", "32",
          "--attention_units", "16", "--batch_size", "8", "--sequence_length", "150",
          "--learning_rate", "1e-3"]
MULTIMODAL = ["--model", "multimodal", "--batch_size", "16", "--learning_rate", "2e-3",
              "--filters", "32", "--blocks", "2", "--text_units", "32", "--fusion_size", "32",
              "--hidden", "32", "--dropout", "0.3", "--fusion", "concat"]
COMMON = ["--save_interval_secs", "1e9", "--verbose", "0", "--device", "-1"]
TASKS = {"fusion": ("continuous", DEFAULT_CONFIG, ""),
         "multimodal": ("categorical", UNSEEN_CONFIG, FAMILIES)}


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Word substitutions + deletions + insertions (Levenshtein over words)."""
    previous = list(range(len(hypothesis) + 1))
    for i, word in enumerate(reference, start=1):
        current = [i]
        for j, said in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (word != said)))
        previous = current
    return previous[-1]


def recognised(work: Path, task: str) -> tuple[Path, dict[str, float]]:
    """The recogniser's words of the devel and test audio (CSV) and its WER on them."""
    kind, config, _ = TASKS[task]
    corpus = DemoCorpus(ensure_demo_corpus(config, default_root(config)))
    items = [i for i in corpus.items(kind) if i.portion in SCORED[task]]
    listing = work / f"asr-{task}.csv"
    table, report = recognise_items(items, listing, replace=True, workers=2)
    assert not report.failed, report.failed
    errors = words = 0
    for item in items:
        truth = tokenize(" ".join(s.transcript for s in item.segments))
        heard = [t for w in table.get(item.audio_path).words for t in tokenize(w.word)]
        errors += edit_distance(truth, heard)
        words += len(truth)
    return listing, {"wer": errors / words, "words": words, "files": len(items)}


def records(work: Path, task: str, transcripts: Path | None) -> Path:
    """The task's records: true words everywhere, or the recogniser's in devel and test."""
    kind, config, families = TASKS[task]
    root = ensure_demo_corpus(config, default_root(config))
    output = work / "records" / f"{task}-{'asr' if transcripts else 'true'}"
    if not (output / "description.json").exists():
        argv = ["--corpus", "demo", "--data_dir", str(root), "--task", kind, "--output_dir",
                str(output), "--workers", "2", "--quiet"]
        argv += ["--features", families] if families else []
        argv += ["--transcripts", str(transcripts)] if transcripts else []
        assert make_tfrecords_main(argv) == 0
    return output


def scores(work: Path, task: str, modalities: str, seed: int, steps: int,
           sets: dict[str, Path]) -> dict:
    """Train one model (once) and score devel and test on each set of records (resumable)."""
    name = f"{task}-{modalities.replace(',', '+')}-seed{seed}"
    run = work / "runs" / name
    done = run / "scores.json"
    if done.exists():
        return json.loads(done.read_text())
    flags = FUSION if task == "fusion" else MULTIMODAL
    with contextlib.redirect_stdout(io.StringIO()):
        if not (run / "train").exists() or not list((run / "train").glob("model.ckpt-*")):
            assert train.main(["--tfrecords", str(sets["true"]), "--train_dir", str(run / "train"),
                               "--seed", str(seed), "--max_steps", str(steps),
                               "--modalities", modalities, *flags, *COMMON]) == 0
        out: dict = {}
        for label, tfrecords in sets.items():
            for portion in SCORED[task]:
                assert evaluate.main(["--portion", portion, "--steps", str(steps),
                                      "--checkpoint", str(run / "train"), "--tfrecords",
                                      str(tfrecords), "--device", "-1"]) == 0
                result = run / "train" / f"eval-{portion}-{steps}.json"
                out[f"{label}/{portion}"] = json.loads(result.read_text())
                result.rename(run / f"eval-{label}-{portion}.json")
    done.write_text(json.dumps(out, indent=1))
    return out


def mean_sd(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{scale * statistics.mean(values):.{digits}f} ± {scale * sd:.{digits}f}"


def ccc(result: dict, dimension: str) -> float:
    """The CCC of one dimension over the whole portion concatenated."""
    return float(result["dimensions"][dimension]["ccc"])


def fusion_rows(work: Path, seeds: list[int], steps: int, sets: dict[str, Path]) -> list[str]:
    rows = []
    for label, modalities, key in (("true transcripts", "audio,text", "true"),
                                   ("recognised transcripts", "audio,text", "asr"),
                                   ("no text (audio only)", "audio", "true")):
        runs = [scores(work, "fusion", modalities, seed, steps,
                       {"true": sets["true"]} if modalities == "audio" else sets)
                for seed in seeds]
        cells = [mean_sd([ccc(r[f"{key}/{portion}"], dim) for r in runs])
                 for portion in SCORED["fusion"] for dim in ("arousal", "valence")]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    return rows


def multimodal_rows(work: Path, seeds: list[int], steps: int,
                    sets: dict[str, Path]) -> list[str]:
    rows = []
    for label, modalities, key in (("true transcripts", "audio,text", "true"),
                                   ("recognised transcripts", "audio,text", "asr"),
                                   ("no text (audio only)", "audio", "true")):
        runs = [scores(work, "multimodal", modalities, seed, steps,
                       {"true": sets["true"]} if modalities == "audio" else sets)
                for seed in seeds]
        cells = [mean_sd([r[f"{key}/{portion}"]["uar"] for r in runs], 100, 1)
                 for portion in SCORED["multimodal"]]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    return rows


def majority_uar(tfrecords: Path) -> float:
    description = DatasetDescription.read(tfrecords)
    return 1.0 / len([c for c, n in description.portion("test")["classes"].items() if n])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/tfemo-asr"))
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--steps_fusion", type=int, default=300)
    parser.add_argument("--steps_multimodal", type=int, default=300)
    parser.add_argument("--skip", default="", help="fusion or multimodal: leave that task out")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)
    for task in (t for t in TASKS if t != args.skip):  # each task done before the next
        listing, wer = recognised(args.work, task)
        what = ("sessions, devel + test" if task == "fusion"
                else "unseen-sentence utterances, test")
        print(f"\n| audio | files | words | WER % |\n|---|---|---|---|\n"
              f"| {what} | {wer['files']} | {wer['words']} | {100 * wer['wer']:.1f} |",
              flush=True)
        sets = {"true": records(args.work, task, None), "asr": records(args.work, task, listing)}
        if task == "fusion":
            print(f"\nsemantic fusion, {args.steps_fusion} steps, seeds {args.seeds}: CCC "
                  "(whole portion), mean ± sd\n")
            print("| words at devel/test | devel arousal | devel valence | test arousal | "
                  "test valence |\n|---|---|---|---|---|")
            print("| constant trace | 0.000 | 0.000 | 0.000 | 0.000 |", flush=True)
            fusion_rows(args.work, seeds, args.steps_fusion, sets)
        else:
            print(f"\nmultimodal (concat), unseen sentences, {args.steps_multimodal} steps, "
                  f"seeds {args.seeds}: UAR %, mean ± sd\n")
            print("| words at test | test UAR |\n|---|---|")
            print(f"| majority class | {100 * majority_uar(sets['true']):.1f} |", flush=True)
            multimodal_rows(args.work, seeds, args.steps_multimodal, sets)


if __name__ == "__main__":
    main()
