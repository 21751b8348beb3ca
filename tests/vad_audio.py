"""Recordings with known speech segments: espeak-ng sentences placed between pauses of quiet
noise (a fixed seed), the truth being each sentence's first word start to last word end."""

from __future__ import annotations

import numpy as np

RATE = 16000
SENTENCES = ("I need to talk to you about the weekend.",
             "That was the best news I heard all year.",
             "Please close the door when you leave the room.",
             "We missed the last train home again.")


def spoken(text: str, voice: str = "en") -> tuple[np.ndarray, float, float]:
    """espeak-ng audio of `text` (float32) and the start and end seconds of its words."""
    from tfemo.audio.espeak import synthesize

    synthesis = synthesize(text, voice)
    audio = synthesis.samples.astype(np.float32) / 32768.0
    return audio, synthesis.words[0][1] / RATE, synthesis.words[-1][2] / RATE


def recording(pauses: tuple[float, ...] = (1.5, 2.0, 1.2, 2.5, 1.0), noise: float = 0.002,
              seed: int = 0) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """SENTENCES joined by `pauses` (seconds; one more than sentences) of white noise at
    `noise` RMS; the audio and the true (start, end) of each sentence's words."""
    rng = np.random.default_rng(seed)
    pieces, truth, position = [], [], 0
    for k, pause in enumerate(pauses):
        gap = int(pause * RATE)
        pieces.append(noise * rng.standard_normal(gap).astype(np.float32))
        position += gap
        if k < len(SENTENCES) and k < len(pauses) - 1:
            audio, first, last = spoken(SENTENCES[k])
            pieces.append(audio + noise * rng.standard_normal(len(audio)).astype(np.float32))
            truth.append((position / RATE + first, position / RATE + last))
            position += len(audio)
    return np.concatenate(pieces), truth
