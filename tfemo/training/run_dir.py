"""The train directory's layout: every file name tfemo.train, eval and predict use, in one place.

A train dir holds `model.json` (model name, config and data stream: what a resumed run must
match), `run.toml` (the settings of the latest run, a valid `tfemo.train --config`),
`description.json` (a copy of the records' description, for prediction),
`model.ckpt-<step>.index/.data-*` checkpoints (a scikit-learn estimator, fitted once and not
stepped: one `model.joblib` file instead; older train dirs: `model.ckpt-<step>.joblib`),
`temperature.json` (the calibration temperature fit on the devel speakers, per step),
TensorBoard summaries in `train/`, `log_train.txt` and `log_eval.txt`, evaluation results
`eval-<portion>-<step>[-pooled|-ensemble][-on-<records>].*` (an estimator: `fitted` for the
step; `-on-<records>` for records other than the model's own, so no result overwrites another),
and for records with folds one `fold-NN/` train dir per fold.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tfemo.core.errors import UserError
from tfemo.core.storage import write_atomic

MODEL_FILE = "model.json"
RUN_CONFIG = "run.toml"
DESCRIPTION_COPY = "description.json"
CHECKPOINT_NAME = "model.ckpt"
ESTIMATOR_SUFFIX = ".joblib"
ESTIMATOR_FILE = "model" + ESTIMATOR_SUFFIX  # an estimator's one fit
FITTED = "fitted"  # the "step" of an estimator's one fit, in result file names and titles
TEMPERATURE_FILE = "temperature.json"
SUMMARIES_DIR = "train"
TRAIN_LOG = "log_train.txt"
EVAL_LOG = "log_eval.txt"
FOLD_GLOB = "fold-*"
FINAL_RECORDS = "records-all"  # tfemo.train --final: the view of every item it trains on

_STEP_INDEX = re.compile(re.escape(CHECKPOINT_NAME) + r"-(\d+)(?:\.index|"
                         + re.escape(ESTIMATOR_SUFFIX) + ")$")
_STEP_PREFIX = re.compile(r"-(\d+)$")


def step_of_checkpoint(path: str | Path) -> int:
    """The global step in a checkpoint prefix such as `.../model.ckpt-8188`."""
    match = _STEP_PREFIX.search(str(path))
    if not match:
        raise ValueError(f"{path}: not a checkpoint prefix ({CHECKPOINT_NAME}-<step>)")
    return int(match.group(1))


def step_of_index_file(name: str) -> int | None:
    """The step of a `model.ckpt-<step>.index` (or `.joblib`) file name, else None."""
    match = _STEP_INDEX.match(name)
    return int(match.group(1)) if match else None


def checkpoint_prefix(train_dir: str | Path, step: int) -> str:
    """The prefix of checkpoint `step` in `train_dir`."""
    return str(Path(train_dir) / f"{CHECKPOINT_NAME}-{step}")


def estimator_file(prefix: str | Path) -> Path:
    """The joblib file of a fitted estimator saved at checkpoint `prefix` (older train dirs)."""
    return Path(f"{prefix}{ESTIMATOR_SUFFIX}")


def step_text(step: int | str) -> str:
    """How a checkpoint is named to a reader: `step 1000`, or `the fitted estimator`."""
    return "the fitted estimator" if step == FITTED else f"step {step}"


def temperature_file(train_dir: str | Path) -> Path:
    """Where the calibration temperatures of `train_dir` are kept (step -> temperature)."""
    return Path(train_dir) / TEMPERATURE_FILE


def eval_stem(train_dir: str | Path, portion: str, step: int | str, pooled: bool = False,
              records: str = "", ensemble: bool = False) -> Path:
    """Where the results of scoring `portion` at `step` go (without the file suffix): folds'
    files pooled (`-pooled`) or their models averaged (`-ensemble`); `records` names records
    other than those the model was trained on (`-on-<records>`)."""
    kind = "-pooled" if pooled else "-ensemble" if ensemble else ""
    return Path(train_dir) / (f"eval-{portion}-{step}{kind}"
                              + (f"-on-{records}" if records else ""))


def read_model_file(train_dir: str | Path) -> dict:
    """The model name, config and data stream a run saved (a user error if it is missing)."""
    path = Path(train_dir) / MODEL_FILE
    if not path.is_file():
        raise not_a_train_dir(train_dir, MODEL_FILE)
    return json.loads(path.read_text())


def not_a_train_dir(train_dir: str | Path, missing: str) -> UserError:
    """The user error for a folder without file `missing` of a train dir (folds: name one)."""
    folds = fold_train_dirs(train_dir)
    hint = f"; it holds folds: give one, e.g. {folds[0]}" if folds else ""
    return UserError(f"{train_dir}: no {missing}; not a train dir of tfemo.train",
                     f"give the --train_dir tfemo.train wrote{hint}")


def fold_train_dirs(train_dir: str | Path) -> list[Path]:
    """The fold-NN train dirs under `train_dir` (each with its model.json), sorted."""
    return sorted(p for p in Path(train_dir).glob(FOLD_GLOB) if (p / MODEL_FILE).exists())


def check_model_file(train_dir: Path, name: str, config: dict, data: dict,
                     write: bool = True) -> None:
    """Refuse to resume a train dir made with another model or data stream; else write its
    model.json (`write=False`, on a non-chief worker: only compare).

    `data` holds what fixes the order of training batches (records, seed, batch and sequence
    sizes): resuming skips the steps already taken, which is only right for the same stream.
    """
    path = Path(train_dir) / MODEL_FILE
    spec = {"model": name, "config": config, "data": data}
    if path.exists():
        saved = json.loads(path.read_text())
        if saved != json.loads(json.dumps(spec)):
            raise UserError(f"{path}: this train dir holds a {saved['model']} model trained with "
                            "other flags or data", "use a new --train_dir, or the same flags")
        return
    if write:
        write_atomic(path, json.dumps(spec, indent=1, sort_keys=True))
