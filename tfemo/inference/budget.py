"""The work one file may cost: its length, its transcript and the time its alignment may take.

tfemo.serve and tfemo.predict check these before any costly step (decoding, featurising,
aligning): an uploaded WAV that declares 1 Hz, an hour of audio sent to a service, or a 1 MB
transcript that eSpeak would synthesise as one word each cost seconds of CPU and gigabytes
for a few bytes of input. Every refusal is an InputError naming the file; docs/serving.md
lists the limits.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

from tfemo.audio.io import check_seconds
from tfemo.core.errors import InputError, UserError
from tfemo.corpora.files import audio_duration
from tfemo.text.tokens import tokenize


@dataclass(frozen=True)
class WorkBudget:
    """Limits on one file: seconds of audio, transcript characters, words per second of
    audio, the longest word, and the seconds its forced alignment may run."""

    max_seconds: float = 600.0
    max_transcript_chars: int = 40_000  # 10 minutes at 8 words/s of 8 characters
    max_words_per_second: float = 8.0  # fast speech is ~6 words/s
    max_word_chars: int = 64  # German compounds reach ~40 letters
    alignment_seconds: float = 60.0  # per aligner call: a file, or one window of a long one

    def check_seconds(self, seconds: float, source: str) -> None:
        """Refuse audio longer than `max_seconds` (before it is decoded, from its header)."""
        check_seconds(seconds, self.max_seconds, source)

    def check_text(self, transcript: str, source: str) -> None:
        """Refuse a transcript over `max_transcript_chars` or with a word over `max_word_chars`
        (cheap: before the audio is decoded)."""
        if len(transcript) > self.max_transcript_chars:
            raise InputError(source, "transcript too long",
                             f"{len(transcript)} characters; at most "
                             f"{self.max_transcript_chars} (--max_transcript_chars)")
        longest = max(map(len, transcript.split()), default=0)
        if longest > self.max_word_chars:  # a token is never longer than its whitespace run
            words = tokenize(transcript)
            longest = max(map(len, words), default=0)
            if longest > self.max_word_chars:
                raise InputError(source, "word too long",
                                 f"a word of {longest} characters; at most "
                                 f"{self.max_word_chars} (--max_word_chars)")

    def check_transcript(self, transcript: str, seconds: float, source: str) -> None:
        """`check_text`, and no more words than `max_words_per_second` of `seconds` of audio
        allow (at least one second's worth)."""
        self.check_text(transcript, source)
        allowed = math.floor(self.max_words_per_second * max(seconds, 1.0))
        words = len(tokenize(transcript))
        if words > allowed:
            raise InputError(source, "transcript too long",
                             f"{words} words for {seconds:.1f} s of audio; at most "
                             f"{self.max_words_per_second:g} words per second "
                             f"(--max_words_per_second)")


CHARS_PER_WORD = 8  # a long word with its space: --max_transcript_chars of a length


def add_budget_flags(parser: argparse.ArgumentParser, max_seconds: str | None = None) -> None:
    """The budget's flags (tfemo.serve and tfemo.predict); --max_seconds (default None) when
    `max_seconds` describes its default, and then --max_transcript_chars follows it."""
    default = WorkBudget()
    if max_seconds is not None:
        parser.add_argument("--max_seconds", type=float, default=None,
                            help="longest audio read, per file (from its header, before "
                                 f"decoding); default: {max_seconds}")
    parser.add_argument("--max_transcript_chars", type=int,
                        default=None if max_seconds else default.max_transcript_chars,
                        help="longest transcript, in characters" + (
                            f"; default: {CHARS_PER_WORD} per word at --max_words_per_second "
                            "over --max_seconds" if max_seconds else ""))
    parser.add_argument("--max_words_per_second", type=float,
                        default=default.max_words_per_second,
                        help="most transcript words per second of audio")
    parser.add_argument("--max_word_chars", type=int, default=default.max_word_chars,
                        help="longest single word of a transcript")
    parser.add_argument("--alignment_seconds", type=float, default=default.alignment_seconds,
                        help="time limit of one forced alignment call (aeneas): a file, or "
                             "one window of at most 60 s of a longer file")


def budget_of(args: argparse.Namespace) -> WorkBudget:
    """The WorkBudget of parsed flags; UserError for a limit that is not positive."""
    chars = args.max_transcript_chars
    if chars is None and args.max_seconds and args.max_seconds > 0:
        chars = math.ceil(args.max_seconds * args.max_words_per_second * CHARS_PER_WORD)
    budget = WorkBudget(max_seconds=args.max_seconds,
                        max_transcript_chars=chars if chars is not None else 0,
                        max_words_per_second=args.max_words_per_second,
                        max_word_chars=args.max_word_chars,
                        alignment_seconds=args.alignment_seconds)
    for name, value in vars(budget).items():
        if value <= 0:
            raise UserError(f"--{name} {value}", "give a positive limit")
    return budget


def within_budget(budget: WorkBudget, path: Path, transcript: str = "") -> None:
    """Check a file's header length and its transcript against `budget` (InputError if over);
    a file whose header cannot be read passes, to be reported when it is read."""
    budget.check_text(transcript, str(path))
    seconds = audio_duration(path)
    budget.check_seconds(seconds, str(path))
    if transcript and seconds > 0:
        budget.check_transcript(transcript, seconds, str(path))
