"""Recommendations: "customers who bought X also bought Y", precomputed in batch, blended with clicks live."""
