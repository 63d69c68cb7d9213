"""The catalog: products (the source of truth) and a search index fed from them by change data capture."""
