"""Every command quoted in README.md and docs/*.md parses: its command's argparse accepts its flags.

A quoted command is `python -m tfemo.X ...`, `python tools/X.py ...` or `tfemo-X ...` in a
fenced shell block (backslash continuations joined, comments dropped, `&&` / `;` / `|` chains
split) or in an inline code span (a command's name alone, as in the command table, is a name;
`...` stands for arguments left out; `[--flag VALUE]` is an optional flag). Each is handed to
its module's `parse_args` (nothing runs; paths need not exist: a `--config` file that is not
there is replaced by an empty one).
"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = ("", "bash", "sh", "shell", "console")
INLINE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
PREFIX = re.compile(r"(?:^|/)python3?$")
SEPARATORS = {"&&", "||", ";", "|"}


def _module_and_args(tokens: list[str]) -> tuple[str, list[str]] | None:
    """The tfemo module a command runs and its arguments, or None for any other command."""
    for i, token in enumerate(tokens):
        if PREFIX.search(token) and i + 1 < len(tokens):
            if tokens[i + 1] == "-m" and i + 2 < len(tokens) and tokens[i + 2].startswith(
                    "tfemo."):
                return tokens[i + 2], tokens[i + 3:]
            shim = re.fullmatch(r"(?:\./)?tools/(\w+)\.py", tokens[i + 1])
            if shim:
                return f"tfemo.{shim.group(1)}", tokens[i + 2:]
            return None
        if re.fullmatch(r"tfemo-[a-z-]+", token):
            return "tfemo." + token.removeprefix("tfemo-").replace("-", "_"), tokens[i + 1:]
        if "=" not in token:  # only environment assignments may come before the program
            return None
    return None


def _commands(text: str) -> list[str]:
    """Each command line of a shell text: continuations joined, chains split."""
    text = text.replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:  # an unbalanced quote: not a shell line (prose in a code span)
            continue
        current: list[str] = []
        for token in [*tokens, "&&"]:
            if token in SEPARATORS:
                if current:
                    found.append(shlex.join(current))
                current = []
            else:
                current.append(token)
    return found


def _split_fences(text: str) -> tuple[list[str], str]:
    """The fenced shell blocks of a Markdown text, and its text outside every fence."""
    blocks, outside, block, language = [], [], [], None
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            if language is None:
                language, block = line[3:].strip(), []
            else:
                if language in SHELL:
                    blocks.append("".join(block))
                language = None
        elif language is None:
            outside.append(line)
        else:
            block.append(line)
    return blocks, "".join(outside)


def quoted_commands() -> list[tuple[str, str, list[str]]]:
    """(where, module, arguments) of every tfemo command quoted in the pages."""
    found = []
    for page in PAGES:
        blocks, outside = _split_fences(page.read_text())
        spans = [" ".join(match.group(1).split()) for match in INLINE.finditer(outside)]
        for source, inline in [*((b, False) for b in blocks), *((s, True) for s in spans)]:
            for command in _commands(source):
                # "..." stands for arguments left out: the rest must still parse
                tokens = [t.strip("[]") for t in shlex.split(command) if t != "..."]
                parsed = _module_and_args([t for t in tokens if t])
                if parsed and (parsed[1] or not inline):  # an inline name alone is a name
                    found.append((f"{page.name}: {command}", *parsed))
    return found


COMMANDS = quoted_commands()


def test_the_pages_quote_every_command():
    """The extraction finds the commands (a broken pattern would pass every parse test)."""
    modules = {module for _, module, _ in COMMANDS}
    assert {"tfemo.make_tfrecords", "tfemo.train", "tfemo.eval", "tfemo.predict",
            "tfemo.experiment", "tfemo.export", "tfemo.serve"} <= modules
    assert len(COMMANDS) > 40


def _with_configs(args: list[str], tmp_path: Path) -> list[str]:
    """`args` with each --config FILE that does not exist replaced by an empty TOML file."""
    out = list(args)
    for i, token in enumerate(out):
        value = None
        if token == "--config" and i + 1 < len(out):
            value, index = out[i + 1], i + 1
        elif token.startswith("--config="):
            value, index = token.split("=", 1)[1], i
        if value is not None and not (ROOT / value).exists():
            empty = tmp_path / "empty.toml"
            empty.write_text("")
            out[index] = str(empty) if index != i else f"--config={empty}"
    return out


@pytest.mark.parametrize(("where", "module", "args"), COMMANDS,
                         ids=[where for where, _, _ in COMMANDS])
def test_a_quoted_command_parses(where, module, args, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    parse_args = importlib.import_module(module).parse_args
    try:
        parse_args(_with_configs(args, tmp_path))
    except SystemExit as stop:
        error = capsys.readouterr().err.strip().splitlines()
        assert stop.code in (0, None), f"{where}\n  {error[-1] if error else stop.code}"


def _anchors(text: str) -> set[str]:
    """GitHub's anchors of a Markdown text's headings (outside code fences)."""
    _, outside = _split_fences(text)
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", outside, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_the_links_between_the_pages_resolve():
    """Every relative link names a file that exists and, with #anchor, one of its headings."""
    broken = []
    for page in PAGES:
        _, outside = _split_fences(page.read_text())
        for target in re.findall(r"\]\(([^)\s]+)\)", outside):
            if re.match(r"[a-z]+:", target):
                continue  # a URL
            path, _, anchor = target.partition("#")
            file = (page.parent / path) if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file.read_text()):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
