"""The per-item results of an unfinished run: `<store>.parts/`, one small file per item.

Each finished item is one `<hash of id>.npz` (frames, stats and the item's key) or one
`<hash of id>.skip.json` (why it was left out), written with tfemo.core.storage.write_atomic, so
after a kill every part on disk is whole; stale temp files are removed when the folder is
opened.  `run.json` holds the run's options: parts made with other options are never mixed in.
A part is reused only while its item's key (fields, metadata, audio file size and mtime) is
unchanged.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tfemo.core.errors import UserError
from tfemo.core.storage import write_atomic
from tfemo.store.featurise import ItemFeatures

RUN_FILE = "run.json"


@dataclass(frozen=True)
class Skip:
    """An item left out of the store, and why."""

    item_id: str
    path: str
    reason: str
    detail: str


def parts_dir(output: Path) -> Path:
    """Where the parts of `output` live while it is being made."""
    return output.with_name(output.name + ".parts")


class Parts:
    """The finished items of a run, durable across kills."""

    def __init__(self, folder: Path, options: str) -> None:
        """Open (or start) the parts folder of a run with `options` (canonical JSON).

        Parts of a run with other options are refused: resuming must not mix two runs.
        """
        self.folder = Path(folder)
        run = self.folder / RUN_FILE
        if run.is_file():
            try:
                saved = json.loads(run.read_text())["options"]
            except (OSError, ValueError, KeyError, TypeError):
                saved = None
            if saved != options:
                raise UserError(f"{self.folder} holds an unfinished feature store made with "
                                f"other options ({describe_difference(saved, options)})",
                                "rerun with the same options to resume it, or delete "
                                f"{self.folder} to start over")
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(run, json.dumps({"options": options}, indent=1) + "\n")
        for stale in self.folder.glob(".*.tmp-*"):  # a write that a kill interrupted
            stale.unlink(missing_ok=True)

    def _path(self, item_id: str, suffix: str) -> Path:
        return self.folder / (hashlib.sha256(item_id.encode()).hexdigest()[:24] + suffix)

    def load(self, item_id: str, key: str) -> ItemFeatures | Skip | None:
        """The saved result of an item with this key, or None if it must be (re)done."""
        path = self._path(item_id, ".npz")
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as saved:
                    if str(saved["key"]) == key:
                        return ItemFeatures(saved["frames"], saved["stats"],
                                            int(saved["num_frames"]), float(saved["seconds"]))
            except (OSError, ValueError, KeyError):
                pass
        path = self._path(item_id, ".skip.json")
        if path.is_file():
            try:
                saved = json.loads(path.read_text())
                if saved["key"] == key:
                    return Skip(**saved["skip"])
            except (OSError, ValueError, KeyError, TypeError):
                pass
        return None

    def save(self, item_id: str, key: str, result: ItemFeatures | Skip) -> None:
        """Record one finished item (its features, or why it was skipped) atomically."""
        if isinstance(result, Skip):
            self._path(item_id, ".npz").unlink(missing_ok=True)
            write_atomic(self._path(item_id, ".skip.json"),
                         json.dumps({"key": key, "skip": asdict(result)}, sort_keys=True))
            return
        self._path(item_id, ".skip.json").unlink(missing_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, frames=result.frames, stats=result.stats, key=np.array(key),
                 num_frames=np.array(result.num_frames), seconds=np.array(result.seconds))
        write_atomic(self._path(item_id, ".npz"), buffer.getvalue())

    def remove(self) -> None:
        """Delete the folder once the store is complete."""
        shutil.rmtree(self.folder, ignore_errors=True)


def remove_parts(output: Path) -> None:
    """Delete leftover parts of `output` (a kill between the final rename and the cleanup)."""
    folder = parts_dir(output)
    if folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def describe_difference(saved: str | None, options: str) -> str:
    """Which options differ between two options JSON texts, for a refusal message."""
    if saved is None:
        return "unreadable run.json"
    try:
        old, new = json.loads(saved), json.loads(options)
    except ValueError:
        return "unreadable options"
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in changed)
