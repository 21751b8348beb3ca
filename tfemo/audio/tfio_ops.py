"""Every tensorflow-io call of tfemo, in one place: the SpecAugment masks.

tensorflow-io 0.37.1 pins TensorFlow to 2.16 (setup.cfg); nothing else in tfemo imports it
(tests/test_augment.py checks), so the day it is dropped only this module changes (the masks
are a few lines of TF). Speed perturbation resamples with tfemo.audio.polyphase, not
tfio.audio.resample, which was 30 x slower on the training stream. tensorflow-io is imported
on first use, so importing tfemo never needs it.

The masks draw with TF's stateful RNG (tf.random.uniform, no seed argument): run them in a
function whose graph seed is set and in one sequential map (see tfemo.training.augment), or
they are not reproducible.
"""

from __future__ import annotations

import tensorflow as tf


def _tfio():
    import tensorflow_io as tfio

    return tfio


def freq_mask(features: tf.Tensor, width: int) -> tf.Tensor:
    """One SpecAugment frequency mask on [T, F]: 0 on a random band of fewer than `width`
    consecutive features (tfio.audio.freq_mask; its input is time x frequency)."""
    return _tfio().audio.freq_mask(features, param=width)


def time_mask(features: tf.Tensor, width: int) -> tf.Tensor:
    """One SpecAugment time mask on [T, F]: 0 on fewer than `width` consecutive frames
    (tfio.audio.time_mask)."""
    return _tfio().audio.time_mask(features, param=width)


__all__ = ["freq_mask", "time_mask"]
