"""One line, not a traceback, for the mistakes the issue-26 probe found in serve, predict,
eval, train and the folder scans (each fails on the code before it)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest

from tests.predict_factory import write_train_dir
from tests.records_factory import write_synthetic_records
from tests.serve_models import tone_audio, train_tiny, write_tone, write_tone_records
from tfemo import eval as eval_command
from tfemo import export, predict, serve, train
from tfemo.audio.io import open_audio
from tfemo.core.errors import InputError
from tfemo.corpora.files import collect_items, corpus_files


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_eval_refuses_records_of_another_kind_in_one_line(tmp_path, capsys):
    # a model reading word vectors, scored on records without them: was KeyError 'words'
    write_synthetic_records(tmp_path / "words", {"train": [40, 50], "devel": [30],
                                                 "test": [30]})
    train_dir = train_tiny(tmp_path / "words", tmp_path / "train", "semantic_fusion")
    write_tone_records(tmp_path / "tones", "continuous")
    capsys.readouterr()
    assert eval_command.main(["--train_dir", str(train_dir), "--tfrecords",
                              str(tmp_path / "tones"), "--device", "-1"]) == 2
    err = _one_line(capsys)
    assert "word vector size 0 (trained on 6)" in err


def test_serve_refuses_a_bad_port_before_loading_the_model(tmp_path, capsys):
    started = time.perf_counter()
    assert serve.main(["--export_dir", str(tmp_path), "--port", "99999"]) == 2
    assert "--port 99999" in _one_line(capsys)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve.main(["--export_dir", str(tmp_path), "--port", str(port)]) == 2
        assert f"cannot bind 127.0.0.1:{port}" in _one_line(capsys)
    assert time.perf_counter() - started < 10


def test_a_dangling_link_in_a_folder_scan_is_reported(tmp_path):
    folder = tmp_path / "corpus"
    write_tone(folder / "a.wav", tone_audio(np.random.default_rng(0), 200.0, 0.3, 0.5))
    (folder / "b.wav").symlink_to(tmp_path / "gone.wav")
    skipped = []
    with pytest.raises(InputError, match="no files; 2 other files"):  # a string: a skip
        collect_items(folder, corpus_files(folder), lambda p: "not wanted",
                      lambda path, reason: skipped.append((path.name, reason)), "files")
    assert ("a.wav", "not wanted") in skipped
    assert ("b.wav", f"dangling link (to {tmp_path / 'gone.wav'})") in skipped
    with pytest.raises(InputError, match="dangling link"):
        open_audio(folder / "b.wav")


def test_a_folder_named_like_audio_is_not_called_missing(tmp_path):
    (tmp_path / "x.wav").mkdir()
    with pytest.raises(InputError) as caught:
        open_audio(tmp_path / "x.wav")
    assert caught.value.reason == "not an audio file" and "folder" in caught.value.detail


def test_predict_reports_a_dangling_link_and_a_folder_named_x_wav(tmp_path, capsys):
    train_dir = write_train_dir(tmp_path / "train")
    inputs = tmp_path / "in"
    write_tone(inputs / "a.wav", tone_audio(np.random.default_rng(0), 200.0, 0.3, 0.5))
    (inputs / "b.wav").symlink_to(tmp_path / "gone.wav")
    assert predict.main([str(inputs), "--train_dir", str(train_dir), "--output_dir",
                         str(tmp_path / "out"), "--strict"]) == 2
    assert "b.wav: missing audio (a dangling link" in _one_line(capsys)
    listing = tmp_path / "list.csv"
    (tmp_path / "dir.wav").mkdir()
    listing.write_text("path\ndir.wav\n")
    assert predict.main([str(listing), "--train_dir", str(train_dir), "--output_dir",
                         str(tmp_path / "out"), "--strict"]) == 2
    assert "dir.wav: not an audio file (a folder, not a file)" in _one_line(capsys)


def test_predict_refuses_steps_with_an_export(tmp_path, capsys):
    write_tone_records(tmp_path / "records", "categorical")
    train_dir = train_tiny(tmp_path / "records", tmp_path / "train", "conv1d", "--filters",
                           "4", "--blocks", "1")
    assert export.main(["--train_dir", str(train_dir), "--export_dir",
                        str(tmp_path / "export")]) == 0
    clip = write_tone(tmp_path / "a.wav", tone_audio(np.random.default_rng(0), 200.0, 0.3, 0.5))
    capsys.readouterr()
    assert predict.main([str(clip), "--train_dir", str(tmp_path / "export"), "--steps",
                         "5000", "--output_dir", str(tmp_path / "out")]) == 2
    assert "--steps 5000 with an export" in _one_line(capsys)


@pytest.mark.parametrize("flag, value", [("--max_steps", "-5"), ("--max_steps", "0"),
                                         ("--batch_size", "0"), ("--learning_rate", "-1")])
def test_train_refuses_counts_below_one(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as stopped:
        train.main(["--tfrecords", str(tmp_path), "--train_dir", str(tmp_path / "run"),
                    "--model", "gru_regressor", flag, value])
    assert stopped.value.code == 2
    assert f"{flag} {float(value) if '.' in value or 'rate' in flag else value}" in \
        _one_line(capsys)
    assert not (tmp_path / "run").exists()


def test_predict_applies_the_budget_with_flags_to_raise_it(tmp_path, capsys):
    train_dir = write_train_dir(tmp_path / "train")
    clip = write_tone(tmp_path / "a.wav", tone_audio(np.random.default_rng(0), 200.0, 0.3, 3.0))
    out = tmp_path / "out"
    assert predict.main([str(clip), "--train_dir", str(train_dir), "--output_dir", str(out),
                         "--max_seconds", "2", "--strict"]) == 2
    assert "a.wav: audio too long (3.0 s; at most 2 s" in _one_line(capsys)
    assert predict.main([str(clip), "--train_dir", str(train_dir), "--output_dir", str(out),
                         "--max_seconds", "4", "--strict"]) == 0
    assert Path(out / "predictions.csv").is_file()
