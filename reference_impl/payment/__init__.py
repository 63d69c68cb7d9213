"""Payment service: exactly-once authorization with idempotency keys and recovery points (rocket-rides)."""
