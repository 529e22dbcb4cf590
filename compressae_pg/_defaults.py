"""Defaults and enumerations that several modules and front doors share, each written once.

The Python signatures, the CLI's defaults, ``choices=`` and help texts all read them from here. The
SQL functions spell theirs in SQL (``compressae.search``'s DEFAULTs, ``compressae.attach``'s checks):
tests/test_defaults.py checks that a database at head agrees with this module. Imports nothing.
"""

# ---- search ------------------------------------------------------------------------------------
K = 10  # results of a search
CANDIDATES = 200  # rows the index returns for the rerank (benchmarks/search_knobs.py)
RERANK_MODES = ("none", "reconstructed", "symmetric", "dense")  # how the candidates are ordered (search/rerank.py)
RERANK = "reconstructed"  # a query vector's rerank: the query against each decoded row
SIMILAR_RERANK = "symmetric"  # a stored row's rerank: its code's reconstruction against each decoded row
EF_SEARCH_FLOOR = 40  # a search's hnsw.ef_search is its candidates, and at least this
EXPLAIN_ATOMS = 5  # atoms an explanation lists, the largest contributions first
LABEL_ROWS = 5  # rows an atom's label keeps: those with its largest values (compressae-pg atoms --top)
ATOM_ROWS = 10  # rows browsing one atom shows (compressae-pg atoms --atom N --top)
EF_SEARCH = 100  # hnsw.ef_search for dense reference indexes in evaluations and SQLAlchemy's helper

# ---- attach ------------------------------------------------------------------------------------
SYNC_MODES = ("none", "trigger", "queue")  # how codes follow writes: not at all, in the statement, by a queue
SYNC = "none"
GRAPHS = ("sketch", "sparse")  # what the HNSW index is built over: the sketch column, or the codes
GRAPH = "sketch"
SKETCH_PLANE_COUNTS = (1, 2)  # planes of the sketch column: sign(x), or sign(x) ‖ sign(y) (_codes.sketch_bits)
SKETCH_PLANES = 2  # a new sketch attachment's planes, bit(2·d); attachments made before 0016 keep 1
RESIDUAL_BITS = (0, 1, 2)  # bits per dimension of the residual sketch; 0 is none (default: 2 with sketch, 0 with sparse)
HNSW_M = 16  # HNSW graph degree (pgvector's default)
HNSW_EF_CONSTRUCTION = 64  # HNSW build-time candidate list (pgvector's default)

# ---- work on a live table (backfill, recompress, sync) -----------------------------------------
BATCH_SIZE = 1000  # rows (or queue entries) per batch: one short transaction
QUEUE_ENTRY_KEYS = 1000  # keys per queue entry, as the trigger slices a statement's; a worker splits a larger one
WORKERS = 1  # parallel key ranges of a backfill
SLEEP = 0.0  # seconds a worker pauses after every batch
LOCK_TIMEOUT = "2s"  # longest wait for a lock before a batch backs off and retries
STATEMENT_TIMEOUT = "60s"  # longest statement of a batch
MAX_RETRIES = 30  # retries of one batch before its range fails
POLL = 5.0  # seconds between looks at a sync queue without a notification
MARK_POLL = 0.2  # seconds between looks, when idle, for rows without a code through a queue's pending index (0024)
STATUS_PENDING_CAP = 100_000  # rows without a code that `status` counts at most (an index scan each); `sync` counts them all
PENDING_INDEX_WAIT = "5s"  # longest wait of the pending index's concurrent build for other transactions; the queue serves meanwhile
# The settings a sync queue's keys are written (the queue trigger's SET clauses, sql/revisions/0012_queue/)
# and read (the sync worker's session) under: a key's text means one value whatever the application's session set.
QUEUE_KEY_SETTINGS = {"DateStyle": "ISO, YMD", "IntervalStyle": "postgres", "TimeZone": "UTC", "extra_float_digits": "1"}

# ---- models, evaluation, verification -----------------------------------------------------------
H = 4096  # atoms in a model's dictionary
NONZEROS = 32  # non-zeros per code (a model's k)
QUERIES = 500  # queries an evaluation samples
EVAL_CANDIDATES = (50, 100, 150, 200)  # candidate counts an evaluation measures
PEERS = ("halfvec", "binary", "pca", "prefix", "random", "sign", "sq2", "sq4", "sq8")  # what an evaluation can compare the codes with
VERIFY_SAMPLE = 1000  # rows a verification re-encodes
VERIFY_TOLERANCE = 1e-4  # largest difference verification allows in a code's values
DRIFT_SAMPLE = 200  # rows `status --drift` decodes to measure the codes' cosine (verify uses its own sample)
DRIFT_THRESHOLD = 0.02  # cosine below the model's recorded held-out one at which a new version would pay
