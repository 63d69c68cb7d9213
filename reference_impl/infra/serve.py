"""One service process: uvicorn on uvloop and httptools, on a socket of its own bound with SO_REUSEPORT, so
that N processes of a service share one port (the kernel spreads new connections over them by a hash of
the address pair; each process is the supervisor's own child, restarted alone when it dies).

Usage: python -m reference_impl.infra.serve APP --port PORT [--host HOST]

Why not `python -m uvicorn`: uvicorn's server wakes ten times a second to refresh its date header and look
for an exit signal; over eleven idle services that was most of what an idle stack spent. `QuietServer`
ticks once a second (the date header still changes every second) and an exit signal wakes it at once.
Why not `uvicorn --workers`: its processes share one listening socket and its manager restarts a worker
that misses a 5 s health ping, which a loaded 2-core box can make a busy worker do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket

import uvicorn

HOST = "127.0.0.1"
#: Connections waiting to be accepted; uvicorn's 2048 overflowed under a 10,000-buyer race's connects
#: (the kernel caps it at net.core.somaxconn anyway).
BACKLOG = 4096
#: The housekeeping tick: uvicorn's is 0.1 s. The date header has one-second resolution anyway.
TICK_S = 1.0
#: As the supervisor always ran uvicorn: a stopping service finishes its requests for at most this long.
GRACEFUL_S = 3
#: How long a keep-alive connection may sit idle. Longer than the services' pooled clients keep theirs
#: (aiohttp: 15 s), so a client never sends on a connection the server is closing (uvicorn's 5 s did that).
KEEP_ALIVE_S = 75


class QuietServer(uvicorn.Server):
    async def main_loop(self) -> None:
        self._exit = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        while not await self.on_tick(0):          # counter 0: refresh the date header on every tick
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), TICK_S)

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        if getattr(self, "_loop", None) is not None:
            self._loop.call_soon_threadsafe(self._exit.set)


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m reference_impl.infra.serve")
    p.add_argument("app")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default=HOST)
    args = p.parse_args(argv)
    config = uvicorn.Config(args.app, loop="uvloop", http="httptools", log_level="warning", access_log=False,
                            backlog=BACKLOG, timeout_graceful_shutdown=GRACEFUL_S, timeout_keep_alive=KEEP_ALIVE_S)
    QuietServer(config).run(sockets=[bind(args.host, args.port)])


if __name__ == "__main__":
    main()
