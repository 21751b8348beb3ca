"""Sessions and simulated raters: the continuous view of the demo corpus.

Each speaker's utterances are shuffled and joined with pauses into sessions of about
`DemoConfig.session_seconds`. Per session there is a TRUE arousal/valence trace at 25 Hz
(40 ms frames): each utterance's target while it is spoken, linear interpolation through the
pauses, a Gaussian smoothing, clipped to [-1, 1]. Simulated annotators rate it the way people
do: annotator r perceives the true trace `lag_r` seconds late (fixed per annotator), applies a
scale and a bias of their own (per dimension) and adds smoothed noise; the rating is 0 before
the lag and fades in over a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfemo.audio import FRAME_LENGTH, FRAME_SECONDS, SAMPLE_RATE
from tfemo.corpora.demo.config import DemoConfig, SpeakerSpec, stream
from tfemo.corpora.demo.synthesis import NOISE_FLOOR, Utterance

_RATING_FADE_SECONDS = 1.0
_RATER_NOISE_SMOOTHING_SECONDS = 0.5


@dataclass
class Session:
    """A speaker's utterances joined into one recording, with its trace and ratings."""

    id: str
    speaker: SpeakerSpec
    audio: np.ndarray
    placed: list[tuple[Utterance, int]]  # (utterance, start sample)
    values: np.ndarray | None = None  # [T, 2]
    ratings: np.ndarray | None = None  # [T, 2, R]

    @property
    def frames(self) -> int:
        """Whole 40 ms frames of the session's audio."""
        return len(self.audio) // FRAME_LENGTH


def build_sessions(config: DemoConfig, utterances: list[Utterance]) -> list[Session]:
    """Shuffle each speaker's utterances and join them with pauses into ~minute-long sessions."""
    sessions = []
    for speaker in config.speakers:
        own = [u for u in utterances if u.speaker.name == speaker.name]
        rng = stream(config.seed, "sessions", speaker.name)
        order = [own[i] for i in rng.permutation(len(own))]
        pauses = rng.uniform(*config.pause_seconds, size=len(order) + 1)
        total = sum(u.duration for u in order) + float(pauses.sum())
        count = max(1, round(total / config.session_seconds))
        groups: list[list[tuple[Utterance, float]]] = [[] for _ in range(count)]
        elapsed = 0.0
        for utterance, pause in zip(order, pauses[:-1], strict=True):
            middle = elapsed + pause + utterance.duration / 2
            groups[min(count - 1, int(middle / (total / count)))].append((utterance, pause))
            elapsed += pause + utterance.duration
        noise = stream(config.seed, "silence", speaker.name)
        groups = [g for g in groups if g]
        for number, group in enumerate(groups, start=1):
            pieces, placed, position = [], [], 0
            # the leading pause of each group's first utterance opens the session
            for utterance, pause in group:
                gap = int(round(pause * SAMPLE_RATE))
                pieces += [silence(gap, noise), utterance.audio]
                placed.append((utterance, position + gap))
                position += gap + len(utterance.audio)
            tail = int(round(pauses[-1] * SAMPLE_RATE))
            tail += -(position + tail) % FRAME_LENGTH  # whole frames
            pieces.append(silence(tail, noise))
            sessions.append(Session(f"{speaker.name}_session{number:02d}", speaker,
                                     np.concatenate(pieces), placed))
    return sessions


def silence(samples: int, rng: np.random.Generator) -> np.ndarray:
    """`samples` of the background noise that fills the pauses."""
    return np.round(rng.normal(0.0, NOISE_FLOOR, size=samples)).astype(np.int16)


@dataclass(frozen=True)
class Rater:
    """A simulated annotator: a lag, and a scale, bias and noise level per dimension."""

    name: str
    lag: float
    scale: tuple[float, float]
    bias: tuple[float, float]
    noise: tuple[float, float]


def make_raters(config: DemoConfig) -> list[Rater]:
    """Simulated annotators: a lag each, and a scale, bias and noise level per dimension."""
    rng = stream(config.seed, "raters")
    raters = []
    for k in range(config.raters):
        lag = float(rng.uniform(*config.rater_lag_seconds))
        scale = tuple(round(float(x), 4) for x in rng.uniform(0.8, 1.2, size=2))
        bias = tuple(round(float(x), 4) for x in rng.normal(0.0, 0.06, size=2))
        noise = tuple(round(float(x), 4) for x in rng.uniform(0.04, 0.12, size=2))
        raters.append(Rater(f"r{k + 1}", round(lag, 4), scale, bias, noise))
    return raters


def label_session(config: DemoConfig, session: Session, raters: list[Rater]) -> None:
    """The true trace (targets, interpolated through pauses, smoothed) and each rating of it."""
    from scipy.ndimage import gaussian_filter1d

    times = np.arange(session.frames) * FRAME_SECONDS
    duration = len(session.audio) / SAMPLE_RATE
    knots_t, knots_v = [0.0], [[session.placed[0][0].arousal, session.placed[0][0].valence]]
    for utterance, start in session.placed:
        begin = start / SAMPLE_RATE
        target = [utterance.arousal, utterance.valence]
        knots_t += [begin, begin + utterance.duration]
        knots_v += [target, target]
    knots_t.append(duration)
    knots_v.append(knots_v[-1])
    knots = np.array(knots_v)
    steps = np.stack([np.interp(times, knots_t, knots[:, d]) for d in range(2)], axis=1)
    sigma = config.trace_smoothing_seconds / FRAME_SECONDS
    true = np.clip(gaussian_filter1d(steps, sigma, axis=0, mode="nearest"), -1.0, 1.0)
    rng = stream(config.seed, "ratings", session.id)
    ratings = np.zeros((len(times), 2, len(raters)))
    for r, rater in enumerate(raters):
        fade = np.clip((times - rater.lag) / _RATING_FADE_SECONDS, 0.0, 1.0)
        for d in range(2):
            perceived = np.interp(times - rater.lag, times, true[:, d])
            noise = gaussian_filter1d(rng.normal(size=len(times)),
                                      _RATER_NOISE_SMOOTHING_SECONDS / FRAME_SECONDS,
                                      mode="nearest")
            noise *= rater.noise[d] / max(float(noise.std()), 1e-9)
            rating = rater.scale[d] * perceived + rater.bias[d] + noise
            ratings[:, d, r] = np.clip(fade * rating, -1.0, 1.0)
    session.values = true
    session.ratings = ratings


