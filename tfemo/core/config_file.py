"""`--config FILE` for a command whose flags are plain argparse arguments.

The TOML file's keys are the command's flag names (`batch_size = 8`, `calibrate = true`); each
value is checked as its flag's own `type` and `choices` would check it, the file's values become
the parser's defaults, and the flags given on the command line override them (as
`tfemo.train --config` does with its typed options). `--check_config` parses the flags and the
file, reports the first bad one in one line and exits: `tfemo.experiment` uses it to check
every step of an experiment before running any.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tfemo.core.cli import USER_ERROR
from tfemo.core.options import OptionError, read_toml

CONFIG_DESTS = ("config", "check_config")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Add `--config FILE` and `--check_config` to `parser`."""
    parser.add_argument("--config", type=Path, metavar="FILE", default=None,
                        help="TOML file setting any of these flags by name (key = value); "
                             "flags given here override it")
    parser.add_argument("--check_config", action="store_true",
                        help="check the flags and the --config file, then exit (0: valid)")


def _flag_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The parser's optional flags by key (dest and long option name), without help/config."""
    actions = {}
    for action in parser._actions:  # argparse keeps no public list of its actions
        if not action.option_strings or action.dest in ("help", *CONFIG_DESTS):
            continue
        actions.setdefault(action.dest, action)  # a dest's first flag, not an old name's
        for flag in action.option_strings:
            if flag.startswith("--"):
                actions[flag[2:]] = action
    return actions


def _converted(action: argparse.Action, key: str, value: Any, where: str) -> Any:
    """A TOML value of `key` for `action`, checked as the flag would check its text."""
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        if not isinstance(value, bool):
            raise OptionError(f"{where} must be true or false, got {value!r}")
        # store_false flags (e.g. --no_speech_check -> speech_check) keep their dest's sense
        return value if key == action.dest else not value
    if isinstance(action, argparse._AppendAction):
        # a repeatable flag (--corpus A=x --corpus B=y) takes one value or a list of them
        values = value if isinstance(value, list) else [value]
        return [_converted_one(action, item, where) for item in values]
    return _converted_one(action, value, where)


def _converted_one(action: argparse.Action, value: Any, where: str) -> Any:
    """One TOML value checked as the flag's `type` and `choices` check its text."""
    if isinstance(value, bool | dict | list):
        raise OptionError(f"{where} must be a single value, got {value!r}")
    kind = action.type
    if kind in (int, float) and isinstance(value, int | float):
        if kind is int and not isinstance(value, int):
            raise OptionError(f"{where} must be an int, got {value!r}")
        value = kind(value)
    elif kind is not None:
        try:
            value = kind(str(value))
        except (argparse.ArgumentTypeError, TypeError, ValueError) as error:
            raise OptionError(f"{where}: {value!r} is not valid ({error})") from error
    elif not isinstance(value, str | int | float):
        raise OptionError(f"{where} must be a string, got {value!r}")
    if action.choices is not None and value not in action.choices:
        raise OptionError(f"{where} must be one of {', '.join(map(str, action.choices))}; "
                          f"got {value!r}")
    return value


def config_defaults(parser: argparse.ArgumentParser, path: Path) -> dict[str, Any]:
    """The flag values TOML file `path` sets, by dest; OptionError naming the file and key."""
    actions = _flag_actions(parser)
    values = {}
    for key, value in read_toml(path).items():
        if key not in actions:
            raise OptionError(f"{path}: unknown key {key!r} (keys are {parser.prog} flag names)")
        new = getattr(actions[key], "new", "")  # an old flag name (tfemo.core.flags.Renamed)
        if new:
            print(f"note: {path}: key {key!r} is deprecated; it is now {new[2:]!r}",
                  file=sys.stderr, flush=True)
        values[actions[key].dest] = _converted(actions[key], key, value, f"{path}: {key}")
    return values


def parse_with_config(parser: argparse.ArgumentParser,
                      argv: list[str] | None = None) -> argparse.Namespace:
    """Parse `argv` over the defaults of its `--config` file; `--check_config` exits here."""
    argv = sys.argv[1:] if argv is None else list(argv)
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config", type=Path)
    known, _ = pre.parse_known_args(argv)
    defaults: dict[str, Any] = {}
    if known.config is not None:
        try:
            defaults = config_defaults(parser, known.config)
        except OptionError as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            raise SystemExit(USER_ERROR) from None
        parser.set_defaults(**defaults)
    args = parser.parse_args(argv)
    for dest, value in defaults.items():
        # a repeatable flag given on the command line replaces the file's list, not extends it
        given = getattr(args, dest)
        if isinstance(value, list) and isinstance(given, list) and len(given) > len(value):
            setattr(args, dest, given[len(value):])
    if args.check_config:
        raise SystemExit(0)
    return args
