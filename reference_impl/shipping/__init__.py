"""Shipping: a label and a tracking id for every paid order, or a failure the saga compensates."""
