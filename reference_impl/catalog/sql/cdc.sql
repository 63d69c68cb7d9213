-- Change data capture with the built-in test_decoding plugin over a logical replication slot.
-- The relay PEEKS (reading does not consume), applies the batch to the index, and only then ADVANCES the
-- slot: a relay that dies between the two replays the batch, which the version guard makes harmless.

-- name: slot_exists$
SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = :slot);

-- name: create_slot$
SELECT lsn::text FROM pg_create_logical_replication_slot(:slot, 'test_decoding');

-- name: flush_lsn$
SELECT pg_current_wal_flush_lsn()::text;

-- name: peek_changes
SELECT lsn::text AS lsn, data
  FROM pg_logical_slot_peek_changes(:slot, :upto::text::pg_lsn, :n,
                                    'include-xids', '0', 'include-timestamp', 'on', 'skip-empty-xacts', '1');

-- name: advance_slot$
-- Never backwards (an error): a fresh slot's start can be ahead of what peek was told to read up to.
SELECT end_lsn::text
  FROM pg_replication_slot_advance(:slot, GREATEST(:lsn::text::pg_lsn, (SELECT confirmed_flush_lsn
                                                     FROM pg_replication_slots WHERE slot_name = :slot)));

-- name: index_skus$
-- Upsert the current source rows of these SKUs; a row the index already has at this version or newer is
-- left alone (a replay, or a batch that raced a newer one). Returns how many rows changed.
WITH up AS (
    INSERT INTO search_docs AS d (sku, title, brand, category, price, rating, image, popularity, tsv,
                                  source_version, source_updated)
    SELECT sku, title, brand, category, price, rating, images[1], popularity,
           setweight(to_tsvector('english', title), 'A')
           || setweight(to_tsvector('english', brand || ' ' || category), 'B')
           || setweight(to_tsvector('english', description), 'C'),
           version, updated_at
      FROM products
     WHERE :all::boolean OR sku = ANY(:skus::text[])
    ON CONFLICT (sku) DO UPDATE
       SET title = EXCLUDED.title, brand = EXCLUDED.brand, category = EXCLUDED.category,
           price = EXCLUDED.price, rating = EXCLUDED.rating, image = EXCLUDED.image,
           popularity = EXCLUDED.popularity, tsv = EXCLUDED.tsv, source_version = EXCLUDED.source_version,
           source_updated = EXCLUDED.source_updated, indexed_at = clock_timestamp()
     WHERE d.source_version < EXCLUDED.source_version
    RETURNING 1
)
SELECT count(*) FROM up;

-- name: unindex_deleted$
WITH gone AS (
    DELETE FROM search_docs d
     WHERE (:all::boolean OR d.sku = ANY(:skus::text[]))
       AND NOT EXISTS (SELECT 1 FROM products p WHERE p.sku = d.sku)
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: save_progress!
INSERT INTO cdc_progress AS c (slot, applied_lsn, changes, batches, last_commit_at)
VALUES (:slot, :lsn::text::pg_lsn, :changes, 1, :commit_at)
ON CONFLICT (slot) DO UPDATE
   SET applied_lsn = GREATEST(c.applied_lsn, EXCLUDED.applied_lsn), changes = c.changes + EXCLUDED.changes,
       batches = c.batches + 1, last_commit_at = GREATEST(c.last_commit_at, EXCLUDED.last_commit_at),
       applied_at = clock_timestamp();

-- name: lag^
-- lag_bytes: WAL the slot still holds unconsumed; apply_delay_ms: source commit -> index, last batch.
SELECT s.slot_name AS slot, s.active, s.confirmed_flush_lsn::text AS confirmed_lsn,
       pg_wal_lsn_diff(pg_current_wal_flush_lsn(), s.confirmed_flush_lsn)::bigint AS lag_bytes,
       c.changes, c.batches, c.last_commit_at, c.applied_at,
       (extract(epoch FROM c.applied_at - c.last_commit_at) * 1000)::bigint AS apply_delay_ms,
       (SELECT max(source_updated) FROM search_docs) AS newest_indexed,
       (SELECT max(updated_at) FROM products) AS newest_source
  FROM pg_replication_slots s
  LEFT JOIN cdc_progress c ON c.slot = s.slot_name
 WHERE s.slot_name = :slot;

-- name: progress_exists$
-- No progress row yet: the slot is new (or its creator died before the backfill), so backfill first.
SELECT EXISTS (SELECT 1 FROM cdc_progress WHERE slot = :slot);

-- name: confirmed_lsn$
SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = :slot;

-- name: flush_wal#
-- Logical decoding reads flushed WAL only, and with synchronous_commit off (the lab's fast mode) a commit
-- whose NOTIFY woke the relay may not be flushed yet. A transaction that takes an xid writes a commit
-- record; committed synchronously, it waits until the WAL is flushed up to that record, so every change
-- committed before it is too. It changes no row (skip-empty-xacts keeps it out of the slot's output).
-- One round trip, instead of asking the flush position until it passes.
BEGIN;
SET LOCAL synchronous_commit = on;
SELECT txid_current();
COMMIT;
