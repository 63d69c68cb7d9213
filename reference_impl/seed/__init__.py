"""Synthetic data made here, never downloaded: a realistic catalog and an order history for the recs job."""
