"""Corpus readers: one module per corpus knows its on-disk layout; nothing else does.

Adding a corpus: a module with a `Corpus` subclass (tfemo.corpora.base), one line in
`_READERS`, and one fake tree in tests/corpus_trees.py (tests/test_corpus_contract.py refuses a
registered reader without one).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from tfemo.core.errors import TfemoError
from tfemo.corpora.base import Corpus

# name -> (module, reader class) over the corpus folder as distributed (manifest: the CSV file);
# modules are imported only when their corpus is opened.
_READERS: dict[str, tuple[str, str]] = {
    "demo": ("tfemo.corpora.demo", "DemoCorpus"),
    "emodb": ("tfemo.corpora.emodb", "EmoDBCorpus"),
    "ravdess": ("tfemo.corpora.ravdess", "RavdessCorpus"),
    "tess": ("tfemo.corpora.tess", "TessCorpus"),
    "savee": ("tfemo.corpora.savee", "SaveeCorpus"),
    "iemocap": ("tfemo.corpora.iemocap", "IemocapCorpus"),
    "recola": ("tfemo.corpora.recola", "RecolaCorpus"),
    "musecar": ("tfemo.corpora.musecar", "MuseCarCorpus"),
    "manifest": ("tfemo.corpora.manifest", "ManifestCorpus"),
    "musetoolbox": ("tfemo.corpora.musetoolbox", "MuseToolboxCorpus"),
}
CORPUS_NAMES = tuple(sorted(_READERS))


def open_corpus(name: str, data_dir: str | Path | None = None) -> Corpus:
    """The reader of corpus `name` over `data_dir` (the demo corpus generates itself if absent)."""
    if name not in _READERS:
        raise ValueError(f"unknown corpus {name!r}; known: {', '.join(CORPUS_NAMES)}")
    if data_dir is None:
        if name != "demo":
            raise TfemoError(f"--corpus {name} needs --data_dir: the corpus folder as "
                             "distributed" + (" (for manifest: the manifest CSV)"
                                              if name == "manifest" else ""))
        from tfemo.corpora.demo import ensure_demo_corpus

        data_dir = ensure_demo_corpus()
    module, reader = _READERS[name]
    return getattr(importlib.import_module(module), reader)(Path(data_dir))


def resolve_task(corpus: Corpus, task: str | None) -> str:
    """`task`, or the corpus's default when None; TaskError if the corpus has no such task."""
    return corpus.check_task(task or None)
