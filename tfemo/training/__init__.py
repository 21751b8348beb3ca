"""Training: the fit loop, the input stream, callbacks, checkpoints and the run directory; and
what a run leaves behind, loaded again: a train dir (restore.py) or an export (exported.py)."""
