"""The dataset description that travels with the records (`<output_dir>/description.json`).

It says what the records hold (schema version, frame rate, dimensions, label names, raters,
compression), how much of it there is per portion, the normalisation statistics computed on
the train portion only, and the command and corpus that made it. Readers build everything
(the parser, the models' input sizes) from it, and refuse records of another schema version.

The JSON has sorted keys and no timestamps, so two identical runs write identical bytes. The
folder may be local or a tf.io.gfile URL (gs://, ram://, ...; tfemo.core.storage).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from tfemo import __version__
from tfemo.core import storage
from tfemo.core.errors import SchemaError
from tfemo.core.storage import Location
from tfemo.core.tasks import Task
from tfemo.records.schema import SCHEMA_VERSION, RecordSpec

DESCRIPTION_FILE = "description.json"
COMPRESSIONS = ("", "GZIP")
_REQUIRED = ("schema_version", "name", "task", "sample_rate", "frame_length", "frame_seconds")


def description_path(output_dir: str | Path) -> Location:
    """Where the description of the records in `output_dir` lives."""
    return storage.join(output_dir, DESCRIPTION_FILE)


def _plain(value: Any) -> Any:
    """Convert NumPy values, tuples and paths to plain JSON types, recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass
class DatasetDescription:
    """What a folder of records holds; written once per output by tools/make_tfrecords.py.

    `label_names` are the continuous dimensions (task "continuous") or the class names in
    class-index order (task "categorical"). `raters` names the R annotators whose per-frame
    ratings the records carry, in the records' rater order (empty for none; ignored for
    categorical tasks, which have no per-frame ratings). `portions` maps each portion to
    {"examples", "frames", "seconds", "shards", "files"} (shard file names). `normalisation`
    holds statistics computed on the train portion only (e.g. RunningStats.summary() per
    feature). `alignment` counts examples per word-alignment method (e.g. {"aeneas": 9}).
    `skipped` maps portion -> {reason: count} of items left out. `compression` is ""
    or "GZIP", as the shards were written. `features` maps each hand-crafted feature family to
    its width, in the order the families are concatenated in the records' `features` list; the
    JSON keeps it as a list of [family, width] pairs, because its keys are sorted on writing.
    `partition` says which examples each portion reads (tfemo.records.partitions).
    """

    name: str
    task: Task
    sample_rate: int
    frame_length: int
    frame_seconds: float
    corpus: str = ""
    word_dim: int = 0
    word_vectors: str = ""
    features: dict[str, int] = field(default_factory=dict)
    label_names: list[str] = field(default_factory=list)
    raters: list[str] = field(default_factory=list)
    portions: dict[str, dict[str, Any]] = field(default_factory=dict)
    normalisation: dict[str, Any] = field(default_factory=dict)
    alignment: dict[str, Any] = field(default_factory=dict)
    oov: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    compression: str = ""
    tfemo_version: str = __version__
    extra: dict[str, Any] = field(default_factory=dict)
    partition: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        """Check the values a reader depends on."""
        if self.task not in tuple(Task):
            raise ValueError(f"task must be one of {[t.value for t in Task]}, got {self.task!r}")
        self.task = Task(self.task)
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got {self.compression!r}")
        if isinstance(self.label_names, str) or isinstance(self.raters, str):
            raise ValueError("label_names and raters are lists of names, not one string")
        self.label_names = [str(name) for name in self.label_names]
        self.raters = [str(name) for name in self.raters]
        self.command = [str(arg) for arg in self.command]
        pairs = self.features.items() if isinstance(self.features, dict) else self.features
        self.features = {str(name): int(dim) for name, dim in pairs}
        self.record_spec()  # validates the sizes

    @property
    def label_dims(self) -> int:
        """Number D of per-frame continuous label dimensions (0 for categorical tasks)."""
        return len(self.label_names) if self.task == Task.CONTINUOUS else 0

    @property
    def num_classes(self) -> int:
        """Number of classes for categorical tasks (0 for continuous tasks)."""
        return len(self.label_names) if self.task == Task.CATEGORICAL else 0

    @property
    def feature_dim(self) -> int:
        """Width F of the per-frame hand-crafted feature vector (0 when the records have none)."""
        return sum(self.features.values())

    def record_spec(self) -> RecordSpec:
        """The RecordSpec `schema.parse` needs to read these records."""
        return RecordSpec(
            frame_length=self.frame_length,
            word_dim=self.word_dim,
            label_dims=self.label_dims,
            raters=len(self.raters) if self.label_dims else 0,
            feature_dim=self.feature_dim,
        )

    def portion(self, portion: str) -> dict[str, Any]:
        """The counts of one portion; SchemaError listing the portions there are if absent."""
        if portion not in self.portions:
            raise SchemaError(
                f"dataset {self.name!r} has no portion {portion!r} "
                f"(it has: {', '.join(sorted(self.portions)) or 'none'})"
            )
        return self.portions[portion]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field (`features` as ordered [family, width] pairs)."""
        data = _plain(asdict(self))
        data["features"] = [[name, dim] for name, dim in self.features.items()]
        return data

    def to_json(self) -> str:
        """Deterministic JSON text: sorted keys, fixed indentation, trailing newline."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, allow_nan=False) + "\n"

    def write(self, path: str | Path) -> Location:
        """Write atomically (temp file in the same folder, fsync, os.replace); return the path.

        `path` is the output folder or the description file itself.
        """
        path = storage.location(path)
        if storage.isdir(path) or Path(storage.name(path)).suffix != ".json":
            path = description_path(path)
        return storage.write_atomic(path, self.to_json())

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> DatasetDescription:
        """Build from a parsed JSON dict; SchemaError naming `source` when it does not fit."""
        if not isinstance(data, dict):
            raise SchemaError(f"{source}: not a dataset description (expected a JSON object)")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SchemaError(
                f"{source}: records made by schema v{version}, this tfemo reads "
                f"v{SCHEMA_VERSION} (a corpus written once, folds as views of it): run "
                "tools/make_tfrecords.py again with the same options"
            )
        missing = [key for key in _REQUIRED if key not in data]
        if missing:
            raise SchemaError(f"{source}: dataset description lacks {', '.join(missing)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SchemaError(f"{source}: unknown fields in dataset description: {unknown}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as error:
            raise SchemaError(f"{source}: invalid dataset description: {error}") from error

    @classmethod
    def read(cls, path: str | Path) -> DatasetDescription:
        """Read a description (the file or its output folder), checking the schema version."""
        path = storage.location(path)
        if storage.isdir(path):
            path = description_path(path)
        try:
            text = storage.read_text(path)
        except FileNotFoundError:
            raise SchemaError(
                f"{path}: no dataset description: run tools/make_tfrecords.py to make the records"
            ) from None
        except OSError as error:
            raise SchemaError(f"{path}: cannot read dataset description: {error}") from error
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SchemaError(f"{path}: dataset description is not valid JSON: {error}") from None
        return cls.from_dict(data, source=str(path))


@dataclass
class RunningStats:
    """Per-dimension count, mean and spread of values seen so far; mergeable and picklable.

    Workers each build their own instance on train data only; the parent merges them. Holds
    the count, mean and sum of squared deviations (M2) in float64 and merges with Chan et al.'s
    parallel formula: equivalent to keeping sum and sum of squares, but without the
    catastrophic cancellation those suffer when the mean is large relative to the spread.
    `to_dict`/`from_dict` round-trip exactly through JSON (for progress files).
    """

    dim: int
    count: int = 0
    mean_: np.ndarray | None = None
    m2: np.ndarray | None = None

    def __post_init__(self) -> None:
        """Start empty with float64 accumulators of size `dim`."""
        if self.dim <= 0:
            raise ValueError(f"dim must be positive, got {self.dim}")
        self.count = int(self.count)
        zeros = np.zeros(self.dim, dtype=np.float64)
        self.mean_ = zeros if self.mean_ is None else np.asarray(self.mean_, dtype=np.float64)
        self.m2 = zeros.copy() if self.m2 is None else np.asarray(self.m2, dtype=np.float64)
        if self.mean_.shape != (self.dim,) or self.m2.shape != (self.dim,):
            raise ValueError(f"mean and m2 must have shape ({self.dim},)")

    @classmethod
    def of(cls, values: np.ndarray) -> RunningStats:
        """Statistics of rows `values` [..., D] (a 1-D array is one dimension of samples)."""
        values = np.asarray(values)
        dim = 1 if values.ndim <= 1 else values.shape[-1]
        return cls(dim=dim).update(values)

    def update(self, values: np.ndarray) -> RunningStats:
        """Add rows of `values` ([..., dim]; with dim 1 every value is a sample, any shape)."""
        values = np.asarray(values, dtype=np.float64)
        if self.dim == 1:
            values = values.reshape(-1, 1)
        if values.ndim == 0 or values.shape[-1] != self.dim:
            raise ValueError(f"expected values with last axis {self.dim}, got {values.shape}")
        values = values.reshape(-1, self.dim)
        if values.shape[0] == 0:
            return self
        mean = values.mean(axis=0)
        batch = RunningStats(
            dim=self.dim,
            count=values.shape[0],
            mean_=mean,
            m2=((values - mean) ** 2).sum(axis=0),
        )
        return self.merge(batch)

    def merge(self, other: RunningStats) -> RunningStats:
        """Fold another instance's values into this one (in place); returns self."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge statistics of {other.dim} and {self.dim} dimensions")
        if other.count == 0:
            return self
        total = self.count + other.count
        delta = other.mean_ - self.mean_
        self.mean_ = self.mean_ + delta * (other.count / total)
        self.m2 = self.m2 + other.m2 + delta**2 * (self.count * other.count / total)
        self.count = total
        return self

    def mean(self) -> np.ndarray:
        """Per-dimension mean; ValueError when nothing was added."""
        if not self.count:
            raise ValueError("no values were added to these statistics")
        return self.mean_.copy()

    def std(self) -> np.ndarray:
        """Per-dimension population standard deviation; ValueError when nothing was added."""
        if not self.count:
            raise ValueError("no values were added to these statistics")
        return np.sqrt(np.maximum(self.m2 / self.count, 0.0))

    def to_dict(self) -> dict[str, Any]:
        """Exact JSON-ready state {"dim", "count", "mean", "m2"}; see `from_dict`."""
        return {
            "dim": self.dim,
            "count": self.count,
            "mean": self.mean_.tolist(),
            "m2": self.m2.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunningStats:
        """Rebuild from `to_dict` output (exactly: JSON keeps float64 values)."""
        return cls(dim=int(data["dim"]), count=data["count"], mean_=data["mean"], m2=data["m2"])

    def summary(self) -> dict[str, Any]:
        """{"count", "mean", "std"} as plain lists, for the description's normalisation."""
        return {"count": self.count, "mean": self.mean().tolist(), "std": self.std().tolist()}


__all__ = [
    "DESCRIPTION_FILE",
    "DatasetDescription",
    "RunningStats",
    "description_path",
]
