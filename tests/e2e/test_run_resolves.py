"""`unknown` no longer hides the truth: `lastunit run payment_crash` (its faults on) once reported 33 of 53
outcomes `unknown` while every order ended shipped or cancelled. The run's client now polls an order it
got no verdict for (a lost reply, `202 pending`) and records its real outcome, counted as resolved late.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import STACK
from tests.e2e.test_cli import lastunit

pytestmark = [*STACK, pytest.mark.slow]

#: payment_crash's own faults, plus one that makes "pending" certain rather than likely: every authorize
#: reply comes later than the orders service waits (PAYMENT_TIMEOUT_S), so each checkout answers 202
#: while the load lasts and its order is confirmed by recovery afterwards.
FAULTS = ('faults=[{point="payment.before_reply", action="drop_reply", probability=0.3},'
          ' {point="payment.after_provider_auth", action="crash", probability=0.1},'
          ' {point="payment.before_provider_call", action="delay", probability=1.0, delay_ms=2500}]')


def test_run_payment_crash_resolves_what_it_did_not_hear():
    r = lastunit("run", "payment_crash", "--set", FAULTS, "--set", "load.duration_s=3", "--json", "--quiet",
                 timeout=400)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["unknown"] == 0 and out["resolved_late"] > 0, {k: out[k] for k in ("won", "unknown", "resolved_late")}
    assert out["audit"]["ok"] and out["audit"]["stranded"] == 0
    df = pd.read_parquet(f"{out['run_dir']}/attempts.parquet")
    late = df[df["resolved_late"]]
    assert len(late) == out["resolved_late"] and late["order_id"].notna().all()
    assert set(late["outcome"]) <= {"won", "out_of_stock", "declined", "failed"}
