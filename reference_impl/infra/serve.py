"""One service process: uvicorn on uvloop and httptools, on a socket of its own. With `--reuse-port` it is
bound with SO_REUSEPORT, so that N processes of a service share one port (the kernel spreads new connections
over them by a hash of the address pair); the supervisor asks for it only for a service that runs more than
one process. A lone process binds exclusively: SO_REUSEPORT also lets a stranger's process bind the same
port, and the kernel then splits connections between the two (a CI run's gateway answered 404s that way
when another stack's service was handed its port), where an exclusive bind fails loudly instead.

Why not `uvicorn --workers`: its processes share one listening socket (whoever wakes first accepts, so a busy
process and an idle one do not get even shares of a burst), and its manager restarts a worker that misses a
5 s health ping, which a loaded 2-core box can make a busy worker do. Here each process is the supervisor's
own child, restarted alone when it dies; a `crash` fault kills one process, as it would one pod.
Why not uvicorn's own server loop: it wakes ten times a second to refresh its date header and look for an
exit signal; over eleven idle services that was most of what an idle stack spent. `QuietServer` ticks once
a second (the date header still changes every second) and an exit signal wakes it at once.
Usage: python -m reference_impl.infra.serve APP --port PORT [--host HOST] [--reuse-port]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import socket

import uvicorn

HOST = "127.0.0.1"
#: Connections waiting to be accepted. The kernel caps it at net.core.somaxconn (4096 here); uvicorn's 2048
#: made a 10,000-buyer race's connects overflow the queue and wait out SYN retransmits (1 s, then 3 s).
BACKLOG = 4096
#: How long a keep-alive connection may sit idle. uvicorn's 5 s closed the first of 10,000 race buyers'
#: connections before the barrier released them (3,066 of 10,000 were answered "Server disconnected"); 75 s
#: still did when a box at load 50 took minutes to connect them all. The cost is only an idle socket.
KEEP_ALIVE_S = 300
#: A stopping process finishes in-flight requests for this long, then exits anyway.
GRACEFUL_S = 3
#: The cyclic garbage collector's young-generation threshold (CPython's default is 700 allocations). With
#: 10,000 buyers connected, a full collection walks every connection's objects, and the default ran one so
#: often that a 10,000-buyer race took a median 5.7 s against 2.0 s with this threshold and 1.9 s with the
#: collector off (four interleaved rounds on this box). Cycles are still collected, young ones every
#: 100,000 allocations; the app's own objects are frozen out of the walk once it is loaded.
GC_THRESHOLDS = (100_000, 50, 100)
#: Nothing fronts the services (127.0.0.1 only), so X-Forwarded-For is the client's own word: trusting it
#: would let a client pick the gateway's per-IP rate-limit bucket. Off also skips a middleware per request.
PROXY_HEADERS = False
#: The housekeeping tick: uvicorn's is 0.1 s. The date header has one-second resolution anyway.
TICK_S = 1.0


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


def bind(port: int, host: str = HOST, reuse_port: bool = False) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="serve")
    p.add_argument("app")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default=HOST)
    p.add_argument("--reuse-port", action="store_true", help="share the port with this service's other processes")
    args = p.parse_args(argv)
    config = uvicorn.Config(args.app, log_level="warning", access_log=False, backlog=BACKLOG,
                            timeout_keep_alive=KEEP_ALIVE_S, timeout_graceful_shutdown=GRACEFUL_S,
                            proxy_headers=PROXY_HEADERS, loop="uvloop", http="httptools")
    config.load()                 # import the app now, so its objects can be frozen out of every collection
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    QuietServer(config).run(sockets=[bind(args.port, args.host, args.reuse_port)])


if __name__ == "__main__":
    main()
