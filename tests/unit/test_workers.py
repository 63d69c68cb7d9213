"""Processes per service (LAB_WORKERS_<NAME>) and how the supervisor names them."""

from __future__ import annotations

import pytest

from reference_impl.infra.supervised import programs
from reference_impl.services import DEFAULT_WORKERS, workers


def test_one_process_unless_told_and_the_variable_is_per_service():
    assert workers("inventory", {}) == DEFAULT_WORKERS == 1
    assert workers("inventory", {"LAB_WORKERS_INVENTORY": "2"}) == 2
    assert workers("orders", {"LAB_WORKERS_INVENTORY": "2"}) == 1


@pytest.mark.parametrize(("value", "words"), [("two", "whole number"), ("0", "between 1"), ("99", "between 1")])
def test_a_bad_count_names_the_variable(value, words):
    with pytest.raises(ValueError, match=f"LAB_WORKERS_INVENTORY.*{words}"):
        workers("inventory", {"LAB_WORKERS_INVENTORY": value})


def test_a_singleton_refuses_a_second_process():
    with pytest.raises(ValueError, match="one process only"):
        workers("catalog_relay", {"LAB_WORKERS_CATALOG_RELAY": "2"})


def test_the_supervisor_runs_each_process_of_a_service_on_the_same_port(tmp_path):
    procs = programs(tmp_path, None, None, {"inventory": ("a:app", 5, 3), "orders": ("b:app", 6, 1)}, {})
    assert list(procs) == ["inventory", "inventory#2", "inventory#3", "orders"]
    assert {p["port"] for n, p in procs.items() if n.startswith("inventory")} == {5}
    assert procs["inventory#2"]["cmd"] == procs["inventory"]["cmd"]     # the same program, one port
    assert "--reuse-port" in procs["inventory"]["cmd"]                  # shared by its three processes
    assert "--reuse-port" not in procs["orders"]["cmd"]                 # alone: nobody else may bind it


def test_a_lone_process_owns_its_port_and_shared_ones_share_it():
    """Without SO_REUSEPORT a second bind of a taken port fails instead of splitting its connections."""
    from reference_impl.infra.procs import free_port
    from reference_impl.infra.serve import bind

    port = free_port()
    lone = bind(port)
    lone.listen()
    with pytest.raises(OSError, match="in use"):
        bind(port, reuse_port=True)
    lone.close()
    a, b = bind(port, reuse_port=True), bind(port, reuse_port=True)
    a.close(), b.close()
