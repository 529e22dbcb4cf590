-- For the search's own transaction: explore at least as many index neighbours as candidates are
-- asked for ($1), and let pgvector 0.8's iterative scan go on past them when a filter drops rows.
SELECT set_config('hnsw.ef_search', $1, true),
       set_config('hnsw.iterative_scan', 'relaxed_order', true)
