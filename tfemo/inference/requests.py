"""What to label: audio files, folders of audio files and CSV lists, as `Request`s in order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tfemo.core.errors import TfemoError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".m4a", ".mp4", ".aac",
                  ".opus", ".webm")  # the last five through ffmpeg (tfemo.audio.ffmpeg)


@dataclass(frozen=True)
class Request:
    """One file to label, with its transcript and speaker when the CSV gives them."""

    path: Path
    transcript: str = ""
    speaker: str = ""


def collect_requests(inputs: list[Path]) -> list[Request]:
    """Files in the order given; folders sorted and recursive; CSV rows in order."""
    requests: list[Request] = []
    for source in inputs:
        if source.is_dir():
            # a dangling link is kept, to be reported as missing when it is read
            requests.extend(Request(p) for p in sorted(source.rglob("*"))
                            if p.suffix.lower() in AUDIO_SUFFIXES
                            and (p.is_file() or (p.is_symlink() and not p.exists())))
        elif source.suffix.lower() == ".csv":
            requests.extend(read_request_csv(source))
        elif source.exists() or source.suffix.lower() in AUDIO_SUFFIXES:
            requests.append(Request(source))  # a missing file is reported when it is read
        else:
            raise TfemoError(f"{source}: no such file or folder")
    return requests


def read_request_csv(path: Path) -> list[Request]:
    """Rows of a CSV list: `path` (relative to the CSV's folder), an optional `transcript` and
    an optional `speaker` (files of one speaker are standardised together,
    tfemo.inference.speakers)."""
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise TfemoError(f"{path}: cannot read the CSV list: {error}") from None
    if "path" not in table.columns:
        raise TfemoError(f"{path}: a CSV list needs a 'path' column "
                         f"(it has: {', '.join(table.columns)})")
    empty = [""] * len(table)
    transcripts = table["transcript"] if "transcript" in table.columns else empty
    speakers = table["speaker"].str.strip() if "speaker" in table.columns else empty
    return [Request(path.parent / p, t, s)
            for p, t, s in zip(table["path"], transcripts, speakers, strict=True)]
