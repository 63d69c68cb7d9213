"""The payment provider fake: an HTTP process with its own database, the ground truth of money moved.

Like a stateful stripe-mock: authorize, capture, void, refund under Idempotency-Key headers, a ledger an
auditor reads with SQL (`sql/ledger.sql`, `ledger_sql.py`), and signed webhooks (`signing.py`) delivered
from an outbox with knobs that delay, duplicate, reorder and drop them on purpose.
"""
