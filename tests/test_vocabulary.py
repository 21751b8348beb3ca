"""One vocabulary across commands: --train_dir is a train dir, --steps names a checkpoint, a
training length is --max_steps, serve reads --export_dir; old names parse with a note."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest

from tfemo.core.flags import Renamed

PACKAGE = Path(__file__).resolve().parents[1] / "tfemo"
COMMANDS = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
# old names that still parse (hidden, with a note), per command: old flag -> new flag
RENAMED = {
    "eval": {"--checkpoint": "--train_dir"},
    "predict": {"--checkpoint": "--train_dir"},
    "export": {"--checkpoint": "--train_dir", "--output": "--export_dir"},
    "encode_latents": {"--checkpoint": "--train_dir"},
    "serve": {"--model": "--export_dir"},
    "generate_samples": {"--steps": "--max_steps"},
    "make_gold_standard": {"--steps": "--max_steps"},
}


class _Caught(Exception):  # noqa: N818 (not an error: a parser)
    """Raised with the command's own parser when it starts parsing."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__()
        self.parser = parser


def command_parser(command: str, monkeypatch) -> argparse.ArgumentParser:
    """The argparse parser of `tfemo.<command>` (not the pre-parsers of --config or --model)."""
    original = argparse.ArgumentParser.parse_known_args

    def catch(self, args=None, namespace=None):
        if self.add_help:  # the pre-parsers that look for --config/--model have no --help
            raise _Caught(self)
        return original(self, args, namespace)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", catch)
    module = importlib.import_module(f"tfemo.{command}")
    with pytest.raises(_Caught) as caught:
        module.parse_args([])
    monkeypatch.undo()
    return caught.value.parser


def flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Every option string of `parser`, with its action."""
    return {flag: action for action in parser._actions for flag in action.option_strings}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_speaks_one_vocabulary(command, monkeypatch):
    parser = command_parser(command, monkeypatch)
    found = flags(parser)
    renamed = {flag: action for flag, action in found.items() if isinstance(action, Renamed)}
    assert {flag: action.new for flag, action in renamed.items()} == RENAMED.get(command, {})
    for flag, action in renamed.items():
        assert action.help == argparse.SUPPRESS, f"{command} {flag} shows in --help"
        assert found[action.new].dest == action.dest
    assert "--checkpoint" not in found or "--checkpoint" in renamed
    if "--train_dir" in found:
        assert found["--train_dir"].dest == "train_dir"
    if "--steps" in found and "--steps" not in renamed:
        assert "checkpoint" in found["--steps"].help, f"{command} --steps is not a checkpoint"
    if "--max_steps" in found:
        assert "checkpoint" not in (found["--max_steps"].help or "")
    if command == "serve":
        assert "--export_dir" in found and "--model" in renamed
    if command not in ("train", "experiment"):  # train's --config is its own; experiment is one
        assert {"--config", "--check_config"} <= set(found), f"{command} takes no --config"
    if "--device" in found and command != "train":  # train's is a typed option
        assert found["--device"].help.startswith("GPU index; -1 for the CPU")
        assert found["--device"].default == argparse.SUPPRESS  # no "(default: None)" in --help
    if "--strict" in found:
        assert found["--strict"].help.startswith("stop at the first")


def test_an_old_name_parses_as_the_new_one_with_a_one_line_note(capsys):
    from tfemo.eval import parse_args as eval_args
    from tfemo.generate_samples import parse_args as generate_args
    from tfemo.serve import parse_args as serve_args

    args = eval_args(["--checkpoint", "runs/a", "--steps", "7"])
    assert (args.train_dir, args.steps) == (Path("runs/a"), "7")
    assert capsys.readouterr().err.splitlines() == [
        "note: --checkpoint is deprecated; it is now --train_dir (the old name still works "
        "for now)"]
    assert eval_args(["--train_dir", "runs/b"]).train_dir == Path("runs/b")
    assert eval_args([]).train_dir == Path("checkpoints")
    assert capsys.readouterr().err == ""
    assert generate_args(["--tfrecords", "r", "--train_root", "t", "--steps", "5"]).max_steps == 5
    assert "--max_steps" in capsys.readouterr().err
    assert serve_args(["--model", "exported/x"]).export_dir == Path("exported/x")
    with pytest.raises(SystemExit) as exit_:
        serve_args([])
    assert exit_.value.code == 2
    assert "--export_dir" in capsys.readouterr().err


def test_a_config_file_takes_the_new_and_the_old_key(tmp_path, capsys):
    from tfemo.predict import parse_args as predict_args

    config = tmp_path / "predict.toml"
    for key in ("train_dir", "checkpoint"):
        config.write_text(f'{key} = "runs/c"\nsteps = "3"\n')
        args = predict_args(["--config", str(config), "a.wav"])
        assert (args.train_dir, args.steps) == (Path("runs/c"), "3")
    assert capsys.readouterr().err.splitlines() == [
        f"note: {config}: key 'checkpoint' is deprecated; it is now 'train_dir'"]


def test_generate_samples_takes_the_generator_and_its_options_from_a_config_file(tmp_path):
    from tfemo import generate_samples

    config = tmp_path / "gan.toml"
    config.write_text('generator = "gan"\ncritic_steps = 2\nmax_steps = 7\n')
    args = generate_samples.parse_args(["--config", str(config), "--tfrecords", "r",
                                        "--train_root", "g"])
    assert (args.generator, args.critic_steps, args.max_steps) == ("gan", 2, 7)
    # the vae (from the file here) offers no critic options
    config.write_text('generator = "vae"\n')
    args = generate_samples.parse_args(["--config", str(config), "--tfrecords", "r",
                                        "--train_root", "g"])
    assert args.generator == "vae" and not hasattr(args, "critic_steps")
