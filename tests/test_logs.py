"""Logs a person can read: a command's output sent to a file holds whole lines and whole paths,
no control characters (progress bars redrawn with \\r or \\b, colour codes), and a device line
only when a device was asked for."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.table import Table

from tfemo.core.console import (
    WIDTH_OFF_A_TERMINAL,
    ProgressLines,
    command_console,
    command_progress,
    keras_verbose,
)
from tfemo.corpora.base import CATEGORICAL
from tfemo.corpora.demo import TINY_CONFIG, ensure_demo_corpus

REPO = Path(__file__).resolve().parents[1]
CONTROL = ("\r", "\x1b", "\x08")


def test_off_a_terminal_lines_and_table_cells_are_whole(capsys):
    path = "/" + "/".join(f"folder-{k:03d}" for k in range(40)) + "/description.json"
    assert len(path) > 400
    table = Table(title="a table")
    table.add_column("path")
    table.add_column("files", justify="right")
    table.add_row(path, "12")
    console = command_console()
    console.print(table)
    console.print(f"[yellow]skipped[/] {path}: corrupt audio")
    out = capsys.readouterr().out
    lines = out.splitlines()
    row = [line for line in lines if path in line]
    assert len(row) == 2 and row[0].split() == ["│", path, "│", "12", "│"]
    assert row[1] == f"skipped {path}: corrupt audio"
    assert "…" not in out and not any(c in out for c in CONTROL)
    assert max(map(len, lines)) < WIDTH_OFF_A_TERMINAL


def test_keras_draws_one_line_per_epoch_off_a_terminal(capsys):
    assert [keras_verbose(v) for v in (0, 1, 2)] == [0, 2, 2]


def test_progress_lines_come_at_most_every_few_seconds_with_each_stage_whole():
    now = [0.0]
    lines: list[str] = []
    progress = ProgressLines(lines.append, every=5.0, clock=lambda: now[0])
    for done in range(0, 101):  # one unit a second
        progress("reading", done, 100)
        now[0] += 1.0
    progress("reading", 100, 100)  # said once already
    progress("training", 0, 3)
    progress("training", 3, 3)
    assert lines[0] == "reading: 0/100 (0%), 0 s" and lines[1] == "reading: 5/100 (5%), 5 s"
    assert lines[-3] == "reading: 100/100 (100%), 100 s"
    assert len(lines) == 21 + 2 and lines[-2:] == ["training: 0/3 (0%), 101 s",
                                                    "training: 3/3 (100%), 101 s"]


def test_command_progress_off_a_terminal_is_lines_not_a_bar(capsys):
    console = command_console()
    with command_progress(console, "demo -> /records", 4) as advance:
        for _ in range(4):
            advance(1)
    out = capsys.readouterr().out
    assert out.splitlines() == ["demo -> /records: 0/4 (0%), 0 s",
                                "demo -> /records: 4/4 (100%), 0 s"]
    with command_progress(console, "quiet", 4, quiet=True) as advance:
        advance(4)
    assert capsys.readouterr().out == ""


def _run(command: str, args: list[str], log: Path) -> str:
    """`python -m tfemo.<command> args` with stdout and stderr to the file `log`; its text."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    env.pop("COLUMNS", None)
    with open(log, "w") as handle:
        done = subprocess.run([sys.executable, "-m", f"tfemo.{command}", *args], cwd=REPO,
                              env=env, stdout=handle, stderr=subprocess.STDOUT, timeout=600)
    text = log.read_text()
    assert done.returncode == 0, text
    return text


@pytest.mark.slow
def test_commands_written_to_a_file_read_as_plain_whole_lines(tmp_path):
    root = ensure_demo_corpus(TINY_CONFIG, tmp_path / "demo")
    deep = tmp_path / ("a-folder-with-a-long-name-" * 6) / ("and-another-" * 8)
    records, train_dir = deep / "records", deep / "train"
    logs = {
        "make_partition": ["--corpus", "demo", "--data_dir", str(root), "--task", CATEGORICAL,
                           "--output", str(deep / "partition.csv")],
        "label_report": ["--corpus", "demo", "--data_dir", str(root), "--task", CATEGORICAL,
                         "--output_dir", str(deep / "report")],
        "make_tfrecords": ["--data_dir", str(root), "--task", CATEGORICAL, "--embeddings",
                           "none", "--features", "mfcc", "--output_dir", str(records),
                           "--workers", "1"],
        "train": ["--model", "conv1d", "--tfrecords", str(records), "--train_dir",
                  str(train_dir), "--max_steps", "2", "--batch_size", "4"],
        "eval": ["--train_dir", str(train_dir), "--tfrecords", str(records), "--portion",
                 "devel"],
        "predict": [str(next((root / "utterances").rglob("*.wav"))), "--train_dir",
                    str(train_dir), "--output_dir", str(deep / "predictions")],
        "export": ["--train_dir", str(train_dir), "--export_dir", str(deep / "export")],
        "make_gold_standard": ["--corpus", "demo", "--data_dir", str(root), "--method",
                               "generator,mean",
                               "--max_steps", "1", "--output_dir", str(deep / "gold")],
    }
    printed = {command: _run(command, args, tmp_path / f"{command}.log")
               for command, args in logs.items()}
    for command, text in printed.items():
        assert not [c for c in CONTROL if c in text], f"{command} wrote control characters"
        assert "…" not in text, f"{command} cut something short:\n{text}"
        assert "device:" not in text, f"{command} printed a device line nobody asked for"
    assert str(records / "description.json") in printed["make_tfrecords"]
    assert printed["make_tfrecords"].splitlines()[0].strip(), "a blank first line"
    assert re.search(r"^demo -> .*/records: 0/\d+ \(0%\), \d+ s$", printed["make_tfrecords"],
                     re.MULTILINE), "no progress line"
    gold = printed["make_gold_standard"]
    assert re.search(r"^reading ratings and features: \d+/\d+ \(100%\), \d+ s$", gold,
                     re.MULTILINE)
    assert re.search(r"^generator epochs \(raters [\w,]+\): 1/1 \(100%\), \d+ s$", gold,
                     re.MULTILINE)
    assert str(deep / "gold" / "summary.csv") in gold
    assert str(deep / "export") in printed["export"]
    assert str(deep / "predictions" / "predictions.csv") in printed["predict"]
    # Keras verbose=2: one summary line per epoch ("2/2 - 6s - 3s/step - ... loss: 3.2497")
    assert re.search(r"^\d+/\d+ - \d+s - .* - loss: [\d.]+$", printed["train"], re.MULTILINE)
    asked = _run("eval", [*logs["eval"], "--device", "-1"], tmp_path / "eval-cpu.log")
    assert "device: CPU (--device -1)" in asked.splitlines()
