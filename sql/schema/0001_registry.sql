-- The compressae schema: trained models, their atoms (so SQL can encode), the code columns
-- attached to application tables, and the checkpoints of backfill runs.
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA IF NOT EXISTS compressae;

CREATE TABLE compressae.models (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL CHECK (name <> '' AND strpos(name, '@') = 0 AND length(name) <= 200),
    version    integer NOT NULL CHECK (version > 0),
    dim        integer NOT NULL CHECK (dim > 0),
    h          integer NOT NULL CHECK (h > 0),
    k          integer NOT NULL CHECK (k > 0 AND k <= h),
    source     text,
    params     jsonb NOT NULL DEFAULT '{}',
    metrics    jsonb NOT NULL DEFAULT '{}',
    weights    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version)
);
COMMENT ON TABLE compressae.models IS 'CompresSAE models: one row per trained version, weights as safetensors';

CREATE TABLE compressae.atoms (
    model_id bigint NOT NULL REFERENCES compressae.models (id) ON DELETE CASCADE,
    idx      integer NOT NULL CHECK (idx >= 0),
    encoder  vector NOT NULL,
    bias     real NOT NULL,
    decoder  vector NOT NULL,
    PRIMARY KEY (model_id, idx)
);
-- Keep both rows inline (no TOAST): compressae.encode scans every encoder row of a model and
-- project every decoder row, and an out-of-line value costs a TOAST lookup each time it is read.
ALTER TABLE compressae.atoms ALTER COLUMN encoder SET STORAGE MAIN, ALTER COLUMN decoder SET STORAGE MAIN;
COMMENT ON TABLE compressae.atoms IS 'Per atom (0-based idx; sparsevec index idx+1 in text form): encoder row, encoder bias, unit-norm decoder row';

CREATE TABLE compressae.attachments (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_schema  text NOT NULL,
    table_name    text NOT NULL,
    source_column text NOT NULL,
    code_column   text NOT NULL,
    model_id      bigint NOT NULL REFERENCES compressae.models (id) ON DELETE RESTRICT,
    sync          text NOT NULL DEFAULT 'none' CHECK (sync IN ('none', 'trigger')),
    index_name    text,
    opclass       text NOT NULL DEFAULT 'sparsevec_cosine_ops',
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (table_schema, table_name, code_column)
);
COMMENT ON TABLE compressae.attachments IS 'Code columns: which sparsevec column of which table holds codes of which source column, by which model';

CREATE TABLE compressae.backfill_jobs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    attachment_id bigint NOT NULL REFERENCES compressae.attachments (id) ON DELETE CASCADE,
    model_id      bigint NOT NULL REFERENCES compressae.models (id) ON DELETE CASCADE,
    worker        integer NOT NULL DEFAULT 0,
    key_lo        text,
    key_hi        text,
    last_key      text,
    rows_done     bigint NOT NULL DEFAULT 0,
    rows_skipped  bigint NOT NULL DEFAULT 0,
    batches       integer NOT NULL DEFAULT 0,
    retries       integer NOT NULL DEFAULT 0,
    status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
    error         text,
    started_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX ON compressae.backfill_jobs (attachment_id, status);

GRANT USAGE ON SCHEMA compressae TO PUBLIC;
GRANT SELECT ON compressae.models, compressae.atoms, compressae.attachments TO PUBLIC;
