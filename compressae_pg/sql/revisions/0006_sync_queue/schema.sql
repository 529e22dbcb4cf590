-- 0005: sync 'queue'. The application's own transaction does no encoding: a trigger sets the changed
-- row's code (and sketch) to NULL and appends the row's key to compressae.sync_queue; `compressae-pg
-- sync` workers drain the queue with the Python encoder and the backfill's write path.
--
-- The queue is append-only for the application: one entry per statement (per 1,000 rows of a bulk
-- one) holds the keys of the rows it changed, as text. One row per statement, not per changed row,
-- is what keeps a COPY near its speed without the trigger; and a trigger never waits on an entry a
-- worker holds (an upsert keyed by the row would wait on the worker's lock while it encodes). A row
-- changed twice is in two entries; a worker's batch encodes each row once, and a row that is already
-- right is not written again. A worker claims entries with FOR UPDATE SKIP LOCKED, takes up to its
-- batch size of keys, and in the transaction that writes their codes deletes the entries (or, of one
-- it took in part, the keys it took). An entry appended while its row is being encoded is not
-- claimed, and the write skips a row whose version changed since it was read: it is encoded again.
-- No foreign key: an RI check per entry would cost every write; detach deletes the entries.
ALTER TABLE compressae.attachments DROP CONSTRAINT attachments_sync_check;
ALTER TABLE compressae.attachments ADD CONSTRAINT attachments_sync_check CHECK (sync IN ('none', 'trigger', 'queue'));

CREATE TABLE compressae.sync_queue (
    attachment_id bigint NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    keys          text[] NOT NULL,
    enqueued_at   timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (attachment_id, id)
);
COMMENT ON TABLE compressae.sync_queue IS 'Rows of queue attachments whose code is to be (re)computed: the primary keys (as text) one statement changed';
COMMENT ON COLUMN compressae.sync_queue.attempts IS 'batches that claimed the entry and failed; at the limit it moves to sync_failures';

CREATE TABLE compressae.sync_failures (
    attachment_id bigint NOT NULL REFERENCES compressae.attachments (id) ON DELETE CASCADE,
    key           text NOT NULL,
    reason        text NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (attachment_id, key)
);
COMMENT ON TABLE compressae.sync_failures IS 'Rows a sync worker could not encode (their code is NULL), with why; cleared when the row encodes';

-- Any role that writes a queue-synced table runs the trigger, so any role may append to the queue
-- (nothing else): an entry only asks a worker to re-encode a row from its own source.
GRANT INSERT ON compressae.sync_queue TO PUBLIC;
GRANT SELECT ON compressae.sync_failures TO PUBLIC;
