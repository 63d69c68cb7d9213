"""The gateway: the one entry point for clients and swarms (request ids, tokens, rate limit, routing)."""
