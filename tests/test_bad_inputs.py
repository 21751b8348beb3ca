"""No bad file stops a run (issue 11): a folder of good files and every kind of bad audio goes
through make_tfrecords (manifest corpus) and tfemo.predict; each bad file is named with its
reason, and everything else is exactly what a run without the bad files writes. Also: the
non-finite audio error, --strict, gold standards with bad rating files, and the streamed
prediction of long files (identical to the whole-file path).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.predict_factory import write_train_dir
from tests.wav_bytes import IEEE_FLOAT, float32, pcm8, pcm16, pcm24, wav_bytes
from tfemo import predict
from tfemo.audio.frames import frame_features
from tfemo.audio.io import audio_blocks, load_audio
from tfemo.core.errors import InputError
from tfemo.corpora.base import CATEGORICAL, Item
from tfemo.corpora.manifest import ManifestCorpus
from tfemo.inference.predictor import Predictor
from tfemo.inference.streaming import stream_chunks
from tfemo.labels.gold_standard import GoldStandardOptions, Variant, make_gold_standards
from tfemo.make_gold_standard import main as make_gold_standard_main
from tfemo.make_tfrecords import main as make_tfrecords_main
from tfemo.records.build import MakeOptions, make_tfrecords
from tfemo.records.example import BuildOptions, build_example
from tfemo.records.partitions import read_portion

RATE = 16_000
LOCAL_FAMILIES = ("zcr", "rms", "mfcc", "chroma", "mel_db", "entropy", "mfb_mean", "mfb_cat")


def _tone(seconds: float, hertz: float = 220.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return 0.4 * np.sin(2 * np.pi * hertz * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 1.3 * t))


def _with(samples: np.ndarray, where: list[int], value: float) -> np.ndarray:
    samples = samples.copy()
    samples[where] = value
    return samples


def good_files() -> dict[str, bytes]:
    """Unusual but good files: they must be written."""
    tone = _tone(0.8)
    return {
        "plain16.wav": wav_bytes(pcm16(tone)),
        "eight_bit.wav": wav_bytes(pcm8(_tone(0.5, 300)), bits=8),
        "twentyfour_bit.wav": wav_bytes(pcm24(_tone(0.6, 180)), bits=24),
        "float.wav": wav_bytes(float32(_tone(0.7, 260)), bits=32, fmt=IEEE_FLOAT),
        "sixty_four_channels.wav": wav_bytes(pcm16(np.repeat(_tone(0.3), 64)), channels=64),
        "one_sample.wav": wav_bytes(pcm16(tone[:1])),
        "at_44k.wav": wav_bytes(pcm16(_tone(0.5, 200, 44_100)), rate=44_100),
    }


def bad_files() -> dict[str, tuple[bytes, str]]:
    """Every bad kind of audio: file name -> (bytes, the reason it must be skipped for)."""
    tone = _tone(0.8)
    whole = wav_bytes(pcm16(tone))
    return {
        "random_bytes.wav": (bytes(np.random.default_rng(0).integers(0, 256, 700, np.uint8)),
                             "corrupt audio"),
        "empty_file.wav": (b"", "corrupt audio"),
        "truncated_header.wav": (whole[:30], "corrupt audio"),
        "truncated_body.wav": (whole[:5000], "truncated audio"),
        "declared_too_large.wav": (wav_bytes(pcm16(tone), data_size=10**7), "truncated audio"),
        "rate_zero.wav": (wav_bytes(pcm16(tone), rate=0), "corrupt audio"),
        "rate_one.wav": (wav_bytes(pcm16(tone), rate=1), "bad sample rate"),
        "zero_channels.wav": (wav_bytes(pcm16(tone), channels=0, block_align=2),
                              "corrupt audio"),
        "zero_samples.wav": (wav_bytes(b""), "empty audio"),
        "one_sample_at_44k.wav": (wav_bytes(pcm8(tone[:1]), bits=8, rate=44_100),
                                  "empty audio"),  # no sample at 16 kHz (found by fuzzing)
        "float_nan.wav": (wav_bytes(float32(_with(tone, [100, 5000], np.nan)), bits=32,
                                    fmt=IEEE_FLOAT), "non-finite audio"),
        "float_inf.wav": (wav_bytes(float32(_with(tone, [8000], -np.inf)), bits=32,
                                    fmt=IEEE_FLOAT), "non-finite audio"),
        "float_huge.wav": (wav_bytes(float32(tone * 3e38), bits=32, fmt=IEEE_FLOAT),
                           "bad audio"),
    }


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("audio") / "recordings with spaces, é"
    folder.mkdir()
    for name, data in good_files().items():
        (folder / name).write_bytes(data)
    for name, (data, _) in bad_files().items():
        (folder / name).write_bytes(data)
    return folder


def _manifest(folder: Path, audio_dir: Path, names: list[str]) -> Path:
    """A categorical manifest (absolute paths, so two manifests give the same item ids)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,speaker,label,portion"]
    # a file's row is the same in any manifest; every portion has good files (a portion whose
    # files are all bad is still written, as an empty shard)
    every = [*sorted(good_files()), *sorted(bad_files())]
    for name in sorted(names):
        k = every.index(name) if name in every else len(every)
        portion = ("train", "train", "devel", "test")[k % 4]
        rows.append(f'"{audio_dir / name}",{portion}{k},{"ab"[k % 2]},{portion}')
    path = folder / "manifest.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _flat(text: str) -> str:
    return "".join(text.split())


def _records(output: Path) -> dict[str, bytes]:
    return {str(p.relative_to(output)): p.read_bytes() for p in sorted(output.rglob("*.tfrecord"))}


def _description(output: Path) -> dict:
    data = json.loads((output / "description.json").read_text())
    return {k: v for k, v in data.items() if k not in ("skipped", "command")}


def test_records_name_every_bad_file_and_equal_a_run_without_them(audio_dir, tmp_path, capsys):
    good, bad = good_files(), bad_files()
    both = _manifest(tmp_path / "both", audio_dir, [*good, *bad])
    clean = _manifest(tmp_path / "clean", audio_dir, list(good))
    common = ["--corpus", "manifest", "--embeddings", "none", "--features", "rms,mfcc,pitch",
              "--workers", "1", "--quiet"]
    assert make_tfrecords_main([*common, "--data_dir", str(both), "--output_dir",
                                str(tmp_path / "out_both")]) == 0
    printed = _flat(capsys.readouterr().out)
    for name, (_, reason) in bad.items():
        assert _flat(f"{audio_dir / name}: {reason}") in printed, name
    assert make_tfrecords_main([*common, "--data_dir", str(clean), "--output_dir",
                                str(tmp_path / "out_clean")]) == 0
    assert _flat(f"skipped {audio_dir}") not in _flat(capsys.readouterr().out)
    written = {e.id.rsplit("/", 1)[-1] for portion in ("train", "devel", "test")
               for e in read_portion(tmp_path / "out_both", portion)}
    assert written == {Path(n).stem for n in good}
    assert _records(tmp_path / "out_both") == _records(tmp_path / "out_clean")
    assert _description(tmp_path / "out_both") == _description(tmp_path / "out_clean")
    skipped = json.loads((tmp_path / "out_both" / "description.json").read_text())["skipped"]
    assert sum(sum(r.values()) for r in skipped.values()) == len(bad)


def test_strict_stops_at_a_bad_file_and_names_it(audio_dir, tmp_path, capsys):
    manifest = _manifest(tmp_path / "m", audio_dir, ["plain16.wav", "float_nan.wav"])
    code = make_tfrecords_main(["--corpus", "manifest", "--data_dir", str(manifest),
                                "--output_dir", str(tmp_path / "out"), "--embeddings", "none",
                                "--workers", "1", "--quiet", "--strict"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert f"{audio_dir / 'float_nan.wav'}: non-finite audio" in err and "--strict stops" in err
    assert not (tmp_path / "out" / "description.json").exists()


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    return write_train_dir(tmp_path_factory.mktemp("train"), "conv1d", ("rms", "mfcc", "pitch"))


def test_predict_names_every_bad_file_and_writes_what_a_clean_run_writes(audio_dir, classifier,
                                                                         tmp_path, capsys):
    good = [str(audio_dir / n) for n in sorted(good_files())]
    bad = bad_files()
    everything = sorted([*good, *(str(audio_dir / n) for n in bad)])
    common = ["--train_dir", str(classifier), "--chunk_seconds", "0.2"]
    assert predict.main([*everything, *common, "--output_dir", str(tmp_path / "both")]) == 0
    printed = _flat(capsys.readouterr().out)
    for name, (_, reason) in bad.items():
        assert _flat(f"{audio_dir / name}: {reason}") in printed, name
    assert f"{len(bad)}skipped" in printed
    assert predict.main([*good, *common, "--output_dir", str(tmp_path / "clean")]) == 0
    both = (tmp_path / "both" / "predictions.csv").read_bytes()
    assert both == (tmp_path / "clean" / "predictions.csv").read_bytes()
    assert len(both.decode().splitlines()) == len(good) + 1
    assert predict.main([*everything, *common, "--strict",
                         "--output_dir", str(tmp_path / "strict")]) == 2
    assert "--strict stops" in capsys.readouterr().err


def test_non_finite_samples_are_counted_and_the_first_is_timed(tmp_path):
    tone = np.repeat(_tone(1.0, rate=8000)[:, None], 2, axis=1)  # stereo, 8 kHz
    tone[2000, 1] = np.nan
    tone[[3000, 3001], 0] = np.inf
    tone[7000, :] = -np.inf
    path = tmp_path / "stereo float.wav"
    soundfile.write(path, tone.astype(np.float32), 8000, subtype="FLOAT")
    expected = f"{path}: non-finite audio (5 of 16000 samples are NaN or infinite, the first " \
               f"at 0.250 s)"
    with pytest.raises(InputError) as whole:
        load_audio(path)
    assert str(whole.value) == expected
    with pytest.raises(InputError) as blocks:
        list(audio_blocks(path, block_frames=999))
    assert str(blocks.value) == expected


def test_a_label_file_its_reader_cannot_parse_is_named_but_a_bug_surfaces(tmp_path):
    audio = tmp_path / "a.wav"
    soundfile.write(audio, _tone(0.5).astype(np.float32), RATE)
    labels = tmp_path / "a.labels"

    def item(error: Exception) -> Item:
        return Item(id="a", speaker="s", corpus="c", portion="train", audio_path=audio,
                    load_trace=functools.partial(_raise, error), label_files=(labels,))

    options = BuildOptions(task="continuous")
    with pytest.raises(InputError) as caught:
        build_example(item(ValueError("could not convert string to float: 'x'")), options, {})
    assert caught.value.path == str(labels) and caught.value.reason == "bad labels"
    assert "could not convert" in caught.value.detail
    with pytest.raises(AttributeError):  # an internal error is not a bad file
        build_example(item(AttributeError("'NoneType' has no attribute 'x'")), options, {})


def _raise(error: Exception):
    raise error


def test_a_segment_with_non_finite_times_is_named(tmp_path):
    from tfemo.corpora.base import Segment

    audio = tmp_path / "a.wav"
    soundfile.write(audio, _tone(0.5).astype(np.float32), RATE)
    item = Item(id="a", speaker="s", corpus="c", portion="train", audio_path=audio, label="x",
                segments=(Segment(float("nan"), 0.4, "hello there"),))
    options = BuildOptions(task="categorical", alignment="uniform", class_names=("x",),
                           word_dim=2)
    with pytest.raises(InputError, match="bad transcript"):
        build_example(item, options, {"hello": np.ones(2), "there": np.ones(2)})


def test_an_internal_error_while_building_fails_the_run(tmp_path, monkeypatch):
    audio = tmp_path / "a.wav"
    soundfile.write(audio, _tone(0.5).astype(np.float32), RATE)
    corpus = ManifestCorpus(_manifest(tmp_path / "m", tmp_path, ["a.wav"]))

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("tfemo.records.example.to_pcm_frames", broken)
    with pytest.raises(ZeroDivisionError):
        make_tfrecords(corpus, tmp_path / "out", MakeOptions(task=CATEGORICAL, embeddings="none"))


# ----------------------------------------------------------------------------- gold standards

RATED = "time,arousal,arousal_r1,arousal_r2\n"


def _ratings(frames: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    values = rng.uniform(-1, 1, size=(frames, 3))
    return RATED + "".join(f"{0.04 * i:.2f},{a:.4f},{b:.4f},{c:.4f}\n"
                           for i, (a, b, c) in enumerate(values))


def _rated_manifest(folder: Path, recordings: dict[str, tuple[float, str | None]]) -> Path:
    """recording id -> (audio seconds, ratings CSV text or None for no file)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,speaker,labels,portion"]
    for k, (name, (seconds, text)) in enumerate(recordings.items()):
        soundfile.write(folder / f"{name}.wav", _tone(seconds).astype(np.float32), RATE)
        if text is not None:
            (folder / f"{name}.csv").write_text(text)
        rows.append(f"{name}.wav,s{k},{name}.csv,train")
    path = folder / "manifest.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_gold_standards_skip_bad_rating_files_and_write_the_rest_unchanged(tmp_path, capsys):
    good = {"g1": (1.0, _ratings(25, 1)), "g2": (1.2, _ratings(30, 2))}
    with_nan = _ratings(25, 3).splitlines()
    with_nan[11] = "0.40,0.1,nan,0.2"  # rater r1 at 0.40 s
    bad = {"b_nan": (1.0, "\n".join(with_nan) + "\n"),
           "b_text": (1.0, _ratings(25, 4).replace("\n0.08,", "\n0.08,high,", 1)),
           "b_missing": (1.0, None),
           "b_one_rater": (1.0, "time,arousal,arousal_r1\n0.00,0.1,0.1\n0.04,0.2,0.2\n"),
           "b_short": (1.0, RATED + "0.00,0.1,0.1,0.2\n")}
    runs = {}
    for name, recordings in (("both", {**good, **bad}), ("clean", good)):
        manifest = _rated_manifest(tmp_path / name, recordings)
        output = tmp_path / f"gold_{name}"
        assert make_gold_standard_main(["--corpus", "manifest", "--data_dir", str(manifest),
                                        "--method", "mean,ewe", "--output_dir",
                                        str(output)]) == 0
        runs[name] = (output, _flat(capsys.readouterr().out))
    output, printed = runs["both"]
    for name in bad:
        assert _flat(f"skipped {name}: {tmp_path / 'both' / name}.csv") in printed, name
    for method in ("mean", "ewe"):
        assert sorted(p.name for p in (output / method).iterdir()) == ["g1.csv", "g2.csv"]
        for name in good:
            assert (output / method / f"{name}.csv").read_bytes() == \
                (runs["clean"][0] / method / f"{name}.csv").read_bytes()
    assert (output / "summary.csv").read_bytes() == \
        (runs["clean"][0] / "summary.csv").read_bytes()


def test_a_recording_fusion_refuses_is_skipped_not_fatal(tmp_path):
    manifest = _rated_manifest(tmp_path, {"long1": (2.0, _ratings(50, 1)),
                                          "long2": (2.0, _ratings(50, 2)),
                                          "short": (0.4, _ratings(10, 3))})
    variant = Variant("mean", "mean", GoldStandardOptions(lag_frames=20))
    run = make_gold_standards(ManifestCorpus(manifest), [variant], tmp_path / "gold",
                              features=())
    assert [r.id for r in run.recordings] == ["long1", "long2"]
    assert len(run.skips) == 1 and run.skips[0].item == "short"
    assert "lag_frames" in run.skips[0].reason and str(tmp_path / "short.csv") in \
        run.skips[0].reason


# ----------------------------------------------------------------------------- long files


@pytest.fixture(scope="module")
def stereo_44k(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("long") / "stereo.wav"
    rng = np.random.default_rng(5)
    left = _tone(3.1, 180, 44_100) * (np.arange(int(3.1 * 44_100)) % 30_000 > 9_000)
    both = np.stack([left, 0.05 * rng.standard_normal(len(left))], axis=1)
    soundfile.write(path, both.astype(np.float32), 44_100, subtype="PCM_16")
    return path


def test_blocks_and_streamed_features_equal_the_whole_file(stereo_44k):
    whole = load_audio(stereo_44k)
    np.testing.assert_array_equal(np.concatenate(list(audio_blocks(stereo_44k,
                                                                   block_frames=777))), whole)
    frames = -(-len(whole) // 640)
    expected = frame_features(whole, frames, LOCAL_FAMILIES)
    chunks = list(stream_chunks(stereo_44k, 7, LOCAL_FAMILIES, context_frames=1,
                                block_frames=555))
    assert [len(c["audio"]) for c in chunks[:-1]] == [7] * (len(chunks) - 1)
    np.testing.assert_array_equal(np.concatenate([c["features"] for c in chunks]), expected)
    item = Item(id="s", speaker="s", corpus="c", portion="p", audio_path=stereo_44k)
    pcm = build_example(item, BuildOptions(task="categorical"), {}).example.audio
    np.testing.assert_array_equal(np.concatenate([c["audio"] for c in chunks]) * 32768.0, pcm)


@pytest.mark.parametrize(("model", "normalise"), [("conv1d", False), ("conv1d", True),
                                                  ("gru_regressor", False)])
def test_streamed_prediction_equals_the_whole_file_path(stereo_44k, tmp_path, model, normalise):
    train_dir = write_train_dir(tmp_path, model, ("rms", "mfcc", "mfb_mean", "entropy"))
    if normalise:
        spec = json.loads((train_dir / "model.json").read_text())
        spec["data"]["speaker_normalise"] = True
        (train_dir / "model.json").write_text(json.dumps(spec))
    whole = Predictor(train_dir, chunk_frames=7).predict(stereo_44k)
    streamed = Predictor(train_dir, chunk_frames=7, stream_frames=10).predict(stereo_44k)
    assert whole.frames == streamed.frames > 10 and whole.chunks == streamed.chunks > 10
    if model == "conv1d":
        np.testing.assert_array_equal(whole.probabilities, streamed.probabilities)
    else:
        np.testing.assert_array_equal(whole.trace, streamed.trace)
