-- 0005: sync 'queue'. The application's own transaction does no encoding: a trigger sets the changed
-- row's code (and sketch) to NULL and appends the row's key to compressae.sync_queue; `compressae-pg
-- sync` workers drain the queue with the Python encoder and the backfill's write path.
--
-- The queue is append-only for the application: a row changed twice is queued twice, and a trigger
-- never waits on a row a worker holds (an upsert keyed by the row would wait on the worker's lock for
-- as long as it encodes). Workers dedupe by key: a batch claims the entries of its keys that are not
-- claimed by another worker, encodes each row once, and deletes what it claimed in the transaction
-- that writes the codes. An entry appended while its row is being encoded is not claimed, and the
-- write skips a row whose version changed since it was read, so that row is encoded again.
-- No foreign key: an RI check per queued row would cost every COPY; detach deletes the entries.
ALTER TABLE compressae.attachments DROP CONSTRAINT attachments_sync_check;
ALTER TABLE compressae.attachments ADD CONSTRAINT attachments_sync_check CHECK (sync IN ('none', 'trigger', 'queue'));

CREATE TABLE compressae.sync_queue (
    attachment_id bigint NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    key           text NOT NULL,
    enqueued_at   timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (attachment_id, id)
);
CREATE INDEX sync_queue_key ON compressae.sync_queue (attachment_id, key);
COMMENT ON TABLE compressae.sync_queue IS 'Rows of queue attachments whose code is to be (re)computed: key as text, one entry per change';
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
