"""The demo corpus's on-disk layout, described once: file names, columns and README.txt.

The writer and the reader take every file name and header from here, and `FILES` (each path
with what it holds) is the one description of the layout, rendered into each corpus's
README.txt. All times are in seconds; audio is 16 kHz mono int16 WAV.
"""

from __future__ import annotations

from collections.abc import Sequence

DIMENSIONS = ("arousal", "valence")
STYLE = ("rate", "pitch", "pitch_range", "volume")  # espeak-ng settings of an utterance

EMOTIONS_CSV = "emotions.csv"
SPEAKERS_CSV = "speakers.csv"
PARTITION_CSV = "partition.csv"
UTTERANCES_CSV = "utterances.csv"
WORDS_CSV = "words.csv"
SESSIONS_CSV = "sessions.csv"
SEGMENTS_CSV = "segments.csv"
RATERS_CSV = "raters.csv"
README = "README.txt"
MANIFEST = "manifest.json"

EMOTION_COLUMNS = ("emotion", "arousal", "valence", "pool", *STYLE)
SPEAKER_COLUMNS = ("speaker", "gender", "voice", "base_pitch")
PARTITION_COLUMNS = ("speaker", "portion")
UTTERANCE_COLUMNS = ("id", "speaker", "gender", "emotion", "arousal", "valence", "intensity",
                     "sentence_id", "sentence", "transcript", "duration", *STYLE, "path")
WORD_COLUMNS = ("utterance", "index", "word", "start", "end")
SESSION_COLUMNS = ("session", "speaker", "gender", "duration", "frames", "path", "labels")
SEGMENT_COLUMNS = ("session", "index", "utterance", "start", "end")
RATER_COLUMNS = ("rater", "lag", *(f"{d}_{p}" for d in DIMENSIONS
                                   for p in ("scale", "bias", "noise")))
TIME_COLUMN = "time"

# (path, what it holds): the layout as README.txt states it
FILES: tuple[tuple[str, str], ...] = (
    (EMOTIONS_CSV, "emotion, arousal, valence, pool, style offsets of rate, pitch,\n"
                   "pitch_range, volume (at full intensity)"),
    (SPEAKERS_CSV, "speaker, gender, voice (espeak-ng), base_pitch"),
    (PARTITION_CSV, "speaker, portion (train / devel / test; speaker-disjoint)"),
    (UTTERANCES_CSV, "one row per utterance: id, speaker, gender, emotion, arousal,\n"
                     "valence (category target x intensity), intensity, sentence_id,\n"
                     "sentence, transcript, duration, rate, pitch, pitch_range, volume\n"
                     "(espeak-ng settings used), path"),
    (WORDS_CSV, "utterance, index, word, start, end (exact, from espeak-ng)"),
    ("utterances/<speaker>/<id>.wav", ""),
    (SESSIONS_CSV, "session, speaker, gender, duration, frames, path, labels"),
    (SEGMENTS_CSV, "session, index, utterance, start, end (session time)"),
    ("sessions/<id>.wav", "a speaker's shuffled utterances joined with pauses"),
    ("sessions/<id>.labels.csv", "every 40 ms: time, arousal, valence (the true trace), then\n"
                                 "arousal_<rater>... and valence_<rater>... (simulated "
                                 "annotators)"),
    (RATERS_CSV, "rater, lag (s), arousal_scale, arousal_bias, arousal_noise,\n"
                 "valence_scale, valence_bias, valence_noise"),
    (MANIFEST, "generator version, config, counts, sha256 of every other file;\n"
               "written last, it marks a complete corpus"),
)

_README_HEAD = """\
tfemo demo corpus (generator version {version})
==============================================

Synthetic emotional speech made with espeak-ng by tfemo.corpora.demo; regenerate it with
`python -m tfemo.corpora.demo --root DIR` (the same config gives the same bytes). Arousal is
carried by prosody (rate, pitch level, pitch range, volume: linear in the utterance's arousal,
plus a style per category); valence is carried by the words (positive, negative and neutral
sentence pools, shared by the emotions of a valence sign). See the module docstring.

Utterances: {utterances} ({speech_minutes:.1f} min of speech); speakers: {speakers};
categories: {emotions}; sessions: {sessions} ({session_minutes:.1f} min), each rated by
{raters} simulated annotators.

Files (times in seconds; audio 16 kHz mono 16-bit WAV)
"""
_NAME_WIDTH = 27


def utterance_audio(speaker: str, utterance: str) -> str:
    """Where an utterance's audio is, relative to the corpus folder."""
    return f"utterances/{speaker}/{utterance}.wav"


def session_audio(session: str) -> str:
    """Where a session's audio is, relative to the corpus folder."""
    return f"sessions/{session}.wav"


def session_labels(session: str) -> str:
    """Where a session's labels (true trace and ratings) are, relative to the corpus folder."""
    return f"sessions/{session}.labels.csv"


def label_columns(raters: Sequence[str]) -> list[str]:
    """The header of a session's labels file: time, the dimensions, then every rating."""
    return [TIME_COLUMN, *DIMENSIONS, *(f"{d}_{r}" for d in DIMENSIONS for r in raters)]


def readme(version: int, counts: dict) -> str:
    """README.txt of a generated corpus: how it was made, its counts and `FILES`."""
    lines = []
    for path, what in FILES:
        first, *rest = what.split("\n")
        lines.append(f"  {path.ljust(_NAME_WIDTH)}{first}" if first else f"  {path}")
        lines += [" " * (_NAME_WIDTH + 2) + line for line in rest]
    return _README_HEAD.format(version=version, **counts) + "\n".join(lines) + "\n"
