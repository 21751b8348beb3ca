"""House rules (docs/design.md): top-level modules are commands; the library imports none."""

from __future__ import annotations

import ast
import configparser
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tfemo"
COMMANDS = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("command", COMMANDS)
def test_every_top_level_module_is_a_command(command):
    module = importlib.import_module(f"tfemo.{command}")
    assert callable(getattr(module, "main", None)), f"tfemo/{command}.py has no main()"
    assert callable(getattr(module, "parse_args", None)), f"tfemo/{command}.py has no parse_args()"
    assert 'if __name__ == "__main__":' in (PACKAGE / f"{command}.py").read_text()


def test_no_library_module_imports_a_command():
    commands = {f"tfemo.{c}" for c in COMMANDS}
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent == PACKAGE:
            continue  # the commands themselves and tfemo/__init__.py
        for name in _imported_modules(path) & commands:
            offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_no_library_package_runs_as_a_program():
    """Only the commands start programs: no __main__.py, no `if __name__ == "__main__"` below."""
    programs = [str(path.relative_to(PACKAGE.parent)) for path in sorted(PACKAGE.rglob("*.py"))
                if path.parent != PACKAGE and (path.name == "__main__.py"
                                               or "__main__" in path.read_text())]
    assert not programs


def test_every_command_has_a_console_script_and_a_shim():
    config = configparser.ConfigParser()
    config.read(PACKAGE.parent / "setup.cfg")
    scripts = dict(line.split(" = ") for line in
                   config["options.entry_points"]["console_scripts"].strip().splitlines())
    targets = {target.split(":")[0].removeprefix("tfemo.") for target in scripts.values()}
    assert targets == set(COMMANDS)
    for name, target in scripts.items():
        assert name == "tfemo-" + target.split(":")[0].removeprefix("tfemo.").replace("_", "-")
    shims = sorted((PACKAGE.parent / "tools").glob("*.py"))
    assert [shim.stem for shim in shims] == COMMANDS, "every command has one shim in tools/"
    for shim in shims:
        text = shim.read_text()
        assert f"from tfemo.{shim.stem} import main" in text, f"{shim} is not a shim"
        assert len(text.splitlines()) < 12, f"{shim} holds more than a shim"


def test_the_readme_has_one_table_of_every_command():
    """One row per command: module, console script, shim; no command left out or listed twice."""
    readme = (PACKAGE.parent / "README.md").read_text()
    rows = re.findall(r"^\| `python -m tfemo\.(\w+)` \| `(tfemo-[\w-]+)` \| `tools/(\w+)\.py` \| "
                      r"[^|]+ \|$", readme, re.MULTILINE)
    assert sorted(command for command, _, _ in rows) == COMMANDS
    for command, script, shim in rows:
        assert (script, shim) == ("tfemo-" + command.replace("_", "-"), command)


def test_the_import_contracts_name_every_command_and_stage():
    config = configparser.ConfigParser()
    config.read(PACKAGE.parent / "setup.cfg")
    forbidden = config["importlinter:contract:library-never-imports-a-command"]
    assert set(forbidden["forbidden_modules"].split()) == {f"tfemo.{c}" for c in COMMANDS}
    stages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert set(forbidden["source_modules"].split()) == {f"tfemo.{s}" for s in stages}
    loops = config["importlinter:contract:no-loops"]
    assert (loops["type"], loops["ancestors"].split()) == ("acyclic_siblings", ["tfemo"])
    layers = config["importlinter:contract:stages"]["layers"].replace("|", " ").split()
    assert sorted(layers) == sorted({f"tfemo.{s}" for s in stages if s != "core"}
                                    | {f"tfemo.{c}" for c in COMMANDS} | {"tfemo.core"})


def test_tensorflow_log_level_is_set_once_before_tensorflow_loads():
    """tfemo.core.quiet is the one place; `import tfemo` runs it without loading TensorFlow."""
    setters = [str(path.relative_to(PACKAGE.parent)) for path in sorted(PACKAGE.rglob("*.py"))
               if re.search(r"[\"']TF_CPP_MIN_LOG_LEVEL[\"']", path.read_text())]
    assert setters == ["tfemo/core/quiet.py"]
    code = ("import os, sys; import tfemo; "
            "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], 'tensorflow' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(PACKAGE.parent)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["2", "False"]


def test_every_test_the_design_note_names_exists():
    """docs/design.md lists a guarding test per upstream defect; each must be a real test."""
    root = PACKAGE.parent
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", (root / "docs" / "design.md").read_text())
    assert len(named) >= 9
    missing = [f"{path}::{name}" for path, name in named
               if not re.search(rf"^def {name}\(", (root / path).read_text(), re.MULTILINE)]
    assert not missing, f"docs/design.md names tests that do not exist: {missing}"


def _import_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_the_cycle_finder_finds_a_loop():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _import_cycles(edges) == [["a", "b", "c"]]


def test_no_module_of_tfemo_is_in_an_import_loop():
    """Function-level imports count: grimp (import-linter's graph) sees every import."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("tfemo", include_external_packages=False)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    cycles = _import_cycles(edges)
    assert not cycles, f"import loops: {cycles}"
