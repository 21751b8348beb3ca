"""Words with times from speech alone: pocketsphinx's English recogniser, offline.

pocketsphinx 5.1.1 (BSD) carries its English acoustic model, language model and dictionary in
its wheel, so recognition needs nothing from the network. Its word segments come with their
start and end frames (10 ms), so the words go straight onto the 40 ms frames
(`tfemo.text.frames`) with no separate alignment pass. Fillers (<s>, </s>, <sil>, [NOISE])
are dropped and alternative pronunciations ("read(2)") keep their word. Only English has a
model: other audio without a transcript is an InputError naming the file.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

import numpy as np

from tfemo.audio import SAMPLE_RATE
from tfemo.core.errors import InputError
from tfemo.corpora.base import WordTiming

#: Languages the bundled recogniser has a model of (ISO 639-3, as the corpora name them).
ASR_LANGUAGES = frozenset({"eng"})
RECOGNISER = "pocketsphinx-5.1.1 en-us"
_FRAMES_PER_SECOND = 100  # pocketsphinx's default frame rate (-frate)
_ALTERNATIVE = re.compile(r"\(\d+\)$")

_local = threading.local()  # one decoder per thread: a Decoder is not thread-safe


def has_recogniser(language: str) -> bool:
    """Whether words can be recognised in `language` (an ISO 639-3 code such as "eng")."""
    return language in ASR_LANGUAGES


def check_language(language: str, source: str) -> None:
    """InputError naming `source` when there is no recogniser for its language."""
    if not has_recogniser(language):
        raise InputError(source, "no transcript",
                         f"the audio is in {language!r} and the recogniser knows English "
                         "only: give its transcript (a CSV with path,transcript)")


def _decoder():
    """This thread's pocketsphinx Decoder with the English model of the wheel (~0.4 s once)."""
    decoder = getattr(_local, "decoder", None)
    if decoder is None:
        from pocketsphinx import Decoder

        decoder = Decoder(logfn="/dev/null", samprate=SAMPLE_RATE)
        _local.decoder = decoder
        _local.cmn = decoder.get_cmn(False)
    # the feature normalisation adapts to what the decoder has heard: start each file from the
    # model's own, so that a file's words never depend on the files recognised before it
    decoder.reinit_feat()
    decoder.set_cmn(_local.cmn)
    return decoder


def pcm16_bytes(audio: np.ndarray) -> bytes:
    """Float audio in [-1, 1) as little-endian 16-bit PCM, what the decoder reads."""
    samples = np.clip(np.asarray(audio, np.float64) * 32768.0, -32768, 32767)
    return np.round(samples).astype("<i2").tobytes()


def segment_words(segments: Sequence[tuple[str, int, int]],
                  offset: float = 0.0) -> list[WordTiming]:
    """Spoken words of pocketsphinx segments (word, start frame, end frame) in seconds.

    A segment's end frame is its last frame, so a word ends one frame after it.
    """
    words = []
    for word, start, end in segments:
        if not word or word.startswith(("<", "[")):
            continue  # <s>, </s>, <sil>, [NOISE], ...: no word was said
        words.append(WordTiming(_ALTERNATIVE.sub("", word).lower(),
                                round(start / _FRAMES_PER_SECOND + offset, 6),
                                round((end + 1) / _FRAMES_PER_SECOND + offset, 6)))
    return words


def recognise(audio: np.ndarray, source: str, language: str = "eng",
              offset: float = 0.0) -> list[WordTiming]:
    """The words said in 16 kHz mono float `audio`, with times from its start plus `offset`.

    Silence or noise gives an empty list; non-English audio an InputError naming `source`.
    """
    check_language(language, str(source))
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono (1-D), got shape {audio.shape}")
    if audio.size == 0:
        raise InputError(source, "empty audio", "the audio holds no samples")
    if not np.isfinite(audio).all():
        raise InputError(source, "non-finite audio", "the audio has NaN or infinite samples")
    if not _has_speech(audio):
        return []  # the recogniser finds words in silence and hum: none are said
    decoder = _decoder()
    decoder.start_utt()
    decoder.process_raw(pcm16_bytes(audio), no_search=False, full_utt=True)
    decoder.end_utt()
    return segment_words([(s.word, s.start_frame, s.end_frame) for s in decoder.seg()], offset)


def _has_speech(audio: np.ndarray) -> bool:
    """Whether the energy detector of the aligner finds any speech in the audio."""
    from tfemo.text.alignment import speech_span

    return speech_span(audio) is not None


class StreamRecogniser:
    """Recognition of one stream: a live hypothesis as audio comes, the words at the end.

    The live decoder normalises its features as it goes, so its words can differ from the
    whole file's; the words at the end are the whole audio's (`recognise`), as for a file.
    """

    def __init__(self, source: str, language: str = "eng") -> None:
        from pocketsphinx import Decoder

        check_language(language, source)
        self.source, self.language = source, language
        self.decoder = Decoder(logfn="/dev/null", samprate=SAMPLE_RATE)  # its own: not shared
        self.decoder.start_utt()
        self.chunks: list[np.ndarray] = []

    def feed(self, audio: np.ndarray) -> str:
        """Decode more 16 kHz float audio; the best hypothesis so far (words may change)."""
        if audio.size:
            self.chunks.append(np.asarray(audio, np.float32))
            self.decoder.process_raw(pcm16_bytes(audio), no_search=False, full_utt=False)
        hypothesis = self.decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""

    def audio(self) -> np.ndarray:
        """Every sample fed so far."""
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)

    def finish(self) -> list[WordTiming]:
        """The words of everything fed, with times from the start of the stream."""
        self.decoder.end_utt()
        audio = self.audio()
        return recognise(audio, self.source, self.language) if audio.size else []
