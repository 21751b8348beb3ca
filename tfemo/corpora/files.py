"""Layout-agnostic helpers the corpus readers share: audio length, splits, walking the files."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import soundfile

from tfemo.core.errors import InputError
from tfemo.corpora.base import PORTIONS, Item


def audio_duration(path: Path) -> float:
    """Seconds of audio from the file header; 0.0 if unreadable (load_audio reports it later)."""
    try:
        seconds = float(soundfile.info(str(path)).duration)
    except (RuntimeError, OSError, ValueError, TypeError):
        return 0.0
    return seconds if seconds > 0 and seconds != float("inf") else 0.0


def split_portions(split: Mapping[str, Sequence[str]], known: Sequence[str] | None,
                   corpus: str, unit: str = "speaker", lower: bool = False) -> dict[str, str]:
    """Unit (speaker, word) -> portion; refuse unknown portions or units (if `known`), overlaps."""
    portions: dict[str, str] = {}
    for portion, names in split.items():
        if portion not in PORTIONS:
            raise ValueError(f"{corpus} split: unknown portion {portion!r} (use {PORTIONS})")
        if isinstance(names, str):
            raise ValueError(f"{corpus} split: portion {portion!r} needs a list of {unit}s")
        for name in (n.lower() for n in names) if lower else names:
            if known is not None and name not in known:
                raise ValueError(f"{corpus} split: unknown {unit} {name!r} in {portion!r}; "
                                 f"known: {', '.join(known)}")
            if portions.get(name, portion) != portion:
                raise ValueError(f"{corpus} split: {unit} {name!r} is in both "
                                 f"{portions[name]!r} and {portion!r}")
            portions[name] = portion
    return portions


def speaker_portions(split: Mapping[str, Sequence[str]], known: Sequence[str],
                     corpus: str) -> dict[str, str]:
    """Speaker -> portion from a split; refuse unknown portions or speakers and overlaps."""
    return split_portions(split, known, corpus)


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
                  ignored: list[tuple[Path, str]], what: str,
                  skip_hidden: bool = True) -> list[Item]:
    """Items of files sorted by id; skips and repeated ids go to ignored; InputError if none."""
    items: dict[str, Item] = {}
    for path in files:
        found = "hidden file" if skip_hidden and is_hidden(path, folder) else item_of(path)
        if isinstance(found, str):
            ignored.append((path, found))
        elif found.id in items:
            ignored.append((path, f"duplicate of {items[found.id].audio_path}"))
        else:
            items[found.id] = found
    if not items:
        raise InputError(folder, "missing corpus", f"no {what}; {len(ignored)} other files")
    return [items[key] for key in sorted(items)]
