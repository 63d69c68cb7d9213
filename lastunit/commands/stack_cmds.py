"""`lastunit up | down | status`."""

from __future__ import annotations

import json
import shutil

from reference_impl import stack
from scenarios.paths import lab_home


def _print_status(st: dict) -> None:
    for name, s in st.items():
        where = s.get("url") or "-"
        if name == "postgres" and s.get("url"):
            where = where.split("@")[-1]  # no password on the terminal
        if name == "redis" and s.get("url"):
            where = where.split("@")[-1]
        origin = f" ({s['source']})" if s.get("source") else ""
        procs = f"  {len(s['pids'])}/{s['processes']} processes, pids {' '.join(map(str, s['pids']))}" \
            if s.get("processes", 1) > 1 else ""
        print(f"{name:>10}  {s['state']:<8} {where}{origin}{procs}")


def up(args) -> int:
    st = stack.up(fast=args.fast or None)   # without --fast: as the lab was started
    if args.json:
        print(json.dumps(st, indent=2))
    else:
        _print_status(st)
        print(f"state in {lab_home()}; stop with `lastunit down`")
    return 0 if all(s["state"] == "running" for s in st.values()) else 1


def down(args) -> int:
    stopped = stack.down()
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    if args.purge:
        shutil.rmtree(lab_home(), ignore_errors=True)
        print(f"removed {lab_home()}")
    return 0


def status(args) -> int:
    st = stack.status()
    if args.json:
        print(json.dumps(st, indent=2))
    else:
        _print_status(st)
    return 0 if all(s["state"] == "running" for s in st.values()) else 1
