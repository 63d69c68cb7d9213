"""Load against the real stack: the last-unit race (asyncio, one barrier) and, later, Locust swarms."""
