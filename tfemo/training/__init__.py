"""Training: the fit loop, the input stream, callbacks, checkpoints and the run directory."""
