"""Corpus readers: one module per corpus knows its on-disk layout; nothing else does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tfemo.corpora.base import Corpus
from tfemo.errors import TfemoError


def _demo(data_dir: Path | None) -> Corpus:
    from tfemo.corpora.demo import DemoCorpus, ensure_demo_corpus

    return DemoCorpus(data_dir if data_dir is not None else ensure_demo_corpus())


def _emodb(data_dir: Path) -> Corpus:
    from tfemo.corpora.emodb import EmoDBCorpus

    return EmoDBCorpus(data_dir)


def _ravdess(data_dir: Path) -> Corpus:
    from tfemo.corpora.ravdess import RavdessCorpus

    return RavdessCorpus(data_dir)


def _tess(data_dir: Path) -> Corpus:
    from tfemo.corpora.tess import TessCorpus

    return TessCorpus(data_dir)


def _savee(data_dir: Path) -> Corpus:
    from tfemo.corpora.savee import SaveeCorpus

    return SaveeCorpus(data_dir)


def _recola(data_dir: Path) -> Corpus:
    from tfemo.corpora.recola import RecolaCorpus

    return RecolaCorpus(data_dir)


def _iemocap(data_dir: Path) -> Corpus:
    from tfemo.corpora.iemocap import IemocapCorpus

    return IemocapCorpus(data_dir)


def _musecar(data_dir: Path) -> Corpus:
    from tfemo.corpora.musecar import MuseCarCorpus

    return MuseCarCorpus(data_dir)


def _manifest(data_dir: Path) -> Corpus:
    from tfemo.corpora.manifest import ManifestCorpus

    return ManifestCorpus(data_dir)


# name -> reader over the corpus folder as distributed (manifest: the manifest CSV file)
_READERS: dict[str, Callable[..., Corpus]] = {
    "demo": _demo, "emodb": _emodb, "ravdess": _ravdess, "tess": _tess, "savee": _savee,
    "recola": _recola, "iemocap": _iemocap, "musecar": _musecar, "manifest": _manifest,
}
CORPUS_NAMES = tuple(sorted(_READERS))


def open_corpus(name: str, data_dir: str | Path | None = None) -> Corpus:
    """The reader of corpus `name` over `data_dir` (the demo corpus generates itself if absent)."""
    if name not in _READERS:
        raise ValueError(f"unknown corpus {name!r}; known: {', '.join(CORPUS_NAMES)}")
    if data_dir is None and name != "demo":
        raise TfemoError(f"--corpus {name} needs --data_dir: the corpus folder as distributed"
                         + (" (for manifest: the manifest CSV)" if name == "manifest" else ""))
    return _READERS[name](Path(data_dir) if data_dir is not None else None)
