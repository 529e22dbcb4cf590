-- Drop an index (an invalid one left by an interrupted concurrent build, or one to rebuild).
DROP INDEX {concurrently} IF EXISTS {index}
