"""The README's quickstart runs as written on a corpus given as a folder of WAVs and a CSV.

The commands are read from the README's quickstart block (not copied here), run in a folder
that holds `my-corpus/` (WAVs and `labels.csv`: path,speaker,label), `new-recordings/` and the
repository's `configs/`, and must leave a report, pooled scores for the recipe and the
baseline, and one prediction row per new file.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

ROOT = Path(__file__).resolve().parents[1]
RATE = 16_000
CLASSES = {"calm": (110.0, -0.2, 0.2), "angry": (230.0, 0.3, 0.7), "sad": (150.0, -0.5, 0.1)}
SPEAKERS = {"s1": 0.9, "s2": 1.0, "s3": 1.1, "s4": 1.2}  # F0 scale of each speaker


def quickstart_commands() -> list[str]:
    """The `python ...` lines of the README's quickstart block, in order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)
    return [line for line in block.splitlines() if line.startswith("python ")]


def voice(path: Path, f0: float, glide: float, loudness: float, seed: int) -> None:
    """A 1.2 s voiced sound: harmonics of an F0 that glides by `glide` octaves, with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(1.2 * RATE)) / RATE
    pitch = f0 * 2.0 ** (glide * t / t[-1]) * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    wave = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = np.minimum(1, np.minimum(t, t[-1] - t) / 0.05)
    samples = loudness * envelope * wave / 3 + 0.003 * rng.standard_normal(t.size)
    soundfile.write(path, samples.astype(np.float32), RATE, subtype="PCM_16")


def write_corpus(root: Path) -> list[str]:
    """my-corpus/wav/*.wav and my-corpus/labels.csv; new-recordings/*.wav. Returns new names."""
    wavs = root / "my-corpus" / "wav"
    wavs.mkdir(parents=True)
    rows = ["path,speaker,label"]
    seed = 0
    for speaker, scale in SPEAKERS.items():
        for label, (f0, glide, loudness) in CLASSES.items():
            for take in range(3):
                seed += 1
                name = f"{speaker}-{label}-{take}.wav"
                voice(wavs / name, f0 * scale * (1 + 0.03 * take), glide, loudness, seed)
                rows.append(f"wav/{name},{speaker},{label}")
    (root / "my-corpus" / "labels.csv").write_text("\n".join(rows) + "\n")
    new = root / "new-recordings"
    new.mkdir()
    for i, (label, (f0, glide, loudness)) in enumerate(CLASSES.items()):
        voice(new / f"new-{label}.wav", f0 * 1.05, glide, loudness, 100 + i)
    return sorted(path.name for path in new.iterdir())


@pytest.mark.slow
def test_the_readme_quickstart_runs_on_a_folder_of_wavs_and_a_csv(tmp_path):
    commands = quickstart_commands()
    assert [shlex.split(c)[:3] for c in commands] == [
        ["python", "-m", "tfemo.experiment"], ["python", "-m", "tfemo.predict"]]
    new_files = write_corpus(tmp_path)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    for command in commands:
        argv = [sys.executable, *shlex.split(command)[1:]]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    run = tmp_path / "experiments" / "my-corpus"
    assert (run / "report.html").stat().st_size > 0 and (run / "report.md").exists()
    for model in ("recipe", "baseline"):
        pooled = json.loads(next((run / "train" / model).glob("eval-test-*-pooled.json"))
                            .read_text())
        assert 0.0 <= pooled["uar"] <= 1.0
        assert sorted(pooled["classes"]) == sorted(CLASSES)
        assert sum(map(sum, pooled["confusion"])) == 36  # every file scored once
    with open(tmp_path / "predictions" / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(Path(row["path"]).name for row in rows) == new_files
    for row in rows:
        assert sum(float(row[f"p_{label}"]) for label in CLASSES) == pytest.approx(1, abs=1e-3)
