"""Launchers for the two real servers the lab runs on: PostgreSQL and Redis (or Valkey)."""
