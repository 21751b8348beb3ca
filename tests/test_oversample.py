"""The offline baselines beside the generators: SMOTE, masked copies, waveform copies."""

from __future__ import annotations

import numpy as np
import pytest

from tfemo.training.oversample import (
    copies_per_class,
    copy_rows,
    masked_copies,
    perturb_waveform,
    smote,
    waveform_copies,
)


def test_smote_makes_factor_times_each_class_between_same_class_vectors():
    pytest.importorskip("imblearn")
    rng = np.random.default_rng(0)
    labels = np.array([0] * 10 + [1] * 4)
    vectors = np.concatenate([rng.normal(0, 1, (10, 3)), rng.normal(10, 1, (4, 3))])
    new, new_labels = smote(vectors, labels, 1.0, seed=0)
    assert np.bincount(new_labels).tolist() == [10, 4]
    for c in (0, 1):  # inside the class's bounding box, not copies of one vector
        members, made = vectors[labels == c], new[new_labels == c]
        assert (made >= members.min(0) - 1e-9).all() and (made <= members.max(0) + 1e-9).all()
        assert len(np.unique(made.round(6), axis=0)) == len(made)
    again, _ = smote(vectors, labels, 1.0, seed=0)
    np.testing.assert_array_equal(new, again)
    half, half_labels = smote(vectors, labels, 0.5, seed=0)
    assert np.bincount(half_labels).tolist() == [5, 2]


def test_masked_copies_fill_masks_with_the_mean_on_real_frames_only():
    rng = np.random.default_rng(1)
    features = rng.normal(5, 1, (6, 30, 12)).astype(np.float32)
    mask = np.arange(30)[None, :] < np.array([30, 20, 25, 30, 12, 18])[:, None]
    labels = np.array([0, 0, 0, 1, 1, 1])
    fill = np.full(12, -100.0, np.float32)
    out, out_mask, rows = masked_copies(features, mask, labels, 1.0, seed=3,
                                        freq_mask=4, time_mask=5, fill=fill)
    assert sorted(rows.tolist()) == list(range(6))  # 1 x each class: every row once
    np.testing.assert_array_equal(out_mask, mask[rows])
    changed = out != features[rows]
    assert (out[changed] == -100.0).all() and changed.any()
    assert not changed[~out_mask].any()  # padding untouched


def test_waveform_copies_change_speed_and_level_and_give_frame_features():
    rng = np.random.default_rng(2)
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000).astype(np.float32)
    lengths = {len(perturb_waveform(tone, np.random.default_rng(s), speed=(90, 110),
                                    noise_snr=(60, 60))) for s in range(8)}
    assert lengths == {17778, 14546}  # 100/90 and 100/110 of 16000 samples, rounded up
    quiet = perturb_waveform(tone, rng, speed=(100,), gain_db=(-6, -6), noise_snr=(80, 80))
    assert np.std(quiet) == pytest.approx(np.std(tone) / 2, rel=0.01)
    frames = waveform_copies([tone, tone[:8000]], ["a", "b"], seed=0, families=("rms", "mfcc"))
    assert len(frames) == 2 and frames[0].ndim == 2 and np.isfinite(frames[0]).all()
    assert abs(len(frames[1]) - 8000 / 640) <= 2
    again = waveform_copies([tone[:8000]], ["b"], seed=0, families=("rms", "mfcc"))
    np.testing.assert_array_equal(again[0], frames[1])  # a copy depends on seed and id only


def test_copies_per_class_rounds_factor_times_the_count():
    labels = np.array([0, 0, 0, 1, 2, 2])
    assert copies_per_class(labels, 0.5) == {0: 2, 1: 0, 2: 1}
    rows = copy_rows(labels, 2.0, np.random.default_rng(0))
    assert np.bincount(rows).tolist() == [2] * 6  # 2 x: every row twice
