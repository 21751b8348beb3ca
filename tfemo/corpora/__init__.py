"""Corpus readers: one module per corpus knows its on-disk layout; nothing else does."""

from __future__ import annotations

from pathlib import Path

from tfemo.corpora.base import Corpus


def _demo(data_dir: Path | None) -> Corpus:
    from tfemo.corpora.demo import DemoCorpus, ensure_demo_corpus

    return DemoCorpus(data_dir if data_dir is not None else ensure_demo_corpus())


_READERS = {"demo": _demo}
CORPUS_NAMES = tuple(sorted(_READERS))


def open_corpus(name: str, data_dir: str | Path | None = None) -> Corpus:
    """The reader of corpus `name` over `data_dir` (the demo corpus generates itself if absent)."""
    if name not in _READERS:
        raise ValueError(f"unknown corpus {name!r}; known: {', '.join(CORPUS_NAMES)}")
    return _READERS[name](Path(data_dir) if data_dir is not None else None)
