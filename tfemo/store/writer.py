"""Write the HDF5 file: the whole store in one pass into `<file>.partial`, then a rename.

The file is only ever written whole, by one process, from durable per-item parts
(tfemo.store.parts): a kill mid-write leaves a `.partial` that the next run deletes and writes
again, never a damaged store under the final name.  Learned latents are added the same way (a
copy, written and renamed), so the store a reader opens is always complete.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import h5py
import numpy as np

from tfemo.core.errors import TfemoError
from tfemo.corpora.base import Item
from tfemo.store.featurise import ItemFeatures, item_attributes
from tfemo.store.layout import (
    CHUNK_FRAMES,
    COMPRESSION,
    LATENTS,
    NUMERIC_FIELDS,
    SKIP_FIELDS,
    SKIPPED,
    escape_name,
    item_group,
    text_array,
)
from tfemo.store.parts import Skip, fsync_dir


def partial_path(output: Path) -> Path:
    """The name the store is written under until it is complete."""
    return output.with_name(output.name + ".partial")


def write_item(file: h5py.File, item: Item, features: ItemFeatures) -> None:
    """One item's group: chunked, compressed frames and stats and every metadata attribute."""
    group = file.create_group(item_group(item.corpus, item.speaker, item.id))
    frames = np.ascontiguousarray(features.frames, dtype=np.float32)
    group.create_dataset("frames", data=frames,
                         chunks=(min(len(frames), CHUNK_FRAMES), frames.shape[1]), **COMPRESSION)
    group.create_dataset("stats", data=np.asarray(features.stats, dtype=np.float32),
                         chunks=(len(features.stats),), **COMPRESSION)
    for name, value in item_attributes(item).items():
        group.attrs[name] = value
    group.attrs[NUMERIC_FIELDS[0]] = np.int64(features.num_frames)
    group.attrs[NUMERIC_FIELDS[1]] = np.float64(features.seconds)


def write_skipped(file: h5py.File, skips: Iterable[Skip]) -> None:
    """The `/_skipped` table (item_id, path, reason, detail), empty when nothing was skipped."""
    dtype = np.dtype([(name, h5py.string_dtype()) for name in SKIP_FIELDS])
    rows = np.array([tuple(getattr(s, name) for name in SKIP_FIELDS) for s in skips],
                    dtype=dtype)
    file.create_dataset(SKIPPED, data=rows, shape=rows.shape, dtype=dtype)


def set_attrs(target, attrs: Mapping[str, object]) -> None:
    """Attributes from Python values: str, int, float, or lists of str or of int."""
    for name, value in attrs.items():
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            target.attrs[name] = text_array(value)
        elif isinstance(value, (list, tuple)):
            target.attrs[name] = np.asarray(value, dtype=np.int64)
        elif isinstance(value, str):
            target.attrs[name] = str(value)  # a str subclass (Task) has no HDF5 conversion
        else:
            target.attrs[name] = value


def write_store(output: Path, attrs: Mapping[str, object],
                items: Iterable[tuple[Item, ItemFeatures]], skips: Iterable[Skip]) -> None:
    """Write the whole store to `<output>.partial`, make it durable and rename it to `output`."""
    partial = partial_path(output)
    partial.unlink(missing_ok=True)
    with h5py.File(partial, "w") as file:
        set_attrs(file, attrs)
        for item, features in items:
            write_item(file, item, features)
        write_skipped(file, skips)
    _publish(partial, output)


def write_latents(path: str | Path, name: str,
                  latents: Mapping[str, tuple[np.ndarray, np.ndarray]],
                  provenance: Mapping[str, object] | None = None) -> None:
    """Store `{item id: (mean, log_var)}` as /latents/<name>, replacing latents of that name.

    `provenance` (model, train dir, checkpoint, beta, ...) becomes attributes (non-scalar
    values as JSON).  Every id must be an item of the store.  The store is copied, written and
    renamed, so a kill never leaves it half-updated.
    """
    path = Path(path)
    name = escape_name(name)
    ids = sorted(latents)
    if not ids:
        raise TfemoError(f"{path}: no latents to write under {name!r}")
    mean = np.stack([np.asarray(latents[i][0], dtype=np.float32) for i in ids])
    log_var = np.stack([np.asarray(latents[i][1], dtype=np.float32) for i in ids])
    if mean.ndim != 2 or mean.shape != log_var.shape:
        raise TfemoError(f"latents {name!r}: each mean and log_var must be a vector of one size, "
                         f"got {mean.shape} and {log_var.shape}")
    if not (np.isfinite(mean).all() and np.isfinite(log_var).all()):
        raise TfemoError(f"latents {name!r} hold NaN or infinite values")
    partial = partial_path(path)
    shutil.copyfile(path, partial)
    try:
        with h5py.File(partial, "r+") as file:
            groups = _groups_by_id(file)
            unknown = [i for i in ids if i not in groups]
            if unknown:
                raise TfemoError(f"{path}: latents {name!r} for items not in the store: "
                                 f"{', '.join(unknown[:5])}"
                                 + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""))
            parent = file.require_group(LATENTS)
            if name in parent:
                del parent[name]
            group = parent.create_group(name)
            group.create_dataset("item_ids", data=text_array(ids))
            for key, values in (("mean", mean), ("log_var", log_var)):
                group.create_dataset(key, data=values, chunks=values.shape, **COMPRESSION)
            group.attrs["latent_dim"] = np.int64(mean.shape[1])
            group.attrs["items"] = np.int64(len(ids))
            for key, value in (provenance or {}).items():
                group.attrs[key] = value if isinstance(value, (str, int, float, bool)) \
                    else json.dumps(value, sort_keys=True, default=str)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _publish(partial, path)


def _groups_by_id(file: h5py.File) -> dict[str, str]:
    """Item id -> group path, for every item group of an open store."""
    found = {}
    for corpus in file:
        if corpus in (SKIPPED, LATENTS):
            continue
        for speaker in file[corpus].values():
            for group in speaker.values():
                found[group.attrs["id"]] = group.name
    return found


def _publish(partial: Path, output: Path) -> None:
    """fsync the finished file, rename it into place and make the rename durable."""
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, output)
    fsync_dir(output.parent)
