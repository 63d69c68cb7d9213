"""The cart: a session copy in Redis (fast, expiring) over a durable copy in PostgreSQL (saved carts)."""
