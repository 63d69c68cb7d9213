"""One module per CLI verb; `lastunit.cli` only parses and dispatches."""
