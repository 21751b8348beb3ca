"""The HDF5 feature store (issue 15 item 1): layout, values, reader API, latents, kill safety and
bad files (issue 11), on a fake RAVDESS tree and the tiny demo corpus."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile

from tests.corpus_trees import ravdess_tree
from tfemo.audio.features import FEATURE_FAMILIES, extract_features, utterance_statistics
from tfemo.audio.io import frame_count, load_audio
from tfemo.core.errors import InputError, TfemoError, UserError
from tfemo.corpora.base import CATEGORICAL
from tfemo.corpora.demo import TINY_CONFIG, DemoCorpus, ensure_demo_corpus
from tfemo.corpora.ravdess import RavdessCorpus
from tfemo.make_feature_store import main as store_main
from tfemo.store import FeatureStore, write_latents
from tfemo.store.build import StoreOptions, make_feature_store, parse_features
from tfemo.store.parts import parts_dir
from tfemo.store.writer import partial_path

ROOT = Path(__file__).resolve().parents[1]
FAST = ("mfcc", "rms")  # cheap families for the demo corpus (pitch is 2/3 of the cost)
RAVDESS_FIELDS = ("modality", "vocal_channel", "emotion", "intensity", "statement",
                  "repetition", "actor")


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return ensure_demo_corpus(TINY_CONFIG, root=tmp_path_factory.mktemp("demo") / "tiny")


@pytest.fixture
def ravdess_root(tmp_path) -> Path:
    return ravdess_tree(tmp_path / "ravdess")


def _contents(path: Path, ignore: tuple[str, ...] = ()) -> dict:
    """Every group and dataset of a file: attributes, dtype, shape, chunks, filters, values."""
    def attrs(obj) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in obj.attrs.items()}

    out = {}
    with h5py.File(path, "r") as file:
        out["/"] = {"attrs": attrs(file)}

        def visit(name: str, obj) -> None:
            if any(name == i or name.startswith(i + "/") for i in ignore):
                return
            entry = {"attrs": attrs(obj), "kind": type(obj).__name__}
            if isinstance(obj, h5py.Dataset):
                value = obj[()]
                entry.update(dtype=str(obj.dtype), shape=obj.shape, chunks=obj.chunks,
                             compression=obj.compression, opts=obj.compression_opts,
                             shuffle=obj.shuffle, fletcher32=obj.fletcher32,
                             value=value.tobytes() if value.dtype.kind == "f" else value.tolist())
            out[name] = entry

        file.visititems(visit)
    return out


def _store(corpus, output: Path, features=FAST, **kwargs):
    return make_feature_store(corpus, output, StoreOptions(CATEGORICAL, tuple(features)),
                              **kwargs)


# --- layout, attributes and values --------------------------------------------------------------

def test_ravdess_layout_attributes_and_compression(ravdess_root, tmp_path):
    corpus = RavdessCorpus(ravdess_root)
    items = corpus.items(CATEGORICAL)
    output = tmp_path / "ravdess.h5"
    report = _store(corpus, output, features=("mel_db", "pitch"))
    assert report.computed == len(items) == 5 and not report.skipped
    assert not parts_dir(output).exists() and not partial_path(output).exists()
    with h5py.File(output, "r") as file:
        assert set(file) == {"ravdess", "_skipped"}
        assert sorted(file["ravdess"]) == ["01", "02", "18", "21", "22"]
        assert file["_skipped"].shape == (0,)
        attrs = file.attrs
        assert list(attrs["families"]) == ["mel_db", "pitch"]
        assert list(attrs["family_dims"]) == [40, 2] and attrs["frame_dim"] == 42
        assert list(attrs["stats_families"]) == ["mel_db", "pitch"] and attrs["stats_dim"] == 84
        assert attrs["frame_rate"] == 25.0 and attrs["sample_rate"] == 16000
        assert attrs["corpus"] == "ravdess" and attrs["task"] == CATEGORICAL
        assert attrs["tfemo_version"] and attrs["store_version"] >= 1
        assert '"n_mels": 40' in attrs["feature_options"]
        for item in items:
            group = file[f"/ravdess/{item.speaker}/{item.id}"]
            for name in ("id", "speaker", "corpus", "portion", "label", "gender", "language"):
                assert group.attrs[name] == (getattr(item, name) or "")
            assert group.attrs["audio_path"] == str(item.audio_path)
            for key, value in item.metadata.items():
                assert group.attrs[key] == value
            assert set(RAVDESS_FIELDS) <= set(group.attrs)
            frames, stats = group["frames"], group["stats"]
            assert frames.dtype == np.float32 and stats.dtype == np.float32
            assert frames.shape == (group.attrs["num_frames"], 42) and stats.shape == (84,)
            for dataset in (frames, stats):
                assert dataset.chunks is not None and dataset.compression == "gzip"
                assert dataset.shuffle and dataset.fletcher32
    angry = file_attrs = None
    with FeatureStore(output) as store:
        angry = store.select(id="03-01-05-01-02-01-01")[0]
        file_attrs = store.attrs
    assert angry.group == "/ravdess/01/03-01-05-01-02-01-01"
    assert {k: angry.metadata[k] for k in RAVDESS_FIELDS} == {
        "modality": "audio-only", "vocal_channel": "speech", "emotion": "angry",
        "intensity": "normal", "statement": "02", "repetition": "01", "actor": "01"}
    assert angry.metadata["transcript"] == "Dogs are sitting by the door"
    assert angry.metadata["seconds"] == pytest.approx(0.2) and angry.metadata["num_frames"] == 5
    assert file_attrs["families"] == ["mel_db", "pitch"]


def test_values_equal_tfemo_feature_functions_on_the_same_audio(ravdess_root, tmp_path):
    corpus = RavdessCorpus(ravdess_root)
    families = ("pitch", "mfcc", "zcr")  # not in FEATURE_FAMILIES order: frames keep this order
    _store(corpus, tmp_path / "s.h5", features=families)
    with FeatureStore(tmp_path / "s.h5") as store:
        assert store.families == {"pitch": 2, "mfcc": 13, "zcr": 1}
        assert store.attrs["stats_families"] == ["zcr", "mfcc", "pitch"]
        found = {item.id: item for item in store}
    assert len(found) == 5
    for item in corpus.items(CATEGORICAL):
        audio = load_audio(item.audio_path)
        parts = extract_features(audio, frame_count(len(audio)), families)
        expected = np.concatenate([parts[name] for name in families], axis=1)
        np.testing.assert_array_equal(found[item.id].frames, expected)
        np.testing.assert_array_equal(found[item.id].stats, utterance_statistics(parts))


@pytest.mark.slow  # imports TensorFlow (tfemo.records.example) to build the records' examples
def test_frames_equal_the_features_stored_in_the_records(tiny_root, tmp_path):
    from tfemo.records.example import BuildOptions, build_example

    corpus = DemoCorpus(tiny_root)
    _store(corpus, tmp_path / "s.h5", features=FEATURE_FAMILIES)
    with FeatureStore(tmp_path / "s.h5") as store:
        found = {item.id: item.frames for item in store}
    options = BuildOptions(CATEGORICAL, class_names=tuple(corpus.label_names(CATEGORICAL)),
                           features=FEATURE_FAMILIES)
    for item in corpus.items(CATEGORICAL)[:6]:
        example = build_example(item, options, {}).example
        np.testing.assert_array_equal(found[item.id], example.features)


def test_frame_features_and_the_store_load_no_tensorflow():
    code = ("import sys, tfemo.audio.frames, tfemo.store.featurise, tfemo.store.build; "
            "sys.exit('tensorflow' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_demo_corpus_layout_select_and_dataframe(tiny_root, tmp_path):
    corpus = DemoCorpus(tiny_root)
    items = corpus.items(CATEGORICAL)
    _store(corpus, tmp_path / "demo.h5")
    with FeatureStore(tmp_path / "demo.h5") as store:
        assert len(store) == len(items) == 36
        for item in items:
            assert store.select(id=item.id)[0].group == f"/demo/{item.speaker}/{item.id}"
        angry_train = store.select(label="angry", portion="train")
        expected = sorted(i.id for i in items if i.label == "angry" and i.portion == "train")
        assert sorted(i.id for i in angry_train) == expected and len(expected) == 2
        assert all(i.frames.shape[1] == 14 and i.stats.shape == (28,) for i in angry_train)
        held_out = store.ids(portion=("devel", "test"))
        assert sorted(held_out) == sorted(i.id for i in items if i.portion != "train")
        sentence = items[0].metadata["sentence_id"]  # a key of Item.metadata
        assert store.ids(sentence_id=sentence) == sorted(
            i.id for i in items if i.metadata["sentence_id"] == sentence)
        table = store.to_dataframe()
        assert len(table) == 36 and table["id"].is_unique
        assert {"id", "speaker", "portion", "label", "gender", "sentence_id", "arousal",
                "num_frames", "seconds", "group"} <= set(table.columns)
        assert table.groupby("portion").size().to_dict() == {"devel": 12, "test": 12,
                                                             "train": 12}
        assert len(store.to_dataframe(portion="test", label="sad")) == 2
        with pytest.raises(TfemoError, match="no attribute colour"):
            store.select(colour="red")
        assert store.summary()["train"].items == 12


def test_latents_round_trip_with_provenance(tiny_root, tmp_path):
    corpus = DemoCorpus(tiny_root)
    output = tmp_path / "demo.h5"
    _store(corpus, output)
    before = _contents(output)
    rng = np.random.default_rng(0)
    ids = [i.id for i in corpus.items(CATEGORICAL)]
    latents = {i: (rng.standard_normal(8), rng.standard_normal(8)) for i in ids}
    with FeatureStore(output) as store:
        store.write_latents("beta4", latents, {"model": "beta_vae", "beta": 4.0,
                                               "config": {"latent_dim": 8}})
        read = store.latents("beta4")
        assert store.latent_names() == ["beta4"]
    assert read.item_ids == sorted(ids) and read.mean.dtype == np.float32
    for item_id in ids:
        mean, log_var = read.of(item_id)
        np.testing.assert_array_equal(mean, latents[item_id][0].astype(np.float32))
        np.testing.assert_array_equal(log_var, latents[item_id][1].astype(np.float32))
    assert read.provenance == {"model": "beta_vae", "beta": 4.0, "config": '{"latent_dim": 8}',
                               "latent_dim": 8, "items": 36}
    assert _contents(output, ignore=("latents",)) == before  # nothing else changed
    write_latents(output, "beta4", {ids[0]: (np.zeros(3), np.ones(3))})  # replaces the name
    with FeatureStore(output) as store:
        assert store.latents("beta4").item_ids == [ids[0]]
        assert store.latents("beta4").mean.shape == (1, 3)
    unchanged = output.read_bytes()
    with pytest.raises(TfemoError, match="not in the store: nobody"):
        write_latents(output, "other", {"nobody": (np.zeros(3), np.zeros(3))})
    with pytest.raises(TfemoError, match="NaN"):
        write_latents(output, "other", {ids[0]: (np.full(3, np.nan), np.zeros(3))})
    assert output.read_bytes() == unchanged and not partial_path(output).exists()


# --- resuming -----------------------------------------------------------------------------------

def test_an_interrupted_run_resumed_writes_the_same_file(tiny_root, tmp_path):
    corpus = DemoCorpus(tiny_root)
    _store(corpus, tmp_path / "whole.h5")

    class RunInterruptedError(Exception):
        pass

    done = []

    def interrupt(count: int) -> None:
        done.append(count)
        if sum(done) >= 10:
            raise RunInterruptedError

    with pytest.raises(RunInterruptedError):
        _store(corpus, tmp_path / "parts.h5", on_progress=interrupt)
    assert not (tmp_path / "parts.h5").exists()
    assert len(list(parts_dir(tmp_path / "parts.h5").glob("*.npz"))) == 10
    report = _store(corpus, tmp_path / "parts.h5")
    assert (report.reused, report.computed) == (10, 26)
    assert _contents(tmp_path / "parts.h5") == _contents(tmp_path / "whole.h5")
    assert (tmp_path / "parts.h5").read_bytes() == (tmp_path / "whole.h5").read_bytes()
    assert _store(corpus, tmp_path / "parts.h5").up_to_date


def test_other_options_are_refused_for_parts_and_for_a_finished_store(tiny_root, tmp_path):
    corpus = DemoCorpus(tiny_root)
    output = tmp_path / "s.h5"

    def stop(count: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _store(corpus, output, on_progress=stop)
    with pytest.raises(UserError, match="unfinished feature store made with other options"):
        _store(corpus, output, features=("mfcc",))
    _store(corpus, output)
    with pytest.raises(UserError, match=r"made with other options \(features"):
        _store(corpus, output, features=("rms",))


def test_a_changed_audio_file_is_featurised_again(ravdess_root, tmp_path):
    corpus = RavdessCorpus(ravdess_root)
    output = tmp_path / "s.h5"
    _store(corpus, output)
    item = corpus.items(CATEGORICAL)[0]
    soundfile.write(str(item.audio_path), np.zeros(3200, dtype=np.float32), 16000)
    os.utime(item.audio_path, ns=(1, 1))
    report = _store(corpus, output)
    assert not report.up_to_date
    with FeatureStore(output) as store:
        changed = store.select(id=item.id)[0]
    assert changed.frames.shape == (5, 14) and changed.metadata["seconds"] == 0.2


_CHILD = r"""
import os, signal, sys
from pathlib import Path
import tfemo.store.parts as parts
import tfemo.store.writer as writer
from tfemo.make_feature_store import main

point, count = sys.argv[1], int(sys.argv[2])
calls = []

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "part":  # the count-th part is half written to its temp file, then the kill
    original = parts.write_atomic
    def write_atomic(path, data):
        if Path(path).suffix == ".npz":
            calls.append(path)
            if len(calls) == count:
                temp = Path(path).with_name(f".{Path(path).name}.tmp-{os.getpid()}")
                with open(temp, "wb") as handle:
                    handle.write(data[: len(data) // 2])
                die()
        return original(path, data)
    parts.write_atomic = write_atomic
elif point == "merge":  # the HDF5 file is count groups into its one pass
    original = writer.write_item
    def write_item(file, item, features):
        calls.append(item.id)
        if len(calls) == count:
            file.flush()
            die()
        return original(file, item, features)
    writer.write_item = write_item
elif point == "cleanup":  # the store is renamed into place; its parts are not yet removed
    parts.Parts.remove = lambda self: die()
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.slow
def test_sigkill_at_several_points_then_resume_equals_an_uninterrupted_run(tiny_root, tmp_path):
    args = ["--data_dir", str(tiny_root), "--task", CATEGORICAL, "--features", "mfcc,rms,pitch",
            "--workers", "1", "--quiet"]
    whole, output = tmp_path / "whole.h5", tmp_path / "killed.h5"
    assert store_main([*args, "--output", str(whole)]) == 0
    args += ["--output", str(output)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")])}
    parts = parts_dir(output)

    def npz() -> int:
        return len(list(parts.glob("*.npz"))) if parts.is_dir() else 0

    # 1. a real kill from outside, at whatever moment the third item is done
    process = subprocess.Popen([sys.executable, "-m", "tfemo.make_feature_store", *args],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while npz() < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.002)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not output.exists() and npz() >= 3
    first = npz()

    def killed_at(point: str, count: int) -> None:
        done = subprocess.run([sys.executable, "-c", _CHILD, point, str(count), *args],
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == -signal.SIGKILL, done.stderr

    # 2. mid-write of a part: a half temp file is left, never a half part
    killed_at("part", 4)
    assert npz() == first + 3 and list(parts.glob(".*.tmp-*")) and not output.exists()
    # 3. mid-write of the HDF5 file, after every item is done
    killed_at("merge", 20)
    assert npz() == 36 and partial_path(output).exists() and not output.exists()
    # 4. after the rename, before the parts are removed
    killed_at("cleanup", 0)
    assert output.exists() and parts.is_dir() and not partial_path(output).exists()
    assert store_main(args) == 0
    assert not parts.exists() and not partial_path(output).exists()
    assert _contents(output) == _contents(whole)
    assert output.read_bytes() == whole.read_bytes()


# --- bad files ----------------------------------------------------------------------------------

def _add_bad_files(root: Path) -> dict[str, str]:
    """Audio-only RAVDESS speech files that cannot be featurised; returns path -> reason."""
    corrupt = root / "Actor_03" / "03-01-06-01-01-01-03.wav"
    empty = root / "Actor_03" / "03-01-06-01-01-02-03.wav"
    non_finite = root / "Actor_04" / "03-01-03-01-01-01-04.wav"
    corrupt.parent.mkdir()
    non_finite.parent.mkdir()
    corrupt.write_bytes(b"RIFF" + bytes(range(256)) * 4)
    soundfile.write(str(empty), np.zeros(0, dtype=np.float32), 16000)
    samples = np.full(3200, 0.1, dtype=np.float32)
    samples[800:810] = np.nan
    samples[900] = np.inf
    soundfile.write(str(non_finite), samples, 16000, subtype="FLOAT")
    huge = root / "Actor_04" / "03-01-03-01-01-02-04.wav"  # finite, but far outside [-1, 1]
    soundfile.write(str(huge), np.full(3200, 1e30, dtype=np.float32), 16000, subtype="FLOAT")
    return {str(corrupt): "corrupt audio", str(empty): "empty audio",
            str(non_finite): "non-finite audio", str(huge): "bad audio"}


def test_bad_files_are_reported_skipped_and_the_rest_is_unchanged(ravdess_root, tmp_path,
                                                                  capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one skip per line
    bad = _add_bad_files(ravdess_root)
    output = tmp_path / "with_bad.h5"
    code = store_main(["--corpus", "ravdess", "--data_dir", str(ravdess_root), "--features",
                       "mfcc,pitch", "--output", str(output), "--workers", "1", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    for path, reason in bad.items():
        assert f"skipped {path}: {reason}" in printed
    assert "11 of 3200 samples are NaN or infinite, the first at 0.050 s" in printed
    with FeatureStore(output) as store:
        skipped = {s.path: s for s in store.skipped()}
        assert {p: s.reason for p, s in skipped.items()} == bad
        assert len(store) == 5
    for path in bad:
        Path(path).unlink()
    clean = tmp_path / "without_bad.h5"
    assert store_main(["--corpus", "ravdess", "--data_dir", str(ravdess_root), "--features",
                       "mfcc,pitch", "--output", str(clean), "--workers", "1", "--quiet"]) == 0
    with_bad = _contents(output, ignore=("_skipped",))
    without = _contents(clean, ignore=("_skipped",))
    for contents in (with_bad, without):
        contents["/"]["attrs"].pop("fingerprint")  # a hash of the input files, which differ
    assert with_bad == without


def test_strict_fails_with_one_line_and_keeps_the_finished_items(ravdess_root, tmp_path,
                                                                 capsys):
    bad = _add_bad_files(ravdess_root)
    output = tmp_path / "strict.h5"
    code = store_main(["--corpus", "ravdess", "--data_dir", str(ravdess_root), "--features",
                       "mfcc", "--output", str(output), "--workers", "1", "--quiet",
                       "--strict"])
    assert code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    first_bad = min(bad, key=lambda p: Path(p).stem)  # items go in id order: the NaN file
    assert f"{first_bad}: {bad[first_bad]}" in lines[0] and "--strict" in lines[0]
    assert not output.exists()
    assert len(list(parts_dir(output).glob("*.npz"))) == 2  # the two ids before it
    with pytest.raises(InputError, match="non-finite audio"):
        _store(RavdessCorpus(ravdess_root), output, features=("mfcc",), strict=True)


# --- the command ----------------------------------------------------------------------------------

def test_command_on_the_demo_corpus_writes_the_store_and_resumes(tiny_root, tmp_path, capsys):
    output = tmp_path / "demo.h5"
    args = ["--data_dir", str(tiny_root), "--task", CATEGORICAL, "--features", "mfcc",
            "--output", str(output), "--workers", "1", "--quiet"]
    assert store_main(args) == 0
    with FeatureStore(output) as store:
        assert len(store) == 36 and store.families == {"mfcc": 13}
        assert {m["portion"] for m in store.metadata()} == {"train", "devel", "test"}
    written = output.stat().st_mtime_ns, output.read_bytes()
    printed = capsys.readouterr().out  # off a terminal: whole lines, however long the path
    assert f"{output} was already complete" not in printed and "36 items featurised" in printed
    assert store_main(args) == 0  # complete already: nothing is rewritten
    assert (output.stat().st_mtime_ns, output.read_bytes()) == written
    assert f"{output} was already complete with these options" in capsys.readouterr().out
    assert store_main(["--data_dir", str(tiny_root), "--features", "bogus", "--output",
                       str(tmp_path / "other.h5")]) == 2
    assert "error: --features: unknown feature families ['bogus']" in capsys.readouterr().err
    assert parse_features("all") == FEATURE_FAMILIES
    assert parse_features(" mfcc , rms ") == ("mfcc", "rms")


def test_default_output_and_help(tiny_root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert store_main(["--data_dir", str(tiny_root), "--task", CATEGORICAL, "--features", "rms",
                       "--workers", "1", "--quiet"]) == 0
    assert (tmp_path / "features" / "demo.h5").is_file()
    with pytest.raises(SystemExit):
        store_main(["--help"])
    text = capsys.readouterr().out
    for option in ("--corpus", "--data_dir", "--task", "--features", "--output", "--strict",
                   "--workers"):
        assert option in text


@pytest.mark.slow
def test_two_workers_write_the_same_bytes_as_one(tiny_root, tmp_path):
    corpus = DemoCorpus(tiny_root)
    _store(corpus, tmp_path / "one.h5", workers=1)
    _store(corpus, tmp_path / "two.h5", workers=2)
    assert (tmp_path / "one.h5").read_bytes() == (tmp_path / "two.h5").read_bytes()
