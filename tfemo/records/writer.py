"""Shard writing: `<output_dir>/<portion>/<name>-<shard:05d>-of-<n:05d>.tfrecord`, atomically.

A shard is written under a temporary name in its own folder (`.<final name>.tmp-<pid>`),
flushed, closed and fsynced, then renamed into place with os.replace, so a killed run never
leaves a half-written shard under a final name. An output folder may also be a tf.io.gfile
URL (gs://, ram://, ...; tfemo.core.storage): the same temp name and rename, without the fsync.
`remove_stale_temp_files` clears what a killed run left behind; `shard_paths` lists a portion's
shards for readers and refuses incomplete or mixed sets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import tensorflow as tf

from tfemo.core import storage
from tfemo.core.errors import SchemaError
from tfemo.core.storage import Location
from tfemo.records.description import COMPRESSIONS

SHARD_SUFFIX = ".tfrecord"
_SHARD_RE = re.compile(r"^(?P<name>.+)-(?P<shard>\d{5,})-of-(?P<total>\d{5,})\.tfrecord$")
_TEMP_GLOB = ".*.tmp-*"


def shard_name(name: str, shard: int, num_shards: int) -> str:
    """File name of shard `shard` (0-based) of `num_shards`."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"invalid dataset name for shard files: {name!r}")
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard index {shard} outside 0..{num_shards - 1}")
    return f"{name}-{shard:05d}-of-{num_shards:05d}{SHARD_SUFFIX}"


def shard_path(
    output_dir: str | Path, portion: str, name: str, shard: int, num_shards: int
) -> Location:
    """Final path of one shard: `<output_dir>/<portion>/<name>-<shard>-of-<n>.tfrecord`."""
    return storage.join(output_dir, portion, shard_name(name, shard, num_shards))


def temp_path(path: str | Path) -> Location:
    """The temporary name a shard is written under in this process before its rename."""
    return storage.join(storage.parent(path), f".{storage.name(path)}.tmp-{os.getpid()}")


class ShardWriter:
    """Context manager writing records to a temp file and renaming it into place on success.

    On an exception inside the `with` block the temp file is closed and deleted and the final
    name is never created. Use `write_shard` for a list of records.
    """

    def __init__(self, path: str | Path, compression: str = "") -> None:
        """Prepare to write the shard `path` ("" for no compression, or "GZIP")."""
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
        self.path = storage.location(path)
        self.temp = temp_path(self.path)
        self.compression = compression
        self.count = 0
        self._writer: tf.io.TFRecordWriter | None = None

    def __enter__(self) -> ShardWriter:
        """Create the folder and open the temp file."""
        storage.makedirs(storage.parent(self.path))
        options = tf.io.TFRecordOptions(compression_type=self.compression)
        self._writer = tf.io.TFRecordWriter(str(self.temp), options=options)
        return self

    def write(self, record: bytes) -> None:
        """Append one serialized record."""
        if self._writer is None:
            raise RuntimeError(f"{self.path}: ShardWriter used outside its `with` block")
        self._writer.write(record)
        self.count += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Commit on success; on an exception, drop the temp file and let the error through."""
        if exc_type is None:
            self._commit()
        else:
            self._abort()

    def _commit(self) -> None:
        """Flush, close, fsync (local files) and rename the temp file to the final name."""
        writer, self._writer = self._writer, None
        try:
            writer.flush()
            writer.close()
            storage.sync(self.temp)
            storage.rename(self.temp, self.path)
        except BaseException:
            storage.remove(self.temp)
            raise

    def _abort(self) -> None:
        """Close and delete the temp file."""
        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                writer.close()
        finally:
            storage.remove(self.temp)


def write_shard(records: Iterable[bytes], path: str | Path, *,
                compression: str = "") -> Location:
    """Write serialized examples as one complete shard at `path` (see `shard_path`)."""
    path = storage.location(path)
    with ShardWriter(path, compression=compression) as writer:
        for record in records:
            writer.write(record)
    return path


def remove_stale_temp_files(folder: str | Path) -> list[Location]:
    """Delete temp files a killed run left in `folder` (not recursive); return what went.

    Call it before a run starts writing, never while another writer works in the folder.
    """
    if not storage.isdir(folder):
        return []
    removed = []
    for path in storage.glob(folder, _TEMP_GLOB):
        if storage.isfile(path):
            storage.remove(path)
            removed.append(path)
    return removed


def shard_paths(output_dir: str | Path, portion: str) -> list[Location]:
    """Sorted shards of a portion, checked complete: every `<name>` has all of its n shards.

    SchemaError naming the folder when there are none, a shard is missing, shards of one name
    disagree on n (two runs mixed) or a `.tfrecord` file does not follow the naming scheme.
    """
    folder = storage.join(output_dir, portion)
    paths = storage.glob(folder, f"*{SHARD_SUFFIX}") if storage.isdir(folder) else []
    if not paths:
        raise SchemaError(
            f"{folder}: no {SHARD_SUFFIX} shards for portion {portion!r}: "
            "run tools/make_tfrecords.py"
        )
    groups: dict[str, dict[int, set[int]]] = {}
    for path in paths:
        match = _SHARD_RE.match(storage.name(path))
        if match is None:
            raise SchemaError(f"{path}: not a shard name (<name>-NNNNN-of-NNNNN{SHARD_SUFFIX})")
        totals = groups.setdefault(match["name"], {})
        totals.setdefault(int(match["total"]), set()).add(int(match["shard"]))
    for name, totals in groups.items():
        if len(totals) > 1:
            raise SchemaError(
                f"{folder}: shards of {name!r} from different runs (of "
                f"{', '.join(str(n) for n in sorted(totals))}): remove the folder and run "
                "tools/make_tfrecords.py again"
            )
        ((total, present),) = totals.items()
        if max(present) >= total:
            raise SchemaError(f"{folder}: {name!r} has a shard index beyond its count {total}")
        missing = sorted(set(range(total)) - present)
        if missing:
            raise SchemaError(
                f"{folder}: {len(missing)} of {total} shards of {name!r} are missing "
                f"(first: {shard_name(name, missing[0], total)}): the run did not finish"
            )
    return paths


__all__ = [
    "SHARD_SUFFIX",
    "ShardWriter",
    "remove_stale_temp_files",
    "shard_name",
    "shard_path",
    "shard_paths",
    "temp_path",
    "write_shard",
]
