-- Per-transaction limits for one batch: it never waits long for a lock, nor runs long.
SELECT set_config('lock_timeout', %(lock_timeout)s, true), set_config('statement_timeout', %(statement_timeout)s, true)
