"""Tooling that builds the bias detector's tables and data (issue #39): run by hand, never inside a training run."""
