"""Files on this machine or on any tf.io.gfile filesystem (gs://, s3://, hdfs://, ram://), one API.

A location is a `Path` for a local path and a `str` for a URL (`<scheme>://...`): pathlib would
fold `gs://bucket` into `gs:/bucket`. Local paths go through pathlib, os and shutil exactly as
tfemo always wrote them (fsync and os.replace included); URLs go through tf.io.gfile, imported
only then, so local-only work never loads TensorFlow for it. A rename on a URL filesystem
overwrites (on GCS it is a copy and a delete: the final object still appears whole or not at
all). This module is the one place that tells the two apart. A URL filesystem's own failure
(no credentials, no such bucket, a folder read as a file) becomes a StorageError naming the
path, which the commands print as one line.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tfemo.core.errors import StorageError

Location = Path | str
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(path: str | Path) -> bool:
    """Whether `path` names a filesystem URL (`gs://b/x`, `ram://x`) rather than a local path."""
    return isinstance(path, str) and _URL.match(path) is not None


def location(path: str | Path) -> Location:
    """`path` as a location: a URL stays a str (without a trailing slash), the rest a Path."""
    if is_url(path):
        scheme, rest = path.split("://", 1)
        return f"{scheme}://{rest.rstrip('/')}"
    return Path(path)


def _gfile():
    import tensorflow as tf  # only for URLs

    return tf.io.gfile


def _not_found() -> tuple[type[BaseException], ...]:
    import tensorflow as tf

    return (tf.errors.NotFoundError,)


_F = TypeVar("_F", bound=Callable)


def _reported(function: _F) -> _F:
    """Turn a URL filesystem's error (tf.errors.OpError) into a StorageError naming the path."""

    @functools.wraps(function)
    def wrapper(path, *args, **kwargs):
        if not (is_url(path) or any(is_url(arg) for arg in args)):
            return function(path, *args, **kwargs)
        import tensorflow as tf

        try:
            return function(path, *args, **kwargs)
        except tf.errors.OpError as error:
            message = error.message or type(error).__name__
            what = message if str(path) in message else f"{path}: {message}"
            raise StorageError(what) from error

    return wrapper  # type: ignore[return-value]


def join(base: str | Path, *parts: str) -> Location:
    """`base/part/...` for a local folder or a URL."""
    if is_url(base):
        return "/".join([location(base), *(p.strip("/") for p in parts if p)])
    return Path(base).joinpath(*parts)


def name(path: str | Path) -> str:
    """The last component of `path` (a file name)."""
    return location(path).rsplit("/", 1)[-1] if is_url(path) else Path(path).name


def parent(path: str | Path) -> Location:
    """The folder holding `path`."""
    return location(path).rsplit("/", 1)[0] if is_url(path) else Path(path).parent


def relative(path: str | Path, base: str | Path) -> str:
    """`path` relative to `base`, as a str ("train/x.tfrecord")."""
    if not is_url(path):
        return str(Path(path).relative_to(base))
    path, base = location(path), location(base)
    if not path.startswith(base + "/"):
        raise ValueError(f"{path} is not inside {base}")
    return path[len(base) + 1:]


def resolve(path: str | Path) -> Location:
    """A local path resolved (absolute, symlinks followed); a URL as is."""
    return location(path) if is_url(path) else Path(path).resolve()


def absolute(path: str | Path) -> Location:
    """A local path made absolute (the launcher's working folder is not a worker's); a URL as is."""
    return location(path) if is_url(path) else Path(path).absolute()


@_reported
def exists(path: str | Path) -> bool:
    """Whether a file or folder is there."""
    return _gfile().exists(location(path)) if is_url(path) else Path(path).exists()


@_reported
def isdir(path: str | Path) -> bool:
    """Whether `path` is a folder (on object stores: a prefix with objects under it)."""
    return _gfile().isdir(location(path)) if is_url(path) else Path(path).is_dir()


@_reported
def isfile(path: str | Path) -> bool:
    """Whether `path` is a file."""
    if is_url(path):
        return _gfile().exists(location(path)) and not _gfile().isdir(location(path))
    return Path(path).is_file()


@_reported
def makedirs(path: str | Path) -> None:
    """Make a folder and its parents (nothing when it is there)."""
    if is_url(path):
        _gfile().makedirs(location(path))
    else:
        Path(path).mkdir(parents=True, exist_ok=True)


@_reported
def read_bytes(path: str | Path) -> bytes:
    """A file's bytes; FileNotFoundError when it is missing, on every filesystem."""
    if not is_url(path):
        return Path(path).read_bytes()
    try:
        with _gfile().GFile(location(path), "rb") as handle:
            return handle.read()
    except _not_found() as error:
        raise FileNotFoundError(f"{path}: no such file") from error


def read_text(path: str | Path) -> str:
    """A UTF-8 text file."""
    return read_bytes(path).decode("utf-8")


@_reported
def write_bytes(path: str | Path, data: bytes) -> Location:
    """Write a file (its folder made if missing), not atomically: for files only this run reads."""
    makedirs(parent(path))
    if is_url(path):
        with _gfile().GFile(location(path), "wb") as handle:
            handle.write(data)
    else:
        Path(path).write_bytes(data)
    return location(path)


def _write_local_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write `data` to a temp file beside `path`, fsync it and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temp, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


@_reported
def write_atomic(path: str | Path, data: bytes | str) -> Location:
    """Write under a temp name beside `path`, then rename into place (locally fsynced first):
    a reader never sees a half-written file, even after a kill. Local paths and URLs alike."""
    if not is_url(path):
        return _write_local_atomic(path, data)
    temp = join(parent(path), f".{name(path)}.tmp-{os.getpid()}")
    try:
        write_bytes(temp, data.encode("utf-8") if isinstance(data, str) else data)
        rename(temp, path)
    except BaseException:
        remove(temp)
        raise
    return location(path)


@_reported
def sync(path: str | Path) -> None:
    """fsync a closed local file before its rename; URL filesystems commit on close."""
    if not is_url(path):
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())


@_reported
def rename(source: str | Path, target: str | Path) -> None:
    """Move `source` to `target`, replacing it (os.replace locally)."""
    if is_url(source) or is_url(target):
        _gfile().rename(str(location(source)), str(location(target)), overwrite=True)
    else:
        os.replace(source, target)


@_reported
def remove(path: str | Path) -> None:
    """Delete a file; nothing when it is already gone."""
    if not is_url(path):
        Path(path).unlink(missing_ok=True)
        return
    try:
        _gfile().remove(location(path))
    except _not_found():
        pass


@_reported
def glob(folder: str | Path, pattern: str) -> list[Location]:
    """Sorted matches of `pattern` (e.g. "*.tfrecord", "*/*.tfrecord") inside `folder`."""
    if not is_url(folder):
        return sorted(Path(folder).glob(pattern))
    try:
        return sorted(_gfile().glob(join(folder, pattern)))
    except _not_found():
        return []


@_reported
def rmtree(path: str | Path) -> None:
    """Delete a folder and everything in it, ignoring what is already gone."""
    if not is_url(path):
        shutil.rmtree(path, ignore_errors=True)
        return
    try:
        _gfile().rmtree(location(path))
    except _not_found():
        pass


@_reported
def copy(source: str | Path, target: str | Path) -> None:
    """Copy a file between any two filesystems, replacing `target`."""
    if is_url(source) or is_url(target):
        makedirs(parent(target))
        _gfile().copy(str(location(source)), str(location(target)), overwrite=True)
    else:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


__all__ = ["Location", "absolute", "copy", "exists", "glob", "is_url", "isdir", "isfile", "join",
           "location", "makedirs", "name", "parent", "read_bytes", "read_text", "relative",
           "remove", "rename", "resolve", "rmtree", "sync", "write_atomic", "write_bytes"]
