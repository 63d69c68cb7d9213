"""Comparing the model with the real stack: one spelling of the error, used by every validation."""

from __future__ import annotations


def rel_err(sim: float, real: float) -> float | None:
    """The model's relative error against the real measurement; None where the real figure is 0."""
    return round((sim - real) / real, 4) if real else None
