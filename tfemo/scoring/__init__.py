"""CCC and classification metrics, and the losses built from them (below every stage)."""
