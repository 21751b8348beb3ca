"""Gold standards: smoothing, the recurrent generator, and make_gold_standard on tiny trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter1d

from tfemo.audio import FRAME_SECONDS
from tfemo.corpora.base import Trace
from tfemo.corpora.demo import TINY_CONFIG, DemoCorpus, ensure_demo_corpus
from tfemo.labels.fusion import fuse
from tfemo.labels.gold_standard import (
    GoldStandardOptions,
    Variant,
    build_gold_standards,
    label_frames,
    load_recordings,
)
from tfemo.labels.smoothing import smooth_gold_standard, window_frames
from tfemo.labels.traces import frame_centres, trace_on_frames
from tfemo.make_gold_standard import main as make_gold_standard
from tfemo.scoring.metrics import ccc

# ----------------------------------------------------------------------------- smoothing


def test_window_is_odd_and_centred():
    assert window_frames(1.0, 25.0) == 25
    assert window_frames(0.5, 25.0) == 13  # 12.5 frames -> 2 * 6 + 1
    assert window_frames(0.0, 25.0) == 1
    with pytest.raises(ValueError):
        window_frames(-1.0, 25.0)


def test_smoothing_keeps_length_peak_and_constants():
    bump = np.exp(-0.5 * ((np.arange(101) - 40) / 6.0) ** 2)
    gold = np.stack([bump, np.full(101, 0.3)], axis=1)
    smoothed = smooth_gold_standard(gold, 1.0, 25.0)
    assert smoothed.shape == gold.shape
    assert int(np.argmax(smoothed[:, 0])) == 40  # centred: the peak does not move
    np.testing.assert_allclose(smoothed[30:51, 0], smoothed[50:29:-1, 0], atol=1e-12)  # symmetric
    assert smoothed[40, 0] < bump[40]  # it did smooth
    np.testing.assert_allclose(smoothed[:, 1], 0.3, atol=1e-12)  # constant, edges included
    np.testing.assert_allclose(smooth_gold_standard(bump, 0.0), bump)  # 0 s: unchanged
    # edges average the frames that exist: the first frame is the mean of frames 0..12
    np.testing.assert_allclose(smoothed[0, 0], bump[:13].mean())


# ----------------------------------------------------------------------------- generator


def synthetic(seed: int = 0, sequences: int = 6, frames: int = 200, lags=(3, 5, 7, 9)):
    """A known trace, annotators = lagged noisy copies, features = noisy linear of the truth."""
    rng = np.random.default_rng(seed)
    truths, ratings, features = [], [], []
    mixing = rng.normal(size=(1, 6))
    for _ in range(sequences):
        truth = gaussian_filter1d(rng.normal(size=frames + 20), 3.0)[20:]
        truth = (truth / truth.std())[:, None]  # [T, 1]
        raters = []
        for lag in lags:
            late = np.concatenate([np.full(lag, truth[0, 0]), truth[:-lag, 0]])
            raters.append(rng.uniform(0.8, 1.2) * late + rng.normal(scale=0.3, size=frames))
        truths.append(truth)
        ratings.append(np.stack(raters, axis=1)[:, None, :])  # [T, 1, R]
        features.append(truth @ mixing + rng.normal(scale=0.5, size=(frames, 6)))
    return truths, ratings, features


def test_rater_weights_are_trained():
    """DESIGN bug 6: the fusion weights are a trainable variable and change during training."""
    from tfemo.labels.gold_generator import GoldStandardGenerator

    _, ratings, features = synthetic(sequences=2, frames=20)
    model = GoldStandardGenerator(1, 4, 6, alpha=1.8, max_shift=3)
    model.compile(optimizer="adam", run_eagerly=True)  # eager: no tracing for 3 tiny steps
    assert any(w is model.rater_logits for w in model.trainable_weights)
    before = np.asarray(model.rater_weights()).copy()
    np.testing.assert_allclose(before, 0.25)  # softmax of zeros: equal weights
    model.fit({"ratings": np.stack(ratings).astype("float32"),
               "features": np.stack(features).astype("float32")}, epochs=2, verbose=0)
    after = np.asarray(model.rater_weights())
    assert np.abs(after - before).max() > 1e-4
    np.testing.assert_allclose(after.sum(axis=1), 1.0, rtol=1e-6)


def test_padded_frames_do_not_change_the_loss():
    from tfemo.labels.gold_generator import GoldStandardGenerator

    _, ratings, features = synthetic(sequences=2, frames=20)
    model = GoldStandardGenerator(1, 4, 6, max_shift=3)
    inputs = {"ratings": np.stack(ratings).astype("float32"),
              "features": np.stack(features).astype("float32"),
              "mask": np.ones((2, 20), bool)}
    padded = {k: np.concatenate([v, np.full((2, 6, *v.shape[2:]), 9.0, v.dtype)], axis=1)
              for k, v in inputs.items()}
    padded["mask"][:, 20:] = False
    losses = [float(model.compute_loss(x, None, model(x))) for x in (inputs, padded)]
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)


@pytest.mark.slow
def test_generator_beats_the_mean_on_lagged_annotators():
    from tfemo.labels.gold_generator import generate_gold_standard

    truths, ratings, features = synthetic()
    result = generate_gold_standard(ratings, features, alpha=1.8, max_shift=12, epochs=60,
                                    learning_rate=0.02, chunk_frames=200, batch_size=6, seed=0)
    generated = np.mean([ccc(g, t) for g, t in zip(result.gold, truths, strict=True)])
    mean = np.mean([ccc(fuse(r, "mean"), t) for r, t in zip(ratings, truths, strict=True)])
    assert result.gold[0].shape == (200, 1)
    assert generated > mean + 0.3, (generated, mean)  # measured: 0.92 against 0.42


def test_generator_needs_features_below_alpha_2():
    from tfemo.labels.gold_generator import GoldStandardGenerator, generate_gold_standard

    _, ratings, _ = synthetic(sequences=1, frames=30)
    with pytest.raises(ValueError, match="needs features"):
        generate_gold_standard(ratings, None, alpha=1.8)
    with pytest.raises(ValueError, match="needs frame features"):
        GoldStandardGenerator(1, 4, 0, alpha=1.0)
    config = GoldStandardGenerator(2, 3, 0, alpha=2.0, max_shift=7).get_config()
    assert GoldStandardGenerator.from_config(config).max_shift == 7


# ----------------------------------------------------------------------------- frames


def test_label_frames():
    assert label_frames(np.arange(7501) * 0.04) == (0, 7501)  # RECOLA: 0 .. 300 s
    first, count = label_frames(np.arange(1, 9) * 0.5)  # 0.5 .. 4.0 s, 2 Hz
    assert frame_centres(first + 1, FRAME_SECONDS)[first] == pytest.approx(0.5)
    assert frame_centres(first + count, FRAME_SECONDS)[-1] == pytest.approx(4.46)


# ----------------------------------------------------------------------------- the tool


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    return ensure_demo_corpus(TINY_CONFIG, root=tmp_path_factory.mktemp("demo") / "tiny")


def _read_gs(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def test_make_gold_standard_on_the_demo_corpus(demo_root, tmp_path, capsys):
    out = tmp_path / "gs"
    code = make_gold_standard(["--corpus", "demo", "--data_dir", str(demo_root), "--output_dir",
                               str(out), "--method", "mean", "--method", "ewe,mean",
                               "--lag_frames", "5"])
    assert code == 0
    corpus = DemoCorpus(demo_root)
    items = corpus.items()
    for method in ("mean", "ewe"):
        assert sorted(p.stem for p in (out / method).glob("*.csv")) == [i.id for i in items]
    item = items[0]
    frame = _read_gs(out / "mean" / f"{item.id}.csv")
    assert list(frame.columns) == ["time", "arousal", "valence"]
    np.testing.assert_allclose(frame["time"], frame_centres(len(frame), FRAME_SECONDS),
                               atol=1e-9)
    # the same frames as the records: sample and hold of the labels at the audio's frames
    recording = load_recordings(corpus)[0][0]
    assert recording.id == item.id and len(frame) == len(recording.ratings)
    expected = fuse(recording.ratings, "mean", lag_frames=5)
    np.testing.assert_allclose(frame[["arousal", "valence"]], expected, atol=1e-6)
    # reading the GS file back with sample and hold at the frame centres gives it exactly
    trace = Trace(frame["time"].to_numpy(), frame[["arousal", "valence"]].to_numpy(),
                  ("arousal", "valence"), "gs")
    held, _ = trace_on_frames(trace, len(frame), FRAME_SECONDS, len(frame) * FRAME_SECONDS)
    np.testing.assert_allclose(held, frame[["arousal", "valence"]], atol=1e-6)
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["method"]) == ["mean", "mean", "ewe", "ewe"]
    assert {"gs_rater_ccc", "inter_rater_ccc", "reference_ccc", "rater_r1"} <= set(summary)
    mean_arousal = summary.iloc[0]
    truth = [ccc(fuse(r.ratings, "mean", lag_frames=5), r.reference)[0]
             for r in load_recordings(corpus)[0]]
    assert mean_arousal["reference_ccc"] == pytest.approx(np.mean(truth), abs=1e-6)
    assert (out / "gold_standard.json").is_file()
    assert "true trace" in capsys.readouterr().out


RECOLA_RATERS = ["FM1 ", "FM2 ", "FM3 ", "FF1 ", "FF2 ", "FF3 "]


def _recola_tree(root: Path, frames: int = 60) -> Path:
    rng = np.random.default_rng(5)
    for recording in ("train_1", "dev_1"):
        for dimension in ("arousal", "valence"):
            truth = np.sin(np.arange(frames) / 6.0 + rng.uniform(0, 3))
            lines = [",".join(["Instance_name", "frameTime", "GoldStandard", "time",
                               *RECOLA_RATERS])]
            for k in range(frames):
                ratings = truth[k] + rng.normal(scale=0.2, size=6)
                lines.append(",".join([recording, f"{k * 0.04:.2f}", f"{ratings.mean():.4f}",
                                       f"{k * 0.04:.2f}", *(f"{x:.4f}" for x in ratings)]))
            path = root / dimension / f"{recording}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n")
    return root


def test_make_gold_standard_reads_recola(tmp_path):
    root = _recola_tree(tmp_path / "recola")
    out = tmp_path / "gs"
    assert make_gold_standard(["--corpus", "recola", "--data_dir", str(root), "--output_dir",
                               str(out), "--method", "mean"]) == 0
    frame = _read_gs(out / "mean" / "dev_1.csv")
    assert len(frame) == 60 and frame["time"].iloc[0] == pytest.approx(0.02)
    summary = pd.read_csv(out / "summary.csv")
    # the reference column of these files is the raters' mean: mean fusion reproduces it
    assert summary["reference_ccc"].min() > 0.9999
    assert {f"rater_{r.strip()}" for r in RECOLA_RATERS} <= set(summary)


def test_the_generator_without_audio_needs_alpha_2(tmp_path, capsys):
    root = _recola_tree(tmp_path / "recola")
    code = make_gold_standard(["--corpus", "recola", "--data_dir", str(root), "--output_dir",
                               str(tmp_path / "gs"), "--method", "generator"])
    assert code == 2
    assert "alpha < 2 needs frame features" in capsys.readouterr().err


@pytest.mark.slow
def test_make_gold_standard_trains_generators(demo_root, tmp_path):
    """The annotation-only generator without audio (RECOLA), the full one on the demo."""
    root = _recola_tree(tmp_path / "recola")
    code = make_gold_standard(["--corpus", "recola", "--data_dir", str(root), "--output_dir",
                               str(tmp_path / "gs"), "--method", "generator", "--alpha", "2",
                               "--max_steps", "1", "--max_shift", "5", "--chunk_frames", "30"])
    assert code == 0
    assert len(_read_gs(tmp_path / "gs" / "generator" / "train_1.csv")) == 60
    out = tmp_path / "demo"
    assert make_gold_standard(["--corpus", "demo", "--data_dir", str(demo_root), "--output_dir",
                               str(out), "--method", "generator", "--max_steps", "1",
                               "--chunk_frames", "100", "--max_shift", "10",
                               "--smooth_secs", "1"]) == 0
    items = DemoCorpus(demo_root).items()
    assert sorted(p.stem for p in (out / "generator").glob("*.csv")) == [i.id for i in items]
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["method"]) == ["generator", "generator"]
    assert summary["reference_ccc"].notna().all()


def _musetoolbox_tree(root: Path) -> Path:
    rng = np.random.default_rng(2)
    for recording in ("7", "8"):
        for dimension in ("arousal", "valence"):
            lines = ["timeStamp,a,b,c"]
            for k in range(10):
                lines.append(",".join([str(500 * (k + 1)),
                                       *(f"{x:.3f}" for x in rng.uniform(-1, 1, 3))]))
            path = root / dimension / f"{recording}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n")
    return root


def test_make_gold_standard_reads_musetoolbox(tmp_path):
    root = _musetoolbox_tree(tmp_path / "raw")
    out = tmp_path / "gs"
    assert make_gold_standard(["--corpus", "musetoolbox", "--data_dir", str(root),
                               "--output_dir", str(out), "--method", "ewe,mean"]) == 0
    assert (out / "ewe" / "8.csv").is_file()
    frame = _read_gs(out / "mean" / "8.csv")
    # labels every 0.5 s from 0.5 s to 5.0 s (held until 5.5 s): frames centred in that span
    assert frame["time"].iloc[0] == pytest.approx(0.5)
    assert frame["time"].iloc[-1] == pytest.approx(5.46)
    assert len(frame) == 125
    raw = pd.read_csv(root / "arousal" / "8.csv")
    first_label = raw[["a", "b", "c"]].to_numpy()[0].mean()
    assert frame["arousal"].iloc[0] == pytest.approx(first_label, abs=1e-6)
    summary = pd.read_csv(out / "summary.csv")
    assert summary["reference_ccc"].isna().all()  # no reference in this layout


def test_bad_rater_files_are_reported_by_name(tmp_path, capsys):
    root = _musetoolbox_tree(tmp_path / "raw")
    bad = root / "valence" / "7.csv"
    lines = bad.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",NaN"
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "gs"
    assert make_gold_standard(["--corpus", "musetoolbox", "--data_dir", str(root),
                               "--output_dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "skipped" in printed and "7.csv" in printed and "rater c" in printed
    assert [p.stem for p in (out / "mean").glob("*.csv")] == ["8"]
    (root / "arousal" / "8.csv").write_text("timeStamp,a,b,c\n500,0.1,0.2,0.3\n1000,0.1,0.2\n")
    assert make_gold_standard(["--corpus", "musetoolbox", "--data_dir", str(root),
                               "--output_dir", str(out)]) == 2
    assert "no recording with readable ratings" in capsys.readouterr().err


def test_variants_share_one_run_and_smoothing_is_applied_after(demo_root):
    recordings, _ = load_recordings(DemoCorpus(demo_root))
    plain = GoldStandardOptions(lag_frames=10)
    gold, details = build_gold_standards(recordings, [
        Variant("lagged", "mean", plain),
        Variant("lagged_smooth", "mean", GoldStandardOptions(lag_frames=10, smooth_secs=1.0))])
    np.testing.assert_allclose(gold["lagged_smooth"][0],
                               smooth_gold_standard(gold["lagged"][0], 1.0))
    assert details["lagged_smooth"]["smooth_secs"] == 1.0
    with pytest.raises(ValueError, match="unknown method"):
        Variant("x", "median")
    with pytest.raises(ValueError, match="two variants"):
        build_gold_standards(recordings, [Variant("m", "mean"), Variant("m", "ewe")])
