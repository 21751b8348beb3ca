#!/usr/bin/env python
"""Word times of a transcript aligned window by window against one whole-file alignment.

Builds long files of espeak-ng sentences (tests/test_piecewise_alignment.long_speech: varied
rates and pauses, faint noise), aligns their transcript with aeneas once over the whole file
(the baseline) and window by window (tfemo.text.piecewise_alignment, with windows small enough
that a 1-2.5 minute file takes several), and prints per file the word starts' distance between
the two and to the synthesiser's own word times.

    python benchmarks/alignment_windows.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_piecewise_alignment import long_speech, piecewise, starts  # noqa: E402
from tfemo.text.alignment import align_aeneas  # noqa: E402

# sentences, seed, keep + spare seconds, rates (words/min), pauses (s), a silence (s) midway
CASES = ((20, 1, 15.0, 8.0, (150, 220), (0.2, 1.2), 0.0),
         (40, 1, 20.0, 10.0, (150, 220), (0.2, 1.2), 0.0),
         (40, 1, 20.0, 10.0, (110, 320), (0.0, 3.0), 0.0),
         (12, 2, 15.0, 8.0, (150, 220), (0.2, 1.2), 40.0))


def main() -> None:
    table = Table(title="aeneas word starts: windows against one whole-file call (espeak-ng)")
    for column in ("seconds", "words", "windows", "rates", "pauses s", "silence s",
                   "|windows - whole| mean ms", "max ms", "windows vs truth mean ms",
                   "max ms", "whole vs truth mean ms", "max ms", "s windows / whole"):
        table.add_column(column, justify="right")
    for sentences, seed, keep, spare, rates, pauses, silence in CASES:
        audio, words, truth = long_speech(sentences, seed, silence, rates, pauses)
        started = time.perf_counter()
        whole = align_aeneas(audio, words, "eng", "long.wav")
        middle = time.perf_counter()
        calls: list[float] = []
        pieces = piecewise(audio, words, keep, spare, calls)
        done = time.perf_counter()
        apart = np.abs(starts(pieces) - starts(whole))
        piece_error = np.abs(starts(pieces) - starts(truth))[1:]
        whole_error = np.abs(starts(whole) - starts(truth))[1:]
        table.add_row(f"{len(audio) / 16000:.0f}", str(len(words)),
                      f"{len(calls)} of {keep:g}+{spare:g} s", f"{rates[0]}-{rates[1]}",
                      f"{pauses[0]:g}-{pauses[1]:g}", f"{silence:g}",
                      f"{1000 * apart.mean():.0f}",
                      f"{1000 * apart.max():.0f}", f"{1000 * piece_error.mean():.0f}",
                      f"{1000 * piece_error.max():.0f}", f"{1000 * whole_error.mean():.0f}",
                      f"{1000 * whole_error.max():.0f}",
                      f"{done - middle:.1f} / {middle - started:.1f}")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
