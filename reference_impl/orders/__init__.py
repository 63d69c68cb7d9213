"""Orders: the checkout saga's orchestrator, with a persisted saga log and a recovery worker."""
