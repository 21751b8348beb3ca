"""Experiments: one TOML file of the commands' own options, run as commands in one folder.

`spec.py` reads and checks an experiment file, `steps.py` turns it into the command lines
(records, train per model, calibration, eval pooled over folds, the final model),
`runner.py` runs them as subprocesses with a done-marker per step (so a rerun after a kill
redoes only the unfinished steps), and `report.py` writes report.md and report.html from the
run folder's result files alone. This package never imports a command: it runs them.
"""
