"""Run an experiment file: `python -m tfemo.experiment configs/emodb.toml`.

An experiment file is sections of the commands' own options: [records] (tfemo.make_tfrecords
flags), [train] and [models.NAME] (tfemo.train --config keys; several models run side by side,
e.g. the recipe and its baseline), [calibration] and [eval] (tfemo.eval flags), [final] (the
model trained on every speaker) and [experiment] (name, output_dir, device, baseline);
docs/experiments.md describes them. Every step runs as its command in a subprocess, in one run
folder (<output_dir>/<name>): records, train dirs per model, logs, the command lines in
commands.log, and a report (report.md, and report.html with its figures inlined). A step that
finished is skipped on a rerun; after a kill, only the unfinished step runs again (and resumes
what its command had finished). `--report RUN_DIR` rebuilds the report from the run folder's
result files without running anything; `--traces RUN_DIR` is the step that writes a
continuous run's per-frame traces for it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfemo.core.cli import report_user_errors


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Every flag, documented in --help."""
    parser = argparse.ArgumentParser(
        prog="python -m tfemo.experiment", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    parser.add_argument("experiment", type=Path, nargs="?",
                        help="the experiment file (TOML)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE",
                        help="override one value of the file (VALUE as TOML, else a string), "
                             "e.g. --set records.data_dir=emodb --set train.max_steps=50 "
                             "--set models.recipe.logreg_c=1.0; repeatable")
    parser.add_argument("--report", type=Path, metavar="RUN_DIR", default=None,
                        help="only rebuild the report of this run folder from its result files")
    parser.add_argument("--report_only", action="store_true",
                        help="only rebuild the report of the experiment file's run folder")
    parser.add_argument("--traces", type=Path, metavar="RUN_DIR", default=None,
                        help="write the per-frame predictions and gold standard of every "
                             "scored file of a continuous run to RUN_DIR/traces/<model>/ (the "
                             "runner's traces step)")
    args = parser.parse_args(argv)
    if args.report is None and args.traces is None and args.experiment is None:
        parser.error("give an experiment file, or --report RUN_DIR")
    return args


@report_user_errors
def main(argv: list[str] | None = None) -> int:
    """Run the experiment (or rebuild its report) and say where the report is."""
    args = parse_args(argv)
    from tfemo.experiments.report import write_report
    from tfemo.experiments.runner import ensure_run_folder, run_experiment
    from tfemo.experiments.spec import load

    if args.traces is not None:
        from tfemo.experiments.traces import write_traces

        written = write_traces(ensure_run_folder(args.traces))
        print("traces: " + ", ".join(f"{model} {n} files" for model, n in written.items()),
              flush=True)
        return 0
    if args.report is not None:
        run = ensure_run_folder(args.report)
    else:
        experiment = load(args.experiment, args.overrides)
        run = experiment.run
        if args.report_only:
            ensure_run_folder(run.root)
        else:
            print(f"experiment {args.experiment} -> {run.root}", flush=True)
            code = run_experiment(experiment, lambda text: print(text, flush=True))
            if code:
                return code
    html, markdown = write_report(run)
    print(f"report: {html} and {markdown}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
