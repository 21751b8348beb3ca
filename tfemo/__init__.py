"""tfemo: speech emotion recognition with TensorFlow/Keras, from corpus to TFRecords to models."""

from tfemo.core import quiet  # noqa: F401  (TensorFlow's log level, before TensorFlow loads)

__version__ = "0.1.0"
