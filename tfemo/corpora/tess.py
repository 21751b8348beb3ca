"""Reader of TESS, the Toronto Emotional Speech Set.

TESS (Dupuis & Pichora-Fuller, University of Toronto, 2010): two actresses, aged 64 (OAF,
"older adult female") and 26 (YAF, "younger adult female"), say the carrier phrase "Say the
word _" with 200 target words (NU-6 lists) in 7 emotions: 2800 files.

WARNING: TESS has only 2 speakers, so NO speaker-independent split exists. The default split
holds out WORDS (the same word never appears in two portions), but both speakers are in every
portion: scores on TESS are speaker-dependent and far above what a model reaches on unseen
speakers. Do not compare them with speaker-independent results (EMO-DB, RAVDESS, IEMOCAP).

On-disk layout
--------------
    OAF_angry/OAF_back_angry.wav ... YAF_sad/YAF_youth_sad.wav     (one folder per speaker
                                                                    and emotion)
or all files in one folder (the flat layout). Known quirks that are tolerated:
* file names with the `OA_` prefix instead of `OAF_` (read as OAF; `YA_` likewise);
* folder names in other cases and spellings: `OAF_Fear`, `OAF_Pleasant_surprise`,
  `YAF_pleasant_surprised`;
* pleasant surprise spelled `ps` in file names (class name "pleasant_surprise");
* files that are AIFF behind a .wav name, and sample rates other than 24414 Hz (load_audio
  decodes by content and resamples);
* a second copy of the whole tree nested inside the first (as a popular mirror ships it):
  a second file with the same speaker, word and emotion is skipped as a duplicate.
A file whose speaker or emotion disagrees with its `<speaker>_<emotion>` folder is skipped.
Every skipped file is listed in `ignored` with its reason.

Default split: by word, from a stable hash (sha256 of the word, modulo 10): buckets 0-7 train,
8 devel, 9 test (about 80/10/10), so a word's portion never depends on which other files are
present. Pass `split` (portion -> words) to choose other portions.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from tfemo.corpora.base import CATEGORICAL, Corpus, Item, Segment
from tfemo.corpora.files import audio_duration, collect_items, corpus_files

WARNING = ("TESS has only 2 speakers (OAF, YAF), both in every portion: scores on TESS are "
           "SPEAKER-DEPENDENT and not comparable with speaker-independent results")

# class name -> the spellings found in file and folder names (lower case)
EMOTIONS: dict[str, tuple[str, ...]] = {
    "angry": ("angry",),
    "disgust": ("disgust",),
    "fear": ("fear",),
    "happy": ("happy",),
    "neutral": ("neutral",),
    "pleasant_surprise": ("ps", "pleasant_surprise", "pleasant_surprised"),
    "sad": ("sad",),
}
_SPELLINGS = {spelling: name for name, spellings in EMOTIONS.items() for spelling in spellings}

# speaker -> (age group, age in years)
SPEAKERS: dict[str, tuple[str, int]] = {"OAF": ("older", 64), "YAF": ("younger", 26)}
_SPEAKER_CODES = {"OAF": "OAF", "OA": "OAF", "YAF": "YAF", "YA": "YAF"}

# hash bucket (0-9) of a word -> portion, for the default split
DEFAULT_WORD_BUCKETS: dict[str, tuple[int, ...]] = {
    "train": tuple(range(8)),
    "devel": (8,),
    "test": (9,),
}

_EMOTION_PATTERN = "|".join(sorted(_SPELLINGS, key=len, reverse=True))
_NAME = re.compile(rf"^([A-Za-z]+)_(.+)_({_EMOTION_PATTERN})$", re.IGNORECASE)
_FOLDER = re.compile(rf"^([A-Za-z]+)_({_EMOTION_PATTERN})$", re.IGNORECASE)


def default_portion(word: str) -> str:
    """The default portion of a word: its sha256 modulo 10 picks a bucket (stable, 80/10/10)."""
    bucket = int(hashlib.sha256(word.lower().encode("utf-8")).hexdigest(), 16) % 10
    return next(p for p, buckets in DEFAULT_WORD_BUCKETS.items() if bucket in buckets)


class TessCorpus(Corpus):
    """TESS reader; WARNING: 2 speakers only, so every TESS score is speaker-dependent.

    One categorical item per file, transcript "Say the word <word>"; portions hold out words,
    not speakers (`speaker_independent = False`, see the module docstring and `WARNING`).
    """

    name = "tess"
    title = "TESS"
    language = "eng"
    tasks = (CATEGORICAL,)
    default_task = CATEGORICAL
    speaker_independent = False
    WARNING = WARNING

    def __init__(self, root: str | Path,
                 split: Mapping[str, Sequence[str]] | None = None) -> None:
        self.root = Path(root)
        self.split = None  # the default: words by hash (`default_portion`)
        self._portions = (None if split is None else
                          self._use_split(split, None, unit="word", lower=True))

    def _portion(self, word: str) -> str | None:
        if self._portions is None:
            return default_portion(word)
        return self._portions.get(word)

    def _item(self, path: Path) -> Item | str:
        """The item of one file, or the reason it is skipped."""
        if path.suffix.lower() != ".wav":
            return "not a .wav file"
        match = _NAME.match(path.stem)
        if not match:
            return "file name is not <OAF|YAF>_<word>_<emotion>.wav"
        code, word, spelling = match.groups()
        speaker = _SPEAKER_CODES.get(code.upper())
        if speaker is None:
            return f"unknown speaker {code}"
        word, emotion = word.lower(), _SPELLINGS[spelling.lower()]
        folder = _FOLDER.match(path.parent.name)
        if folder and folder.group(1).upper() in _SPEAKER_CODES:  # a <speaker>_<emotion> folder
            folder_speaker = _SPEAKER_CODES[folder.group(1).upper()]
            folder_emotion = _SPELLINGS[folder.group(2).lower()]
            if folder_speaker != speaker:
                return f"speaker {speaker} in the file name, but the folder is {folder.group(0)}"
            if folder_emotion != emotion:
                return f"emotion {emotion} in the file name, but the folder is {folder.group(0)}"
        portion = self._portion(word)
        if portion is None:
            return f"word {word!r} is in no portion of the split"
        age_group, age = SPEAKERS[speaker]
        transcript = f"Say the word {word}"
        metadata = {"word": word, "emotion": emotion, "age_group": age_group, "age": str(age),
                    "file_speaker_code": code}
        key = f"{speaker}_{word}_{EMOTIONS[emotion][0]}"
        return Item(id=key, speaker=speaker, corpus=self.name, portion=portion, audio_path=path,
                    segments=(Segment(0.0, audio_duration(path), transcript, None),), label=emotion,
                    language=self.language, gender="female", metadata=metadata)

    def _items_of(self, task: str) -> list[Item]:
        """Every file, id <speaker>_<word>_<emotion code>; skips go to `ignored`; warns."""
        items = collect_items(self.root, corpus_files(self.root), self._item, self.skip,
                              "TESS files (like OAF_angry/OAF_back_angry.wav)")
        warnings.warn(WARNING, UserWarning, stacklevel=3)
        return items

    def _label_names_of(self, task: str) -> tuple[str, ...]:
        """The 7 class names: angry, disgust, fear, happy, neutral, pleasant_surprise, sad."""
        return tuple(EMOTIONS)
