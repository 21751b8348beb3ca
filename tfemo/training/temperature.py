"""The calibration temperature a train dir keeps: `temperature.json`, step -> T.

Written by `tfemo.eval --calibrate` (fit on the devel speakers), read by eval and predict.
"""

from __future__ import annotations

import json
from pathlib import Path

from tfemo.core.storage import write_atomic
from tfemo.training.run_dir import temperature_file


def read_temperature(train_dir: str | Path, step: int | str) -> float | None:
    """The temperature saved for `step` in `train_dir`, or None when none was fit."""
    path = temperature_file(train_dir)
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
        value = saved.get("steps", {}).get(str(step))
    except (json.JSONDecodeError, AttributeError) as error:
        raise ValueError(f"{path}: not a temperature file ({error})") from error
    return None if value is None else float(value["temperature"])


def save_temperature(train_dir: str | Path, step: int | str, temperature: float, portion: str,
                     files: int) -> Path:
    """Record the temperature fit for `step` on `files` files of `portion` (atomically)."""
    path = temperature_file(train_dir)
    saved = json.loads(path.read_text()) if path.is_file() else {"steps": {}}
    saved["steps"][str(step)] = {"temperature": temperature, "portion": portion,
                                 "files": files}
    return write_atomic(path, json.dumps(saved, indent=1, sort_keys=True))
