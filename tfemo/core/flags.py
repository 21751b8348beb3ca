"""The flags every command shares, defined once: argparse parent parsers (`parents=[...]`).

One vocabulary across commands: `--train_dir` is a train dir of tfemo.train (everywhere, for
reading as for writing); `--steps` names a checkpoint of it (a step or 'latest'), never a
length; a training length is `--max_steps`; `--device`, `--strict` and `--config` mean the same
in every command. An old spelling (`--checkpoint`, serve's `--model`, a length given as
`--steps`) still parses, as a `Renamed` flag: hidden from --help, it prints a one-line note
naming the new flag on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfemo.core.config_file import add_config_flags

DEFAULT_TRAIN_DIR = Path("checkpoints")


def deprecation_note(old: str, new: str) -> str:
    """The one line an old flag name prints."""
    return f"note: {old} is deprecated; it is now {new} (the old name still works for now)"


class Renamed(argparse.Action):
    """An old flag name: stores its value under the new flag's dest and prints a note."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str = "",
                 **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(deprecation_note(option_string, self.new), file=sys.stderr, flush=True)
        setattr(namespace, self.dest, values)


def add_renamed(parser: Any, old: str, new: str, dest: str, type: Any = None) -> None:
    """Flag `old` on `parser` (or a group) as a hidden, noted alias of flag `new` (`dest`)."""
    parser.add_argument(old, dest=dest, type=type, action=Renamed, new=new,
                        default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _parent() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False)


def train_dir_flags(help: str = "train dir of tfemo.train (model.json, description.json, "
                                "model.ckpt-<step>); for folds, one fold's dir",
                    required: bool = False) -> argparse.ArgumentParser:
    """`--train_dir DIR` (old name `--checkpoint`): a train dir of tfemo.train to read."""
    parser = _parent()
    default = {} if required else {"default": DEFAULT_TRAIN_DIR}
    parser.add_argument("--train_dir", type=Path, required=required, help=help, **default)
    add_renamed(parser, "--checkpoint", "--train_dir", "train_dir", Path)
    return parser


def steps_flags(help: str = "the checkpoint to restore: its global step "
                            "(model.ckpt-<step>), or 'latest'") -> argparse.ArgumentParser:
    """`--steps`: which checkpoint of the train dir (a step or 'latest'), never a length."""
    parser = _parent()
    parser.add_argument("--steps", default="latest", help=help)
    return parser


def max_steps_flags(default: int | None, help: str,
                    old_steps: bool = True) -> argparse.ArgumentParser:
    """`--max_steps N`: a training length; `old_steps` keeps `--steps` as its old name (for a
    command that never reads a checkpoint, where the old spelling is unambiguous)."""
    parser = _parent()
    parser.add_argument("--max_steps", type=int, default=default, help=help)
    if old_steps:
        add_renamed(parser, "--steps", "--max_steps", "max_steps", int)
    return parser


def device_flags(default: str) -> argparse.ArgumentParser:
    """`--device N`: a GPU index, -1 for the CPU; printed only when given."""
    parser = _parent()
    # the default is set on the parser (first), not the flag: no "(default: None)" in the help
    parser.set_defaults(device=None)
    parser.add_argument("--device", type=int, default=argparse.SUPPRESS,
                        help="GPU index; -1 for the CPU (a missing GPU falls back to the CPU); "
                             f"given, the device is printed (default: {default})")
    return parser


def strict_flags(what: str = "file") -> argparse.ArgumentParser:
    """`--strict`: stop at the first unusable input instead of reporting and skipping it."""
    parser = _parent()
    parser.add_argument("--strict", action="store_true",
                        help=f"stop at the first {what} that cannot be used, instead of "
                             "reporting and skipping it")
    return parser


def config_flags() -> argparse.ArgumentParser:
    """`--config FILE` and `--check_config` (parse with config_file.parse_with_config)."""
    parser = _parent()
    add_config_flags(parser)
    return parser
