"""Scenarios: one file drives the real stack, the model and the swarm; results come back in one schema."""
