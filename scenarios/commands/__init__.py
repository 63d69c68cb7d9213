"""One module per CLI verb; `scenarios.cli` only parses and dispatches."""
