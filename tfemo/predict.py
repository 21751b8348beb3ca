"""Label new audio: `python -m tfemo.predict recordings/ --train_dir checkpoints`.

Inputs are audio files, folders (searched recursively for audio files) or CSV lists with a
`path` column (relative to the CSV) and, for models that read words, a `transcript` column;
without one, such a model gets the words the recogniser hears (English), and the words it
used are written in the predictions. A `speaker` column groups a speaker's files: a model
that standardises utterance vectors per speaker (the default recipe) then gets each speaker's
own statistics, from all of that speaker's files, as tfemo.eval scores a portion; without it,
each file is standardised with the training speakers' average statistics.
Every file is resampled and framed here, run through the model in chunks of --chunk_seconds,
and written as one row of `<output_dir>/predictions.csv`:
- a classifier: the class probabilities (averaged over chunks by length, calibrated with the
  temperature `tfemo.eval --calibrate` saved; for a train dir of folds, the mean of every fold
  model's calibrated probabilities) and the top class; a file whose pitch track
  shows no speech (voiced fraction < 0.1 or pitch range < 1 semitone: silence, noise, a steady
  tone) is flagged `no_speech` and gets no class; the distribution of predicted emotions is
  printed and plotted (`distribution.png`);
- a regressor (arousal/valence): the trace per file in `<output_dir>/traces/<name>.csv`, and
  per file the mean of each dimension and the quadrant of the arousal-valence plane the means
  fall in; the quadrant counts are printed and plotted.
--segments vad (or window:SECONDS) labels long recordings over time: one row per speech
segment (VAD, tfemo.audio.vad) or window in `<output_dir>/segments.csv` (start, end, class
probabilities or arousal/valence means) and a timeline plot per file in
`<output_dir>/timelines/`; a regressor's traces get a `speech` column (1: the VAD finds speech
in the frame). predictions.csv keeps one row per file (a classifier: the speech segments'
probabilities averaged by length; no segment: no_speech).
A file that cannot be read is reported and skipped (--strict stops instead).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from tfemo.core.cli import output_folder, report_user_errors, stopped_by_strict
from tfemo.core.config_file import parse_with_config
from tfemo.core.flags import (
    config_flags,
    device_flags,
    steps_flags,
    strict_flags,
    train_dir_flags,
)
from tfemo.inference.budget import add_budget_flags, budget_of

LONGEST = 4 * 3600.0  # seconds of audio: long files are read and featurised block by block
LONGEST_RECOGNISED = 600.0  # the recogniser hears a whole file, held in memory


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Every flag, documented in --help."""
    parser = argparse.ArgumentParser(
        prog="python -m tfemo.predict", description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        parents=[train_dir_flags("train dir of tfemo.train (model.json, description.json, "
                                 "model.ckpt-<step>), or an export of tfemo.export; a train "
                                 "dir of folds: the folds' calibrated probabilities averaged"),
                 steps_flags(), strict_flags(),
                 device_flags("the CPU"), config_flags()])
    parser.add_argument("inputs", nargs="+", type=Path,
                        help="audio files, folders of audio files, or CSV lists (path column)")
    parser.add_argument("--output_dir", type=Path, default=Path("predictions"),
                        help="where predictions.csv, distribution.png and traces/ go")
    parser.add_argument("--chunk_seconds", type=float, default=60.0,
                        help="long files are run through the model in chunks of this length")
    parser.add_argument("--alignment", default="aeneas", choices=("aeneas", "uniform"),
                        help="word timings from transcripts, for models that read words")
    parser.set_defaults(speech_check=True)  # first: the flag's own default stays SUPPRESS
    parser.add_argument("--transcripts", type=Path, default=None,
                        help="models that read words: a CSV from any recogniser (path,"
                             "transcript or path,word,start,end; paths relative to the CSV) "
                             "giving the words of the files it lists; other files get a "
                             "transcript column's text, or the recogniser's words")
    parser.add_argument("--language", default="eng",
                        help="the language of the audio (ISO 639-3): the recogniser knows "
                             "English (eng) only; other audio needs a transcript")
    parser.add_argument("--no_speech_check", dest="speech_check", action="store_false",
                        default=argparse.SUPPRESS,  # no "(default: True)" for a switch-off
                        help="label every file, even one the pitch track finds no speech in "
                             "(by default such a file is flagged no_speech and gets no class "
                             "or quadrant)")
    parser.add_argument("--segments", default="none", metavar="vad|window:SECONDS|none",
                        help="emotion over time: one result per speech segment (vad) or per "
                             "window of SECONDS, in segments.csv and timelines/; none: one "
                             "result per file")
    parser.add_argument("--vad", default="silero", choices=("silero", "webrtc", "praat"),
                        help="the VAD backend of --segments and of the no_speech check "
                             "(Praat's voicing when the backend's package cannot load)")
    add_budget_flags(parser, max_seconds=f"{LONGEST:g} s, or {LONGEST_RECOGNISED:g} s for a "
                                         "model that reads words and is given no transcript "
                                         "(the recogniser hears the file whole)")
    return parse_with_config(parser, argv)


@report_user_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from rich.markup import escape
    from rich.table import Table

    from tfemo.audio import FRAME_SECONDS
    from tfemo.core.console import command_console
    from tfemo.core.devices import select_device
    from tfemo.core.errors import InputError, UserError
    from tfemo.inference.budget import within_budget
    from tfemo.inference.ensemble import Ensemble, open_predictor
    from tfemo.inference.outputs import prediction_warnings, write_outputs
    from tfemo.inference.requests import AUDIO_SUFFIXES, collect_requests
    from tfemo.inference.speakers import as_speaker
    from tfemo.text.transcripts import read_transcripts
    from tfemo.training.exported import is_export

    console = command_console()
    device = select_device(-1 if args.device is None else args.device)
    if args.device is not None:
        print(device, flush=True)
    output_folder(args.output_dir, "--output_dir")
    requests = collect_requests(args.inputs)
    if not requests:
        raise UserError("no audio files found in " + ", ".join(map(str, args.inputs)),
                        f"give audio files ({', '.join(AUDIO_SUFFIXES)}), folders of them or "
                        "CSV lists with a path column")
    if args.chunk_seconds <= 0:
        raise UserError(f"--chunk_seconds {args.chunk_seconds}", "give a positive length")
    if is_export(args.train_dir) and args.steps != "latest":
        raise UserError(f"--steps {args.steps} with an export ({args.train_dir})",
                        "an export holds one step; --steps picks a checkpoint of a train dir")
    from tfemo.inference.segments import SegmentMode, predict_segments

    mode = SegmentMode.parse(args.segments)
    predictor = open_predictor(args.train_dir, args.steps, alignment=args.alignment,
                               speech_check=args.speech_check and mode is None, vad=args.vad,
                               chunk_frames=max(1, round(args.chunk_seconds / FRAME_SECONDS)),
                               alignment_seconds=args.alignment_seconds, language=args.language)
    if mode is not None and isinstance(predictor, Ensemble):
        raise UserError(f"--segments {args.segments} with a train dir of folds ({args.train_dir})",
                        "give one model: the final model (tfemo.train --final) or one fold")
    limited = args.max_seconds is not None
    if not limited:
        args.max_seconds = LONGEST
    table = read_transcripts(args.transcripts) if args.transcripts else None
    budget = budget_of(args)
    recognised = budget if limited else replace(budget, max_seconds=LONGEST_RECOGNISED)
    statistics = speakers_of(predictor, requests, budget, args.strict, console)
    results, segmented, skipped = [], [], 0
    for request in requests:
        try:
            given = table.get(request.path) if table is not None else None
            words = given or request.transcript
            within_budget(budget if predictor.streams_file(words) else recognised,
                          request.path, given.text if given else request.transcript)
            with as_speaker(predictor, statistics.get(request.speaker, [])):
                if mode is None:
                    results.append(predictor.predict(request.path,
                                                     given or request.transcript))
                else:  # the VAD (or windows) cut the recording; each piece gets its result
                    segmented.append(predict_segments(predictor, request.path, mode,
                                                      backend=args.vad))
                    results.append(segmented[-1].whole)
        except InputError as error:
            if args.strict:
                raise stopped_by_strict(error) from None
            console.print(f"[yellow]skipped[/] {error}")
            skipped += 1
    if not results:
        raise UserError("no file could be labelled", "every input was skipped; see the reasons "
                                                     "above")
    counts = write_outputs(predictor, results, args.output_dir)
    for warning in prediction_warnings(predictor, results):
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if mode is not None:
        from tfemo.inference.timeline import write_segment_outputs

        write_segment_outputs(segmented, predictor.label_names, predictor.categorical,
                              predictor.description.frame_seconds, args.output_dir)
    table = Table(title=f"{len(results)} files labelled with {predictor.checkpoint}"
                        + (f"; {skipped} skipped" if skipped else ""))
    table.add_column("predicted emotion" if predictor.categorical else "quadrant")
    table.add_column("files", justify="right")
    table.add_column("share", justify="right")
    for name, count in counts.items():
        table.add_row(name, str(count), f"{count / len(results):.0%}")
    console.print(table)
    console.print(f"predictions: {args.output_dir / 'predictions.csv'}")
    if mode is not None:
        console.print(f"segments: {args.output_dir / 'segments.csv'} "
                      f"({sum(len(r.segments) for r in segmented)}); timelines: "
                      f"{args.output_dir / 'timelines'}")
    return 0


def speakers_of(predictor, requests: list, budget, strict: bool, console) -> dict[str, list]:
    """Each speaker's statistics (tfemo.inference.speakers) for the requests a CSV's speaker
    column groups, with one line on what was done; files that cannot be read are left out
    here and reported when they are labelled (--strict: the first one stops the run)."""
    from tfemo.core.cli import stopped_by_strict
    from tfemo.core.errors import InputError
    from tfemo.inference.budget import within_budget
    from tfemo.inference.speakers import per_speaker_members, speaker_statistics
    from tfemo.models.functionals import MIN_SPEAKER_FILES

    groups: dict[str, list[Path]] = {}
    for request in requests:
        if request.speaker:
            groups.setdefault(request.speaker, []).append(request.path)
    if not groups:
        return {}
    if not per_speaker_members(predictor):
        console.print("[yellow]warning:[/] the speaker column is not used: this model "
                      "standardises each file alone (only utterance_norm speaker uses it)")
        return {}
    statistics, alone = {}, []
    for speaker, paths in groups.items():
        readable = []
        for path in paths:
            try:
                within_budget(budget, path)
                readable.append(path)
            except InputError as error:  # over the budget: reported when it is labelled
                if strict:
                    raise stopped_by_strict(error) from None
        try:
            statistics[speaker] = speaker_statistics(predictor, readable, strict)
        except InputError as error:
            raise stopped_by_strict(error) from None
        if any(own is None for own in statistics[speaker]):
            alone.append(speaker)
    console.print(f"speakers: {len(groups)}, each standardised with its own files' statistics"
                  f" ({sum(map(len, groups.values()))} files)")
    if alone:
        console.print(f"[yellow]warning:[/] fewer than {MIN_SPEAKER_FILES} readable files of "
                      f"{', '.join(alone)}: standardised with the training speakers' statistics")
    return statistics


if __name__ == "__main__":
    sys.exit(main())
