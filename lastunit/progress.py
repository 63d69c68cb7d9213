"""Progress on stderr: a live counter on a terminal, a line per step otherwise (CI logs stay readable)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._label = ""

    def step(self, label: str) -> None:
        self._label = label
        if self.enabled:
            end = "" if self.tty else "\n"
            print(f"{label} ...", end=end, file=sys.stderr, flush=True)

    def count(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.enabled and self.tty and (now - self._last > 0.1 or done == total):
            self._last = now
            print(f"\r{self._label} ... {done}/{total}", end="", file=sys.stderr, flush=True)

    def done(self, note: str) -> None:
        if self.enabled:
            prefix = f"\r{self._label} ... " if self.tty else "  "
            print(f"{prefix}{note}", file=sys.stderr, flush=True)
