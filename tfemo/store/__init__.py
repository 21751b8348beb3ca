"""The HDF5 feature store: per-utterance frame features and statistics of a corpus, one file.

Layout in tfemo.store.layout; making it (resumable, kill-safe, bad items skipped) in
tfemo.store.build; reading, selecting and adding latents in tfemo.store.reader.  Kill safety:
HDF5 written in place does not survive SIGKILL reliably, so finished items are made durable as
atomic per-item parts and the file is written in one pass and renamed (see tfemo.store.build).
"""

from tfemo.store.reader import FeatureStore, Latents, StoreItem, open_store
from tfemo.store.writer import write_latents

__all__ = ["FeatureStore", "Latents", "StoreItem", "open_store", "write_latents"]
