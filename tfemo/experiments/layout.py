"""The run folder of an experiment: every file name the runner and the report use, in one place.

```
<run>/experiment.toml        the experiment as run (file, references and --set merged)
<run>/configs/<step>.toml    each step's --config, as the command read it
<run>/records/               make_tfrecords output (fold-NN/ for folds)
<run>/train/<model>/         one train dir per [models] entry (fold-NN/ inside for folds)
<run>/final/                 the final model's train dir
<run>/traces/<model>/<id>.csv  continuous tasks: gold and predicted per frame of each scored file
<run>/logs/<step>.log        each step's output
<run>/commands.log           every command line run, in order, with its exit code
<run>/steps/<step>.json      the done-marker of a finished step (written last, atomically)
<run>/report.md, report.html, report/   the report and its figures
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXPERIMENT_FILE = "experiment.toml"
COMMANDS_LOG = "commands.log"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"


@dataclass(frozen=True)
class RunFolder:
    """The paths of one experiment's run folder."""

    root: Path

    @property
    def experiment_file(self) -> Path:
        return self.root / EXPERIMENT_FILE

    @property
    def records(self) -> Path:
        return self.root / "records"

    @property
    def final(self) -> Path:
        return self.root / "final"

    @property
    def commands_log(self) -> Path:
        return self.root / COMMANDS_LOG

    @property
    def report_md(self) -> Path:
        return self.root / REPORT_MD

    @property
    def report_html(self) -> Path:
        return self.root / REPORT_HTML

    @property
    def figures(self) -> Path:
        return self.root / "report"

    @property
    def markers(self) -> Path:
        return self.root / "steps"

    def train_dir(self, model: str) -> Path:
        return self.root / "train" / model

    def traces(self, model: str) -> Path:
        return self.root / "traces" / model

    def config(self, step: str) -> Path:
        return self.root / "configs" / f"{step}.toml"

    def log(self, step: str) -> Path:
        return self.root / "logs" / f"{step}.log"

    def marker(self, step: str) -> Path:
        return self.markers / f"{step}.json"
