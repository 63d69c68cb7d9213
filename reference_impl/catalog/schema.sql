-- Catalog: the source of truth (products) and the search index (search_docs) that change data capture
-- keeps in step with it. Nothing writes search_docs except the relay (reference_impl/catalog/relay.py).

CREATE SEQUENCE IF NOT EXISTS product_version;

CREATE TABLE IF NOT EXISTS products (
    sku          text PRIMARY KEY CHECK (sku ~ '^[A-Za-z0-9._:-]{1,128}$'),
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    description  text NOT NULL DEFAULT '',
    brand        text NOT NULL CHECK (length(brand) BETWEEN 1 AND 100),
    category     text NOT NULL CHECK (length(category) BETWEEN 1 AND 100),
    price        numeric(12, 2) NOT NULL CHECK (price >= 0),
    rating       numeric(2, 1) NOT NULL DEFAULT 0 CHECK (rating BETWEEN 0 AND 5),
    images       text[] NOT NULL DEFAULT '{}',
    popularity   double precision NOT NULL DEFAULT 0,  -- the seed's Zipf weight; a ranking tie-breaker
    -- Bumped by every write: the index keeps a document only if it is newer, so replays are harmless.
    version      bigint NOT NULL DEFAULT nextval('product_version'),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The denormalized index: what a search engine would hold. One row per SKU, replaced whole.
CREATE TABLE IF NOT EXISTS search_docs (
    sku             text PRIMARY KEY,
    title           text NOT NULL,
    brand           text NOT NULL,
    category        text NOT NULL,
    price           numeric(12, 2) NOT NULL,
    rating          numeric(2, 1) NOT NULL,
    image           text,
    popularity      double precision NOT NULL,
    tsv             tsvector NOT NULL,
    source_version  bigint NOT NULL,
    source_updated  timestamptz NOT NULL,          -- when the source row was written
    indexed_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX IF NOT EXISTS search_docs_tsv ON search_docs USING gin (tsv);
CREATE INDEX IF NOT EXISTS search_docs_brand ON search_docs (brand);
CREATE INDEX IF NOT EXISTS search_docs_category ON search_docs (category);
CREATE INDEX IF NOT EXISTS search_docs_price ON search_docs (price);

-- The relay's progress, written in the same transaction as the index rows it applied: the lag report.
CREATE TABLE IF NOT EXISTS cdc_progress (
    slot            text PRIMARY KEY,
    applied_lsn     pg_lsn NOT NULL,
    changes         bigint NOT NULL DEFAULT 0,     -- change rows applied since the slot was created
    batches         bigint NOT NULL DEFAULT 0,
    last_commit_at  timestamptz,                   -- source commit time of the newest applied change
    applied_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The relay sleeps until told: every statement that writes products wakes it at commit (the slot holds
-- what changed; the notification only says "look"). Statement level, so a bulk load is one wake-up.
CREATE OR REPLACE FUNCTION lastunit_products_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lastunit_catalog', '');
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER products_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON products
    FOR EACH STATEMENT EXECUTE FUNCTION lastunit_products_changed();
