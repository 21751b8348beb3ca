"""Label new audio: `python -m tfemo.predict recordings/ --checkpoint checkpoints`.

Inputs are audio files, folders (searched recursively for audio files) or CSV lists with a
`path` column (relative to the CSV) and, for models that read words, a `transcript` column.
Every file is resampled and framed here, run through the model in chunks of --chunk_seconds,
and written as one row of `<output_dir>/predictions.csv`:
- a classifier: the class probabilities (averaged over chunks by length) and the top class;
  the distribution of predicted emotions is printed and plotted (`distribution.png`);
- a regressor (arousal/valence): the trace per file in `<output_dir>/traces/<name>.csv`, and
  per file the mean of each dimension and the quadrant of the arousal-valence plane the means
  fall in; the quadrant counts are printed and plotted.
A file that cannot be read is reported and skipped (--strict stops instead).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")


@dataclass(frozen=True)
class Request:
    """One file to label, with its transcript when the CSV gives one."""

    path: Path
    transcript: str = ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Every flag, documented in --help."""
    parser = argparse.ArgumentParser(
        prog="python -m tfemo.predict", description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path,
                        help="audio files, folders of audio files, or CSV lists (path column)")
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints"),
                        help="train dir of tfemo.train (model.json, description.json, "
                             "model.ckpt-<step>); for folds, one fold's dir")
    parser.add_argument("--steps", default="latest", help="checkpoint step, or 'latest'")
    parser.add_argument("--output_dir", type=Path, default=Path("predictions"),
                        help="where predictions.csv, distribution.png and traces/ go")
    parser.add_argument("--chunk_seconds", type=float, default=60.0,
                        help="long files are run through the model in chunks of this length")
    parser.add_argument("--alignment", default="aeneas", choices=("aeneas", "uniform"),
                        help="word timings from transcripts, for models that read words")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first file that cannot be used")
    parser.add_argument("--device", type=int, default=-1,
                        help="GPU index; -1 for the CPU (a missing GPU falls back to the CPU)")
    return parser.parse_args(argv)


def collect_requests(inputs: list[Path]) -> list[Request]:
    """Files in the order given; folders sorted and recursive; CSV rows in order."""
    from tfemo.errors import TfemoError

    requests: list[Request] = []
    for source in inputs:
        if source.is_dir():
            requests.extend(Request(p) for p in sorted(source.rglob("*"))
                            if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        elif source.suffix.lower() == ".csv":
            requests.extend(read_request_csv(source))
        elif source.exists() or source.suffix.lower() in AUDIO_SUFFIXES:
            requests.append(Request(source))  # a missing file is reported when it is read
        else:
            raise TfemoError(f"{source}: no such file or folder")
    return requests


def read_request_csv(path: Path) -> list[Request]:
    """Rows of a CSV list: `path` (relative to the CSV's folder) and an optional `transcript`."""
    import pandas as pd

    from tfemo.errors import TfemoError

    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise TfemoError(f"{path}: cannot read the CSV list: {error}") from None
    if "path" not in table.columns:
        raise TfemoError(f"{path}: a CSV list needs a 'path' column "
                         f"(it has: {', '.join(table.columns)})")
    transcripts = table["transcript"] if "transcript" in table.columns else [""] * len(table)
    return [Request(path.parent / p, t) for p, t in zip(table["path"], transcripts, strict=True)]


def unique_names(paths: list[Path]) -> list[str]:
    """A distinct file-name stem per path (suffixed -2, -3 ... when two stems collide)."""
    seen: Counter = Counter()
    names = []
    for path in paths:
        seen[path.stem] += 1
        names.append(path.stem if seen[path.stem] == 1 else f"{path.stem}-{seen[path.stem]}")
    return names


def write_outputs(predictor, results: list, output_dir: Path) -> Counter:
    """predictions.csv, distribution.png and (regressors) one trace CSV per file."""
    import numpy as np
    import pandas as pd

    from tfemo.labels.traces import frame_centres
    from tfemo.outputs import distribution_figure, write_csv, write_figure
    from tfemo.prediction import quadrant

    names = predictor.label_names
    rows = []
    counts: Counter = Counter()
    for result, name in zip(results, unique_names([r.path for r in results]), strict=True):
        row = {"path": str(result.path), "seconds": round(result.seconds, 3),
               "chunks": result.chunks}
        if predictor.categorical:
            top = names[int(np.argmax(result.probabilities))]
            row["top_class"] = top
            row.update({f"p_{n}": float(p) for n, p in zip(names, result.probabilities,
                                                              strict=True)})
            counts[top] += 1
        else:
            means = result.trace.mean(axis=0)
            row.update({f"mean_{n}": float(m) for n, m in zip(names, means, strict=True)})
            if {"arousal", "valence"} <= set(names):
                row["quadrant"] = quadrant(float(means[names.index("arousal")]),
                                           float(means[names.index("valence")]))
                counts[row["quadrant"]] += 1
            trace = pd.DataFrame(result.trace, columns=list(names))
            trace.insert(0, "time", frame_centres(len(result.trace),
                                                  predictor.description.frame_seconds))
            row["trace"] = str(write_csv(trace, output_dir / "traces" / f"{name}.csv"))
        rows.append(row)
    write_csv(pd.DataFrame(rows), output_dir / "predictions.csv")
    if predictor.categorical:
        counts = Counter({n: counts.get(n, 0) for n in names})
    if counts:
        what = "predicted emotion" if predictor.categorical else "arousal-valence quadrant"
        write_figure(distribution_figure(counts, f"{what} of {len(results)} files"),
                     output_dir / "distribution.png")
    return counts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    from tfemo.audio import FRAME_SECONDS
    from tfemo.devices import select_device
    from tfemo.errors import InputError, TfemoError
    from tfemo.prediction import Predictor

    console = Console()
    print(select_device(args.device), flush=True)
    try:
        requests = collect_requests(args.inputs)
        if not requests:
            raise TfemoError("no audio files found in " + ", ".join(map(str, args.inputs)))
        predictor = Predictor(args.checkpoint, args.steps, alignment=args.alignment,
                              chunk_frames=max(1, round(args.chunk_seconds / FRAME_SECONDS)))
    except (TfemoError, FileNotFoundError, ValueError) as error:
        console.print(f"[red]error[/] {error}")
        return 1
    results, skipped = [], 0
    for request in requests:
        try:
            results.append(predictor.predict(request.path, request.transcript))
        except InputError as error:
            if args.strict:
                console.print(f"[red]error[/] {error} (--strict: stopped)")
                return 1
            console.print(f"[yellow]skipped[/] {error}")
            skipped += 1
    if not results:
        console.print("[red]error[/] no file could be labelled")
        return 1
    counts = write_outputs(predictor, results, args.output_dir)
    table = Table(title=f"{len(results)} files labelled with {predictor.checkpoint}"
                        + (f"; {skipped} skipped" if skipped else ""))
    table.add_column("predicted emotion" if predictor.categorical else "quadrant")
    table.add_column("files", justify="right")
    table.add_column("share", justify="right")
    for name, count in counts.items():
        table.add_row(name, str(count), f"{count / len(results):.0%}")
    console.print(table)
    console.print(f"predictions: {args.output_dir / 'predictions.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
