"""Accounts for the gateway's login: created by `lastunit seed` (demo users) and by a swarm (one account per
Locust user, its password in the plan). Synchronous (psycopg), as the CLI runs it; hashing spreads over
threads, since hashlib.scrypt releases the GIL and each hash costs ~0.1 s of one core on purpose.
"""

from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import aiosql
import psycopg

from reference_impl.gateway.passwords import hash_password
from reference_impl.infra.settings import database_url
from scenarios.paths import lab_home

Q = aiosql.from_path(str(resources.files("reference_impl.gateway") / "sql"), "psycopg", mandatory_parameters=False)
#: Hashing threads: the machine's cores are what scrypt uses; more threads only queue.
HASH_THREADS = 4


def new_password() -> str:
    """A random password for a generated account (128 bits, URL-safe, so it pastes into a shell)."""
    return secrets.token_urlsafe(16)


def create(server_url: str, accounts: dict[str, str]) -> int:
    """Create or reset `accounts` (user id -> password) in the gateway's database; return how many."""
    names = list(accounts)
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        hashes = list(pool.map(lambda u: hash_password(accounts[u]), names))
    with psycopg.connect(database_url(server_url, "gateway")) as conn:
        for user, digest in zip(names, hashes, strict=True):
            Q.upsert_user(conn, user_id=user, password_hash=digest)
    return len(names)


def seed_demo(server_url: str, count: int) -> tuple[dict[str, str], Path]:
    """`user-1` .. `user-<count>` with fresh passwords, written (0600) to the lab's users.json so a person
    or a notebook can log in as one; returns (accounts, that file)."""
    accounts = {f"user-{i}": new_password() for i in range(1, count + 1)}
    create(server_url, accounts)
    path = lab_home() / "users.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(json.dumps(accounts, indent=2))
    return accounts, path
