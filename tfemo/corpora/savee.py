"""Reader of SAVEE, the Surrey Audio-Visual Expressed Emotion database (audio only).

SAVEE (Haq & Jackson, University of Surrey, 2008/2009): four male native British English
speakers (DC, JE, JK, KL) read TIMIT sentences in 7 emotions: 15 sentences per emotion and
30 neutral ones, 120 utterances per speaker, 480 in all.

On-disk layout: either the official audio folder
    AudioData/DC/a01.wav ... AudioData/KL/su15.wav        (`<speaker>/<code><nn>.wav`)
or the flat layout of common mirrors
    DC_a01.wav ... KL_su15.wav                            (`<speaker>_<code><nn>.wav`)
anywhere below `root`. Emotion codes: a anger, d disgust, f fear, h happiness, n neutral,
sa sadness, su surprise (`sa` and `su` have two letters). Class names are in that order.
A second copy of the same utterance is skipped as a duplicate; every skipped file is listed in
`ignored` with its reason.

Transcripts: SAVEE's file names do not say which TIMIT sentence was read and this reader does
not ship the sentence list, so items have no segments (no text modality).

Default split (speaker-independent), see `DEFAULT_SPLIT`: train DC JE, devel JK, test KL.
The usual protocol on SAVEE is leave-one-speaker-out (4 folds); pass `split` to choose other
portions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from tfemo.corpora.base import CATEGORICAL, Corpus, Item
from tfemo.corpora.files import collect_items, corpus_files

# code -> class name, in class index order
EMOTIONS: dict[str, str] = {
    "a": "anger",
    "d": "disgust",
    "f": "fear",
    "h": "happiness",
    "n": "neutral",
    "sa": "sadness",
    "su": "surprise",
}
SPEAKERS: tuple[str, ...] = ("DC", "JE", "JK", "KL")

DEFAULT_SPLIT: dict[str, tuple[str, ...]] = {
    "train": ("DC", "JE"),
    "devel": ("JK",),
    "test": ("KL",),
}

_CODE = r"(a|d|f|h|n|sa|su)(\d\d)"
_UTTERANCE = re.compile(rf"^{_CODE}$")
_FLAT = re.compile(rf"^([A-Z]{{2}})_{_CODE}$")


class SaveeCorpus(Corpus):
    """SAVEE reader: one categorical item per utterance (no transcripts), 4 male speakers."""

    name = "savee"
    title = "SAVEE"
    language = "eng"
    tasks = (CATEGORICAL,)
    default_task = CATEGORICAL
    default_split = DEFAULT_SPLIT

    def __init__(self, root: str | Path,
                 split: Mapping[str, Sequence[str]] | None = None) -> None:
        self.root = Path(root)
        self._portions = self._use_split(split, SPEAKERS)

    def _item(self, path: Path) -> Item | str:
        """The item of one file, or the reason it is skipped."""
        flat = _FLAT.match(path.stem)
        nested = _UTTERANCE.match(path.stem)
        if flat:
            speaker, code, number = flat.groups()
        elif nested and path.parent.name in SPEAKERS:
            speaker, (code, number) = path.parent.name, nested.groups()
        elif nested:
            return (f"file name has no speaker and folder {path.parent.name} is not one of "
                    f"{', '.join(SPEAKERS)}")
        else:
            return "file name is not <speaker>_<emotion><nn>.wav or <speaker>/<emotion><nn>.wav"
        if path.suffix.lower() != ".wav":
            return "not a .wav file"
        if speaker not in SPEAKERS:
            return f"unknown speaker {speaker}"
        if speaker not in self._portions:
            return f"speaker {speaker} is in no portion of the split"
        metadata = {"emotion_code": code, "sentence_number": number}
        return Item(id=f"{speaker}_{code}{number}", speaker=speaker, corpus=self.name,
                    portion=self._portions[speaker], audio_path=path, segments=(),
                    label=EMOTIONS[code], language=self.language, gender="male",
                    metadata=metadata)

    def _items_of(self, task: str) -> list[Item]:
        """Every utterance, id <speaker>_<code><nn>; skips go to `ignored`."""
        return collect_items(self.root, corpus_files(self.root), self._item, self.skip,
                             "SAVEE files (like AudioData/DC/a01.wav or DC_a01.wav)")

    def _label_names_of(self, task: str) -> tuple[str, ...]:
        """The 7 class names: anger, disgust, fear, happiness, neutral, sadness, surprise."""
        return tuple(EMOTIONS.values())
