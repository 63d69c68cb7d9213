"""The supervisor with real processes (no servers needed): a killed child comes back on its port, and
when the supervisor itself is killed with SIGKILL its children die with it, leaving nothing to duplicate.
Before issue 12 the children outlived it: `up` then started eleven more beside them, `down` left them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from reference_impl.infra import supervised
from reference_impl.infra.procs import free_port, pid_alive, port_open, spawn_detached, stop_pid, wait_for


def _program(home: Path, port: int) -> dict:
    cmd = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    return {"cmd": cmd, "port": port, "env": {supervised.MARK: str(home)}}


@pytest.fixture
def supervisor(tmp_path):
    """A supervisor running two small HTTP servers; yields (its Popen, {name: port}, home)."""
    ports = {"a": free_port(), "b": free_port()}
    cfg = supervised.config(tmp_path, {n: _program(tmp_path, p) for n, p in ports.items()})
    proc = supervised.start(tmp_path, cfg)
    wait_for(lambda: all(port_open(p) for p in ports.values()), 30, "the supervised programs")
    yield proc, ports, tmp_path
    stop_pid(proc.pid)
    supervised.sweep(tmp_path)


def _pids(home: Path) -> dict[str, int]:
    return {n: s["pid"] for n, s in supervised.read_status(home).items()}


def test_a_killed_child_is_restarted_on_its_port(supervisor):
    _, ports, home = supervisor
    before = _pids(home)
    os.kill(before["a"], signal.SIGKILL)
    wait_for(lambda: _pids(home).get("a") not in (None, before["a"]) and port_open(ports["a"]), 30, "a again")
    assert _pids(home)["b"] == before["b"]
    assert json.loads((home / "services.json").read_text())["a"]["restarts"] == 1


def test_children_die_with_a_killed_supervisor(supervisor):
    proc, ports, home = supervisor
    children = list(_pids(home).values())
    assert sorted(supervised.lab_pids(home)) == sorted([proc.pid, *children])
    os.kill(proc.pid, signal.SIGKILL)
    wait_for(lambda: not any(pid_alive(c) for c in children), 10, "the children to die with their supervisor")
    assert supervised.lab_pids(home) == [] and not any(port_open(p) for p in ports.values())


def test_stopping_the_supervisor_stops_its_children(supervisor):
    proc, _, home = supervisor
    children = list(_pids(home).values())
    stop_pid(proc.pid)
    assert not any(pid_alive(c) for c in children)


def test_sweep_stops_marked_leftovers_and_nothing_else(tmp_path):
    port, other = free_port(), free_port()
    left = spawn_detached(_program(tmp_path, port)["cmd"], tmp_path / "left.log",
                          env=os.environ | {supervised.MARK: str(tmp_path)})
    stranger = subprocess.Popen(_program(tmp_path, other)["cmd"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: port_open(port) and port_open(other), 30, "the servers")
        assert supervised.sweep(tmp_path) == [left.pid]
        assert not pid_alive(left.pid) and pid_alive(stranger.pid)
    finally:
        stranger.kill()
        stranger.wait()
