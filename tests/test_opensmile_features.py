"""The openSMILE families (tfemo[opensmile]): widths without the extra, the one-line error when
it is missing, and, with it, shapes, determinism, alignment on the 40 ms grid, records, predict."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest

from tfemo.audio import FRAME_LENGTH, SAMPLE_RATE
from tfemo.audio import opensmile_features as osm
from tfemo.audio.features import FEATURE_FAMILIES, extract_features, feature_dims, parse_families
from tfemo.core.errors import UserError

FAMILIES = ("egemaps", "compare", "compare_de")


def _tone(seconds: float, hertz: float, amplitude: float = 0.3) -> np.ndarray:
    """A tone with its octave, so that both pitch and spectral descriptors see it."""
    t = np.arange(int(round(seconds * SAMPLE_RATE))) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * hertz * t)
            + amplitude / 3 * np.sin(4 * np.pi * hertz * t)).astype(np.float32)


def _semitones(hertz: float) -> float:
    """eGeMAPS' F0 unit: semitones above 27.5 Hz."""
    return 12.0 * np.log2(hertz / 27.5)


def test_widths_are_known_without_opensmile_and_all_leaves_them_out():
    assert feature_dims(FAMILIES) == {"egemaps": 25, "compare": 65, "compare_de": 65}
    assert parse_families("all") == FEATURE_FAMILIES
    assert not set(FAMILIES) & set(parse_families("all"))


def test_a_missing_extra_is_a_one_line_user_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "opensmile", None)  # `import opensmile` raises ImportError
    osm._extractor.cache_clear()
    try:
        with pytest.raises(UserError) as parsed:
            parse_families("mfcc,egemaps")
        message = str(parsed.value)
        assert "pip install 'tfemo[opensmile]'" in message and "\n" not in message
        with pytest.raises(UserError, match=r"tfemo\[opensmile\]"):
            extract_features(np.zeros(6400, np.float32), 10, ("compare",))
        assert parse_families("mfcc,rms") == ("mfcc", "rms")  # other families need nothing
        assert extract_features(np.zeros(640, np.float32), 1, ("rms",))["rms"].shape == (1, 1)
    finally:
        osm._extractor.cache_clear()  # so later tests build the real extractor


@pytest.fixture(scope="module")
def opensmile():
    return pytest.importorskip("opensmile")


def test_shapes_widths_names_and_determinism(opensmile):
    rng = np.random.default_rng(0)
    audio = 0.1 * rng.standard_normal(int(0.83 * SAMPLE_RATE)).astype(np.float32)
    for num_frames in (1, 21, 30):  # trimmed, exact (the last frame partial), padded
        first = extract_features(audio, num_frames, FAMILIES)
        again = extract_features(audio, num_frames, FAMILIES)
        for name in FAMILIES:
            assert first[name].shape == (num_frames, feature_dims([name])[name])
            assert first[name].dtype == np.float32 and np.isfinite(first[name]).all()
            np.testing.assert_array_equal(first[name], again[name])
    for name in FAMILIES:
        assert len(osm.feature_names(name)) == feature_dims([name])[name]
    # trimming only cuts audio after the last frame: the frames it keeps change only near it
    long = extract_features(audio, 21, ("egemaps",))["egemaps"]
    short = extract_features(audio[: 15 * FRAME_LENGTH], 15, ("egemaps",))["egemaps"]
    np.testing.assert_allclose(short[:13, :10], long[:13, :10], rtol=1e-4, atol=1e-4)


def _changed(values: np.ndarray, silent: np.ndarray) -> np.ndarray:
    """Rows (sub-frames) where each column differs from its value in silence: bool [T, D]."""
    return np.abs(values - silent) > 1e-6 * (1.0 + np.abs(silent))


def test_a_burst_centred_on_a_frame_gives_symmetric_responses(opensmile):
    """A 100 ms tone centred on frame 12's centre (500 ms): every descriptor's response on the
    10 ms sub-frames is symmetric about sub-frame 49.5 (centred at 500 ms).  Mixing up the 20 ms
    and 60 ms windows (20 ms apart) or a front pad off by 10 ms breaks this for some column."""
    num_frames = 25
    audio = np.zeros(num_frames * FRAME_LENGTH, np.float32)
    audio[7200:8800] = _tone(0.1, 200.0)  # [450, 550) ms
    centre = (500 - 5) / 10  # sub-frame s is centred at 10 s + 5 ms
    for name in FAMILIES:
        sub = osm.subframe_features(audio, name)
        assert sub.shape == (num_frames * 4, feature_dims([name])[name])
        changed = _changed(sub, sub[:8].mean(axis=0))
        for column, label in enumerate(osm.feature_names(name)):
            rows = np.flatnonzero(changed[:, column])
            if "Rasta" in label or "Rfilt" in label:  # RASTA is a causal IIR filter: a tail
                assert rows.size and rows[0] >= 40, label
                continue
            if name == "compare_de" and label.removesuffix("_de") in osm._COMPARE_VOICING:
                continue  # openSMILE's delta inside voiced segments only (checked below)
            if rows.size == 0:  # jitter and shimmer need more than one steady tone
                assert "jitter" in label or "shimmer" in label, label
                continue
            assert abs((rows[0] + rows[-1]) / 2 - centre) <= 0.5, (name, label, rows)
    # the frames: the burst is frames 11 (from 450 ms), 12, 13 (to 550 ms)
    egemaps = extract_features(audio, num_frames, ("egemaps",))["egemaps"]
    names = osm.feature_names("egemaps")
    loudness, f0 = egemaps[:, names.index("Loudness_sma3")], egemaps[:, names.index(
        "F0semitoneFrom27.5Hz_sma3nz")]
    quiet = np.r_[0:10, 15:num_frames]
    np.testing.assert_allclose(loudness[quiet], loudness[0], rtol=1e-5)
    assert (loudness[11:14] > 10 * loudness[0]).all()
    assert loudness[11] == pytest.approx(loudness[13], rel=0.05)  # symmetric about frame 12
    assert (f0[quiet] == 0).all() and f0[12] == pytest.approx(_semitones(200.0), abs=0.1)
    # frames 11 and 13 have 3 voiced sub-frames of 4: F0 is their mean, not diluted by the 0
    np.testing.assert_allclose(f0[[11, 13]], _semitones(200.0), atol=0.1)


def test_compare_deltas_are_the_regression_of_the_compare_subframes(opensmile):
    """compare_de is aligned with compare: outside the voicing group it is exactly openSMILE's
    delta regression (window 2) of the compare descriptors on the same sub-frames."""
    audio = np.zeros(25 * FRAME_LENGTH, np.float32)
    audio[4000:12000] = _tone(0.5, 180.0) * np.linspace(0.2, 1.0, 8000, dtype=np.float32)
    lld = osm.subframe_features(audio, "compare").astype(np.float64)
    delta = osm.subframe_features(audio, "compare_de")
    padded = np.pad(lld, ((2, 2), (0, 0)), mode="edge")
    expected = ((padded[3:-1] - padded[1:-3]) + 2 * (padded[4:] - padded[:-4])) / 10
    plain = [k for k, label in enumerate(osm.feature_names("compare"))
             if label not in osm._COMPARE_VOICING]
    np.testing.assert_allclose(delta[10:90, plain], expected[10:90, plain], rtol=1e-4, atol=1e-4)


def test_f0_changes_at_the_frame_where_the_tone_does(opensmile):
    """200 Hz for frames 0-9, 300 Hz from frame 10: F0 is each tone's (to 0.1 semitone) on
    every frame but the two on the boundary, where 60 ms windows see both."""
    audio = np.concatenate([_tone(0.4, 200.0), _tone(0.4, 300.0)])
    egemaps = extract_features(audio, 20, ("egemaps",))["egemaps"]
    f0 = egemaps[:, osm.feature_names("egemaps").index("F0semitoneFrom27.5Hz_sma3nz")]
    np.testing.assert_allclose(f0[1:9], _semitones(200.0), atol=0.1)
    np.testing.assert_allclose(f0[11:19], _semitones(300.0), atol=0.1)


@pytest.mark.slow
def test_records_with_egemaps_train_an_svm_that_predicts(opensmile, tmp_path, monkeypatch,
                                                         capsys):
    from tfemo import predict, train
    from tfemo.audio.io import load_audio
    from tfemo.corpora.base import CATEGORICAL
    from tfemo.corpora.demo import TINY_CONFIG, DemoCorpus, ensure_demo_corpus
    from tfemo.make_tfrecords import main as make_tfrecords_main
    from tfemo.records.description import DatasetDescription
    from tfemo.records.example import frame_features
    from tfemo.records.partitions import read_portion

    root = ensure_demo_corpus(TINY_CONFIG, root=tmp_path / "tiny")
    records = tmp_path / "records"
    assert make_tfrecords_main(["--data_dir", str(root), "--task", CATEGORICAL,
                                "--output_dir", str(records), "--embeddings", "none",
                                "--features", "mfcc,egemaps", "--workers", "1",
                                "--quiet"]) == 0
    description = DatasetDescription.read(records)
    assert description.features == {"mfcc": 13, "egemaps": 25}
    items = {i.id: i for i in DemoCorpus(root).items(CATEGORICAL)}
    example = next(iter(read_portion(records, "train")))
    audio = load_audio(items[example.id].audio_path)
    np.testing.assert_allclose(example.features,
                               frame_features(audio, len(example.audio), ("mfcc", "egemaps")),
                               rtol=1e-6, atol=1e-6)

    train_dir = tmp_path / "svm"
    assert train.main(["--model", "svm", "--tfrecords", str(records), "--train_dir",
                       str(train_dir), "--max_steps", "3", "--device", "-1",
                       "--verbose", "0"]) == 0
    wav = items[example.id].audio_path
    output = tmp_path / "out"
    assert predict.main([str(wav), "--train_dir", str(train_dir), "--output_dir",
                         str(output), "--no_speech_check"]) == 0
    rows = list(csv.DictReader((output / "predictions.csv").open()))
    assert [Path(r["path"]).name for r in rows] == [Path(wav).name] and rows[0]["top_class"]
    total = sum(float(v) for k, v in rows[0].items() if k.startswith("p_"))
    assert total == pytest.approx(1.0, abs=1e-5)

    monkeypatch.setitem(sys.modules, "opensmile", None)  # the same model without the extra
    osm._extractor.cache_clear()
    try:
        capsys.readouterr()
        assert predict.main([str(wav), "--train_dir", str(train_dir), "--output_dir",
                             str(tmp_path / "out2"), "--no_speech_check"]) == 2
        assert "pip install 'tfemo[opensmile]'" in capsys.readouterr().err
    finally:
        osm._extractor.cache_clear()


@pytest.mark.slow
def test_the_feature_store_holds_egemaps_frames_and_statistics(opensmile, tmp_path):
    import h5py

    from tfemo.audio.features import utterance_statistics
    from tfemo.audio.io import frame_count, load_audio
    from tfemo.corpora.base import CATEGORICAL
    from tfemo.corpora.demo import TINY_CONFIG, ensure_demo_corpus
    from tfemo.make_feature_store import main as store_main
    from tfemo.store import FeatureStore

    root = ensure_demo_corpus(TINY_CONFIG, root=tmp_path / "tiny")
    output = tmp_path / "s.h5"
    assert store_main(["--data_dir", str(root), "--task", CATEGORICAL, "--features",
                       "egemaps,rms", "--output", str(output), "--workers", "1",
                       "--quiet"]) == 0
    with h5py.File(output) as file:
        assert list(file.attrs["families"]) == ["egemaps", "rms"]
        assert list(file.attrs["stats_families"]) == ["rms", "egemaps"]  # KNOWN_FAMILIES order
    with FeatureStore(output) as store:
        item = next(iter(store))
        audio = load_audio(item.metadata["audio_path"])
        parts = extract_features(audio, frame_count(len(audio)), ("egemaps", "rms"))
        np.testing.assert_array_equal(item.frames,
                                      np.concatenate([parts["egemaps"], parts["rms"]], axis=1))
        np.testing.assert_array_equal(item.stats, utterance_statistics(parts))
        assert item.stats.shape == (2 * 26,)
