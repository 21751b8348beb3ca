"""Options declared once, as frozen dataclass fields: the flags, TOML values and checks follow.

A field is an option: `hidden: int = option(128, "units of the dense layer")`, with `choices`
where it has them. `add_flags` turns the fields into argparse flags (`--hidden`; a bool gives
`--name` and `--no_name`; a tuple is comma-separated), `convert` checks and converts a value
read from a TOML file, and `toml_text` writes values back in a form `tomllib` reads. Classes
that derive from `Options` check their values on construction, so a bad choice fails early.
Supported types: bool, int, float, str, Path (a URL such as gs://b/x stays a str, as
tfemo.core.storage keeps it) and tuples of str or int.
"""

from __future__ import annotations

import argparse
import json
import math
import tomllib
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from tfemo.core import storage
from tfemo.core.errors import TfemoError

SCALARS = (bool, int, float, str, Path)


class OptionError(TfemoError, ValueError):
    """A value that does not fit its option (a user's mistake, so a TfemoError)."""


def option(default: Any, help: str, choices: Sequence[Any] | None = None) -> Any:
    """A dataclass field for one option: its default, its help text and its allowed values."""
    return field(default=default, metadata={"help": help,
                                             "choices": tuple(choices) if choices else None})


@dataclass(frozen=True)
class OptionInfo:
    """One option of a config class: name, type, default, help and choices (of each element
    for a tuple)."""

    name: str
    kind: Any
    default: Any
    help: str
    choices: tuple[Any, ...] | None

    @property
    def element(self) -> type | None:
        """The element type of a tuple option, None for a scalar."""
        if typing.get_origin(self.kind) is tuple:
            return typing.get_args(self.kind)[0]
        return None


def describe(cls: type) -> tuple[OptionInfo, ...]:
    """The options of dataclass `cls`, in field order; TypeError for a field that is not one."""
    hints = typing.get_type_hints(cls)
    infos = []
    for item in fields(cls):
        kind = hints[item.name]
        args = typing.get_args(kind)
        tuple_of = (typing.get_origin(kind) is tuple and len(args) == 2 and args[1] is Ellipsis
                    and args[0] in (str, int))
        if kind not in SCALARS and not tuple_of:
            raise TypeError(f"{cls.__name__}.{item.name}: options are bool, int, float, str, "
                            f"Path or tuple[str|int, ...], not {kind}")
        if item.default is MISSING:
            raise TypeError(f"{cls.__name__}.{item.name}: an option needs a default")
        infos.append(OptionInfo(item.name, kind, item.default, item.metadata.get("help", ""),
                                item.metadata.get("choices")))
    return tuple(infos)


def names(cls: type) -> tuple[str, ...]:
    """The option names of `cls`."""
    return tuple(item.name for item in fields(cls))


def _scalar(kind: type, value: Any, where: str) -> Any:
    """`value` as `kind`, or OptionError saying what `where` expected."""
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    elif kind is Path and isinstance(value, str | Path):
        return storage.location(value)
    expected = "a path" if kind is Path else f"{'an' if kind is int else 'a'} {kind.__name__}"
    raise OptionError(f"{where} must be {expected}, got {value!r}")


def convert(info: OptionInfo, value: Any, where: str | None = None) -> Any:
    """`value` (from TOML or Python) checked and converted to option `info`'s type."""
    where = where or info.name
    if info.element is not None:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise OptionError(f"{where} must be a list, got {value!r}")
        value = tuple(_scalar(info.element, v, where) for v in value)
        bad = [v for v in value if info.choices and v not in info.choices]
    else:
        value = _scalar(info.kind, value, where)
        bad = [value] if info.choices and value not in info.choices else []
    if bad:
        raise OptionError(f"{where} must be one of {', '.join(map(str, info.choices))}; "
                          f"got {bad[0]!r}")
    return value


def validate(config: Any) -> None:
    """Check every option of dataclass instance `config`, converting lists to tuples in place."""
    for info in describe(type(config)):
        value = convert(info, getattr(config, info.name), f"{type(config).__name__}.{info.name}")
        object.__setattr__(config, info.name, value)


class Options:
    """Base of frozen option dataclasses: the values are checked when an instance is made."""

    def __post_init__(self) -> None:
        validate(self)


def from_values(cls: type, values: Mapping[str, Any], where: str = "") -> Any:
    """An instance of `cls` from the `values` that name its options (other keys ignored)."""
    prefix = f"{where}: " if where else ""
    return cls(**{info.name: convert(info, values[info.name], prefix + info.name)
                  for info in describe(cls) if info.name in values})


def text(value: Any) -> str:
    """How a value is written on the command line (tuples comma-separated)."""
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return str(value)


class _Switch(argparse.Action):
    """`--name` sets a bool option, `--no_name` clears it."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, not option_string.startswith("--no_"))


def from_text(info: OptionInfo, value: str) -> Any:
    """A command-line value of option `info` (a tuple comma-separated), checked."""
    kind = info.element or info.kind
    parts = [p.strip() for p in value.split(",") if p.strip()] if info.element else [value]
    try:
        values = [int(p) if kind is int else float(p) if kind is float else p for p in parts]
    except ValueError as error:
        what = (f"comma-separated {kind.__name__}s" if info.element
                else "an int" if kind is int else f"a {kind.__name__}")
        raise OptionError(f"{info.name} must be {what}, got {value!r}") from error
    return convert(info, values if info.element else values[0])


def _parser_of(info: OptionInfo):
    """The argparse `type` of a non-bool option: text -> checked value."""
    def parse(value: str) -> Any:
        try:
            return from_text(info, value)
        except OptionError as error:
            raise argparse.ArgumentTypeError(str(error)) from error
    parse.__name__ = getattr(info.element or info.kind, "__name__", "value")
    return parse


def add_flags(group: Any, cls: type) -> None:
    """One flag per option of `cls` on argparse parser or group `group`.

    Defaults are SUPPRESSed, so the parsed namespace holds only the flags given (the caller
    layers them over a config file and the dataclass defaults); the help shows the default.
    """
    for info in describe(cls):
        help_text = f"{info.help} (default: {text(info.default) or 'none'})"
        if info.kind is bool:
            group.add_argument(f"--{info.name}", f"--no_{info.name}", dest=info.name,
                               action=_Switch, default=argparse.SUPPRESS, help=help_text)
            continue
        metavar = None
        if info.choices:
            metavar = "{" + ",".join(map(str, info.choices)) + "}"
            if info.element is not None:
                metavar += "[,...]"
        elif info.element is not None:
            metavar = f"{info.element.__name__.upper()}[,...]"
        group.add_argument(f"--{info.name}", dest=info.name, type=_parser_of(info),
                           metavar=metavar, default=argparse.SUPPRESS, help=help_text)


def read_toml(path: str | Path) -> dict[str, Any]:
    """The table in TOML file `path`; OptionError naming the file when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise OptionError(f"{path}: cannot read the config file ({error.strerror})") from error
    except tomllib.TOMLDecodeError as error:
        raise OptionError(f"{path}: not valid TOML ({error})") from error


def toml_value(value: Any) -> str:
    """`value` as a TOML value (strings and paths quoted, tuples as arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str | Path):
        # a JSON string (escapes \", \\, \n, \uXXXX) is a TOML basic string
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def toml_lines(values: Mapping[str, Any], comment: str = "") -> list[str]:
    """`key = value` lines of a TOML table, after an optional `# comment` line."""
    lines = [f"# {comment}"] if comment else []
    return lines + [f"{key} = {toml_value(value)}" for key, value in values.items()]


def option_values(config: Any) -> dict[str, Any]:
    """The options of dataclass instance `config`, by name, in field order."""
    return {item.name: getattr(config, item.name) for item in fields(config)}


def owners(name: str, classes: Mapping[str, type]) -> list[str]:
    """The keys of `classes` whose config class has option `name` (or its `no_` form)."""
    found = []
    for key, cls in classes.items():
        infos = {info.name: info for info in describe(cls)}
        bare = name.removeprefix("no_")
        if name in infos or (bare in infos and infos[bare].kind is bool):
            found.append(key)
    return found


def ensure_distinct(classes: Iterable[type]) -> None:
    """TypeError when two of `classes` declare the same option (a flat namespace of flags)."""
    seen: dict[str, str] = {}
    for cls in classes:
        for name in names(cls):
            if name in seen:
                raise TypeError(f"option {name!r} is declared by both {seen[name]} and "
                                f"{cls.__name__}")
            seen[name] = cls.__name__
