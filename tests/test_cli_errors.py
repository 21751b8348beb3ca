"""User errors end a command with one line on stderr and exit code 2; bugs keep their traceback."""

from __future__ import annotations

import pytest

from tfemo.core.cli import USER_ERROR, report_user_errors
from tfemo.core.errors import CheckpointNotFoundError, UserError
from tfemo.training.checkpoints import checkpoint_path


def test_a_user_error_is_one_line_and_exit_2(capsys):
    @report_user_errors
    def main(argv=None):
        raise UserError("records/: no description.json", "run tools/make_tfrecords.py first")

    assert main([]) == USER_ERROR
    err = capsys.readouterr().err
    assert err == "error: records/: no description.json (run tools/make_tfrecords.py first)\n"


def test_an_internal_error_keeps_its_traceback():
    @report_user_errors
    def main(argv=None):
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        main([])


def test_checkpoint_errors_are_user_errors(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="train first"):
        checkpoint_path(tmp_path, "latest")
    (tmp_path / "model.ckpt-3.index").write_bytes(b"")
    with pytest.raises(CheckpointNotFoundError, match="steps that exist: 3"):
        checkpoint_path(tmp_path, 5)
    with pytest.raises(CheckpointNotFoundError, match="a number or 'latest'"):
        checkpoint_path(tmp_path, "last")
    assert issubclass(CheckpointNotFoundError, FileNotFoundError)
