"""Fake corpus trees, each in its reader's exact on-disk layout, shared by every reader test.

One `Tree` per registered reader in `TREES` (its builder and the items it must yield, checked
by tests/test_corpus_contract.py); the per-reader tests use the same builders and helpers.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from tfemo.corpora.base import CATEGORICAL, CONTINUOUS
from tfemo.corpora.demo import TINY_CONFIG, ensure_demo_corpus
from tfemo.corpora.recola import DIMENSIONS as RECOLA_DIMENSIONS
from tfemo.corpora.recola import RATERS as RECOLA_RATERS

SR = 16000


def noise_wav(path: Path, seconds: float = 0.1, rate: int = SR,
              file_format: str = "WAV") -> Path:
    """Write `seconds` of quiet noise (seeded by the file name) in `file_format` at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    noise = (0.1 * rng.standard_normal(int(round(seconds * rate)))).astype(np.float32)
    soundfile.write(str(path), noise, rate, format=file_format, subtype="PCM_16")
    return path


def tone_wav(path: Path, seconds: float = 1.0) -> Path:
    """Write `seconds` of a 16 kHz int16 tone at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = (1000 * np.sin(np.arange(int(SR * seconds)) / 5)).astype(np.int16)
    soundfile.write(path, samples, SR, subtype="PCM_16")
    return path


def write_lines(path: Path, lines: list[str]) -> Path:
    """Write `lines` (UTF-8, one per line) at `path`, making its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- EMO-DB

def emodb_tree(root: Path) -> Path:
    """wav/<speaker><text><emotion><version>.wav files, a corrupt one, and files to skip."""
    for name, seconds in [("03a01Fa", 0.1), ("03a02Wb", 0.2), ("03a02Wc", 0.3), ("08b10Lb", 0.1),
                          ("12a04Ad", 0.1), ("14a05Ea", 0.1), ("15a07Ta", 0.1),
                          ("16b01Nc", 0.1), ("13b09Ae", 0.1),
                          ("03a01Xa", 0.1), ("02a01Fa", 0.1), ("03a03Fa", 0.1)]:
        noise_wav(root / "wav" / f"{name}.wav", seconds)
    (root / "wav" / "09b03Ta.wav").write_bytes(b"not audio at all")
    (root / "wav" / "info.txt").write_text("x\n")
    (root / "erklaerung.txt").write_text("Erklaerung\n", encoding="latin-1")
    (root / "lablaut").mkdir()
    (root / "lablaut" / "03a01Fa.lablaut").write_text("x\n")
    return root


# ----------------------------------------------------------------------------- RAVDESS

def ravdess_tree(root: Path) -> Path:
    """Actor_XX/MM-VV-EE-II-SS-RR-AA files of every kind, a nested copy, files to skip."""
    names = [
        "Actor_01/03-01-05-01-02-01-01.wav",  # speech, angry, normal, statement 2
        "Actor_01/03-02-03-02-01-02-01.wav",  # song, happy, strong, repetition 2
        "Actor_01/01-01-05-01-02-01-01.wav",  # full-AV: ignored
        "Actor_01/02-01-05-01-02-01-01.mp4",  # video-only: ignored
        "Actor_02/03-01-01-01-01-01-02.wav",  # speech, neutral, actor 2 (female)
        "Actor_02/03-01-04-01-01-01-05.wav",  # actor 05 inside Actor_02: ignored
        "Actor_18/03-01-08-02-02-02-18.wav",  # devel
        "Actor_21/03-01-07-02-01-01-21.wav",  # test
        "Actor_22/03-01-09-01-01-01-22.wav",  # unknown emotion 09: ignored
        "Actor_22/03-02-07-01-01-01-22.wav",  # song has no disgust: ignored
        "Actor_22/03-01-01-02-01-01-22.wav",  # neutral has no strong intensity: ignored
        "Actor_22/03-01-02-01-01-01-22.wav",  # speech, calm
        "audio_speech_actors_01-24/Actor_01/03-01-05-01-02-01-01.wav",  # a second copy
    ]
    for name in names:
        noise_wav(root / name, 0.2 if name.startswith("Actor_01/03-01-05") else 0.1)
    (root / "Actor_01" / ".DS_Store").write_bytes(b"\0")
    (root / "readme.txt").write_text("RAVDESS\n")
    return root


# ----------------------------------------------------------------------------- TESS

def tess_tree(root: Path) -> Path:
    """<speaker>_<emotion>/ folders with the known quirks and a nested second copy."""
    noise_wav(root / "OAF_angry" / "OAF_back_angry.wav")
    noise_wav(root / "OAF_Pleasant_surprise" / "OAF_back_ps.wav")
    noise_wav(root / "OAF_Fear" / "OA_bite_fear.wav")  # the OA_ prefix typo
    noise_wav(root / "YAF_pleasant_surprised" / "YAF_back_ps.wav")
    noise_wav(root / "YAF_sad" / "YAF_chalk_sad.wav", 0.25, 22050, "AIFF")  # AIFF behind .wav
    noise_wav(root / "YAF_happy" / "YAF_dog_happy.wav", 0.3, 96000)  # 96 kHz
    noise_wav(root / "YAF_angry" / "YAF_dog_sad.wav")  # emotion disagrees with its folder
    noise_wav(root / "YAF_angry" / "OAF_dog_angry.wav")  # speaker disagrees with its folder
    noise_wav(root / "YAF_angry" / "YAF_dog.wav")  # no emotion
    noise_wav(root / "TESS Toronto emotional speech set data" / "OAF_angry" / "OAF_back_angry.wav")
    return root


# ----------------------------------------------------------------------------- SAVEE

def savee_tree(root: Path) -> Path:
    """The official AudioData/<speaker>/<code><nn>.wav layout, with files to skip."""
    for name in ("DC/a01", "DC/sa02", "DC/su15", "JE/n30", "JK/h01", "KL/d03", "KL/f04",
                 "XX/a01", "DC/s01"):
        noise_wav(root / "AudioData" / f"{name}.wav")
    (root / "AudioData" / "DC" / "info.txt").write_text("x\n")
    (root / "AudioVisualClip" / "DC").mkdir(parents=True)
    (root / "AudioVisualClip" / "DC" / "a01.avi").write_bytes(b"\0")
    return root


# ----------------------------------------------------------------------------- IEMOCAP

# dialog -> [(turn suffix, raw label, [V, A, D])]
DIALOGS = {
    "Ses01F_impro01": [("F000", "neu", "2.5000, 2.5000, 2.5000"),
                       ("M001", "exc", "4.0000, 3.5000, 3.0000"),
                       ("F002", "hap", "4.5000, 3.0000, 3.0000"),
                       ("M003", "xxx", "2.0000, 3.0000, 3.5000"),
                       ("F004", "fru", "2.0000, 3.5000, 3.5000"),
                       ("M005", "ang", "1.5000, 4.0000, 4.5000")],
    "Ses04M_impro02": [("M000", "sad", "1.5000, 2.0000, 2.0000"),
                       ("F001", "oth", "3.0000, 3.0000, 3.0000")],
    "Ses05M_script01_1": [("F000", "sad", "2.5000, 3.5000, 4.0000"),
                          ("M001", "neu", "3.0000, 3.0000, 3.0000")],
}
WDSEG = ["SFrm  EFrm    SegAScr Word", "0     40      -117721 <s>", "41    72      -17530  WHAT(2)",
         "73    80      -1000   <sil>", "81    99      -2000   ++BREATHING++",
         "100   145     -258661 Excuse", "146   160     -3000   </s>", " Total score: -400000"]


def iemocap_evaluation(dialog: str) -> list[str]:
    """An EmoEvaluation file of one dialog of DIALOGS."""
    lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    for k, (turn, label, vad) in enumerate(DIALOGS[dialog]):
        lines += [f"[{2.0 * k + 0.5:.4f} - {2.0 * k + 1.0:.4f}]\t{dialog}_{turn}\t{label}\t[{vad}]",
                  "C-E2:\tNeutral;\t()", "A-E3:\tval 3; act 2; dom  2;\t()", ""]
    return lines


def iemocap_tree(root: Path, skip_audio: tuple[str, ...] = ()) -> Path:
    """Sessions 1, 4 and 5 with evaluations, transcripts, audio and one wdseg per dialog."""
    for dialog, turns in DIALOGS.items():
        session = root / f"Session{int(dialog[3:5])}"
        write_lines(session / "dialog" / "EmoEvaluation" / f"{dialog}.txt",
                    iemocap_evaluation(dialog))
        transcript = [f"{dialog}_{t} [{2.0 * k + 0.5:08.4f}-{2.0 * k + 1.0:08.4f}]: "
                      f"Words of {t} [LAUGHTER]." for k, (t, _, _) in enumerate(turns)]
        write_lines(session / "dialog" / "transcriptions" / f"{dialog}.txt",
                    ["M: [BREATHING] not a turn", *transcript,
                     f"{dialog}_MXX0 [000.0000-000.1000]: Mm."])
        for turn, _, _ in turns:
            if f"{dialog}_{turn}" not in skip_audio:
                tone_wav(session / "sentences" / "wav" / dialog / f"{dialog}_{turn}.wav", 0.5)
        alignment = session / "sentences" / "ForcedAlignment" / dialog
        write_lines(alignment / f"{dialog}_{turns[0][0]}.wdseg", WDSEG)
    evaluation = root / "Session1" / "dialog" / "EmoEvaluation"
    (evaluation / "._Ses01F_impro01.txt").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    write_lines(evaluation / "Categorical" / "Ses01F_impro01_e2_cat.txt",
           ["Ses01F_impro01_F000 :Neutral state; ()"])
    return root


# ----------------------------------------------------------------------------- MuSe-CaR

MUSE_DEVEL = [str(v) for v in range(3, 9)]


def muse_labels(video: str, segments: dict[str, list[int]], sign: int) -> list[str]:
    """A MuSe-CaR label file: timestamp (ms), value, segment_id."""
    rows = ["timestamp,value,segment_id"]
    for segment, times in segments.items():
        rows += [f"{t},{sign * t / 10000:.4f},{segment}" for t in times]
    return rows


def musecar_tree(root: Path, partition_header: str = "Id,Proposal") -> Path:
    """Train, devel and test videos with audio per segment or per video, labels, words."""
    videos = {"1": {"1": [0, 250, 500, 750, 1000], "2": [1250, 1500, 1750, 2000, 2250]},
              "2": {"1": [0, 250, 500, 750, 1000], "2": [1250, 1500, 1750, 2000]},
              **{v: {"1": [0, 250, 500, 750]} for v in MUSE_DEVEL}, "9": {"1": [0, 250]}}
    for video, segments in videos.items():
        write_lines(root / "label" / "arousal" / f"{video}.csv", muse_labels(video, segments, 1))
        write_lines(root / "label" / "valence" / f"{video}.csv", muse_labels(video, segments, -1))
    partition = [partition_header, "1,train", "2,train", *(f"{v},devel" for v in MUSE_DEVEL),
                 "9,test", "11,devel"]  # 11: official devel video not installed
    write_lines(root / "partition.csv", partition)
    tone_wav(root / "audio" / "1" / "1_1.wav", 1.0)
    tone_wav(root / "audio" / "1" / "1_2.wav", 1.0)
    tone_wav(root / "audio" / "2.wav", 2.25)  # audio per video
    for video in MUSE_DEVEL:
        tone_wav(root / "audio" / video / f"{video}_1.wav", 1.0)
    tone_wav(root / "audio" / "4" / "4_2.wav", 1.0)  # no labels for segment 2
    tone_wav(root / "audio" / "3" / "foo.wav", 1.0)  # badly named
    tone_wav(root / "audio" / "9" / "9_1.wav", 0.5)  # official test
    tone_wav(root / "audio" / "10" / "10_1.wav", 0.5)  # not in partition.csv
    write_lines(root / "transcription" / "1" / "1_2.csv",
           ["start,end,segment_id,word", "1500,1800,2,Hello", "1900,2100,2,<filler>",
            "2000,2200,2,world"])
    write_lines(root / "transcription" / "1" / "1.csv",  # <segment>.csv naming
           ["start,end,segment_id,word", "100,400,1,Nice"])
    write_lines(root / "transcription" / "2" / "2_2.csv",
           ["start,end,segment_id,word", "1300,1600,2,fast", "1700,1900,2,car"])
    return root


# ----------------------------------------------------------------------------- RECOLA

FRAMES = 26  # 1 s of labels at 40 ms, 0.00 .. 1.00 s
SPACED = ["FM1 ", "FM2 ", "FM3 ", "FF1 ", "FF2 ", "FF3 "]  # as the real files write them


def recola_rating(recording: str, d: int, r: int, t: int) -> float:
    """A distinct, exactly printable rating per recording, dimension, rater and frame."""
    base = int(recording.rsplit("_", 1)[-1].lstrip("P")) / 10
    base += 0.5 if recording.startswith("dev") else 0
    return round((base + 0.01 * r + 0.001 * t) * (1 if d == 0 else -1), 4)


def recola_gold(recording: str, d: int, t: int) -> float:
    return round(float(np.mean([recola_rating(recording, d, r, t) for r in range(6)])) + 0.01, 6)


def label_times(frames: int = FRAMES) -> list[str]:
    """`frames` label times 40 ms apart, as the files write them."""
    return [f"{k * 0.04:.2f}" for k in range(frames)]


def recola_arff(recording: str, d: int, frames: int = FRAMES) -> list[str]:
    """An AVEC 2016 gold-standard ARFF file of one recording and dimension."""
    return ["@relation GOLDSTANDARD", "", "@attribute Instance_name string",
            "@attribute frameTime numeric", "@attribute GoldStandard numeric", "", "@data", "",
            *(f"'{recording}',{t},{recola_gold(recording, d, k)}"
              for k, t in enumerate(label_times(frames)))]


def recola_individual(recording: str, d: int, frames: int = FRAMES,
                      order=RECOLA_RATERS) -> list[str]:
    """An AVEC 2016 individual-ratings CSV (semicolons), raters in `order`."""
    columns = [RECOLA_RATERS.index(r) for r in order]
    return [";".join(["time", *(f"{r} " for r in order)]),
            *(";".join([t, *(str(recola_rating(recording, d, r, k)) for r in columns)])
              for k, t in enumerate(label_times(frames)))]


def recola_combined(recording: str, d: int, frames: int = FRAMES, raters=SPACED) -> list[str]:
    """A "combined" file: gold standard, times and the six ratings."""
    columns = [SPACED.index(r) for r in raters]
    return [",".join(["Instance_name", "frameTime", "GoldStandard", "time", *raters]),
            *(",".join([recording, t, str(recola_gold(recording, d, k)), t,
                        *(str(recola_rating(recording, d, r, k)) for r in columns)])
              for k, t in enumerate(label_times(frames)))]


def recola_avec_tree(root: Path, recordings=("train_1", "dev_1", "train_2"), gold_suffix=".arff",
               individual=True, doubled=False) -> Path:
    """The AVEC 2016 layout: audio, gold standards and (optionally) ratings."""
    audio = root / "recordings_audio" / ("recordings_audio" if doubled else "")
    for recording in recordings:
        tone_wav(audio / f"{recording}.wav")
        for d, dimension in enumerate(RECOLA_DIMENSIONS):
            gold = root / "ratings_gold_standard" / dimension / f"{recording}{gold_suffix}"
            if gold_suffix == ".arff":
                write_lines(gold, recola_arff(recording, d))
            else:
                write_lines(gold, ["Instance_name,frameTime,GoldStandard",
                              *(f"{recording},{t},{recola_gold(recording, d, k)}"
                                for k, t in enumerate(label_times()))])
            if individual:  # raters in another column order than RECOLA_RATERS: the reader reorders
                write_lines(root / "ratings_individual" / dimension / f"{recording}.csv",
                       recola_individual(recording, d, order=RECOLA_RATERS[::-1]))
    tone_wav(audio / "test_1.wav")  # test audio without labels (AVEC never published them)
    return root


def recola_combined_tree(root: Path, recordings=("train_1", "train_2", "dev_3")) -> Path:
    """The "combined" layout: arousal/<rec>.csv and valence/<rec>.csv."""
    for recording in recordings:
        for d, dimension in enumerate(RECOLA_DIMENSIONS):
            write_lines(root / dimension / f"{recording}.csv", recola_combined(recording, d))
    return root



# ----------------------------------------------------------------------------- manifests

def manifest_tree(root: Path) -> Path:
    """A categorical manifest with relative, absolute and outside paths."""
    tone_wav(root / "audio" / "a.wav")
    tone_wav(root / "audio" / "b.wav")
    tone_wav(root.parent / "outside" / "c.wav")
    return write_lines(root / "data.csv", [
        "path,speaker,label,transcript,portion,gender",
        "audio/b.wav,s1,sad,I feel low,train,female",
        f"{root.parent / 'outside' / 'c.wav'},s2,angry,,test,",
        f"{root / 'audio' / 'a.wav'},s3,happy,\"Great, thanks\",devel,male",
    ])


# ----------------------------------------------------------------------------- MuSe-Toolbox

TOOLBOX_RATERS = ("1", "2", "3")


def toolbox_rating(recording: int, d: int, r: int, k: int) -> float:
    """A distinct, exactly printable value per recording, dimension, rater and row."""
    return round((recording + 0.1 * r + 0.001 * k) * (1 if d == 0 else -1), 4)


def toolbox_recording(root: Path, recording: int, rows: int = 8, raters=TOOLBOX_RATERS,
                    dimensions=("arousal", "valence"), time_name: str = "timeStamp",
                    step_ms: int = 500) -> None:
    """One recording's file per dimension: a time column and one per rater."""
    for dimension in dimensions:
        d = 0 if dimension == "arousal" else 1
        path = root / dimension / f"{recording}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [",".join([time_name, *raters])]
        for k in range(rows):
            lines.append(",".join([str((k + 1) * step_ms),
                                   *(str(toolbox_rating(recording, d, int(r) - 1, k))
                                     for r in raters)]))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def toolbox_tree(root: Path) -> Path:
    """Two recordings in <root>/raw, portions in <root>/metadata/partition.csv; returns raw."""
    raw = root / "raw"
    for recording in (11, 32):
        toolbox_recording(raw, recording)
    (root / "metadata").mkdir(parents=True)
    (root / "metadata" / "partition.csv").write_text("id,partition\n11,train\n32,devel\n")
    return raw


# ----------------------------------------------------------------------------- demo


def demo_tree(root: Path) -> Path:
    """The tiny demo corpus (one speaker per portion), generated into `root`."""
    return ensure_demo_corpus(TINY_CONFIG, root)


@dataclass(frozen=True)
class Tree:
    """A registered reader's fixture: how to build its fake tree and what it must yield.

    `build(tmp)` returns what open_corpus takes (the corpus folder, or the manifest CSV);
    `counts[task]` are the (train, devel, test) item counts; `skipped` the files the first
    task's listing skips (`ignored`).
    """

    build: Callable[[Path], Path]
    counts: dict[str, tuple[int, int, int]]
    skipped: int = 0


# one per registered reader (tfemo.corpora._READERS), checked by tests/test_corpus_contract.py
TREES: dict[str, Tree] = {
    "demo": Tree(lambda root: demo_tree(root / "demo"),
                 {CONTINUOUS: (1, 1, 1), CATEGORICAL: (12, 12, 12)}),
    "emodb": Tree(lambda root: emodb_tree(root / "emodb"), {CATEGORICAL: (6, 2, 2)}, 4),
    "ravdess": Tree(lambda root: ravdess_tree(root / "ravdess"), {CATEGORICAL: (2, 1, 2)}, 10),
    "tess": Tree(lambda root: tess_tree(root / "tess"), {CATEGORICAL: (6, 0, 0)}, 4),
    "savee": Tree(lambda root: savee_tree(root / "savee"), {CATEGORICAL: (4, 1, 2)}, 4),
    "iemocap": Tree(lambda root: iemocap_tree(root / "IEMOCAP_full_release"),
                    {CATEGORICAL: (4, 1, 2), CONTINUOUS: (6, 2, 2)}, 4),
    "recola": Tree(lambda root: recola_avec_tree(
        root / "avec", recordings=("train_2", "dev_1", "train_1", "test_2")),
        {CONTINUOUS: (2, 1, 1)}),
    "musecar": Tree(lambda root: musecar_tree(root / "musecar"), {CONTINUOUS: (3, 3, 3)}, 4),
    "manifest": Tree(lambda root: manifest_tree(root / "corpus"), {CATEGORICAL: (1, 1, 1)}),
    "musetoolbox": Tree(toolbox_tree, {CONTINUOUS: (1, 1, 0)}),
}
