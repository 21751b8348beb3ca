"""Reader of RAVDESS, the Ryerson Audio-Visual Database of Emotional Speech and Song.

RAVDESS (Livingstone & Russo, PLoS ONE 2018): 24 professional actors (12 female, 12 male)
speak two neutral English statements (and sing them) in 8 emotions, at two intensities, twice.

On-disk layout (the Zenodo archives, e.g. Audio_Speech_Actors_01-24.zip)
-------------------------------------------------------------------------
    Actor_01/03-01-01-01-01-01-01.wav ... Actor_24/...
The song archive unpacks into the same `Actor_XX` folders; copies nested one level deeper
(`audio_speech_actors_01-24/Actor_01/...`, as some mirrors ship them) are found too, and a
second copy of the same file name is skipped as a duplicate.

File name: seven two-digit fields `MM-VV-EE-II-SS-RR-AA`:
    MM modality        01 full-AV, 02 video-only, 03 audio-only
    VV vocal channel   01 speech, 02 song
    EE emotion         01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful,
                       07 disgust, 08 surprised (song has no disgust or surprised)
    II intensity       01 normal, 02 strong (neutral has no strong intensity)
    SS statement       01 "Kids are talking by the door", 02 "Dogs are sitting by the door"
    RR repetition      01, 02
    AA actor           01-24; odd actors are male, even actors female

Only audio-only files (modality 03) become items: the audio tracks of the audio-video files
(01, 02) are the same performances, so reading them as well would put duplicates of one take
into different portions (docs/design.md, defect 9). Every skipped file is listed in `ignored`
with its reason: other modalities, unknown codes, a file whose actor field disagrees with its
Actor_XX folder, a vocal channel that was not asked for.

Default split by actor (speaker-independent, genders balanced), see `DEFAULT_SPLIT`:
train 01-16, devel 17-20, test 21-24. docs/design.md also names 6 actor folds of 4 actors each;
pass `split` to choose other portions. Class names follow the emotion codes (01..08); with
`channel="song"` only the 6 sung emotions are classes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from tfemo.corpora.base import CATEGORICAL, Corpus, Item, Segment
from tfemo.corpora.files import audio_duration, collect_items, corpus_files

MODALITIES = {"01": "full-AV", "02": "video-only", "03": "audio-only"}
AUDIO_ONLY = "03"
CHANNELS = {"01": "speech", "02": "song"}
EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
            "06": "fearful", "07": "disgust", "08": "surprised"}
SONG_EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful")
INTENSITIES = {"01": "normal", "02": "strong"}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
REPETITIONS = ("01", "02")
ACTORS = tuple(f"{n:02d}" for n in range(1, 25))

DEFAULT_SPLIT: dict[str, tuple[str, ...]] = {
    "train": ACTORS[:16],
    "devel": ACTORS[16:20],
    "test": ACTORS[20:],
}

_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_ACTOR_FOLDER = re.compile(r"^actor_(\d+)$", re.IGNORECASE)


def gender_of(actor: str) -> str:
    """RAVDESS actors with odd numbers are male, even ones female."""
    return "male" if int(actor) % 2 else "female"


class RavdessCorpus(Corpus):
    """RAVDESS reader: audio-only speech (or song) files, one categorical item per file."""

    name = "ravdess"
    title = "RAVDESS"
    language = "eng"
    tasks = (CATEGORICAL,)
    default_task = CATEGORICAL
    default_split = DEFAULT_SPLIT

    def __init__(self, root: str | Path, channel: str = "speech",
                 split: Mapping[str, Sequence[str]] | None = None) -> None:
        if channel not in ("speech", "song", "both"):
            raise ValueError(f"RAVDESS channel must be speech, song or both, not {channel!r}")
        self.root = Path(root)
        self.channel = channel
        self._portions = self._use_split(split, ACTORS)

    def _item(self, path: Path) -> Item | str:
        """The item of one file, or the reason it is skipped."""
        match = _NAME.match(path.stem)
        if not match:
            return "file name is not MM-VV-EE-II-SS-RR-AA (seven two-digit codes)"
        modality, vocal, emotion, intensity, statement, repetition, actor = match.groups()
        if modality not in MODALITIES:
            return f"unknown modality {modality}"
        if modality != AUDIO_ONLY:
            return (f"modality {modality} ({MODALITIES[modality]}): only audio-only files (03) "
                    "are read, so audio-video duplicates cannot leak across portions")
        if path.suffix.lower() != ".wav":
            return "not a .wav file"
        for field, value, known in (("vocal channel", vocal, CHANNELS),
                                    ("emotion", emotion, EMOTIONS),
                                    ("intensity", intensity, INTENSITIES),
                                    ("statement", statement, STATEMENTS),
                                    ("repetition", repetition, REPETITIONS),
                                    ("actor", actor, ACTORS)):
            if value not in known:
                return f"unknown {field} {value}"
        folder = _ACTOR_FOLDER.match(path.parent.name)
        if folder and int(folder.group(1)) != int(actor):
            return f"actor {actor} in the file name, but the file is in {path.parent.name}"
        if self.channel != "both" and CHANNELS[vocal] != self.channel:
            return f"vocal channel {CHANNELS[vocal]} (reading {self.channel} only)"
        if CHANNELS[vocal] == "song" and EMOTIONS[emotion] not in SONG_EMOTIONS:
            return f"emotion {EMOTIONS[emotion]} does not exist in song"
        if EMOTIONS[emotion] == "neutral" and INTENSITIES[intensity] == "strong":
            return "neutral has no strong intensity"
        if actor not in self._portions:
            return f"actor {actor} is in no portion of the split"
        metadata = {"modality": MODALITIES[modality], "vocal_channel": CHANNELS[vocal],
                    "emotion": EMOTIONS[emotion], "intensity": INTENSITIES[intensity],
                    "statement": statement, "statement_text": STATEMENTS[statement],
                    "repetition": repetition, "actor": actor}
        return Item(id=path.stem, speaker=actor, corpus=self.name,
                    portion=self._portions[actor], audio_path=path,
                    segments=(Segment(0.0, audio_duration(path), STATEMENTS[statement], None),),
                    label=EMOTIONS[emotion], language=self.language, gender=gender_of(actor),
                    metadata=metadata)

    def _items_of(self, task: str) -> list[Item]:
        """Every audio-only file of the chosen channel; skips go to `ignored`."""
        return collect_items(self.root, corpus_files(self.root), self._item, self.skip,
                             f"RAVDESS {self.channel} files (like Actor_01/"
                             f"03-01-01-01-01-01-01.wav)")

    def _label_names_of(self, task: str) -> tuple[str, ...]:
        """Emotion names in code order (01 neutral .. 08 surprised); song has the first 6."""
        return SONG_EMOTIONS if self.channel == "song" else tuple(EMOTIONS.values())
