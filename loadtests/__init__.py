"""Load against the real stack: the last-unit race (asyncio, one barrier), `run`'s checkout driver, and
Locust swarms (HTTP, gateway, SQL). Imports only `scenarios/`: a worker on another machine needs no shop code,
its plan carries what it must know (the SQL blocks, the search vocabulary)."""
