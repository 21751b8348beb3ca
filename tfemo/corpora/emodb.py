"""Reader of the Berlin Database of Emotional Speech (EMO-DB) as its authors distribute it.

EMO-DB (Burkhardt et al., Interspeech 2005): 10 professional actors (5 female, 5 male) speak
10 everyday German sentences in 7 emotions; the distribution keeps the 535 utterances that
listeners recognised well (>= 80 %) and judged natural (>= 60 %).

On-disk layout (the authors' download)
--------------------------------------
    erklaerung.txt, erkennung.txt, ...   the authors' notes (not read)
    wav/03a01Fa.wav                      speaker 03, text a01, emotion letter F, version a
    lablaut/, labsilb/, silb/            phone and syllable labels (not read)

`root` is the corpus folder (holding `wav/`) or the `wav/` folder itself. Only `wav/` is
scanned; a file there whose name does not follow the scheme is skipped and listed in `ignored`.
The version letter numbers several takes of the same sentence and emotion by the same speaker
(03a02Wb and 03a02Wc both exist); the takes are separate items (same speaker, same portion).

Emotion letters (German initials): W anger (Wut), L boredom (Langeweile), E disgust (Ekel),
A fear (Angst), F happiness (Freude), T sadness (Trauer), N neutral. Class names are English,
in the order of `EMOTIONS`.

Default split (speaker-independent, genders balanced in every portion), see `DEFAULT_SPLIT`:
train 03 08 09 10 11 13 (3 male, 3 female), devel 12 14 (1 male, 1 female), test 15 16
(1 male, 1 female). The usual protocol on EMO-DB is leave-one-speaker-out (10 folds);
pass `split` to choose other portions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from tfemo.corpora.base import CATEGORICAL, Corpus, Item, Segment
from tfemo.corpora.files import audio_duration, collect_items, corpus_files

# letter -> class name, in class index order
EMOTIONS: dict[str, str] = {
    "W": "anger",
    "L": "boredom",
    "E": "disgust",
    "A": "fear",
    "F": "happiness",
    "T": "sadness",
    "N": "neutral",
}

# speaker -> (gender, age in years at recording), from the authors' speaker table
SPEAKERS: dict[str, tuple[str, int]] = {
    "03": ("male", 31),
    "08": ("female", 34),
    "09": ("female", 21),
    "10": ("male", 32),
    "11": ("male", 26),
    "12": ("male", 30),
    "13": ("female", 32),
    "14": ("female", 35),
    "15": ("male", 25),
    "16": ("female", 31),
}

# text code -> the sentence as published by the authors (a.. short, b.. long sentences)
TEXTS: dict[str, str] = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}

DEFAULT_SPLIT: dict[str, tuple[str, ...]] = {
    "train": ("03", "08", "09", "10", "11", "13"),
    "devel": ("12", "14"),
    "test": ("15", "16"),
}

_NAME = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z])$")


class EmoDBCorpus(Corpus):
    """EMO-DB reader: one categorical item per utterance, with its sentence as transcript."""

    name = "emodb"
    title = "EMO-DB"
    language = "deu"
    tasks = (CATEGORICAL,)
    default_task = CATEGORICAL
    default_split = DEFAULT_SPLIT

    def __init__(self, root: str | Path,
                 split: Mapping[str, Sequence[str]] | None = None) -> None:
        self.root = Path(root)
        self._portions = self._use_split(split, tuple(SPEAKERS))

    def _audio_folder(self) -> Path:
        """`root/wav` when present, else `root` (pointed at the wav folder itself)."""
        wav = self.root / "wav"
        return wav if wav.is_dir() else self.root

    def _item(self, path: Path) -> Item | str:
        """The item of one file, or the reason it is skipped."""
        if path.suffix.lower() != ".wav":
            return "not a .wav file"
        match = _NAME.match(path.stem)
        if not match:
            return "file name is not <speaker><text><emotion><version>.wav, e.g. 03a01Fa.wav"
        speaker, text, letter, version = match.groups()
        if speaker not in SPEAKERS:
            return f"unknown speaker {speaker}"
        if text not in TEXTS:
            return f"unknown text code {text}"
        if letter not in EMOTIONS:
            return f"unknown emotion letter {letter}"
        if speaker not in self._portions:
            return f"speaker {speaker} is in no portion of the split"
        gender, age = SPEAKERS[speaker]
        metadata = {"text_id": text, "sentence": TEXTS[text], "emotion_letter": letter,
                    "version": version, "age": str(age)}
        return Item(id=path.stem, speaker=speaker, corpus=self.name,
                    portion=self._portions[speaker], audio_path=path,
                    segments=(Segment(0.0, audio_duration(path), TEXTS[text], None),),
                    label=EMOTIONS[letter], language=self.language, gender=gender,
                    metadata=metadata)

    def _items_of(self, task: str) -> list[Item]:
        """Every utterance in `wav/`; skipped files are listed in `ignored`."""
        folder = self._audio_folder()
        return collect_items(folder, corpus_files(folder, recursive=False), self._item,
                             self.skip, "EMO-DB utterances (like wav/03a01Fa.wav)",
                             skip_hidden=False)

    def _label_names_of(self, task: str) -> tuple[str, ...]:
        """The 7 class names: anger, boredom, disgust, fear, happiness, sadness, neutral."""
        return tuple(EMOTIONS.values())
