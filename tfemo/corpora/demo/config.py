"""What the demo corpus is made of: emotions, sentence pools, speakers and the config.

Every field of `DemoConfig` enters the cache folder name and the manifest, so a config and
`GENERATOR_VERSION` name one corpus; `stream` gives each purpose its own seeded stream.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import asdict, dataclass, field

import numpy as np

from tfemo.corpora.base import PORTIONS

GENERATOR_VERSION = 1


@dataclass(frozen=True)
class Emotion:
    """An emotion category: its (arousal, valence) target, sentence pool and prosodic style."""

    name: str
    arousal: float
    valence: float
    pool: str
    rate: float = 0.0
    pitch: float = 0.0
    pitch_range: float = 0.0
    volume: float = 0.0


EMOTIONS = (
    Emotion("neutral", 0.0, 0.0, "neutral"),
    Emotion("happy", 0.6, 0.7, "positive", rate=5, pitch=6, pitch_range=15),
    Emotion("calm", -0.5, 0.5, "positive", pitch=2, pitch_range=5),
    Emotion("angry", 0.8, -0.6, "negative", pitch=-8, pitch_range=5, volume=8),
    Emotion("fearful", 0.7, -0.7, "negative", rate=20, pitch=12, pitch_range=-25, volume=-8),
    Emotion("sad", -0.6, -0.6, "negative", rate=-15, pitch=-4, pitch_range=-10, volume=-4),
)

SENTENCES: dict[str, tuple[str, ...]] = {
    "positive": (
        "We had a wonderful time together today.",
        "I love spending summer days with my friends.",
        "Your beautiful gift made me very happy.",
        "The children laughed and played all afternoon.",
        "She smiled when she heard the good news.",
        "This is the best meal I have ever had.",
        "Our team won the final game again.",
        "Thank you for being such a kind friend.",
        "The party was fun and everyone enjoyed it.",
        "He feels proud and grateful for his family.",
        "What a lovely and peaceful morning this is.",
        "We are so glad you could join us.",
        "The garden looks bright and beautiful this spring.",
        "They celebrated their success with warm hugs.",
        "My new job makes me feel great.",
    ),
    "negative": (
        "Nobody came to help us when we needed them.",
        "I hate how cruel and unfair this is.",
        "The accident left him badly hurt and alone.",
        "She cried because her dog had died.",
        "This terrible pain will never go away.",
        "They lost everything they owned last winter.",
        "He was angry and shouted at everyone.",
        "The news about the war was awful.",
        "I feel sick and tired of these lies.",
        "Our house was destroyed by the fire.",
        "Everything went wrong and nobody cares anymore.",
        "The poor man lost his job and home.",
        "She was afraid and lonely that night.",
        "This is the worst day of my life.",
        "His failure brought shame upon his family.",
    ),
    "neutral": (
        "Please put the blue folder on my desk.",
        "The meeting starts at ten tomorrow morning.",
        "The train leaves from platform number four.",
        "I need to buy some milk and bread.",
        "The report has twelve pages and two tables.",
        "He opened the window and closed the door.",
        "We usually walk to work on Mondays.",
        "The book is beside the old lamp.",
        "She wrote the address on a small card.",
        "The store closes at six every evening.",
        "Turn left after the bridge and keep going.",
        "The printer stands beside the kitchen door.",
        "My brother lives near the train station.",
        "The box contains paper and some pens.",
        "Water boils when it gets hot enough.",
    ),
}


# The unseen-sentence protocol's pools: what devel and test speakers say instead, with the same
# valence signs in other words, so that a text model is scored on sentences it never trained
# on. Checked to be spoken word by word by espeak-ng (no merged pairs such as "on the").
UNSEEN_SENTENCES: dict[str, tuple[str, ...]] = {
    "positive": (
        "Those cheerful songs brought us great joy.",
        "My sister gave me a warm and happy welcome.",
        "The holiday by the sea was perfect and relaxing.",
        "Everyone cheered when the brave girl finally succeeded.",
        "I adore these sunny afternoons with my family.",
        "His kind words filled her heart with delight.",
        "We enjoyed a delicious dinner with dear friends.",
        "The baby giggled and hugged her favourite toy.",
        "What a pleasant surprise to see you smiling.",
        "Our wedding day was full of love and laughter.",
        "They were thrilled about their wonderful new home.",
        "You did an excellent job and we are proud.",
        "The sweet music made everyone feel calm and happy.",
        "He laughed with pleasure at the funny story.",
        "Their joyful celebration lasted all night.",
    ),
    "negative": (
        "The cruel storm ruined our village completely.",
        "I feel furious and disgusted by his betrayal.",
        "Her brother suffered a painful and lonely death.",
        "They were frightened and hopeless after the disaster.",
        "This awful illness made him weak and miserable.",
        "The violent attack left many people wounded.",
        "Nobody trusts him after those horrible lies.",
        "She felt bitter and sad about the broken promise.",
        "We grieved for weeks after the terrible tragedy.",
        "The hungry children were cold and scared.",
        "His rude insults made everyone upset and angry.",
        "I regret that dreadful mistake every single day.",
        "The prisoners were abused and treated badly.",
        "Their ugly fight destroyed a long friendship.",
        "That gloomy funeral was so depressing.",
    ),
    "neutral": (
        "The bus arrives at the corner every hour.",
        "Please write your name at the top of this form.",
        "The kitchen table is made of wood.",
        "We moved the chairs into the other room.",
        "The library opens at nine during the week.",
        "He parked the car behind the building.",
        "The map shows three roads and a river.",
        "She keeps her keys in a drawer.",
        "The lesson covers chapters five and six.",
        "Add some salt and stir the soup slowly.",
        "The office is located upstairs near my desk.",
        "My phone number has seven digits.",
        "The shelves hold several boxes of files.",
        "Check the schedule before you leave the house.",
        "The window faces the street and the shop.",
    ),
}


@dataclass(frozen=True)
class SpeakerSpec:
    """A demo speaker: an espeak-ng voice variant, its base pitch (0-100) and its portion."""

    name: str
    voice: str
    gender: str
    base_pitch: int
    portion: str


DEFAULT_SPEAKERS = (
    SpeakerSpec("m1", "en+m1", "male", 46, "train"),
    SpeakerSpec("m2", "en+m2", "male", 54, "train"),
    SpeakerSpec("f1", "en+f1", "female", 52, "train"),
    SpeakerSpec("f2", "en+f2", "female", 44, "train"),
    SpeakerSpec("m3", "en+m3", "male", 42, "devel"),
    SpeakerSpec("f3", "en+f3", "female", 48, "devel"),
    SpeakerSpec("m4", "en+m4", "male", 50, "test"),
    SpeakerSpec("f4", "en+f4", "female", 56, "test"),
)


@dataclass(frozen=True)
class DemoConfig:
    """What to generate; every field enters the cache folder name and the manifest."""

    speakers: tuple[SpeakerSpec, ...] = DEFAULT_SPEAKERS
    sentences_per_emotion: int = 13
    seed: int = 20240611
    session_seconds: float = 60.0
    pause_seconds: tuple[float, float] = (0.3, 1.2)
    intensity: tuple[float, float] = (0.5, 1.0)
    raters: int = 5
    rater_lag_seconds: tuple[float, float] = (1.0, 3.0)
    trace_smoothing_seconds: float = 0.25
    emotions: tuple[str, ...] = field(default=tuple(e.name for e in EMOTIONS))
    # True: devel and test speakers say sentences of UNSEEN_SENTENCES, never spoken in train
    unseen_sentences: bool = False

    def __post_init__(self) -> None:
        names = [s.name for s in self.speakers]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"speakers must be non-empty and unique, got {names}")
        for speaker in self.speakers:
            if speaker.portion not in PORTIONS:
                raise ValueError(f"speaker {speaker.name}: portion must be one of {PORTIONS}")
        known = {e.name for e in EMOTIONS}
        if not self.emotions or set(self.emotions) - known:
            raise ValueError(f"emotions must be a non-empty subset of {sorted(known)}")
        pools = [*SENTENCES.values(), *(UNSEEN_SENTENCES.values() if self.unseen_sentences
                                        else ())]
        smallest = min(len(pool) for pool in pools)
        if not 1 <= self.sentences_per_emotion <= smallest:
            raise ValueError(f"sentences_per_emotion must be in 1..{smallest}")
        if self.raters < 1:
            raise ValueError("raters must be >= 1")
        for name in ("pause_seconds", "intensity", "rater_lag_seconds"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be (low, high) with 0 <= low <= high")

    def to_dict(self) -> dict:
        """The config as plain JSON types (tuples become lists). `unseen_sentences` appears
        only when set, so the configs made before it existed keep their manifest and hash."""
        data = json.loads(json.dumps(asdict(self)))
        if not self.unseen_sentences:
            del data["unseen_sentences"]
        return data

    def pools_of(self, portion: str) -> dict[str, tuple[str, ...]]:
        """The sentence pools a speaker of `portion` draws from."""
        if self.unseen_sentences and portion != "train":
            return UNSEEN_SENTENCES
        return SENTENCES

    @classmethod
    def from_dict(cls, data: dict) -> DemoConfig:
        """The config written by `to_dict` (used to hand a config to the generator process)."""
        data = dict(data)
        data["speakers"] = tuple(SpeakerSpec(**s) for s in data["speakers"])
        for name in ("pause_seconds", "intensity", "rater_lag_seconds", "emotions"):
            data[name] = tuple(data[name])
        return cls(**data)

    def digest(self) -> str:
        """A short hash of the config, naming the cache folder of a non-default config."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


DEFAULT_CONFIG = DemoConfig()
# One speaker per portion and two sentences per emotion: generates in about a second (tests).
TINY_CONFIG = DemoConfig(
    speakers=(DEFAULT_SPEAKERS[0], DEFAULT_SPEAKERS[5], DEFAULT_SPEAKERS[6]),
    sentences_per_emotion=2,
)
# The unseen-sentence protocol at the default size: devel and test sentences never in train.
UNSEEN_CONFIG = DemoConfig(unseen_sentences=True)



def stream(seed: int, *keys: str) -> np.random.Generator:
    """An independent stream per purpose, so that changing one part leaves the others alone."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode("utf-8")) for k in keys)])
