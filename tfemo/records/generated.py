"""The `generated` portion: synthetic training examples added to a records folder, leak-proof.

Generated examples (e.g. decoded by a class-conditional VAE trained on the train portion of
the same records) go into `<records>/generated/` as one shard, with a portion entry like any
other (examples, frames, seconds, files, speakers, classes) and their provenance in
`description.extra["generated"]` (generator, fold, the train item ids it saw). The
normalisation statistics are NOT touched: they stay those of the train portion. Training uses
them only when asked (`tfemo.train --train_portions train+generated`); they are never scored.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tfemo.core.errors import SchemaError
from tfemo.core.tasks import Task
from tfemo.records.description import DatasetDescription
from tfemo.records.schema import ExampleArrays, serialize
from tfemo.records.writer import shard_path, write_shard

GENERATED = "generated"
SCORED_PORTIONS = ("devel", "test")  # generated examples must never be among these


def add_generated_portion(output_dir: str | Path, examples: Sequence[ExampleArrays],
                          provenance: Mapping[str, Any]) -> DatasetDescription:
    """Write `examples` as the `generated` portion of the records in `output_dir` (replacing
    an earlier one) and record `provenance`; return the updated description.

    SchemaError when the records are not categorical, an example is not of portion
    `generated`, has another feature width, or the provenance lists an item of a scored
    portion among the items the generator saw.
    """
    output_dir = Path(output_dir)
    description = DatasetDescription.read(output_dir)
    where = f"{output_dir}: generated portion"
    if description.task != Task.CATEGORICAL:
        raise SchemaError(f"{where}: only categorical records take generated examples")
    if not examples:
        raise SchemaError(f"{where}: no examples to write")
    for example in examples:
        if example.portion != GENERATED:
            raise SchemaError(f"{where}: example {example.id!r} is of portion "
                              f"{example.portion!r}, not {GENERATED!r}")
        if example.features is None or example.features.shape[1] != description.feature_dim:
            raise SchemaError(f"{where}: example {example.id!r} needs {description.feature_dim} "
                              "features per frame")
    seen = set(provenance.get("train_ids", ()))
    for portion in SCORED_PORTIONS:
        if portion in description.portions and seen & _ids_of(output_dir, portion):
            raise SchemaError(f"{where}: the generator saw items of the {portion} portion")
    folder = output_dir / GENERATED
    if folder.exists():
        shutil.rmtree(folder)
    path = shard_path(output_dir, GENERATED, GENERATED, 0, 1)
    write_shard((serialize(e) for e in examples), path, compression=description.compression)
    classes: dict[str, int] = {}
    for example in examples:
        name = description.label_names[example.label]
        classes[name] = classes.get(name, 0) + 1
    frames = sum(len(e.features) for e in examples)
    description.portions[GENERATED] = {
        "examples": len(examples), "frames": frames,
        "seconds": round(frames * description.frame_seconds, 3), "files": [path.name],
        "speakers": sorted({e.speaker for e in examples}), "classes": classes}
    description.extra = {**description.extra, GENERATED: dict(provenance)}
    description.write(output_dir)
    return description


def _ids_of(output_dir: Path, portion: str) -> set[str]:
    """The item ids of one portion of the records."""
    from tfemo.records.reader import make_dataset

    data = make_dataset(output_dir, portion, sequence_length=None, batch_size=64,
                        shuffle=False, seed=0, features=())
    return {v.decode() for batch in data for v in batch["id"].numpy()}
