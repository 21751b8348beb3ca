"""The feature store's layout: group names, attribute names and dataset settings, in one place.

    /<corpus>/<speaker>/<item id>   one group per utterance (or recording)
        frames   float32 [N, F]     per-frame features, families side by side in `families` order
        stats    float32 [S]        utterance statistics: mean then std of each family, in
                                    tfemo.audio.features.KNOWN_FAMILIES order (`stats_families`)
        attrs                       every field of the Item (`ITEM_FIELDS`), every key of
                                    Item.metadata, num_frames and seconds
    /_skipped                       table of the items left out: item_id, path, reason, detail
    /latents/<name>                 learned latents: item_ids, mean and log_var [n, d], provenance
    file attrs                      `FILE_ATTRS`: families and dims, frame rate, versions, options

A field the Item does not have (label or gender None) is stored as "".  Names inside the file
escape "%" and "/" (an HDF5 name cannot hold "/"); the `id` and `speaker` attributes keep the
originals.
"""

from __future__ import annotations

import numpy as np

STORE_VERSION = 1  # bump whenever the same inputs give different file contents
SKIPPED = "_skipped"
LATENTS = "latents"
RESERVED = (SKIPPED, LATENTS)  # top-level names that are not corpora

ITEM_FIELDS = ("id", "speaker", "corpus", "portion", "label", "gender", "language",
               "audio_path", "transcript")
NUMERIC_FIELDS = ("num_frames", "seconds")
SKIP_FIELDS = ("item_id", "path", "reason", "detail")
FILE_ATTRS = ("store_version", "tfemo_version", "corpus", "task", "families", "family_dims",
              "frame_dim", "stats_families", "stats_dim", "frame_rate", "frame_seconds",
              "sample_rate", "feature_options", "options", "fingerprint")

CHUNK_FRAMES = 256  # 10.24 s of frames per chunk
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True,
               "fletcher32": True}  # gzip: readable by every HDF5 tool (lzf is h5py-only)


def escape_name(text: str) -> str:
    """`text` as one HDF5 link name: "%" and "/" escaped, never empty or "."."""
    if text in ("", "."):
        raise ValueError(f"{text!r} cannot name a group in the feature store")
    return text.replace("%", "%25").replace("/", "%2F")


def item_group(corpus: str, speaker: str, item_id: str) -> str:
    """The group path of one item: /<corpus>/<speaker>/<item id>."""
    return "/" + "/".join(escape_name(part) for part in (corpus, speaker, item_id))


def text_array(values) -> np.ndarray:
    """Strings as an array HDF5 stores as variable-length UTF-8."""
    import h5py

    return np.array(list(values), dtype=h5py.string_dtype())


def decoded(value):
    """An attribute or table cell as Python: bytes -> str, numpy scalars and arrays -> lists."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [decoded(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value
