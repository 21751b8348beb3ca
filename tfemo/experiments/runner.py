"""Run an experiment's steps as subprocesses, skipping what is done, resuming after a kill.

Each step runs as `python -m tfemo.<command> --config <run>/configs/<step>.toml ...` in its own
process (TensorFlow's memory is freed after each; a kill stops one command), its output going
to `<run>/logs/<step>.log` and its command line to `<run>/commands.log`. When it exits 0 the
runner writes `<run>/steps/<step>.json` (command, digest, wall time, versions), atomically and
after the step's result files: a step is done exactly when its marker is there and matches its
command and config. A rerun skips done steps and runs the others (a killed command picks up
what it had finished: records their shards, train its checkpoints); a step whose settings
changed, or one whose input step ran again, runs again.
"""

from __future__ import annotations

import ctypes
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from tfemo.core.errors import UserError
from tfemo.core.storage import write_atomic
from tfemo.experiments.layout import RunFolder
from tfemo.experiments.spec import Experiment, experiment_text
from tfemo.experiments.steps import CHECKED, Step, plan, records_of

PACKAGES = (("tfemo", ("tfemo",)), ("tensorflow", ("tensorflow-cpu", "tensorflow")),
            ("keras", ("keras",)), ("scikit-learn", ("scikit-learn",)),
            ("numpy", ("numpy",)), ("matplotlib", ("matplotlib",)))
LOG_TAIL = 15


def versions() -> dict[str, str]:
    """The Python version and the installed versions of the packages a result depends on."""
    found = {"python": sys.version.split()[0]}
    for name, distributions in PACKAGES:
        for distribution in distributions:
            try:
                found[name] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                continue
    return found


def command_line(step: Step, run: RunFolder) -> str:
    """The step's command as it is logged and reported: `python -m tfemo.<command> ...`."""
    return shlex.join(["python", *step.argv(run)])


def _libc_prctl():
    """prctl(2) of the C library, looked up once in the runner (Linux; None elsewhere)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: be killed when the runner dies, so no orphan writes on.
    Only calls the function looked up before the fork (no library loading after it)."""
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


def _environment() -> dict[str, str]:
    """The steps' environment: unbuffered output, so a step's log is current after a kill
    (the commands print whole lines off a terminal themselves)."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def execute(step: Step, run: RunFolder, extra: tuple[str, ...] = ()) -> int:
    """Run one step's command (plus `extra` flags), its output appended to its log."""
    argv = [sys.executable, *step.argv(run), *extra]
    log_path = run.log(step.name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n### {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(argv)}\n".encode())
        log.flush()
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                   env=_environment(),
                                   preexec_fn=_die_with_parent if _PRCTL else None)
        try:
            return process.wait()
        except BaseException:  # Ctrl-C or a kill of the runner: stop the step too
            process.terminate()
            process.wait()
            raise


def write_config(step: Step, run: RunFolder) -> None:
    """The step's --config file (atomically), if it has one."""
    if step.values is not None:
        write_atomic(run.config(step.name), step.config_text())


def is_done(step: Step, run: RunFolder) -> bool:
    """Whether the step's marker is there and matches its command and settings."""
    try:
        marker = json.loads(run.marker(step.name).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return marker.get("digest") == step.digest(run)


def check(steps: list[Step], run: RunFolder, source: Path) -> None:
    """Every step that will run and whose command checks its --config: checked by it now, so
    a bad key stops the experiment (one line naming `source` and the section) before anything
    runs."""
    for step in steps:
        if step.command not in CHECKED or is_done(step, run):
            continue
        write_config(step, run)
        code = execute(step, run, ("--check_config",))
        if code:
            lines = run.log(step.name).read_text(errors="replace").strip().splitlines()
            errors = [line for line in lines if line.startswith("error:")]
            detail = errors[-1].removeprefix("error: ") if errors else lines[-1] if lines else ""
            detail = detail.removeprefix(f"{run.config(step.name)}: ")
            raise UserError(f"{source}: [{step.section}] {detail}",
                            f"step {step.name} runs tfemo.{step.command}; its log: "
                            f"{run.log(step.name)}")


def _record(step: Step, run: RunFolder, started: float, seconds: float) -> None:
    marker = {"step": step.name, "command": command_line(step, run),
              "config": step.config_text(), "digest": step.digest(run),
              "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
              "seconds": round(seconds, 1), "versions": versions()}
    write_atomic(run.marker(step.name), json.dumps(marker, indent=1))


def _log_command(run: RunFolder, text: str) -> None:
    with open(run.commands_log, "a") as log:
        log.write(text + "\n")


def run_experiment(experiment: Experiment, say: Callable[[str], None] = print) -> int:
    """Run every step not yet done; 0 when all are done, else the failing command's code."""
    run = experiment.run
    run.root.mkdir(parents=True, exist_ok=True)
    write_atomic(run.experiment_file, experiment_text(experiment))
    check(plan(experiment), run, experiment.path)
    _log_command(run, f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {experiment.path} "
                      f"(python = {sys.executable})")
    ran: set[str] = set()
    index = 0
    while True:
        steps = plan(experiment, records_of(run))  # the final model's records exist by then
        if index >= len(steps):
            break
        step = steps[index]
        index += 1
        if is_done(step, run) and not ran.intersection(step.needs):
            say(f"[{step.name}] done already (skipped)")
            continue
        run.marker(step.name).unlink(missing_ok=True)
        write_config(step, run)
        line = command_line(step, run)
        say(f"[{step.name}] {line}")
        started = time.time()
        code = execute(step, run)
        seconds = time.time() - started
        _log_command(run, f"{line}  # exit {code}, {seconds:.1f} s")
        if code:
            log = run.log(step.name)
            if log.is_file():
                say("\n".join(log.read_text(errors="replace").splitlines()[-LOG_TAIL:]))
            say(f"[{step.name}] failed with exit code {code}; its log: {run.log(step.name)}")
            return code
        _record(step, run, started, seconds)
        ran.add(step.name)
        say(f"[{step.name}] done in {seconds:.1f} s")
    return 0


def done_steps(run: RunFolder) -> list[dict]:
    """The markers of the run's finished steps, in the order they finished."""
    markers = [json.loads(p.read_text()) for p in sorted(run.markers.glob("*.json"))]
    return sorted(markers, key=lambda m: m["started"])


def ensure_run_folder(path: str | Path) -> RunFolder:
    """`path` as an experiment's run folder (a user error when it is not one)."""
    run = RunFolder(Path(path))
    if not run.experiment_file.is_file():
        raise UserError(f"{path}: not an experiment's run folder (no {run.experiment_file.name})",
                        "give the folder tfemo.experiment wrote, <output_dir>/<name>")
    return run
