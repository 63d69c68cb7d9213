"""Notification: records what the buyer would be told, once per event."""
