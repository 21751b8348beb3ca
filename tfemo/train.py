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

--config FILE (TOML, `key = value` with the flag names as keys) sets any flag; flags on the
command line override it. Every train dir keeps a run.toml of its settings, itself a --config:
`python -m tfemo.train --config checkpoints/run.toml --train_dir checkpoints/again` reruns the
experiment. The flags of the chosen --model are listed with it; those of the other models at
the end.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from tfemo.core import storage
from tfemo.core.cli import USER_ERROR, report_user_errors
from tfemo.core.options import (
    OptionError,
    Options,
    add_flags,
    convert,
    describe,
    from_values,
    option,
    owners,
    read_toml,
)
from tfemo.models.registry import DEFAULT_MODEL, MODELS, ModelSpec
from tfemo.training.config import TrainConfig

if TYPE_CHECKING:
    from tfemo.training.result import TrainResult

PROG = "python -m tfemo.train"


@dataclass(frozen=True)
class CommandOptions(Options):
    """How this command runs, not what it trains (so not kept in run.toml)."""

    device: int = option(0, "GPU index; -1 for the CPU (a missing GPU falls back to the CPU); "
                         "with --strategy mirrored or multi_worker every GPU is used unless -1")
    verbose: int = option(1, "Keras progress output: 0 none, 1 a progress bar (one line per "
                          "epoch when stdout is not a terminal), 2 one line per epoch",
                          choices=(0, 1, 2))
    final: bool = option(False, "train the final model on every item of every portion of "
                         "--tfrecords (a records folder or one of its folds), with its "
                         "calibration temperature from 3 inner speaker folds (svm, logreg: "
                         "--calibration_folds; a Keras classifier: 3 more models of the same "
                         "settings, in <train_dir>/inner/)")


@dataclass(frozen=True)
class Settings:
    """What one command line asks for: the model and its options, training, how to run."""

    model: str
    model_config: Any
    train: TrainConfig
    command: CommandOptions
    given: frozenset[str] = frozenset()  # the options set by a flag or the --config file


def _fail(message: str) -> NoReturn:
    """A usage error as one line on stderr, exit code 2 (as argparse's own)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(USER_ERROR)


def _model_title(spec: ModelSpec) -> str:
    return f"{spec.name} options ({spec.task} task; with --model {spec.name})"


def _model_help(spec: ModelSpec) -> str:
    """The --help section of one model's flags, for the models not chosen."""
    parser = argparse.ArgumentParser(prog=PROG, usage=argparse.SUPPRESS, add_help=False)
    add_flags(parser.add_argument_group(_model_title(spec)), spec.config)
    return parser.format_help()


def build_parser(chosen: ModelSpec) -> argparse.ArgumentParser:
    """Every flag: --model, --config, the TrainConfig fields, the command's own and the chosen
    model's config fields; the other models' flags are listed in the epilog."""
    others = "\n".join(_model_help(spec) for spec in MODELS.values() if spec is not chosen)
    parser = argparse.ArgumentParser(
        prog=PROG, usage="%(prog)s [--model NAME] [--config FILE] [--FLAG VALUE ...]",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False, epilog="the other models' flags (give them with their --model):\n"
        + others)
    parser.add_argument("--model", choices=tuple(MODELS), default=argparse.SUPPRESS,
                        help="model to train: " + ", ".join(
                            f"{s.name} ({s.task})" for s in MODELS.values())
                        + f" (default: {DEFAULT_MODEL})")
    parser.add_argument("--config", type=Path, metavar="FILE", default=argparse.SUPPRESS,
                        help="TOML file setting any of these flags by name (e.g. a train dir's "
                             "run.toml); flags given here override it")
    add_flags(parser.add_argument_group("training"), TrainConfig)
    add_flags(parser.add_argument_group("running"), CommandOptions)
    add_flags(parser.add_argument_group(_model_title(chosen)), chosen.config)
    return parser


def _other_models_flag(name: str, chosen: ModelSpec) -> None:
    """Fail when `name` is a flag of a model other than `chosen`."""
    found = owners(name, {s.name: s.config for s in MODELS.values() if s is not chosen})
    if found:
        _fail(f"--{name} is an option of --model {' or '.join(found)}, not of "
              f"--model {chosen.name}")


def _file_values(path: Path, table: dict[str, Any], chosen: ModelSpec) -> dict[str, Any]:
    """The flags set by config file `path`, checked against the chosen model and converted."""
    infos = {info.name: info for cls in (TrainConfig, CommandOptions, chosen.config)
             for info in describe(cls)}
    values = {}
    for key, value in table.items():
        if key == "model":
            continue
        if key not in infos:
            found = owners(key, {s.name: s.config for s in MODELS.values() if s is not chosen})
            if found:
                _fail(f"{path}: key {key!r} is an option of model {' or '.join(found)}, not of "
                      f"model {chosen.name}")
            _fail(f"{path}: unknown key {key!r} (keys are tfemo.train flag names)")
        try:
            values[key] = convert(infos[key], value, f"{path}: {key}")
        except OptionError as error:
            _fail(str(error))
    return values


def parse_args(argv: list[str] | None = None) -> Settings:
    """The settings of a command line: defaults < --config file < flags given."""
    argv = sys.argv[1:] if argv is None else list(argv)
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--model")
    pre.add_argument("--config", type=Path)
    known, _ = pre.parse_known_args(argv)
    table: dict[str, Any] = {}
    if known.config is not None:
        try:
            table = read_toml(known.config)
        except OptionError as error:
            _fail(str(error))
    name = known.model or table.get("model", DEFAULT_MODEL)
    if known.model is None and (not isinstance(name, str) or name not in MODELS):
        _fail(f"{known.config}: model must be one of {', '.join(MODELS)}; got {name!r}")
    chosen = MODELS.get(name, MODELS[DEFAULT_MODEL])  # an unknown --model: argparse says so
    parser = build_parser(chosen)
    namespace, extras = parser.parse_known_args(argv)
    for token in extras:
        if token.startswith("--"):
            _other_models_flag(token[2:].split("=", 1)[0], chosen)
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    values = _file_values(known.config, table, chosen) if known.config is not None else {}
    values.update((k, v) for k, v in vars(namespace).items() if k not in ("model", "config"))
    try:
        settings = Settings(model=name, model_config=from_values(chosen.config, values),
                            train=from_values(TrainConfig, values),
                            command=from_values(CommandOptions, values),
                            given=frozenset(values))
    except ValueError as error:
        _fail(str(error))
    _check_counts(settings.train)
    return settings


# counts that must be at least 1 (a negative --max_steps used to train nothing and exit 0)
POSITIVE = ("max_steps", "batch_size", "sequence_length", "max_to_keep")
NON_NEGATIVE = ("save_interval_secs", "save_summaries_secs", "crop_frames", "weight_decay")


def _check_counts(train: TrainConfig) -> None:
    """One line and exit code 2 for a count below 1 or a negative interval."""
    for name in POSITIVE:
        if getattr(train, name) < 1:
            _fail(f"--{name} {getattr(train, name)}: give a positive number")
    for name in NON_NEGATIVE:
        if getattr(train, name) < 0:
            _fail(f"--{name} {getattr(train, name)}: give a number of 0 or more")
    if train.learning_rate <= 0:
        _fail(f"--learning_rate {train.learning_rate}: give a positive rate")


def _report(result: TrainResult, max_steps: int) -> None:
    """What a training run did, in a line or two."""
    if result.estimator:
        if result.trained:
            print(f"fitted {result.model} on {result.examples} utterances; saved "
                  f"{result.checkpoint}")
        else:
            print(f"already fitted ({result.checkpoint}); nothing to do")
        return
    if not result.trained:
        print(f"already at step {result.start_step} >= --max_steps {max_steps}; nothing to do")
        return
    if result.workers > 1:
        print(f"{'chief' if result.chief else 'worker'} weights digest {result.weights_digest}")
    print(f"trained to step {result.step}; checkpoint {result.checkpoint}")


def _train_final(settings: Settings, verbose: int, notify: Any, command: str) -> TrainResult:
    """--final: one model on a view of every item of the records (tfemo.training.final)."""
    from dataclasses import replace

    from tfemo.training.final import DEFAULT_CALIBRATION_FOLDS, all_speakers_view
    from tfemo.training.loop import train_one

    train, model_config = settings.train, settings.model_config
    view = all_speakers_view(train.tfrecords, train.train_dir)
    if hasattr(model_config, "calibration_folds") and "calibration_folds" not in settings.given:
        model_config = replace(model_config, calibration_folds=DEFAULT_CALIBRATION_FOLDS)
    train = replace(train, tfrecords=view, train_portions="train")
    print(f"final model: every item of {settings.train.tfrecords} -> {train.train_dir} "
          f"(records view {view})", flush=True)
    result = train_one(train, settings.model, model_config, view, train.train_dir,
                       verbose=verbose, notify=notify, command=command)
    spec = MODELS[settings.model]
    if result.estimator or not result.trained or spec.task != "categorical" or spec.own_loss:
        return result  # an estimator calibrated itself as it was fit; a regressor has none
    from tfemo.evaluation.inner_folds import calibrate_from_inner_models

    try:
        fitted = calibrate_from_inner_models(train, settings.model, model_config, view,
                                             train.train_dir, result.step,
                                             DEFAULT_CALIBRATION_FOLDS, notify)
    except ValueError as error:
        print(f"warning: no calibration temperature: {error}")
        return result
    print(f"calibration temperature {fitted.temperature:.3f} from {fitted.folds} inner speaker "
          f"folds ({fitted.speakers} speakers, {fitted.files} files)")
    if fitted.warning:
        print(f"warning: {fitted.warning}")
    return result


@report_user_errors
def main(argv: list[str] | None = None) -> int:
    """Train the chosen model on the records (one model per fold when they hold folds)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    settings = parse_args(argv)
    from tfemo.core.console import keras_verbose
    from tfemo.core.devices import select_device
    from tfemo.training.config import write_run_config
    from tfemo.training.loop import fold_record_dirs, train_one

    train, verbose = settings.train, keras_verbose(settings.command.verbose)
    if train.strategy != "default" and settings.command.device >= 0:
        device = (f"device: every visible GPU (--strategy {train.strategy}; --device picks one "
                  "for the default strategy; -1: CPU)")
    else:
        device = select_device(settings.command.device)
    if "device" in settings.given:  # a device line only when a device was asked for
        print(device, flush=True)
    command = " ".join([PROG, *argv])

    def notify(message: str) -> None:
        print(message, flush=True)

    if settings.command.final:
        _report(_train_final(settings, verbose, notify, command), train.max_steps)
        return 0
    folds = fold_record_dirs(train.tfrecords)
    if not folds:
        _report(train_one(train, settings.model, settings.model_config, verbose=verbose,
                          notify=notify, command=command), train.max_steps)
        return 0
    for index, fold in enumerate(folds):
        name = storage.name(fold)
        print(f"=== {name}: {fold} -> {train.train_dir / name}", flush=True)
        _report(train_one(train, settings.model, settings.model_config, fold,
                          train.train_dir / name, verbose=verbose, notify=notify,
                          command=command), train.max_steps)
        if index == 0:  # the first fold accepted these settings: record them for the folds
            write_run_config(train.train_dir, settings.model, train, settings.model_config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
