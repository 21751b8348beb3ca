"""Generating the demo corpus: where it is cached, how it is made atomically, the command line.

Generation writes into a hidden temporary sibling folder (named after the generator's process
id) and renames it into place when complete; `manifest.json`, written last, marks a complete
corpus. It runs in a fresh process (`ensure_demo_corpus` starts one) because espeak-ng's output
depends on its earlier calls in a process (tfemo.corpora.demo.synthesis).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from tfemo.core.errors import InputError
from tfemo.corpora.demo.config import (
    DEFAULT_CONFIG,
    GENERATOR_VERSION,
    TINY_CONFIG,
    DemoConfig,
    stream,
)
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
    new Python process because espeak-ng's output depends on its earlier calls in a process.
    """
    root = Path(root) if root is not None else default_root(config)
    if manifest_matches(root, config):
        return root
    package_parent = str(Path(__file__).resolve().parents[3])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "tfemo.corpora.demo", "--root", str(root),
               "--config", json.dumps(config.to_dict())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"generating the demo corpus in {root} failed "
                           f"(exit {done.returncode}):\n{done.stderr.strip()}")
    if not manifest_matches(root, config):
        raise RuntimeError(f"the demo corpus generator finished but {root} has no manifest")
    return root


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


def main(argv: list[str] | None = None) -> int:
    """Command line: generate a demo corpus into --root (default config, --tiny, or --config)."""
    parser = argparse.ArgumentParser(
        prog="python -m tfemo.corpora.demo",
        description="Generate the embedded demo corpus: synthetic, deterministic emotional "
                    "speech made with espeak-ng.")
    parser.add_argument("--root", type=Path, default=None,
                        help="corpus folder to create (default: the cache folder of the config)")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--tiny", action="store_true",
                        help="3 speakers (one per portion), 2 sentences per emotion")
    choice.add_argument("--config", help="a DemoConfig as JSON (DemoConfig.to_dict)")
    parser.add_argument("--unseen_sentences", action="store_true",
                        help="the unseen-sentence protocol: devel and test speakers say "
                             "sentences never spoken in train (same valences)")
    args = parser.parse_args(argv)
    if args.config:
        config = DemoConfig.from_dict(json.loads(args.config))
    else:
        config = TINY_CONFIG if args.tiny else DEFAULT_CONFIG
    if args.unseen_sentences:
        config = replace(config, unseen_sentences=True)
    root = args.root if args.root is not None else default_root(config)
    summary = generate(config, root)
    if summary["generated"]:
        print(f"demo corpus in {root}: {summary['utterances']} utterances "
              f"({summary['speech_minutes']:.1f} min), {summary['sessions']} sessions "
              f"({summary['session_minutes']:.1f} min), {summary['seconds']:.1f} s")
    else:
        print(f"demo corpus in {root} is complete already")
    return 0
