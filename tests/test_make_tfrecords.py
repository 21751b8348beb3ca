"""tools/make_tfrecords end to end on a tiny demo corpus: round trip, bad inputs, resume."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from tfemo.audio import FRAME_SECONDS
from tfemo.audio.io import load_audio, to_pcm_frames
from tfemo.corpora.base import CATEGORICAL, CONTINUOUS
from tfemo.corpora.demo import TINY_CONFIG, DemoCorpus, ensure_demo_corpus
from tfemo.make_tfrecords import main as make_tfrecords_main
from tfemo.records.build import MakeOptions, make_tfrecords
from tfemo.records.description import DatasetDescription, RunningStats
from tfemo.records.partitions import read_portion
from tfemo.records.reader import make_dataset
from tfemo.text.embeddings import load_word_vectors


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return ensure_demo_corpus(TINY_CONFIG, root=tmp_path_factory.mktemp("demo") / "tiny")


@pytest.fixture(scope="module")
def continuous_records(tiny_root, tmp_path_factory) -> tuple[Path, DatasetDescription]:
    output = tmp_path_factory.mktemp("continuous")
    description, _ = make_tfrecords(DemoCorpus(tiny_root), output,
                                    MakeOptions(task=CONTINUOUS), command=["test"])
    return output, description


def _examples(output: Path, portion: str):
    return {e.id: e for e in read_portion(output, portion)}


def test_records_round_trip_the_audio_labels_and_ratings(tiny_root, continuous_records):
    output, description = continuous_records
    corpus = DemoCorpus(tiny_root)
    items = corpus.items(CONTINUOUS)
    assert sum(p["examples"] for p in description.portions.values()) == len(items)
    assert description.raters == list(corpus.rater_names)
    train_audio, train_labels = RunningStats(1), RunningStats(2)
    for item in items:
        example = _examples(output, item.portion)[item.id]
        audio = load_audio(item.audio_path)
        np.testing.assert_array_equal(example.audio, to_pcm_frames(audio))
        trace = item.load_trace()  # one label per 40 ms frame, at the frame's start
        assert len(trace.values) == len(example.labels)
        np.testing.assert_array_equal(example.labels, trace.values.astype(np.float32))
        np.testing.assert_array_equal(example.ratings, trace.ratings.astype(np.float32))
        assert example.speaker == item.speaker and example.portion == item.portion
        if item.portion == "train":
            train_audio.update(audio)
            train_labels.update(example.labels)
    # the normalisation is fit on the train portion: its statistics, rounded to 6 places
    normalisation = description.normalisation
    for name, stats in (("audio", train_audio), ("labels", train_labels)):
        np.testing.assert_allclose(normalisation[name]["mean"], np.squeeze(stats.mean()),
                                   rtol=1e-6, atol=2e-6, err_msg=name)
        np.testing.assert_allclose(normalisation[name]["std"], np.squeeze(stats.std()),
                                   rtol=1e-6, atol=2e-6, err_msg=name)


def test_word_vectors_land_on_the_frames_their_word_spans(tiny_root, continuous_records):
    output, _ = continuous_records
    vectors = load_word_vectors("spacy-md")
    item = DemoCorpus(tiny_root).items(CONTINUOUS)[0]
    example = _examples(output, item.portion)[item.id]
    centres = (np.arange(len(example.words)) + 0.5) * FRAME_SECONDS
    spoken = np.zeros(len(centres), bool)
    for segment in item.segments:
        for word in segment.words:
            inside = (centres >= word.start) & (centres < word.end)
            spoken |= inside
            expected = vectors.lookup(word.word.lower())
            np.testing.assert_allclose(example.words[inside], np.broadcast_to(
                expected, (inside.sum(), len(expected))), atol=1e-6)
    assert not example.words[~spoken].any(), "frames in silence must carry zero vectors"


def test_reader_gives_every_frame_once_in_order(continuous_records):
    output, description = continuous_records
    data = make_dataset(output, "devel", sequence_length=50, batch_size=3, shuffle=False, seed=0)
    pieces: dict[str, list[np.ndarray]] = {}
    for batch in data:
        for row in range(len(batch["id"])):
            valid = batch["mask"][row].numpy()
            pieces.setdefault(batch["id"][row].numpy().decode(), []).append(
                batch["labels"][row].numpy()[valid])
    examples = _examples(output, "devel")
    assert set(pieces) == set(examples)
    for example_id, chunks in pieces.items():
        np.testing.assert_array_equal(np.concatenate(chunks), examples[example_id].labels)
    assert sum(len(c) for cs in pieces.values() for c in cs) == \
        description.portions["devel"]["frames"]


def test_other_options_replace_the_records(tiny_root, tmp_path):
    corpus = DemoCorpus(tiny_root)
    options = MakeOptions(task=CATEGORICAL, examples_per_shard=20)
    first, _ = make_tfrecords(corpus, tmp_path, options)
    again, report = make_tfrecords(corpus, tmp_path, options)
    assert report.written_shards == 0 and again.to_json() == first.to_json()
    changed, report = make_tfrecords(corpus, tmp_path, MakeOptions(
        task=CATEGORICAL, examples_per_shard=20, alignment="uniform"))
    assert report.reused_shards == 0 and changed.alignment == {"uniform": 36}


def _corrupt_copy(tiny_root: Path, destination: Path) -> dict[str, str]:
    """A copy of the tiny corpus with one bad input of each kind; returns id -> reason."""
    root = destination / "corpus"
    shutil.copytree(tiny_root, root)
    corpus = DemoCorpus(root)
    utterances = [i for i in corpus.items(CATEGORICAL) if i.portion == "train"]
    missing, corrupt, empty, unalignable = utterances[:4]
    missing.audio_path.unlink()
    corrupt.audio_path.write_bytes(b"RIFF" + bytes(range(256)) * 4)
    table = root / "utterances.csv"
    rows = list(csv.DictReader(table.open()))
    for row in rows:
        if row["id"] == empty.id:
            row["transcript"] = ""
        if row["id"] == unalignable.id:
            row["transcript"] = " ".join(["extraordinarily"] * 80)
    with table.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return {missing.id: "missing audio", corrupt.id: "corrupt audio",
            empty.id: "empty transcript", unalignable.id: "alignment failed"}


def test_each_bad_input_is_reported_and_skipped(tiny_root, tmp_path, capsys):
    bad = _corrupt_copy(tiny_root, tmp_path)
    output = tmp_path / "records"
    code = make_tfrecords_main(["--data_dir", str(tmp_path / "corpus"), "--task", CATEGORICAL,
                                "--alignment", "aeneas", "--output_dir", str(output),
                                "--workers", "1", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    corpus = DemoCorpus(tmp_path / "corpus")
    for item_id, reason in bad.items():
        path = next(i.audio_path for i in corpus.items(CATEGORICAL) if i.id == item_id)
        assert f"{path}: {reason}" in printed
    description = DatasetDescription.read(output)
    assert description.skipped["train"] == {reason: 1 for reason in bad.values()}
    written = set(_examples(output, "train"))
    train_ids = {i.id for i in corpus.items(CATEGORICAL) if i.portion == "train"}
    assert written == train_ids - set(bad)


def test_labels_shorter_than_the_audio_are_skipped_and_strict_fails(tiny_root, tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(tiny_root, root)
    session = DemoCorpus(root).items(CONTINUOUS)[0]
    labels = root / "sessions" / f"{session.id}.labels.csv"
    lines = labels.read_text().splitlines()
    labels.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    description, _ = make_tfrecords(DemoCorpus(root), tmp_path / "lenient",
                                    MakeOptions(task=CONTINUOUS))
    assert description.skipped[session.portion] == {"labels too short": 1}
    code = make_tfrecords_main(["--data_dir", str(root), "--output_dir", str(tmp_path / "strict"),
                                "--workers", "1", "--quiet", "--strict"])
    assert code == 2
    assert not (tmp_path / "strict" / "description.json").exists()


def test_an_interrupted_run_resumed_gives_identical_files(tiny_root, tmp_path):
    corpus = DemoCorpus(tiny_root)
    options = MakeOptions(task=CATEGORICAL, examples_per_shard=3)
    make_tfrecords(corpus, tmp_path / "whole", options, command=["same"])

    class RunInterruptedError(Exception):
        pass

    done = []

    def interrupt_after_ten(count: int) -> None:
        done.append(count)
        if sum(done) >= 10:
            raise RunInterruptedError

    with pytest.raises(RunInterruptedError):
        make_tfrecords(corpus, tmp_path / "parts", options, command=["same"],
                       on_progress=interrupt_after_ten)
    assert not (tmp_path / "parts" / "description.json").exists()
    _, report = make_tfrecords(corpus, tmp_path / "parts", options, command=["same"])
    assert report.reused_shards >= 3
    whole = sorted(p.relative_to(tmp_path / "whole") for p in (tmp_path / "whole").rglob("*")
                   if p.is_file() and p.name != ".progress.json")
    parts = sorted(p.relative_to(tmp_path / "parts") for p in (tmp_path / "parts").rglob("*")
                   if p.is_file() and p.name != ".progress.json")
    assert whole == parts
    for relative in whole:
        assert (tmp_path / "whole" / relative).read_bytes() == \
            (tmp_path / "parts" / relative).read_bytes(), relative


@pytest.mark.slow
def test_two_workers_write_the_same_bytes_as_one(tiny_root, tmp_path):
    corpus = DemoCorpus(tiny_root)
    options = MakeOptions(task=CATEGORICAL, examples_per_shard=5)
    make_tfrecords(corpus, tmp_path / "one", options, workers=1, command=["same"])
    make_tfrecords(corpus, tmp_path / "two", options, workers=2, command=["same"])
    for path in sorted((tmp_path / "one").rglob("*.tfrecord")):
        twin = tmp_path / "two" / path.relative_to(tmp_path / "one")
        assert path.read_bytes() == twin.read_bytes(), path.name
    assert (tmp_path / "one" / "description.json").read_bytes() == \
        (tmp_path / "two" / "description.json").read_bytes()


def test_help_documents_the_options(capsys):
    with pytest.raises(SystemExit):
        make_tfrecords_main(["--help"])
    text = capsys.readouterr().out
    for option in ("--corpus", "--data_dir", "--alignment", "--embeddings", "--workers",
                   "--strict", "--task", "--output_dir"):
        assert option in text


def _speaking_emodb_tree(root: Path) -> Path:
    """The fake EMO-DB tree of the reader tests, its good files replaced by real speech."""
    import soundfile
    from scipy.signal import resample_poly

    from tests.corpus_trees import emodb_tree
    from tfemo.audio.espeak import synthesize

    emodb_tree(root)
    speech = synthesize("der lappen liegt auf dem eisschrank und das will sie am mittwoch "
                        "abgeben, heute abend könnte ich es ihm sagen", voice="de", rate=110)
    audio = resample_poly(speech.samples.astype(np.float32) / 32768, 160, 441)
    for path in (root / "wav").glob("*.wav"):
        if path.stat().st_size > 100:  # keep the corrupt file corrupt
            soundfile.write(path, audio, 16000, subtype="PCM_16")
    return root


def test_a_real_corpus_layout_goes_through_the_command_line(tmp_path, capsys):
    root = _speaking_emodb_tree(tmp_path / "emodb")
    output = tmp_path / "records"
    code = make_tfrecords_main(["--corpus", "emodb", "--data_dir", str(root), "--alignment",
                                "uniform", "--output_dir", str(output), "--workers", "1",
                                "--quiet"])
    assert code == 0
    assert "09b03Ta.wav: corrupt audio" in capsys.readouterr().out
    description = DatasetDescription.read(output)
    assert description.task == CATEGORICAL and description.corpus == "emodb"
    names = description.label_names
    assert sum(p["examples"] for p in description.portions.values()) == 9
    for portion in description.portions:
        for example in _examples(output, portion).values():
            letter = example.id[5]
            assert names[example.label] == {"F": "happiness", "W": "anger", "L": "boredom",
                                            "A": "fear", "E": "disgust", "T": "sadness",
                                            "N": "neutral"}[letter]


def test_open_corpus_needs_a_folder_for_real_corpora():
    from tfemo.core.errors import TfemoError
    from tfemo.corpora import open_corpus

    with pytest.raises(TfemoError, match="--corpus emodb needs --data_dir"):
        open_corpus("emodb")


@pytest.mark.slow
def test_emodb_from_shared_data(tmp_path):
    emodb = Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb"
    if not (emodb / "wav").is_dir():
        pytest.skip(f"{emodb} is absent")
    output = tmp_path / "records"
    assert make_tfrecords_main(["--corpus", "emodb", "--data_dir", str(emodb), "--alignment",
                                "uniform", "--output_dir", str(output), "--quiet",
                                "--partition", "loso"]) == 0
    folds = sorted(output.glob("fold-*"))
    assert len(folds) == 10
    tested = []
    for fold in folds:
        description = DatasetDescription.read(fold)
        assert sum(p["examples"] for p in description.portions.values()) == 535
        speakers = [set(p["speakers"]) for p in description.portions.values()]
        assert sum(len(s) for s in speakers) == len(set().union(*speakers)) == 10
        tested += description.portions["test"]["speakers"]
    assert len(set(tested)) == len(tested) == 10


def test_loso_writes_one_output_per_fold(tmp_path):
    root = _speaking_emodb_tree(tmp_path / "emodb")
    output = tmp_path / "records"
    code = make_tfrecords_main(["--corpus", "emodb", "--data_dir", str(root), "--alignment",
                                "uniform", "--output_dir", str(output), "--workers", "1",
                                "--quiet", "--partition", "loso"])
    assert code == 0
    folds = sorted(p.name for p in output.glob("fold-*"))
    speakers = set()
    for fold in folds:
        description = DatasetDescription.read(output / fold)
        tested = description.portions["test"]["speakers"]
        assert len(tested) <= 1  # one speaker, or none when its only file was corrupt
        speakers.update(tested)
        portions = [set(p["speakers"]) for p in description.portions.values()]
        assert sum(len(s) for s in portions) == len(set().union(*portions))
    assert len(folds) >= len(speakers) >= 3 and len(folds) == len(set(speakers)) + 1


def test_labels_option_uses_gold_standard_files_instead(tiny_root, tmp_path, capsys):
    from tfemo.labels.traces import frame_centres

    corpus = DemoCorpus(tiny_root)
    items = corpus.items(CONTINUOUS)
    gold = tmp_path / "gold"
    gold.mkdir()
    expected = {}
    for item in items[1:]:  # the first item has no gold standard file: skipped, named
        frames = len(item.load_trace().values)
        values = np.stack([np.linspace(-0.5, 0.5, frames), np.full(frames, 0.25)], axis=1)
        rows = ["time,arousal,valence"] + [f"{t:.3f},{a:.6f},{v:.6f}" for t, (a, v) in
                                           zip(frame_centres(frames, FRAME_SECONDS), values,
                                               strict=True)]
        (gold / f"{item.id}.csv").write_text("\n".join(rows) + "\n")
        expected[item.id] = values.astype(np.float32)
    output = tmp_path / "records"
    code = make_tfrecords_main(["--output_dir", str(output), "--data_dir", str(tiny_root),
                                "--labels", str(gold), "--features", "mfb_mean",
                                "--workers", "1", "--quiet"])
    assert code == 0
    assert f"{items[0].id}.csv: missing labels" in capsys.readouterr().out
    description = DatasetDescription.read(output)
    assert description.raters == [] and description.extra["labels_option"] == str(gold)
    assert description.features == {"mfb_mean": 40}
    found = {}
    for portion in description.portions:
        found.update(_examples(output, portion))
    assert sorted(found) == sorted(expected)
    for item_id, values in expected.items():
        np.testing.assert_allclose(found[item_id].labels, values, atol=1e-6)
        assert found[item_id].ratings is None and found[item_id].features.shape[1] == 40


def test_unknown_feature_family_is_refused(tiny_root, tmp_path, capsys):
    code = make_tfrecords_main(["--output_dir", str(tmp_path), "--data_dir", str(tiny_root),
                                "--features", "mfcc,loudness", "--quiet"])
    assert code == 2
    assert "unknown feature families ['loudness']" in capsys.readouterr().err
