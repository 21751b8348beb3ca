"""tfemo: speech emotion recognition with TensorFlow/Keras, from corpus to TFRecords to models."""

__version__ = "0.1.0"
