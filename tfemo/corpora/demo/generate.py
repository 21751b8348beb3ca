"""Generating the demo corpus: where it is cached and how it is made atomically.

Generation writes into a hidden temporary sibling folder (named after the generator's process
id) and renames it into place when complete; `manifest.json`, written last, marks a complete
corpus. It runs in a fresh process (`ensure_demo_corpus` spawns one with multiprocessing and
waits for it) because espeak-ng's output depends on its earlier calls in a process
(tfemo.corpora.demo.synthesis): a spawned process has made none, so every generation gives
the same bytes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from tfemo.core.errors import InputError
from tfemo.corpora.demo.config import DEFAULT_CONFIG, GENERATOR_VERSION, DemoConfig, stream
from tfemo.corpora.demo.layout import MANIFEST
from tfemo.corpora.demo.sessions import build_sessions, label_session, make_raters
from tfemo.corpora.demo.synthesis import plan_utterances, reset_libc_rand, synthesize_utterance
from tfemo.corpora.demo.writing import write_corpus


def cache_dir() -> Path:
    """Where generated corpora live: $TFEMO_CACHE if set, else ~/.cache/tfemo."""
    configured = os.environ.get("TFEMO_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "tfemo"


def default_root(config: DemoConfig = DEFAULT_CONFIG) -> Path:
    """The cache folder of a config: demo-v<version>, plus a config hash if not the default."""
    name = f"demo-v{GENERATOR_VERSION}"
    if config != DEFAULT_CONFIG:
        name += f"-{config.digest()}"
    return cache_dir() / name


def manifest_matches(root: Path, config: DemoConfig) -> bool:
    """True if root holds a complete corpus of this config; raises if it holds another one."""
    path = root / MANIFEST
    if not path.is_file():
        return False
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        version, stored = manifest["generator_version"], manifest["config"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(path, "bad manifest", str(error)) from error
    if version != GENERATOR_VERSION or stored != config.to_dict():
        raise InputError(path, "wrong demo corpus",
                         f"made by generator v{version} with another config; "
                         f"delete {root} or choose another folder")
    return True


def ensure_demo_corpus(config: DemoConfig = DEFAULT_CONFIG, root: Path | None = None) -> Path:
    """Return the corpus folder of `config`, generating it first (in a fresh process) if needed.

    `root` is the corpus folder itself (default: `default_root(config)`). Generation runs in a
    new Python process because espeak-ng's output depends on its earlier calls in a process;
    its errors are raised here.
    """
    root = Path(root) if root is not None else default_root(config)
    if manifest_matches(root, config):
        return root
    in_a_fresh_process(generate, config, root)
    if not manifest_matches(root, config):
        raise RuntimeError(f"the demo corpus generator finished but {root} has no manifest")
    return root


def in_a_fresh_process(function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)` in a newly spawned Python process (never forked: a fork would carry
    this process's espeak-ng state); its result, or its exception raised here."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def remove_stale_partials(root: Path) -> None:
    """Delete temporary folders left by generator processes that no longer run."""
    for partial in root.parent.glob(f".{root.name}.partial-*"):
        try:
            pid = int(partial.name.rsplit("-", 1)[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(partial, ignore_errors=True)
        except (ValueError, PermissionError, OSError):
            continue


def generate(config: DemoConfig, root: Path) -> dict:
    """Generate the corpus into `root` atomically; call in a fresh process (module docstring)."""
    if manifest_matches(root, config):
        return {"generated": False}
    if root.exists():
        if root.is_dir() and not any(root.iterdir()):
            root.rmdir()
        else:
            raise FileExistsError(f"{root} exists and is not a complete demo corpus; "
                                  "delete it or choose another folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(root)
    partial = root.parent / f".{root.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    started = time.monotonic()
    try:
        utterances = plan_utterances(config)
        stats = {"clipped_samples": 0, "limited_utterances": 0}
        reset_libc_rand()  # breathy voices draw on rand(): start from its initial sequence
        for utterance in utterances:  # fixed order: espeak-ng output depends on earlier calls
            found = synthesize_utterance(utterance, stream(config.seed, "noise", utterance.id))
            stats = {k: stats[k] + found[k] for k in stats}
        sessions = build_sessions(config, utterances)
        raters = make_raters(config)
        for session in sessions:
            label_session(config, session, raters)
        partial.mkdir()
        write_corpus(partial, config, utterances, sessions, raters, stats)
        try:
            partial.rename(root)
        except OSError:
            if not manifest_matches(root, config):  # not a concurrent generator's corpus
                raise
            shutil.rmtree(partial, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    return {"generated": True, "seconds": round(time.monotonic() - started, 2),
            **manifest["counts"]}

