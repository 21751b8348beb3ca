"""Keras models, one per file, each built from the dataset description's sizes (never a corpus)."""
