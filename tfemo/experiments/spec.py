"""An experiment file read and checked: sections of the commands' own options.

```toml
[experiment]         # name, output_dir, device, baseline (this module's ExperimentOptions)
[records]            # tfemo.make_tfrecords flags (output_dir is the run folder's); a
                     # label_map file is relative to this file
[train]              # tfemo.train training flags shared by every model
[models.NAME]        # one model: `config = "FILE"` (a tfemo.train --config, relative to this
                     # file), then any tfemo.train flag; NAME names its train dir
[calibration]        # tfemo.eval flags of the calibration step (portion devel); omit: none
[eval]               # tfemo.eval flags of the scored portion (portion test), pooled over folds
                     # (label_map: relative to this file)
[final]              # model = NAME, then tfemo.train flags: the model trained on every speaker
```
A model's settings are its config file, then [train], then its own keys. The train keys are
checked here against tfemo.train's typed options; the records and eval keys are checked by
their commands (`--check_config`) before anything runs. Mistakes are one line naming the file,
the section and the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfemo.core.errors import UserError
from tfemo.core.options import (
    OptionError,
    Options,
    convert,
    describe,
    from_values,
    option,
    owners,
    read_toml,
    toml_lines,
)
from tfemo.experiments.layout import RunFolder

SECTIONS = ("experiment", "records", "train", "models", "calibration", "eval", "final")
# flags the runner sets itself, per command: the run folder's paths, the device, the log format
RESERVED = {
    "records": ("output_dir", "check_config", "config"),
    "train": ("tfrecords", "train_dir", "device", "verbose", "config"),
    "eval": ("tfrecords", "train_dir", "checkpoint", "device", "calibrate", "watch",
             "watch_interval_secs", "watch_timeout_secs", "check_config", "config"),
}
DEFAULT_PORTIONS = {"calibration": "devel", "eval": "test"}
EVERY_PORTION = "train+devel+test"


@dataclass(frozen=True)
class ExperimentOptions(Options):
    """The [experiment] section: where the run goes and what runs it."""

    name: str = option("", "the run folder's name under output_dir (default: the file's name)")
    output_dir: Path = option(Path("experiments"), "where the run folder goes")
    device: int = option(-1, "train and eval --device: a GPU index, -1 for the CPU")
    baseline: str = option("", "the [models] entry the report sets the others beside "
                                "(default: the last one)")


@dataclass(frozen=True)
class ModelPlan:
    """One model of an experiment: its name (train dir), registry model and train settings."""

    name: str
    model: str
    values: dict[str, Any]


@dataclass(frozen=True)
class Experiment:
    """A checked experiment file: each section's values, ready to become command lines."""

    path: Path
    options: ExperimentOptions
    records: dict[str, Any]
    models: tuple[ModelPlan, ...]
    calibration: dict[str, Any] | None
    eval: dict[str, Any]
    final: ModelPlan | None = None
    final_source: str = ""
    table: dict[str, Any] = field(default_factory=dict)

    @property
    def run(self) -> RunFolder:
        return RunFolder(self.options.output_dir / (self.options.name or self.path.stem))

    @property
    def baseline(self) -> str:
        return self.options.baseline or self.models[-1].name


def _where(path: Path, section: str) -> str:
    return f"{path}: [{section}]"


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UserError(f"{where} must be a table of key = value lines, got {value!r}")
    return value


def _plain(values: dict[str, Any], where: str, command: str) -> dict[str, Any]:
    """A section of a command's flags: single values only, the runner's own flags refused."""
    for key, value in values.items():
        if key in RESERVED[command]:
            raise UserError(f"{where} key {key!r} is set by the experiment",
                            f"remove it; the run folder gives tfemo.{command} its paths")
        if isinstance(value, dict):
            raise UserError(f"{where} key {key!r} must be a value, not a table")
    return values


FILE_KEYS = ("label_map",)  # records and eval keys naming a file: relative to the experiment


def _files_beside(values: dict[str, Any], path: Path) -> dict[str, Any]:
    """`values` with each relative file key (a label map) made relative to the experiment
    file's folder, as a model's `config` is."""
    out = dict(values)
    for key in FILE_KEYS:
        if isinstance(out.get(key), str) and out[key] and not Path(out[key]).is_absolute():
            out[key] = str(path.parent / out[key])
    return out


def train_values(values: dict[str, Any], where: str, model: str) -> dict[str, Any]:
    """`values` checked against tfemo.train's options for `model`, converted."""
    from tfemo.models.registry import MODELS
    from tfemo.training.config import TrainConfig

    if model not in MODELS:
        raise UserError(f"{where} model {model!r} is not a model",
                        f"one of {', '.join(MODELS)}")
    infos = {info.name: info for cls in (TrainConfig, MODELS[model].config)
             for info in describe(cls)}
    out = {}
    for key, value in values.items():
        if key == "model":
            continue
        if key in RESERVED["train"]:
            raise UserError(f"{where} key {key!r} is set by the experiment",
                            "remove it; the run folder gives tfemo.train its paths")
        if key not in infos:
            found = owners(key, {name: s.config for name, s in MODELS.items() if name != model})
            fix = (f"an option of model {' or '.join(found)}, not of {model}" if found else
                   "keys are tfemo.train flag names")
            raise UserError(f"{where} unknown key {key!r}", fix)
        try:
            out[key] = convert(infos[key], value, f"{where} {key}")
        except OptionError as error:
            raise UserError(str(error)) from None
    return out


def _model(name: str, table: dict[str, Any], shared: dict[str, Any], path: Path) -> ModelPlan:
    """One [models.NAME] entry: its referenced config, then [train], then its own keys."""
    where = _where(path, f"models.{name}")
    table = dict(_table(table, where))
    base: dict[str, Any] = {}
    reference = table.pop("config", None)
    if reference is not None:
        if not isinstance(reference, str):
            raise UserError(f"{where} config must be a file name, got {reference!r}")
        file = Path(reference) if Path(reference).is_absolute() else path.parent / reference
        try:
            base = read_toml(file)
        except OptionError as error:
            raise UserError(f"{where} config: {error}") from None
        model = table.get("model", base.get("model", "conv1d"))
        train_values(base, f"{file}:", str(model))
    merged = {**base, **shared, **table}
    model = merged.get("model")
    if not isinstance(model, str):
        raise UserError(f"{where} names no model", "add model = \"logreg\" (or another "
                                                   "tfemo.train --model), or a config file")
    values = train_values(merged, where, model)
    return ModelPlan(name, model, {"model": model, **values})


def apply_override(table: dict[str, Any], text: str) -> None:
    """`SECTION.KEY=VALUE` (VALUE read as TOML, else as a string) set in `table`."""
    dotted, sep, raw = text.partition("=")
    parts = dotted.strip().split(".")
    if not sep or len(parts) < 2 or parts[0] not in SECTIONS:
        raise UserError(f"--set {text!r}: not SECTION.KEY=VALUE",
                        f"e.g. --set records.data_dir=emodb; sections: {', '.join(SECTIONS)}")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    node = table
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"--set {text!r}: {part} is not a section")
    node[parts[-1]] = value


def load(path: str | Path, overrides: Sequence[str] = ()) -> Experiment:
    """The experiment in TOML file `path` with `--set` overrides, every train key checked."""
    path = Path(path)
    try:
        table = read_toml(path)
    except OptionError as error:
        raise UserError(str(error)) from None
    for text in overrides:
        apply_override(table, text)
    unknown = [name for name in table if name not in SECTIONS]
    if unknown:
        raise UserError(f"{path}: unknown section [{unknown[0]}]",
                        f"sections are {', '.join(SECTIONS)}")
    try:
        options = from_values(ExperimentOptions,
                              _table(table.get("experiment", {}), _where(path, "experiment")),
                              _where(path, "experiment"))
    except OptionError as error:
        raise UserError(str(error)) from None
    extra = set(table.get("experiment", {})) - {i.name for i in describe(ExperimentOptions)}
    if extra:
        raise UserError(f"{_where(path, 'experiment')} unknown key {sorted(extra)[0]!r}",
                        "keys are " + ", ".join(i.name for i in describe(ExperimentOptions)))
    shared = dict(_table(table.get("train", {}), _where(path, "train")))
    from tfemo.training.config import TrainConfig

    train_names = {info.name for info in describe(TrainConfig)}
    for key in shared:
        if key not in train_names:
            raise UserError(f"{_where(path, 'train')} unknown key {key!r}",
                            "[train] holds tfemo.train's training flags; a model's own "
                            "options go in its [models.NAME]")
    train_values(shared, _where(path, "train"), "logreg")
    models_table = _table(table.get("models", {}), _where(path, "models"))
    if not models_table:
        raise UserError(f"{path}: no [models.NAME] section", "name at least one model")
    models = tuple(_model(name, entry, shared, path) for name, entry in models_table.items())
    names = [m.name for m in models]
    if options.baseline and options.baseline not in names:
        raise UserError(f"{_where(path, 'experiment')} baseline {options.baseline!r} is not "
                        "a [models] entry", f"one of {', '.join(names)}")
    records = _files_beside(_plain(dict(_table(table.get("records", {}),
                                               _where(path, "records"))),
                                   _where(path, "records"), "records"), path)
    calibration = None
    if "calibration" in table:
        calibration = {"portion": DEFAULT_PORTIONS["calibration"],
                       **_plain(dict(_table(table["calibration"], _where(path, "calibration"))),
                                _where(path, "calibration"), "eval")}
    evaluation = {"portion": DEFAULT_PORTIONS["eval"],
                  **_files_beside(_plain(dict(_table(table.get("eval", {}),
                                                     _where(path, "eval"))),
                                         _where(path, "eval"), "eval"), path)}
    final, source = None, ""
    if "final" in table:
        entry = dict(_table(table["final"], _where(path, "final")))
        source = entry.pop("model", None)
        if source not in names:
            raise UserError(f"{_where(path, 'final')} model {source!r} is not a [models] entry",
                            f"model = one of {', '.join(map(repr, names))}")
        chosen = models[names.index(source)]
        own = train_values(entry, _where(path, "final"), chosen.model)
        final = ModelPlan("final", chosen.model,
                          {**chosen.values, "train_portions": EVERY_PORTION, **own})
    return Experiment(path, options, records, models, calibration, evaluation, final, source,
                      table)


def experiment_text(experiment: Experiment) -> str:
    """The experiment as run: every section with its merged values (a valid experiment file
    whose models carry their referenced config's keys)."""
    options = experiment.options
    lines = ["# the experiment as run (references and --set merged)", "[experiment]",
             *toml_lines({"name": options.name or experiment.path.stem,
                          "output_dir": options.output_dir, "device": options.device,
                          "baseline": experiment.baseline}),
             "", "[records]", *toml_lines(experiment.records)]
    for plan in experiment.models:
        lines += ["", f"[models.{plan.name}]", *toml_lines(plan.values)]
    if experiment.calibration is not None:
        lines += ["", "[calibration]", *toml_lines(experiment.calibration)]
    lines += ["", "[eval]", *toml_lines(experiment.eval)]
    if experiment.final is not None:
        values = {k: v for k, v in experiment.final.values.items() if k != "model"}
        lines += ["", "[final]", *toml_lines({"model": experiment.final_source, **values})]
    return "\n".join(lines) + "\n"
