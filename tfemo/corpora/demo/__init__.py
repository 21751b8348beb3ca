"""The embedded demo corpus: synthetic, deterministic emotional speech made with espeak-ng.

tfemo needs a corpus that anyone can build offline in seconds, on which every stage (readers,
alignment, records, models, evaluation) can be run end to end. It is generated into a cache
folder on first use (never committed) and read like any other corpus.

What carries what: AROUSAL is carried by prosody (rate, pitch level, pitch range and volume
are linear in an utterance's arousal, plus a style per category); VALENCE is carried by the
words (positive, negative and neutral sentence pools, shared by the emotions of a valence
sign, so the text says nothing about arousal within a valence). Categories (arousal,
valence): neutral (0, 0), happy (0.6, 0.7), calm (-0.5, 0.5), angry (0.8, -0.6), fearful
(0.7, -0.7), sad (-0.6, -0.6). With `DemoConfig(unseen_sentences=True)` (the unseen-sentence
protocol, UNSEEN_CONFIG) devel and test speakers say other sentences of the same valences,
never spoken in train, so text scores measure generalisation, not memorised sentences.
Speakers are espeak-ng voice variants (4 male, 4 female) in a speaker-disjoint partition
(train 4, devel 2, test 2, genders balanced).

The package, one job per module:
    config      emotions, sentence pools, speakers, DemoConfig and the seeded streams
    synthesis   the utterance plan and its espeak-ng audio with exact word timings
    sessions    utterances joined into sessions, the true traces, the simulated raters
    layout      the on-disk layout (file names, columns, README.txt), described once
    writing     writing a generated corpus in that layout
    generate    the cache folder, atomic generation in a fresh process
    reader      DemoCorpus, the reader of a generated folder

`ensure_demo_corpus(config, root)` returns a complete corpus folder, generating it first when
needed; commands generate it on first use (`tfemo.make_tfrecords` with `--corpus demo`).
"""

from tfemo.corpora.demo.config import (
    DEFAULT_CONFIG,
    DEFAULT_SPEAKERS,
    EMOTIONS,
    GENERATOR_VERSION,
    SENTENCES,
    TINY_CONFIG,
    UNSEEN_CONFIG,
    UNSEEN_SENTENCES,
    DemoConfig,
    Emotion,
    SpeakerSpec,
)
from tfemo.corpora.demo.generate import cache_dir, default_root, ensure_demo_corpus
from tfemo.corpora.demo.layout import DIMENSIONS, MANIFEST
from tfemo.corpora.demo.reader import DemoCorpus, read_session_labels

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_SPEAKERS",
    "DIMENSIONS",
    "EMOTIONS",
    "GENERATOR_VERSION",
    "MANIFEST",
    "SENTENCES",
    "TINY_CONFIG",
    "UNSEEN_CONFIG",
    "UNSEEN_SENTENCES",
    "DemoConfig",
    "DemoCorpus",
    "Emotion",
    "SpeakerSpec",
    "cache_dir",
    "default_root",
    "ensure_demo_corpus",
    "read_session_labels",
]
