"""Read audio as real corpora ship it: 16 kHz mono float32, or an error naming the file.

Every way a file can be unusable is an InputError naming it: missing, not a file, unreadable
by libsndfile (and by ffmpeg, which reads M4A/AAC and other containers: tfemo.audio.ffmpeg), cut
short (a WAV whose data chunk declares more bytes than the file holds), no samples, a sample
rate outside 4 kHz-384 kHz, or (float files) samples that are NaN or infinite (the error says how
many and when the first one is) or absurdly large. `open_audio` opens and checks a header;
`load_audio` reads a file whole and `audio_blocks` block by block (the same samples, for files
too long to hold at once).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

from tfemo.audio import FRAME_LENGTH, SAMPLE_RATE, ffmpeg
from tfemo.core.errors import InputError

MIN_SAMPLE_RATE = 4000  # Hz: below this a file holds no usable speech (and would upsample hugely)
MAX_SAMPLE_RATE = 384_000  # Hz: the highest rate of audio interfaces; beyond is a bad header
TOO_LONG = "audio too long"  # the reason of a refusal for length (the service answers 413)
MAX_AMPLITUDE = 64.0  # a float sample beyond +-64 (36 dB over full scale) is not a recording
BLOCK_FRAMES = 1 << 18  # file frames read at a time by audio_blocks (~5.9 s at 44.1 kHz)
_READ_ERRORS = (soundfile.LibsndfileError, RuntimeError, ValueError, OSError, EOFError,
                MemoryError, TypeError)


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says: its sample rate, channels and length in frames."""

    path: Path
    sample_rate: int
    channels: int
    frames: int  # from the header (an estimate for files ffmpeg decodes)
    decoder: str = "libsndfile"  # or "ffmpeg"

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return self.frames / self.sample_rate


def _corrupt(path: Path, error: BaseException) -> InputError:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return InputError(path, "corrupt audio", text)


def wav_shortfall(path: Path) -> tuple[int, int] | None:
    """(declared, present) bytes of a RIFF/WAVE data chunk that the file cuts short, else None.

    libsndfile reads what there is of a truncated WAV without a word; this says so. A declared
    size of 0 or 0xFFFFFFFF is the placeholder of a writer that streamed the file, not a cut.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            size = path.stat().st_size
            position = 12
            while position + 8 <= size:
                handle.seek(position)
                chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
                if chunk_id == b"data":
                    present = size - position - 8
                    if chunk_size in (0, 0xFFFFFFFF) or chunk_size <= present:
                        return None
                    return chunk_size, present
                position += 8 + chunk_size + (chunk_size & 1)
    except OSError:
        return None
    return None


def check_sample_rate(rate: int, source: str | Path) -> None:
    """Refuse a sample rate outside [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE] (InputError)."""
    if rate < MIN_SAMPLE_RATE:
        raise InputError(source, "bad sample rate",
                         f"{rate} Hz; speech audio needs at least {MIN_SAMPLE_RATE} Hz")
    if rate > MAX_SAMPLE_RATE:
        raise InputError(source, "bad sample rate",
                         f"{rate} Hz; at most {MAX_SAMPLE_RATE} Hz are read")


def check_seconds(seconds: float, max_seconds: float | None, source: str | Path) -> None:
    """Refuse audio longer than `max_seconds` (None: any length) with reason TOO_LONG."""
    if max_seconds is not None and seconds > max_seconds:
        raise InputError(source, TOO_LONG, f"{seconds:.1f} s; at most {max_seconds:g} s are "
                                           "read (--max_seconds)")


def _missing(path: Path) -> InputError:
    if path.is_dir():
        return InputError(path, "not an audio file", "a folder, not a file")
    if path.is_symlink():
        return InputError(path, "missing audio", f"a dangling link to {path.readlink()}")
    return InputError(path, "missing audio", "no such file")


def open_audio(path: str | Path) -> AudioInfo:
    """The header of an audio file, checked (InputError if it cannot be used)."""
    path = Path(path)
    if not path.is_file():
        raise _missing(path)
    decoder = "libsndfile"
    try:
        info = soundfile.info(str(path))
        rate, channels, frames = int(info.samplerate), int(info.channels), int(info.frames)
    except _READ_ERRORS as error:
        probed = ffmpeg.probe(path)
        if probed is None:
            raise _corrupt(path, error) from error
        rate, channels, seconds = probed
        frames, decoder = max(1, round(seconds * rate)), "ffmpeg"
    if channels < 1:
        raise InputError(path, "corrupt audio", f"{channels} channels")
    check_sample_rate(rate, path)
    if frames <= 0:
        raise InputError(path, "empty audio", "the file holds no samples")
    if decoder == "ffmpeg":
        return AudioInfo(path, rate, channels, frames, decoder)
    shortfall = wav_shortfall(path)
    if shortfall is not None:
        declared, present = shortfall
        raise InputError(path, "truncated audio",
                         f"the header declares {declared} bytes of samples, the file holds "
                         f"{present} ({frames / rate:.3f} s of audio are there)")
    return AudioInfo(path, rate, channels, frames)


class SampleCheck:
    """Counts NaN and infinite samples and finds the peak over a file read in pieces.

    Integer formats always lie in [-1, 1]; only float files can hold NaN, infinities or
    values so large that features overflow and train statistics are swamped.
    """

    def __init__(self, info: AudioInfo) -> None:
        self.info = info
        self.bad = 0
        self.first_frame = -1
        self.peak = 0.0
        self.peak_frame = 0

    def update(self, samples: np.ndarray, offset: int) -> None:
        """Check samples [frames, channels] that start at file frame `offset`."""
        finite = np.isfinite(samples)
        if not finite.all():
            self.bad += int(finite.size - np.count_nonzero(finite))
            if self.first_frame < 0:
                self.first_frame = offset + int(np.argmax(~finite.all(axis=1)))
            return
        if self.bad or not len(samples):
            return
        loudest = np.abs(samples).max(axis=1)
        peak = float(loudest.max())
        if peak > self.peak:
            self.peak, self.peak_frame = peak, offset + int(np.argmax(loudest))

    def raise_if_bad(self, total_samples: int) -> None:
        """InputError naming the file: how many samples are non-finite and when the first is,
        or where the samples leave any plausible range."""
        rate = self.info.sample_rate
        if self.bad:
            raise InputError(self.info.path, "non-finite audio",
                             f"{self.bad} of {total_samples} samples are NaN or infinite, the "
                             f"first at {self.first_frame / rate:.3f} s")
        if self.peak > MAX_AMPLITUDE:
            raise InputError(self.info.path, "bad audio",
                             f"peak amplitude {self.peak:.3g} at {self.peak_frame / rate:.3f} s; "
                             f"float samples should lie in [-1, 1]")


def _file_blocks(info: AudioInfo, block_frames: int,
                 max_seconds: float | None = None) -> Iterator[np.ndarray]:
    """The file's samples [n, channels] float32 at its own rate, block by block."""
    if info.decoder == "ffmpeg":
        return ffmpeg.decoded_blocks(info.path, info.channels, block_frames, max_seconds)
    return soundfile.blocks(str(info.path), blocksize=block_frames, dtype="float32",
                            always_2d=True)


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE,
               max_seconds: float | None = None) -> np.ndarray:
    """Load any file libsndfile reads (WAV, AIFF, FLAC, OGG, MP3; detected by content, not name)
    or, failing that, ffmpeg (M4A, ...).

    Channels are averaged to mono and the signal is resampled with soxr to `sample_rate`.
    Raises InputError for a missing, unreadable, empty or non-finite file, and (reason
    TOO_LONG) for one longer than `max_seconds`, before decoding it when its header says so.
    """
    info = open_audio(path)
    check_seconds(info.seconds, max_seconds, info.path)
    try:
        if info.decoder == "ffmpeg":  # the header's length is an estimate: decode 1 s more
            limit = None if max_seconds is None else max_seconds + 1.0
            blocks = list(_file_blocks(info, BLOCK_FRAMES, limit))
            samples = (np.concatenate(blocks) if blocks
                       else np.zeros((0, info.channels), np.float32))
            del blocks
            check_seconds(len(samples) / info.sample_rate, max_seconds, info.path)
        else:
            samples, _ = soundfile.read(info.path, dtype="float32", always_2d=True)
    except MemoryError as error:
        raise InputError(info.path, TOO_LONG,
                         f"{info.seconds:.0f} s of {info.channels}-channel audio do not fit in "
                         f"memory") from error
    except _READ_ERRORS as error:
        raise _corrupt(info.path, error) from error
    if samples.shape[0] == 0:
        raise InputError(info.path, "empty audio", "the file holds no samples")
    check = SampleCheck(info)
    check.update(samples, 0)
    check.raise_if_bad(samples.size)
    mono = samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1)
    del samples
    if info.sample_rate != sample_rate:
        mono = soxr.resample(mono, info.sample_rate, sample_rate, quality="HQ").astype(np.float32)
    if len(mono) == 0:
        raise _too_short(info, sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


def _too_short(info: AudioInfo, sample_rate: int) -> InputError:
    return InputError(info.path, "empty audio",
                      f"{info.frames} samples at {info.sample_rate} Hz are no sample at "
                      f"{sample_rate} Hz")


def audio_blocks(path: str | Path, sample_rate: int = SAMPLE_RATE,
                 block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """The samples `load_audio` returns, as consecutive float32 blocks (bounded memory).

    Reads `block_frames` file frames at a time with soundfile.blocks and resamples with a soxr
    stream, which gives exactly the samples of the one-shot resampling. A non-finite sample
    raises InputError once the whole file has been counted, so the error gives the total.
    """
    info = open_audio(path)
    stream = None
    if info.sample_rate != sample_rate:
        stream = soxr.ResampleStream(info.sample_rate, sample_rate, 1, dtype="float32",
                                     quality="HQ")
    check, offset, total, produced = SampleCheck(info), 0, 0, 0
    try:
        for block in _file_blocks(info, block_frames):
            check.update(block, offset)
            offset += len(block)
            total += block.size
            if check.bad:
                continue  # count the rest, then raise
            mono = block[:, 0] if block.shape[1] == 1 else block.mean(axis=1)
            if stream is not None:
                mono = stream.resample_chunk(np.ascontiguousarray(mono), last=False)
            if len(mono):
                produced += len(mono)
                yield np.ascontiguousarray(mono, dtype=np.float32)
    except _READ_ERRORS as error:
        raise _corrupt(info.path, error) from error
    check.raise_if_bad(total)
    if offset == 0:
        raise InputError(info.path, "empty audio", "the file holds no samples")
    if stream is not None:
        tail = stream.resample_chunk(np.zeros(0, np.float32), last=True)
        if len(tail):
            produced += len(tail)
            yield np.ascontiguousarray(tail, dtype=np.float32)
    if not produced:
        raise _too_short(info, sample_rate)


def frame_count(num_samples: int, frame_length: int = FRAME_LENGTH) -> int:
    """Frames needed to cover `num_samples` (a final partial frame counts as one)."""
    return -(-num_samples // frame_length)


def to_pcm_frames(audio: np.ndarray, frame_length: int = FRAME_LENGTH) -> np.ndarray:
    """Cut float audio in [-1, 1] into int16 frames [N, frame_length]; the last is zero-padded."""
    num_frames = frame_count(len(audio), frame_length)
    padded = np.zeros(num_frames * frame_length, dtype=np.float32)
    padded[: len(audio)] = audio
    with np.errstate(over="ignore"):  # beyond full scale is clipped below anyway
        # in place: one float32 copy of the audio, not four (an hour is 230 MB each)
        np.multiply(padded, np.float32(32768.0), out=padded)
        np.round(padded, out=padded)
        np.clip(padded, -32768, 32767, out=padded)
    return padded.astype(np.int16).reshape(num_frames, frame_length)
