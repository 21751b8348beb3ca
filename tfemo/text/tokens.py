"""Transcript tokenisation: the one definition of "a word" shared by alignment and lookups."""

from __future__ import annotations

import re
import unicodedata

# Non-speech annotations such as "[LAUGHTER]", "[BREATHING]" or "<sil>" (IEMOCAP and similar
# transcripts): they are not spoken words, so they are neither aligned nor looked up.
_ANNOTATION = re.compile(r"\[[^\]]*\]|<[^>]*>")
# Typographic apostrophes and primes that stand for "'" inside words (don’t, l‘homme).
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'"})
# After every character that is not a letter, digit, combining mark or apostrophe has become a
# space: a word is a run of such characters, with apostrophes only inside it.
_WORD = re.compile(r"[^\s']+(?:'[^\s']+)*")


def _word_or_space(char: str) -> str:
    """Keep letters, numbers and marks of any script (marks: Devanagari vowel signs...)."""
    return char if char == "'" or unicodedata.category(char)[0] in "LNM" else " "


def tokenize(transcript: str) -> list[str]:
    """Split a transcript into lower-cased words so alignment and vector lookup see the same tokens.

    Punctuation (hyphens included) separates words and is dropped; apostrophes inside a word are
    kept ("don't", "o'clock"); letters of any script are kept (NFC-normalised, so "über" typed
    with a combining umlaut equals the precomposed one); bracketed non-speech annotations such as
    "[LAUGHTER]" or "<sil>" are removed.
    """
    text = unicodedata.normalize("NFC", transcript).translate(_APOSTROPHES)
    text = "".join(map(_word_or_space, _ANNOTATION.sub(" ", text)))
    return [match.group(0).lower() for match in _WORD.finditer(text)]
