"""One service process: uvicorn on uvloop and httptools, on a port or on a listening socket it inherited.

Usage: python -m reference_impl.infra.serve APP (--port PORT | --fd FD)

Why not `python -m uvicorn`: uvicorn's server wakes ten times a second to refresh its date header and look
for an exit signal; over eleven idle services that was most of what an idle stack spent. `QuietServer`
ticks once a second (the date header still changes every second) and an exit signal wakes it at once.
`--fd` serves a socket the supervisor bound once and handed to each of a service's processes
(`LAB_WORKERS`): the kernel spreads connections over the processes that accept on it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket

import uvicorn

#: The housekeeping tick: uvicorn's is 0.1 s. The date header has one-second resolution anyway.
TICK_S = 1.0
#: As the supervisor always ran uvicorn: a stopping service finishes its requests for at most this long.
GRACEFUL_S = 3


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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m reference_impl.infra.serve")
    p.add_argument("app")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int)
    where.add_argument("--fd", type=int)
    args = p.parse_args(argv)
    config = uvicorn.Config(args.app, host="127.0.0.1", port=args.port or 0, loop="uvloop", http="httptools",
                            log_level="warning", access_log=False, timeout_graceful_shutdown=GRACEFUL_S)
    sockets = [socket.socket(fileno=args.fd)] if args.fd is not None else None
    QuietServer(config).run(sockets=sockets)


if __name__ == "__main__":
    main()
