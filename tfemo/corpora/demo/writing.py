"""Writing a generated demo corpus into a folder, in the layout of tfemo.corpora.demo.layout."""

from __future__ import annotations

import csv
import hashlib
import json
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfemo.audio import FRAME_SECONDS, SAMPLE_RATE
from tfemo.corpora.demo import layout
from tfemo.corpora.demo.config import EMOTIONS, GENERATOR_VERSION, DemoConfig
from tfemo.corpora.demo.sessions import Rater, Session
from tfemo.corpora.demo.synthesis import Utterance


def write_wav(path: Path, audio: np.ndarray) -> None:
    """16 kHz mono int16 WAV, written with the standard library (the same bytes everywhere)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes(audio.astype("<i2").tobytes())


def write_csv(path: Path, header: Sequence[str], rows: list[list]) -> None:
    """A CSV file with "\\n" line ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_utterances(folder: Path, utterances: list[Utterance]) -> None:
    rows, word_rows = [], []
    for u in utterances:
        relative = layout.utterance_audio(u.speaker.name, u.id)
        write_wav(folder / relative, u.audio)
        rows.append([u.id, u.speaker.name, u.speaker.gender, u.emotion.name,
                     f"{u.arousal:.4f}", f"{u.valence:.4f}", f"{u.intensity:.4f}", u.sentence_id,
                     u.sentence, " ".join(w for w, _, _ in u.words), f"{u.duration:.6f}",
                     *(u.prosody[s] for s in layout.STYLE), relative])
        word_rows += [[u.id, k, w, f"{s:.6f}", f"{e:.6f}"] for k, (w, s, e) in enumerate(u.words)]
    write_csv(folder / layout.UTTERANCES_CSV, layout.UTTERANCE_COLUMNS, rows)
    write_csv(folder / layout.WORDS_CSV, layout.WORD_COLUMNS, word_rows)


def _write_sessions(folder: Path, sessions: list[Session], raters: list[Rater]) -> None:
    label_header = layout.label_columns([r.name for r in raters])
    session_rows, segment_rows = [], []
    for s in sessions:
        audio, labels = layout.session_audio(s.id), layout.session_labels(s.id)
        write_wav(folder / audio, s.audio)
        table = np.concatenate([s.values, s.ratings.reshape(len(s.values), -1)], axis=1)
        write_csv(folder / labels, label_header,
                  [[f"{k * FRAME_SECONDS:.2f}", *(f"{x:.4f}" for x in row)]
                   for k, row in enumerate(table)])
        session_rows.append([s.id, s.speaker.name, s.speaker.gender,
                             f"{len(s.audio) / SAMPLE_RATE:.6f}", s.frames, audio, labels])
        segment_rows += [[s.id, k, u.id, f"{start / SAMPLE_RATE:.6f}",
                          f"{(start + len(u.audio)) / SAMPLE_RATE:.6f}"]
                         for k, (u, start) in enumerate(s.placed)]
    write_csv(folder / layout.SESSIONS_CSV, layout.SESSION_COLUMNS, session_rows)
    write_csv(folder / layout.SEGMENTS_CSV, layout.SEGMENT_COLUMNS, segment_rows)
    write_csv(folder / layout.RATERS_CSV, layout.RATER_COLUMNS,
              [[r.name, r.lag, r.scale[0], r.bias[0], r.noise[0],
                r.scale[1], r.bias[1], r.noise[1]] for r in raters])


def write_corpus(folder: Path, config: DemoConfig, utterances: list[Utterance],
                 sessions: list[Session], raters: list[Rater], stats: dict) -> None:
    """Write every file of the corpus into `folder`, the manifest last."""
    write_csv(folder / layout.EMOTIONS_CSV, layout.EMOTION_COLUMNS,
              [[e.name, e.arousal, e.valence, e.pool, *(getattr(e, s) for s in layout.STYLE)]
               for e in EMOTIONS if e.name in config.emotions])
    write_csv(folder / layout.SPEAKERS_CSV, layout.SPEAKER_COLUMNS,
              [[s.name, s.gender, s.voice, s.base_pitch] for s in config.speakers])
    write_csv(folder / layout.PARTITION_CSV, layout.PARTITION_COLUMNS,
              [[s.name, s.portion] for s in config.speakers])
    _write_utterances(folder, utterances)
    _write_sessions(folder, sessions, raters)
    counts = {
        "utterances": len(utterances),
        "speakers": len(config.speakers),
        "emotions": len(config.emotions),
        "sessions": len(sessions),
        "raters": len(raters),
        "speech_minutes": round(sum(u.duration for u in utterances) / 60, 3),
        "session_minutes": round(sum(len(s.audio) for s in sessions) / SAMPLE_RATE / 60, 3),
        **stats,
    }
    (folder / layout.README).write_text(layout.readme(GENERATOR_VERSION, counts),
                                        encoding="utf-8")
    files = {p.relative_to(folder).as_posix(): sha256(p)
             for p in sorted(folder.rglob("*")) if p.is_file()}
    manifest = {"corpus": "demo", "generator_version": GENERATOR_VERSION,
                "config": config.to_dict(), "counts": counts, "files": files}
    (folder / layout.MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n",
                                          encoding="utf-8")
