"""Continuous labels on the frame grid: rates differ, short or broken traces are errors."""

from __future__ import annotations

import numpy as np
import pytest

from tfemo.core.errors import InputError
from tfemo.corpora.base import Trace
from tfemo.labels.traces import trace_on_frames


def _trace(times, values, ratings=None):
    return Trace(times=np.asarray(times, float), values=np.asarray(values, float),
                 dimensions=("arousal",), source="labels.csv",
                 ratings=None if ratings is None else np.asarray(ratings, float))


def test_label_rate_differs_from_frame_rate():
    # labels every 0.25 s (4 Hz, as MuSe-CaR), frames every 40 ms: frame i gets the label in
    # force at its centre (i + 0.5) * 0.04, i.e. label floor(centre / 0.25)
    times = np.arange(0, 2.0, 0.25)
    values = np.arange(len(times), dtype=float)[:, None]
    frames, _ = trace_on_frames(_trace(times, values), num_frames=50, frame_seconds=0.04,
                                audio_seconds=2.0)
    centres = (np.arange(50) + 0.5) * 0.04
    np.testing.assert_array_equal(frames[:, 0], np.floor(centres / 0.25))
    assert frames[5, 0] == 0 and frames[6, 0] == 1  # centres 0.22 s and 0.26 s


def test_labels_at_frame_starts_pass_through_unchanged():
    times = np.arange(25) * 0.04  # RECOLA and the demo: one label per frame, at its start
    values = np.random.default_rng(0).normal(size=(25, 1))
    ratings = np.random.default_rng(1).normal(size=(25, 1, 3))
    frames, rated = trace_on_frames(_trace(times, values, ratings), 25, 0.04, 1.0)
    np.testing.assert_array_equal(frames, values.astype(np.float32))
    np.testing.assert_array_equal(rated, ratings.astype(np.float32))


def test_labels_shorter_than_the_audio_are_refused():
    times = np.arange(0, 5.0, 0.04)  # 5 s of labels
    with pytest.raises(InputError, match="labels.csv: labels too short"):
        trace_on_frames(_trace(times, np.zeros((len(times), 1))), 250, 0.04, 10.0)


def test_labels_that_start_late_are_refused():
    times = np.arange(1.0, 10.0, 0.04)
    with pytest.raises(InputError, match="labels.csv: labels start late"):
        trace_on_frames(_trace(times, np.zeros((len(times), 1))), 250, 0.04, 10.0)


@pytest.mark.parametrize("broken", ["nan", "order", "nan rating"])
def test_broken_traces_are_refused(broken):
    times = np.arange(0, 1.0, 0.04)
    values = np.zeros((len(times), 1))
    ratings = np.zeros((len(times), 1, 2))
    if broken == "nan":
        values[3] = np.nan
    elif broken == "nan rating":
        ratings[4, 0, 1] = np.nan
    else:
        times[5], times[6] = times[6], times[5]
    with pytest.raises(InputError, match="bad labels"):
        trace_on_frames(_trace(times, values, ratings), 25, 0.04, 1.0)
