"""Layout-agnostic helpers the corpus readers share: audio length and walking the files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import soundfile

from tfemo.audio import ffmpeg
from tfemo.core.errors import InputError
from tfemo.corpora.base import Item


def audio_duration(path: Path) -> float:
    """Seconds of audio from the file header (libsndfile's, else ffprobe's); 0.0 if unreadable
    (load_audio reports it later)."""
    try:
        seconds = float(soundfile.info(str(path)).duration)
    except (RuntimeError, OSError, ValueError, TypeError):
        probed = ffmpeg.probe(Path(path)) if Path(path).is_file() else None
        seconds = probed[2] if probed else 0.0
    return seconds if seconds > 0 and seconds != float("inf") else 0.0


def is_dangling(path: Path) -> bool:
    """Whether path is a symbolic link to nothing."""
    return path.is_symlink() and not path.exists()


def is_hidden(path: Path, root: Path) -> bool:
    """Whether a file or one of its folders below root is hidden (.DS_Store, ._x, .git)."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def corpus_files(folder: Path, recursive: bool = True) -> list[Path]:
    """The files in folder (at any depth if recursive), sorted, dangling links included (so
    that collect_items reports them); InputError if it is no folder."""
    if not folder.is_dir():
        raise InputError(folder, "missing corpus", "no such folder")
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() or is_dangling(p))  # the latter reported


def collect_items(folder: Path, files: Sequence[Path], item_of: Callable[[Path], Item | str],
                  skip: Callable[[Path, str], None], what: str,
                  skip_hidden: bool = True) -> list[Item]:
    """Items of files sorted by id; skips and repeated ids go to `skip`; InputError if none."""
    items: dict[str, Item] = {}
    skipped = 0
    for path in files:
        if skip_hidden and is_hidden(path, folder):
            found = "hidden file"
        elif is_dangling(path):
            found = f"dangling link (to {path.readlink()})"
        else:
            found = item_of(path)
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
