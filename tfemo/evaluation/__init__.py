"""Evaluation: scoring every frame of every file of a portion, and writing the results."""
