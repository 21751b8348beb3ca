"""Files libsndfile cannot read (M4A/AAC, ALAC, Opus in WebM, video containers) through ffmpeg.

Always from a file, never a pipe: MP4 puts its index (the moov atom) at the end unless told
otherwise, and ffmpeg can only find it by seeking. `probe` reads the header with ffprobe;
`decoded_blocks` streams the samples at the file's own rate and channel count as float32,
so that mixing down and resampling are tfemo.audio.io's (soxr), as for every other file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np

PROBE_TIMEOUT = 30.0  # seconds ffprobe may take to read a header


def available() -> bool:
    """Whether ffmpeg and ffprobe are on the PATH."""
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def probe(path: Path) -> tuple[int, int, float] | None:
    """(sample rate, channels, seconds) of the first audio stream, or None when ffprobe is
    missing, fails or finds no audio stream with a duration."""
    if not available():
        return None
    command = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
               "stream=sample_rate,channels,duration:format=duration", "-of", "json",
               str(path)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=PROBE_TIMEOUT, check=False)
        found = json.loads(done.stdout or b"{}")
    except (subprocess.TimeoutExpired, OSError, ValueError):
        return None
    streams = found.get("streams") or []
    if done.returncode != 0 or not streams:
        return None
    stream = streams[0]
    try:
        rate, channels = int(stream.get("sample_rate", 0)), int(stream.get("channels", 0))
        seconds = float(stream.get("duration") or found.get("format", {}).get("duration") or 0)
    except (TypeError, ValueError):
        return None
    if rate <= 0 or channels <= 0 or not np.isfinite(seconds) or seconds <= 0:
        return None
    return rate, channels, seconds


def decoded_blocks(path: Path, channels: int, block_frames: int,
                   max_seconds: float | None = None) -> Iterator[np.ndarray]:
    """The samples [n, channels] float32 at the file's own rate, `block_frames` at a time
    (at most `max_seconds` of them); RuntimeError with ffmpeg's last line when it fails."""
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
               "-map", "0:a:0", "-vn", "-f", "f32le", "-acodec", "pcm_f32le", "-ac",
               str(channels)]
    if max_seconds is not None:
        command += ["-t", f"{max_seconds:.3f}"]
    process = subprocess.Popen([*command, "pipe:1"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    width = 4 * channels
    try:
        pending = b""
        while True:
            data = process.stdout.read(block_frames * width)
            if not data:
                break
            data = pending + data
            whole = len(data) // width * width
            pending = data[whole:]
            if whole:
                yield np.frombuffer(data[:whole], "<f4").reshape(-1, channels)
        error = process.stderr.read().decode(errors="replace").strip().splitlines()
        if process.wait() != 0:
            raise RuntimeError(f"ffmpeg: {error[-1][:200] if error else 'decoding failed'}")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()
