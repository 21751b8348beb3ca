"""Synthesis of the demo utterances: what each speaker says, with which prosody, and its audio.

AROUSAL is carried by prosody: speaking rate, pitch level, pitch range and volume are linear in
an utterance's arousal (category arousal x intensity), plus the category's style offsets and a
little per-utterance jitter. VALENCE is carried by the words: an emotion's sentences come from
the pool of its valence sign. espeak-ng reports where each word starts, so the word timings
are exact.

Reproducibility: espeak-ng keeps state between calls (its pitch-flutter phase, echo buffer and,
for breathy voices such as en+f2 and en+f3, the C library's rand() sequence, which libespeak-ng
1.51 draws its breath noise from), so utterances are synthesised in a fixed order in a fresh
process and `reset_libc_rand` puts rand() back to its start-of-process state first.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from tfemo.audio import SAMPLE_RATE
from tfemo.corpora.demo.config import EMOTIONS, DemoConfig, Emotion, SpeakerSpec, stream

# Prosody as a function of arousal a in [-1, 1]: value = base + slope * a (+ style, + jitter).
_RATE = (170.0, 55.0)  # words per minute
_PITCH_SLOPE = 20.0  # added to the speaker's base pitch (espeak-ng scale 0-100)
_RANGE = (50.0, 40.0)  # pitch range, 0 (monotone) - 100
_VOLUME = (92.0, 30.0)  # amplitude; espeak-ng starts clipping above ~130
_MAX_VOLUME = 120
_JITTER = {"rate": 5.0, "pitch": 2.0, "pitch_range": 4.0, "volume": 2.0}  # standard deviations
_PEAK = 32000  # loudest sample allowed after resampling (int16)
NOISE_FLOOR = 4.0  # standard deviation of the background noise, int16 units (about -78 dBFS)
_START_OF_PROCESS_SEED = 1  # glibc's rand() behaves as if srand(1) was called at start-up


@dataclass
class Utterance:
    """One planned utterance; `audio` and `words` are filled by `synthesize_utterance`."""

    id: str
    speaker: SpeakerSpec
    emotion: Emotion
    intensity: float
    sentence_id: str
    sentence: str
    prosody: dict[str, int]
    audio: np.ndarray | None = None
    words: tuple[tuple[str, float, float], ...] = ()

    @property
    def arousal(self) -> float:
        """The utterance's arousal target: its category's, scaled by its intensity."""
        return self.emotion.arousal * self.intensity

    @property
    def valence(self) -> float:
        """The utterance's valence target: its category's, scaled by its intensity."""
        return self.emotion.valence * self.intensity

    @property
    def duration(self) -> float:
        """Seconds of synthesised audio."""
        return len(self.audio) / SAMPLE_RATE


def prosody_of(speaker: SpeakerSpec, emotion: Emotion, intensity: float,
             rng: np.random.Generator) -> dict[str, int]:
    """espeak-ng settings: linear in the utterance's arousal, plus the category's style."""
    arousal = emotion.arousal * intensity
    jitter = {name: rng.normal(0.0, sd) for name, sd in _JITTER.items()}
    rate = _RATE[0] + _RATE[1] * arousal + intensity * emotion.rate + jitter["rate"]
    pitch = speaker.base_pitch + _PITCH_SLOPE * arousal + intensity * emotion.pitch
    pitch_range = _RANGE[0] + _RANGE[1] * arousal + intensity * emotion.pitch_range
    volume = _VOLUME[0] + _VOLUME[1] * arousal + intensity * emotion.volume
    return {
        "rate": int(np.clip(round(rate), 80, 450)),
        "pitch": int(np.clip(round(pitch + jitter["pitch"]), 0, 100)),
        "pitch_range": int(np.clip(round(pitch_range + jitter["pitch_range"]), 0, 100)),
        "volume": int(np.clip(round(volume + jitter["volume"]), 10, _MAX_VOLUME)),
    }


def plan_utterances(config: DemoConfig) -> list[Utterance]:
    """Which sentence each speaker says in each emotion, how intensely, with what prosody."""
    emotions = [e for e in EMOTIONS if e.name in config.emotions]
    plan = []
    for speaker in config.speakers:
        for emotion in emotions:
            rng = stream(config.seed, "utterances", speaker.name, emotion.name)
            pool = config.pools_of(speaker.portion)[emotion.pool]
            unseen = "u" if config.unseen_sentences and speaker.portion != "train" else ""
            chosen = rng.choice(len(pool), size=config.sentences_per_emotion, replace=False)
            for k, index in enumerate(chosen):
                intensity = round(float(rng.uniform(*config.intensity)), 4)
                prosody = prosody_of(speaker, emotion, intensity, rng)
                plan.append(Utterance(
                    id=f"{speaker.name}_{emotion.name}_{k + 1:02d}", speaker=speaker,
                    emotion=emotion, intensity=intensity,
                    sentence_id=f"{emotion.pool[:3]}{unseen}{int(index) + 1:02d}",
                    sentence=pool[int(index)], prosody=prosody))
    return plan


def synthesize_utterance(utterance: Utterance, rng: np.random.Generator) -> dict[str, int]:
    """Synthesise one utterance at 16 kHz with exact word times; returns limiter statistics."""
    from scipy.signal import resample_poly

    from tfemo.audio.espeak import synthesize

    result = synthesize(utterance.sentence, utterance.speaker.voice, **utterance.prosody)
    expected = utterance.sentence.rstrip(".!?").split()
    spoken = [w for w, _, _ in result.words]
    if spoken != expected:  # espeak-ng merges some word pairs ("on the"): keep such out of pools
        raise RuntimeError(f"espeak-ng reported words {spoken} for {utterance.sentence!r}")
    clipped = int(np.sum(np.abs(result.samples.astype(np.int32)) >= 32767))
    divisor = np.gcd(SAMPLE_RATE, result.sample_rate)
    audio = resample_poly(result.samples.astype(np.float64), SAMPLE_RATE // divisor,
                          result.sample_rate // divisor)
    audio += rng.normal(0.0, NOISE_FLOOR, size=len(audio))
    peak = float(np.max(np.abs(audio)))
    limited = int(peak > _PEAK)
    if limited:
        audio *= _PEAK / peak
    utterance.audio = np.round(audio).astype(np.int16)
    duration = utterance.duration
    utterance.words = tuple(
        (word, round(start / result.sample_rate, 6),
         round(min(end / result.sample_rate, duration), 6))
        for word, start, end in result.words)
    return {"clipped_samples": clipped, "limited_utterances": limited}




def reset_libc_rand() -> None:
    """Put the C library's rand() back to its start-of-process sequence (srand(1)).

    libespeak-ng draws the breath noise of breathy voices from rand(), which every library in
    the process shares: anything that called rand() earlier would change those voices' audio.
    Reseeding before the first utterance makes the bytes depend on the config only.
    """
    ctypes.CDLL(None).srand(_START_OF_PROCESS_SEED)
