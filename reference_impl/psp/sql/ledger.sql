-- The auditor's questions to the provider's ledger (database lastunit_psp), read-only. The provider is
-- the ground truth of money moved: the shop's own tables are checked against these answers.

-- name: total_captured$
-- Every cent ever captured, refunded or not.
SELECT coalesce(sum(amount), 0)::bigint FROM ledger_entries WHERE kind = 'capture';

-- name: total_refunded$
-- Every cent given back, as a positive number (refund entries are stored negative).
SELECT coalesce(-sum(amount), 0)::bigint FROM ledger_entries WHERE kind = 'refund';

-- name: net_captured$
-- Captured minus refunded: what "money conserved" compares to the total of paid orders.
SELECT coalesce(sum(amount), 0)::bigint FROM ledger_entries;

-- name: captures_per_reference
-- Double charges, kind 1: more than one capture for one order (reference). Refunded captures count too, so
-- pass net_only => true to count only captures that were not refunded.
SELECT c.reference, count(*) AS captures, array_agg(c.id ORDER BY c.created_at) AS charge_ids
  FROM ledger_entries l JOIN charges c ON c.id = l.charge_id
 WHERE l.kind = 'capture'
   AND (NOT :net_only OR NOT EXISTS (SELECT 1 FROM ledger_entries r
                                       WHERE r.charge_id = l.charge_id AND r.kind = 'refund'))
 GROUP BY c.reference
HAVING count(*) > 1
 ORDER BY c.reference;

-- name: charges_per_key
-- Double charges, kind 2: more than one charge created under one idempotency key (declines included).
SELECT idempotency_key, count(*) AS charges, array_agg(id ORDER BY created_at) AS charge_ids
  FROM charges
 GROUP BY idempotency_key
HAVING count(*) > 1
 ORDER BY idempotency_key;

-- name: charges_per_reference
-- Not a breach by itself (a decline then a retry is normal): how many charges each order made, live ones
-- (authorized or captured) counted apart.
SELECT reference, count(*) AS charges,
       count(*) FILTER (WHERE status IN ('authorized', 'captured')) AS live
  FROM charges
 GROUP BY reference
HAVING count(*) > 1
 ORDER BY reference;
