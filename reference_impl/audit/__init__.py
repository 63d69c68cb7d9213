"""The auditor: invariants over the real databases, and the same checks over the model's state."""
