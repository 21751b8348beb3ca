"""Inference: the Predictor that labels new audio (for predict now, and the service next)."""
