"""Layout-agnostic helpers the corpus readers share: audio length and walking the files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import soundfile

from tfemo.core.errors import InputError
from tfemo.corpora.base import Item


def audio_duration(path: Path) -> float:
    """Seconds of audio from the file header; 0.0 if unreadable (load_audio reports it later)."""
    try:
        seconds = float(soundfile.info(str(path)).duration)
    except (RuntimeError, OSError, ValueError, TypeError):
        return 0.0
    return seconds if seconds > 0 and seconds != float("inf") else 0.0


def is_hidden(path: Path, root: Path) -> bool:
    """Whether a file or one of its folders below root is hidden (.DS_Store, ._x, .git)."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def corpus_files(folder: Path, recursive: bool = True) -> list[Path]:
    """The files in folder (at any depth if recursive), sorted; InputError if it is no folder."""
    if not folder.is_dir():
        raise InputError(folder, "missing corpus", "no such folder")
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file())


def collect_items(folder: Path, files: Sequence[Path], item_of: Callable[[Path], Item | str],
                  skip: Callable[[Path, str], None], what: str,
                  skip_hidden: bool = True) -> list[Item]:
    """Items of files sorted by id; skips and repeated ids go to `skip`; InputError if none."""
    items: dict[str, Item] = {}
    skipped = 0
    for path in files:
        found = "hidden file" if skip_hidden and is_hidden(path, folder) else item_of(path)
        if isinstance(found, Item) and found.id in items:
            found = f"duplicate of {items[found.id].audio_path}"
        if isinstance(found, str):
            skip(path, found)
            skipped += 1
        else:
            items[found.id] = found
    if not items:
        raise InputError(folder, "missing corpus", f"no {what}; {skipped} other files")
    return [items[key] for key in sorted(items)]
